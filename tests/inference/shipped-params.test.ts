/**
 * The shipped models' manifests record the feature parameters they were trained with (issue 17),
 * checked here against what training fitted: V was sized on the train split alone (item 2: 760 on
 * GOOG, where the whole day, test hour included, gives 1,400), and the transformer's vpin
 * normalisation mean (fitted on its train split) is reproduced exactly by the recorded V and not by
 * the whole day's; the recorded inputs are the files' content.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { GOOG } from '../helpers.ts';
import { parseManifest } from '../../src/inference/manifest.ts';
import { loadFeatures } from '../../src/training/features-file.ts';
import { buildDataset } from '../../src/training/dataset.ts';
import { describeInputs, manifestInputs } from '../../src/training/provenance.ts';

const manifest = (name: string) => parseManifest(JSON.parse(readFileSync(`models/${name}/manifest.json`, 'utf8')), name);

describe('shipped manifests', () => {
  it('record the V, levels, VPIN window and bars the models were trained with, and their data by content', async () => {
    const t = manifest('goog-transformer');
    const g = manifest('goog-gbdt');
    const l = manifest('goog-gbdt-lags');
    for (const m of [t, g, l]) {
      expect(m.input.features).toMatchObject({ levels: 10, vpinBucket: { GOOG: 760 }, vpinBuckets: 50, barMs: 1000, barWindow: 300 });
      expect(m.input.features!.vpinSizing).toMatch(/^auto: traded volume of the train split \(GOOG rows 0\.\.103540, 380329\) \/ 500/);
      const inputs = manifestInputs(m.training)!;
      expect(inputs.symbol).toBe('GOOG');
      expect(inputs.seen.rows).toEqual([0, 125728]);
      expect(inputs.data.files).toEqual((await describeInputs(GOOG, {})).files);
    }
    const f = t.input.columns.indexOf('vpin');
    const meanOf = async (V: number) => {
      const data = await loadFeatures(GOOG, { horizons: [50], vpinBucket: V });
      const ds = buildDataset(data, { columns: t.input.columns, window: 1, horizon: 50, alpha: 0.00002, split: { train: 0.7, val: 0.15 }, normalization: null });
      let s = 0, c = 0;
      for (let r = 0; r < ds.splits.train.to; r++) {
        const v = ds.raw[r * ds.F + f]!;
        if (v === v) {
          s += v;
          c++;
        }
      }
      return s / c;
    };
    const fitted = t.normalization!.columns[f]!.mean;
    expect(await meanOf(760)).toBe(fitted);
    expect(Math.abs((await meanOf(1400)) - fitted)).toBeGreaterThan(1e-3);
  }, 120_000);
});
