/** Purged k-fold with embargo and walk-forward folds, worked out by hand on 20 samples with a 2-row horizon. */
import { describe, expect, it } from 'vitest';
import { cvFolds, foldSummary, parseCv } from '../../src/training/cv.ts';

const rows = Int32Array.from({ length: 20 }, (_, i) => i);
const reaches = (i: number, j: number): boolean => i + 2 >= j;
const list = (a: Int32Array): number[] => Array.from(a);
const range = (a: number, b: number): number[] => Array.from({ length: b - a }, (_, i) => a + i);

describe('cross-validation folds', () => {
  it('purged k-fold: each group tests once; labels reading into it purged, the embargo after it dropped', () => {
    const f = cvFolds(rows, { scheme: 'purged-kfold', k: 4, embargo: 1 }, reaches, 0);
    expect(f.map((x) => list(x.test))).toEqual([range(0, 5), range(5, 10), range(10, 15), range(15, 20)]);
    expect(list(f[0]!.train)).toEqual(range(6, 20)); // 5 is the embargo
    expect(list(f[1]!.train)).toEqual([0, 1, 2, ...range(11, 20)]); // 3, 4 purged; 10 embargoed
    expect(list(f[3]!.train)).toEqual(range(0, 13)); // 13, 14 purged
    for (const x of f) for (const i of x.train) expect(x.test.includes(i)).toBe(false);
  });

  it('walk-forward: trains only on the past, purged before each test group', () => {
    const f = cvFolds(rows, { scheme: 'walk-forward', k: 3, embargo: 0 }, reaches, 0);
    expect(f.map((x) => [list(x.train), list(x.test)])).toEqual([
      [[0, 1, 2], range(5, 10)],
      [range(0, 8), range(10, 15)],
      [range(0, 13), range(15, 20)],
    ]);
  });

  it('holds the last part of each fold\'s training rows out for early stopping, purged against it', () => {
    const f = cvFolds(rows, { scheme: 'walk-forward', k: 3, embargo: 0 }, reaches, 0.25);
    // Fold 3 trains on 0..12: 13 rows, the last 4 (9..12) validate, 7 and 8 read into 9.
    expect(list(f[2]!.val)).toEqual([9, 10, 11, 12]);
    expect(list(f[2]!.train)).toEqual(range(0, 7));
  });

  it('parses the flag, refuses too few folds or samples, summarises folds', () => {
    expect(parseCv('purged-kfold:5', 10)).toEqual({ scheme: 'purged-kfold', k: 5, embargo: 10 });
    expect(() => parseCv('kfold:5', 0)).toThrow(/purged-kfold:K or walk-forward:K/);
    expect(() => cvFolds(rows, { scheme: 'purged-kfold', k: 1, embargo: 0 }, reaches)).toThrow(/at least 2/);
    expect(() => cvFolds(rows.slice(0, 5), { scheme: 'walk-forward', k: 4, embargo: 0 }, reaches)).toThrow(/cannot make 5 groups/);
    const s = foldSummary([0.4, 0.5, 0.6]);
    expect(s.mean).toBeCloseTo(0.5, 12);
    expect(s.std).toBeCloseTo(0.1, 12);
  });
});
