/**
 * Feature importance in `flowcast evaluate` for served models: permutation importance through the
 * serving path (each permuted window goes through the manifest's transform and ONNX Runtime, as
 * predictRows does), and TreeSHAP for a model whose graph is a tree ensemble, read from its
 * model.onnx, with covers counted over its train split (the graph keeps none).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ServedModel } from '../inference/model.ts';
import type { Dataset } from './dataset.ts';
import { permutedWindow, type Permutation } from './importance.ts';
import { coversFromData, readOnnxTrees, shapMargins, treeShap } from './treeshap.ts';

/** Probabilities of a served model for sample rows with one column's windows permuted (or none). */
export function servedPredictor(m: ServedModel, ds: Dataset, rows: Int32Array, batch = 512): (perm: Permutation | null) => Promise<Float32Array> {
  const C = m.manifest.output.classes.length;
  const size = m.transform.size;
  if (size !== ds.T * ds.F) throw new Error(`${m.name}: takes ${size} values per sample, the dataset's windows hold ${ds.T} x ${ds.F}`);
  const win = new Float64Array(size);
  const buf = new Float32Array(batch * size);
  const windowOf = (j: number) => ds.windowRaw(rows[j]!);
  return async (perm) => {
    const out = new Float32Array(rows.length * C);
    for (let s = 0; s < rows.length; s += batch) {
      const b = Math.min(batch, rows.length - s);
      for (let j = 0; j < b; j++) m.transform.write(permutedWindow(windowOf, s + j, ds.F, perm, win), buf, j * size);
      out.set(await m.run(buf.subarray(0, b * size), b), s * C);
    }
    return out;
  };
}

export interface ShapSummary {
  model: string;
  /** Rows explained (evenly spaced over the scored rows when there are more than asked). */
  samples: number;
  /** Where the covers come from. */
  covers: string;
  trees: number;
  classes: string[];
  /** Expected margin per class over the covers. */
  expected: number[];
  /** Per input column: mean |SHAP| per class (margin units) and their sum; sorted by the sum, largest first. */
  features: { feature: string; meanAbs: number[]; total: number }[];
  /** max |sum of contributions + expected value - margin| over rows and classes (the efficiency property). */
  maxEfficiencyError: number;
  /** max |softmax(contributions + expected) - the served probabilities| (the graph as read = the graph as served). */
  maxProbDiff: number;
}

/**
 * TreeSHAP of a served tree model on sample rows of `ds` (window 1, raw inputs), covers from the
 * sample rows `coverRows` of `coverDs` (its train split). Undefined when the graph holds no tree
 * ensemble. `served` holds the served probabilities for `rows` (n x C), for the check.
 */
export function shapForServed(m: ServedModel, ds: Dataset, rows: Int32Array, served: ArrayLike<number>, coverDs: Dataset, coverRows: Int32Array, coverLabel: string, maxRows = 5000): ShapSummary | undefined {
  if (m.manifest.input.window !== 1 || ds.T !== 1) return undefined;
  const where = join(m.dir, m.manifest.onnx.file);
  let e;
  try {
    e = readOnnxTrees(readFileSync(where), where);
  } catch (err) {
    if (/needs exactly one/.test((err as Error).message)) return undefined;
    throw err;
  }
  const classes = m.manifest.output.classes;
  const F = ds.F, K = e.K;
  if (K !== classes.length) throw new Error(`${where}: the tree ensemble has ${K} outputs, the manifest ${classes.length} classes`);
  if (e.nFeatures > F) throw new Error(`${where}: the trees read feature ${e.nFeatures - 1}, the manifest has ${F} columns`);
  const gather = (d: Dataset, rs: ArrayLike<number>): Float64Array => {
    const X = new Float64Array(rs.length * F);
    for (let j = 0; j < rs.length; j++) X.set(d.windowRaw(rs[j]!), j * F);
    return X;
  };
  coversFromData(e, gather(coverDs, coverRows), coverRows.length, F);
  const pick = rows.length <= maxRows ? Int32Array.from(rows.keys()) : Int32Array.from({ length: maxRows }, (_, j) => Math.floor((j * rows.length) / maxRows));
  const n = pick.length;
  const X = gather(ds, Array.from(pick, (j) => rows[j]!));
  const phi = treeShap(e, X, n, F);
  const meanAbs = new Float64Array(F * K);
  let maxEff = 0, maxP = 0;
  const sums = new Float64Array(K);
  // A served temperature divides the margins: softmax(log softmax(m) / T) = softmax(m / T).
  const T = m.temperature ?? 1;
  for (let r = 0; r < n; r++) {
    sums.fill(0);
    for (let f = 0; f <= F; f++) {
      for (let k = 0; k < K; k++) {
        const v = phi[(r * (F + 1) + f) * K + k]!;
        sums[k] += v;
        if (f < F) meanAbs[f * K + k] += Math.abs(v) / n;
      }
    }
    const margin = shapMargins(e, X.subarray(r * F, (r + 1) * F));
    let mx = -Infinity, z = 0;
    for (let k = 0; k < K; k++) {
      maxEff = Math.max(maxEff, Math.abs(sums[k]! - margin[k]!));
      mx = Math.max(mx, sums[k]! / T);
    }
    for (let k = 0; k < K; k++) z += Math.exp(sums[k]! / T - mx);
    for (let k = 0; k < K; k++) maxP = Math.max(maxP, Math.abs(Math.exp(sums[k]! / T - mx) / z - served[pick[r]! * K + k]!));
  }
  const features = m.manifest.input.columns.map((feature, f) => {
    const v = Array.from({ length: K }, (_, k) => meanAbs[f * K + k]!);
    return { feature, meanAbs: v, total: v.reduce((a, b) => a + b, 0) };
  }).sort((a, b) => b.total - a.total);
  const expected = Array.from(phi.subarray(F * K, F * K + K));
  return { model: m.name, samples: n, covers: coverLabel, trees: e.trees.length, classes, expected, features, maxEfficiencyError: maxEff, maxProbDiff: maxP };
}
