/**
 * Issue 17, item 2: `train --vpin-bucket auto` sizes V from the training split only (the audit: on
 * the GOOG day's first rows V is ~800, not the whole day's 1,400), computes the features with it,
 * and the manifest records it with the other feature parameters and the data's content.
 */
import { describe, expect, it } from 'vitest';
import { GOOG, GOOG_MSG } from '../helpers.ts';
import { loadTrainingData } from '../../src/training/train-data.ts';
import { loadFeatures } from '../../src/training/features-file.ts';
import { openSource } from '../../src/sources/spec.ts';
import { autoBucketVolume } from '../../src/features/vpin.ts';
import { buildDataset } from '../../src/training/dataset.ts';
import { trainingInputs } from '../../src/training/provenance.ts';

describe('training data', () => {
  it('sizes the VPIN bucket from the trades of the train split alone, and computes vpin with it', async () => {
    const lines: string[] = [];
    const split = { train: 0.7, val: 0.15 };
    const r = await loadTrainingData(GOOG, { horizon: 50, alpha: 0.00002, split, onLog: (l) => lines.push(l) });
    expect(r.symbol).toBe('GOOG');
    const n = r.data.n;
    const a = Math.floor(n * split.train);
    // Independently: the traded volume of the raw trades up to the first row after the train split.
    const src = await openSource(GOOG);
    const cut = r.data.startNs + BigInt(r.data.ts[a]!);
    let trainVol = 0, allVol = 0;
    await src.run({
      onDepth() {},
      onTrade(t) {
        allVol += t.size;
        if (src.timeBase.get().baseNs + BigInt(t.ts) < cut) trainVol += t.size;
      },
    });
    const V = autoBucketVolume(trainVol);
    expect(V).toBeLessThan(autoBucketVolume(allVol) * 0.7);
    expect(r.params.vpinBucket).toEqual({ GOOG: V });
    expect(r.params.vpinSizing).toMatch(new RegExp(`^auto: traded volume of the train split \\(GOOG rows 0\\.\\.${a - 1}, \\d+\\) / 500, 2 significant digits; the whole input would give ${autoBucketVolume(allVol)}$`));
    expect(r.params).toMatchObject({ levels: 10, vpinBuckets: 50, barMs: 1000, barWindow: 300 });
    expect(lines.join('\n')).toMatch(new RegExp(`vpin bucket: GOOG V = ${V} from the train split's volume`));
    // The features were computed with that V: its vpin column is the one a fixed-V run gives.
    const fixed = await loadFeatures(GOOG, { horizons: [50], vpinBucket: V });
    const got = r.data.values.get('vpin')!, want = fixed.values.get('vpin')!;
    expect(got.length).toBe(want.length);
    let diff = 0;
    for (let i = 0; i < got.length; i++) if (!(Object.is(got[i], want[i]))) diff++;
    expect(diff).toBe(0);
    // The inputs by content, with each split's exchange-time span.
    expect(r.inputs.files.map((f) => f.path)[0]).toBe(GOOG_MSG);
    expect(r.inputs.files[0]!.sha256).toMatch(/^[0-9a-f]{64}$/);
    const ds = buildDataset(r.data, { columns: ['vpin'], window: 1, horizon: 50, alpha: 0.00002, split, normalization: null });
    const ti = trainingInputs(r.inputs, r.data, 'GOOG', ds.ts, ds.splits.train.to, ds.splits.val.to);
    expect(ti.seen.rows).toEqual([0, ds.splits.val.to]);
    expect(BigInt(ti.splits.test.ns![0])).toBeGreaterThanOrEqual(BigInt(ti.seen.ns![1]));
    expect(BigInt(ti.splits.val.ns![0])).toBe(cut);
  }, 120_000);
});
