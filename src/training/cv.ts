/**
 * Cross-validation folds over time for labels that look ahead (López de Prado, "Advances in
 * Financial Machine Learning", ch. 7): the samples are cut into contiguous groups by row order,
 * which is time order within one symbol. Segmented training data (several days or symbols) gives
 * its samples sorted by time across the segments (Dataset.sampleRows), and `reaches` judges by
 * time, so a group is a period of time over every segment and the purge and embargo hold at it.
 *
 * - purged k-fold: each group is the test set once; the training set is every other sample except
 *   those whose label reads into the test group (purged: the `horizon` before it) and those just
 *   after it (embargo: serial correlation carries information from the test rows forwards);
 * - walk-forward: K + 1 groups; fold j trains on the groups before j and tests on group j, the
 *   train samples whose label reads into group j purged; never trains on the future.
 *
 * Within a fold's training rows the last `valFraction` (by row order, purged again) is held out
 * for early stopping, so no fold's model sees its test rows in any way.
 */

export type CvScheme = 'purged-kfold' | 'walk-forward';

export interface CvSpec {
  scheme: CvScheme;
  k: number;
  /** Samples after a test group dropped from training (purged k-fold), in rows. */
  embargo: number;
}

export interface Fold {
  /** 0-based fold number. */
  fold: number;
  train: Int32Array;
  val: Int32Array;
  test: Int32Array;
  /** Row range [from, to) of the test group. */
  testRange: [number, number];
}

/**
 * The folds over sample rows (sorted, as Dataset splits hold them). `reaches(i, j)`: whether the
 * label of row i reads row j or later (row horizons: i + k >= j; time horizons by timestamps).
 */
export function cvFolds(rows: Int32Array, spec: CvSpec, reaches: (i: number, j: number) => boolean, valFraction = 0.15): Fold[] {
  const { k, scheme, embargo } = spec;
  if (!(Number.isInteger(k) && k >= 2)) throw new RangeError(`cross-validation needs at least 2 folds, got ${k}`);
  const groups = scheme === 'walk-forward' ? k + 1 : k;
  if (rows.length < groups * 2) throw new RangeError(`${rows.length} samples cannot make ${groups} groups`);
  const bound = (g: number): number => Math.floor((rows.length * g) / groups);
  const folds: Fold[] = [];
  const first = scheme === 'walk-forward' ? 1 : 0;
  for (let g = first; g < groups; g++) {
    const a = bound(g), b = bound(g + 1);
    const testFrom = rows[a]!, testTo = b < rows.length ? rows[b]! : rows[rows.length - 1]! + 1;
    const train: number[] = [];
    for (let s = 0; s < (scheme === 'walk-forward' ? a : rows.length); s++) {
      if (s >= a && s < b) continue;
      const i = rows[s]!;
      // Before the test group: purged where the label reads into it.
      if (s < a && reaches(i, testFrom)) continue;
      // After it: the embargo.
      if (s >= b && s < b + embargo) continue;
      train.push(i);
    }
    // Early-stopping rows: the last part of the training rows, purged against what follows them.
    const cut = Math.floor(train.length * (1 - valFraction));
    const val = train.slice(cut);
    const fit = train.slice(0, cut).filter((i) => val.length === 0 || !reaches(i, val[0]!));
    folds.push({ fold: folds.length, train: Int32Array.from(fit), val: Int32Array.from(val), test: rows.slice(a, b), testRange: [testFrom, testTo] });
  }
  return folds;
}

/** `purged-kfold:5` / `walk-forward:4`. */
export function parseCv(text: string, embargo: number): CvSpec {
  const m = /^(purged-kfold|walk-forward):(\d+)$/.exec(text);
  if (!m) throw new RangeError(`expected purged-kfold:K or walk-forward:K, got "${text}"`);
  return { scheme: m[1] as CvScheme, k: Number(m[2]), embargo };
}

/** Mean and sample standard deviation of a metric over folds. */
export function foldSummary(values: number[]): { mean: number; std: number } {
  const n = values.length;
  const mean = values.reduce((s, v) => s + v, 0) / n;
  const std = n > 1 ? Math.sqrt(values.reduce((s, v) => s + (v - mean) ** 2, 0) / (n - 1)) : 0;
  return { mean, std };
}

/** Per-fold scores of a model kind, and their mean and spread. */
export interface CvReport {
  scheme: CvScheme;
  folds: number;
  embargo: number;
  /** testTime: segmented data, the test group's first and last sample time (UTC ISO). */
  perFold: { fold: number; testRows: [number, number]; testTime?: [string, string]; train: number; val: number; test: number; macroF1: number; macroAuc: number; logLoss: number }[];
  macroF1: { mean: number; std: number };
  macroAuc: { mean: number; std: number };
  logLoss: { mean: number; std: number };
}
