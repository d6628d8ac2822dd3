/**
 * Labels over a time horizon (train --horizon 5s): the time-weighted mid over (t, t + h] against
 * the mid at t, per symbol, worked out by hand; and the purge before a split boundary by time.
 */
import { describe, expect, it } from 'vitest';
import { computeTimeLabels, timeLabelColumn } from '../../src/training/labels.ts';
import { Dataset } from '../../src/training/dataset.ts';
import type { FeatureData } from '../../src/features/data.ts';

describe('time-horizon labels', () => {
  it('time-weighted mean of the step mid over (t, t+h], per symbol, NaN past the end and over NaN mids', () => {
    // Symbol 0 at ts 0, 1, 3, 6, 10 with mids 100, 102, 98, 100, 104; symbol 1 interleaved.
    const rows: [number, number, number][] = [
      [0, 0, 100], [1, 0, 50], [0, 1, 102], [1, 2, NaN], [0, 3, 98], [1, 4, 50], [0, 6, 100], [1, 6, 50], [0, 10, 104], [1, 20, 50],
    ];
    const sym = Uint16Array.from(rows, (r) => r[0]);
    const ts = Float64Array.from(rows, (r) => r[1]);
    const mid = Float64Array.from(rows, (r) => r[2]);
    const h = 4;
    const l0 = computeTimeLabels(mid, ts, sym, h, 0.001);
    // Symbol 0:
    //  t=0: (100*1 + 102*2 + 98*1) / 4 = 100.5 -> +0.5%  -> up
    //  t=1: (102*2 + 98*2) / 4 = 100 vs 102   -> -1.96% -> down
    //  t=3: (98*3 + 100*1) / 4 = 98.5 vs 98   -> +0.51% -> up
    //  t=6: 100 over (6,10] vs 100            -> 0      -> flat
    //  t=10: the rows end before 14           -> NaN
    expect([l0[0], l0[2], l0[4], l0[6], l0[8]]).toEqual([1, -1, 1, 0, NaN]);
    // Symbol 1 (h = 4): t=0 reads the NaN mid held over [2, 4) -> NaN; t=2 has a NaN mid -> NaN;
    // t=4: 50 over (4,8] -> flat; t=6: 50 over (6,10] -> flat; t=20: past the end -> NaN.
    expect([l0[1], l0[3], l0[5], l0[7], l0[9]]).toEqual([NaN, NaN, 0, 0, NaN]);
    // A wider threshold turns t=3's +0.51% flat, t=0's +0.5% too.
    const l1 = computeTimeLabels(mid, ts, sym, h, 0.0052);
    expect([l1[0], l1[2], l1[4]]).toEqual([0, -1, 0]);
  });

  it('names its label column by the time', () => {
    expect(timeLabelColumn(5000)).toBe('label_5s');
    expect(timeLabelColumn(500)).toBe('label_500ms');
  });

  it('the dataset purges train and validation rows whose horizon reaches the next split', () => {
    // 40 rows, one per second (ns), mid rising 0.1% a row: every defined label is "up".
    const n = 40;
    const data: FeatureData = {
      source: 'hand-built', n, columns: ['mid', 'spread'], symbols: ['X'], symbolId: new Uint16Array(n),
      ts: Float64Array.from({ length: n }, (_, i) => i * 1e9), startNs: 0n,
      values: new Map([['mid', Float64Array.from({ length: n }, (_, i) => 100 * 1.001 ** i)], ['spread', new Float64Array(n).fill(0.01)]]),
    };
    const ds = new Dataset(data, { columns: ['spread'], window: 1, horizon: 50, horizonMs: 3000, alpha: 0.0001, split: { train: 0.5, val: 0.25 }, normalization: null }, 'X');
    expect(ds.labelColumn).toBe('label_3s');
    // Train is rows 0..19; a label at t reads (t, t+3 s], so rows 17, 18, 19 read row 20's time or later.
    expect(Array.from(ds.splits.train.rows)).toEqual(Array.from({ length: 17 }, (_, i) => i));
    // Validation 20..29 loses 27, 28, 29; test 30..39 keeps the rows whose horizon the data covers (30..36).
    expect(Array.from(ds.splits.val.rows)).toEqual([20, 21, 22, 23, 24, 25, 26]);
    expect(Array.from(ds.splits.test.rows)).toEqual([30, 31, 32, 33, 34, 35, 36]);
    expect(ds.classCounts(ds.splits.train.rows)).toEqual([0, 0, 17]);
  });
});
