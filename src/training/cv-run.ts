/**
 * `train gbdt --cv ...`: the tree model refitted on each fold (the library's own predictions of
 * the fold's test rows scored; the shipped model is still the one fitted on the chronological
 * split, and its ONNX file is checked there). Each fold's class weights come from its own
 * training rows.
 */
import type { Dataset } from './dataset.ts';
import { computeMetrics } from './evaluate/metrics.ts';
import { cvFolds, foldSummary, type CvReport, type CvSpec } from './cv.ts';
import { trainGbdt, type GbdtEngine, type GbdtParams } from './gbdt/train.ts';
import { inverseFrequencyWeights } from './transformer/train.ts';

/** Whether the label of sample row i reads row j or later (the dataset's row or time horizon). */
export function labelReaches(ds: Dataset): (i: number, j: number) => boolean {
  // Segmented data: rows of other segments interleave in time, so reaching is judged by time.
  if (ds.segments) return (i, j) => ds.labelReachesTime(i, ds.ts[j]!);
  const hMs = ds.opts.horizonMs;
  if (hMs !== undefined) return (i, j) => ds.ts[i]! + hMs * 1e6 >= ds.ts[j]!;
  const k = ds.opts.horizon;
  return (i, j) => i + k >= j;
}

export async function crossValidateGbdt(ds: Dataset, spec: CvSpec, engine: GbdtEngine, engineDetail: string, params: GbdtParams, onLog: (l: string) => void): Promise<CvReport> {
  const folds = cvFolds(ds.sampleRows(), spec, labelReaches(ds));
  const perFold: CvReport['perFold'] = [];
  const r = (v: number): number => Math.round(v * 1e4) / 1e4;
  for (const f of folds) {
    const run = await trainGbdt({
      ds, columns: ds.designNames(), classWeights: inverseFrequencyWeights(ds.classCounts(f.train)), params, engine, engineDetail,
      splits: { train: { rows: f.train }, val: { rows: f.val }, test: { rows: f.test } },
    });
    const m = computeMetrics(ds.labelsOf(f.test), run.testProbs, f.test.length, 3);
    // Segmented data: a fold's test group is a period of time over every segment, not a row range.
    const period = ds.segments ? testPeriod(ds, f.test) : undefined;
    perFold.push({ fold: f.fold, testRows: f.testRange, ...(period ? { testTime: period } : {}), train: f.train.length, val: f.val.length, test: f.test.length, macroF1: r(m.macroF1), macroAuc: r(m.macroAuc), logLoss: r(m.logLoss) });
    onLog(`cv ${spec.scheme} fold ${f.fold + 1}/${folds.length}: test ${period ? `${period[0]} .. ${period[1]}` : `rows ${f.testRange[0]}..${f.testRange[1] - 1}`}, ${f.train.length} train, macro-F1 ${r(m.macroF1)}, AUC ${r(m.macroAuc)} (${run.rounds} rounds, ${run.seconds.toFixed(1)} s)`);
  }
  const sum = (key: 'macroF1' | 'macroAuc' | 'logLoss'): { mean: number; std: number } => {
    const s = foldSummary(perFold.map((p) => p[key]));
    return { mean: r(s.mean), std: r(s.std) };
  };
  return { scheme: spec.scheme, folds: folds.length, embargo: spec.embargo, perFold, macroF1: sum('macroF1'), macroAuc: sum('macroAuc'), logLoss: sum('logLoss') };
}

/** The first and last time (UTC) of a fold's test samples. */
function testPeriod(ds: Dataset, rows: Int32Array): [string, string] {
  let lo = Infinity, hi = -Infinity;
  for (const i of rows) {
    lo = Math.min(lo, ds.ts[i]!);
    hi = Math.max(hi, ds.ts[i]!);
  }
  const iso = (t: number): string => new Date(Number((ds.data.startNs + BigInt(t)) / 1_000_000n)).toISOString();
  return [iso(lo), iso(hi)];
}
