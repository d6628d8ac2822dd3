/**
 * A library-neutral tree ensemble: what the XGBoost and LightGBM readers produce and the ONNX
 * converter consumes. Each tree is struct-of-arrays over node ids (children by id, -1 at leaves).
 *
 * Semantics, per node: a missing input (NaN) goes to `missingLeft ? left : right`; otherwise
 * `x < threshold` (XGBoost, cmp 'LT') or `x <= threshold` (LightGBM, cmp 'LEQ') goes left.
 * Thresholds are float64 as the library stores them; the ONNX converter maps them exactly onto
 * float32 inputs. A class's margin is baseMargin[target] plus the sum of its trees' leaf values
 * (times the tree weight); `link` turns margins into probabilities.
 */

export interface Tree {
  /** Split feature per node; -1 at leaves. */
  feature: Int32Array;
  threshold: Float64Array;
  left: Int32Array;
  right: Int32Array;
  /** 1 where a missing value goes left. */
  missingLeft: Uint8Array;
  /** Leaf value per node (0 at internal nodes). */
  value: Float64Array;
  /** The margin (class) this tree adds to. */
  target: number;
  /** Scale of the leaf values (DART drop weights; 1 otherwise). */
  weight: number;
}

export type Link = 'softmax' | 'sigmoid' | 'identity';

export interface TreeEnsemble {
  source: 'xgboost' | 'lightgbm';
  /** The library's objective string, kept for the manifest. */
  objective: string;
  cmp: 'LT' | 'LEQ';
  trees: Tree[];
  nFeatures: number;
  featureNames?: string[];
  /** Number of margins: classes for multiclass, 1 for binary or regression. */
  nTargets: number;
  baseMargin: number[];
  link: Link;
  /** Margin multiplier before the sigmoid (LightGBM's `sigmoid:` parameter; 1 for XGBoost). */
  sigmoidScale: number;
  /** LightGBM random forests average their trees instead of summing them. */
  average: boolean;
}

/** Number of classes the ensemble's probabilities cover (binary: 2; regression: 1). */
export function outputWidth(e: TreeEnsemble): number {
  if (e.link === 'sigmoid' && e.nTargets === 1) return 2;
  return e.nTargets;
}

/**
 * Checks structural invariants (children in range, each node reached once, features in range)
 * and names the first violation. Readers call this so a corrupt file is refused with a precise error.
 */
export function validateEnsemble(e: TreeEnsemble, where: string): void {
  if (e.baseMargin.length !== e.nTargets) throw new Error(`${where}: ${e.baseMargin.length} base margins for ${e.nTargets} targets`);
  e.trees.forEach((t, ti) => {
    const n = t.feature.length;
    const seen = new Uint8Array(n);
    if (t.target < 0 || t.target >= e.nTargets) throw new Error(`${where}: tree ${ti} adds to target ${t.target}, but there are ${e.nTargets}`);
    const stack = [0];
    seen[0] = 1;
    while (stack.length) {
      const i = stack.pop()!;
      if (t.feature[i]! < 0) continue;
      if (t.feature[i]! >= e.nFeatures) throw new Error(`${where}: tree ${ti} node ${i} splits on feature ${t.feature[i]}, but the model has ${e.nFeatures}`);
      if (!Number.isFinite(t.threshold[i]!)) throw new Error(`${where}: tree ${ti} node ${i} has threshold ${t.threshold[i]}`);
      for (const c of [t.left[i]!, t.right[i]!]) {
        if (c <= 0 || c >= n) throw new Error(`${where}: tree ${ti} node ${i} has child ${c} outside 1..${n - 1}`);
        if (seen[c]) throw new Error(`${where}: tree ${ti} node ${c} is reached twice (not a tree)`);
        seen[c] = 1;
        stack.push(c);
      }
    }
    const orphan = seen.indexOf(0);
    if (orphan >= 0) throw new Error(`${where}: tree ${ti} node ${orphan} is not reachable from the root`);
  });
}

/** Margins for one row (float32 features, as ONNX Runtime sees them). A reference evaluator for tests and checks. */
export function predictMargins(e: TreeEnsemble, x: ArrayLike<number>): Float64Array {
  const m = new Float64Array(e.nTargets);
  const counts = new Float64Array(e.nTargets);
  for (const t of e.trees) {
    let i = 0;
    while (t.feature[i]! >= 0) {
      const v = Math.fround(x[t.feature[i]!]!);
      const goLeft = v !== v ? t.missingLeft[i] === 1 : e.cmp === 'LT' ? v < t.threshold[i]! : v <= t.threshold[i]!;
      i = goLeft ? t.left[i]! : t.right[i]!;
    }
    m[t.target] += t.value[i]! * t.weight;
    counts[t.target]++;
  }
  for (let k = 0; k < e.nTargets; k++) m[k] = (e.average && counts[k]! > 0 ? m[k]! / counts[k]! : m[k]!) + e.baseMargin[k]!;
  return m;
}

/** Probabilities (softmax, or [1-p, p] for a sigmoid) or raw values (identity) from margins. */
export function marginsToOutput(e: TreeEnsemble, m: Float64Array): Float64Array {
  if (e.link === 'softmax') {
    let mx = -Infinity;
    for (const v of m) mx = Math.max(mx, v);
    let s = 0;
    const out = new Float64Array(m.length);
    for (let k = 0; k < m.length; k++) s += out[k] = Math.exp(m[k]! - mx);
    for (let k = 0; k < m.length; k++) out[k] /= s;
    return out;
  }
  if (e.link === 'sigmoid') {
    if (m.length === 1) {
      const p = 1 / (1 + Math.exp(-e.sigmoidScale * m[0]!));
      return Float64Array.of(1 - p, p);
    }
    return m.map((v) => 1 / (1 + Math.exp(-e.sigmoidScale * v)));
  }
  return m.slice();
}

/** Allocates a tree of n nodes, all leaves, to be filled by a reader. */
export function emptyTree(n: number, target: number, weight = 1): Tree {
  return {
    feature: new Int32Array(n).fill(-1),
    threshold: new Float64Array(n),
    left: new Int32Array(n).fill(-1),
    right: new Int32Array(n).fill(-1),
    missingLeft: new Uint8Array(n),
    value: new Float64Array(n),
    target,
    weight,
  };
}
