/**
 * train gbdt --cv: the trees refitted on each fold with the library (python3-xgboost), each fold
 * scored on its own test rows only. A feature that carries the label lets every fold learn; a
 * shuffled copy of it does not, so the scores show the folds really fit and score what they say.
 */
import { describe, expect, it } from 'vitest';
import { Dataset } from '../../src/training/dataset.ts';
import { crossValidateGbdt, labelReaches } from '../../src/training/cv-run.ts';
import { cvFolds } from '../../src/training/cv.ts';
import { DEFAULT_GBDT, probeEngines } from '../../src/training/gbdt/train.ts';
import type { FeatureData } from '../../src/features/data.ts';
import { mulberry32 } from '../../src/training/random.ts';

const engine = (await probeEngines()).find((p) => p.engine === 'xgboost-python' && p.available);

describe.skipIf(!engine)('train gbdt --cv', () => {
  const n = 1500;
  const rnd = mulberry32(7);
  const mid = new Float64Array(n);
  mid[0] = 100;
  for (let i = 1; i < n; i++) mid[i] = mid[i - 1]! * (1 + (rnd() - 0.5) * 0.002);
  // `signal` is the next move (what label_1 reads) plus noise; `noise` is the same values shuffled.
  const signal = Float64Array.from({ length: n }, (_, i) => (i + 1 < n ? mid[i + 1]! - mid[i]! : 0) + (rnd() - 0.5) * 0.02);
  const noise = Float64Array.from(signal);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [noise[i], noise[j]] = [noise[j]!, noise[i]!];
  }
  const data = (col: Float64Array): FeatureData => ({
    source: 'hand-built', n, columns: ['mid', 'x'], symbols: ['X'], symbolId: new Uint16Array(n),
    ts: Float64Array.from({ length: n }, (_, i) => i * 1e8), startNs: 0n, values: new Map([['mid', mid], ['x', col]]),
  });
  const params = { ...DEFAULT_GBDT, rounds: 30, earlyStopping: 10, threads: 1 };

  it('walk-forward: one fit per fold on the fold\'s rows; a real signal scores on every fold, a shuffled one does not', async () => {
    const ds = new Dataset(data(signal), { columns: ['x'], window: 1, horizon: 1, alpha: 0.0001, split: { train: 0.7, val: 0.15 }, normalization: null }, 'X');
    const spec = { scheme: 'walk-forward' as const, k: 3, embargo: 0 };
    const rep = await crossValidateGbdt(ds, spec, engine!.engine, engine!.detail, params, () => undefined);
    const folds = cvFolds(ds.sampleRows(), spec, labelReaches(ds));
    expect(rep.perFold.map((f) => [f.train, f.val, f.test])).toEqual(folds.map((f) => [f.train.length, f.val.length, f.test.length]));
    for (const f of rep.perFold) expect(f.macroF1).toBeGreaterThan(0.6);

    const dn = new Dataset(data(noise), { columns: ['x'], window: 1, horizon: 1, alpha: 0.0001, split: { train: 0.7, val: 0.15 }, normalization: null }, 'X');
    const none = await crossValidateGbdt(dn, spec, engine!.engine, engine!.detail, params, () => undefined);
    expect(none.macroF1.mean).toBeLessThan(rep.macroF1.mean - 0.2);
  });
});
