/**
 * Exact TreeSHAP (Lundberg, Erion & Lee 2018, "Consistent Individualized Feature Attribution for
 * Tree Ensembles", Algorithm 2; path-dependent: the expectation over absent features follows the
 * trees' node covers). phi[f] per output (class margin): sum_f phi[f] + expected value = the raw
 * margin of the row, exactly (the SHAP efficiency property), for every row.
 *
 * The recursion is the paper's, written as XGBoost writes it (RegTree::TreeShap, ExtendPath,
 * UnwindPath, UnwoundPathSum in src/tree/tree_model.cc), so its pred_contribs is a reference: given
 * XGBoost's covers (sum_hessian) it must give the same numbers (tests/training/treeshap.test.ts).
 *
 * Trees come from the library-neutral TreeEnsemble (the XGBoost and LightGBM readers) or from an
 * ONNX TreeEnsembleRegressor / TreeEnsembleClassifier (a served model.onnx). An ONNX graph keeps no
 * covers, so `coversFromData` counts the rows of a data set (the model's train split) reaching each
 * node: the expectation is then over that data, where XGBoost's is over its hessian-weighted, 80%
 * subsampled rows (not recoverable from the graph).
 */
import { attributeValue, decodeModel, type Node } from '../inference/onnx/proto.ts';
import type { TreeEnsemble } from './gbdt/ensemble.ts';

export type SplitMode = 'LT' | 'LEQ' | 'GT' | 'GTE';

export interface ShapTree {
  feature: Int32Array;
  threshold: Float64Array;
  left: Int32Array;
  right: Int32Array;
  missingLeft: Uint8Array;
  /** Leaf values, nodes x K (0 at internal nodes). */
  values: Float64Array;
  /** The outputs this tree's leaves add to (flowcast trees: one class each). */
  outputs: number[];
  /** Sample weight reaching each node (children sum to their parent). */
  cover: Float64Array;
  mode: SplitMode;
}

export interface ShapEnsemble {
  trees: ShapTree[];
  /** Outputs (class margins). */
  K: number;
  nFeatures: number;
  /** Added to every output's margin (base_values / base_score). */
  base: number[];
}

/** Whether row value v goes to the left (true) child: float32 comparison, as ONNX Runtime does; NaN follows missingLeft. */
function goesLeft(t: ShapTree, node: number, v: number): boolean {
  const x = Math.fround(v);
  if (x !== x) return t.missingLeft[node] === 1;
  const th = t.threshold[node]!;
  switch (t.mode) {
    case 'LT': return x < th;
    case 'LEQ': return x <= th;
    case 'GT': return x > th;
    default: return x >= th;
  }
}

/** A TreeEnsemble (XGBoost/LightGBM reader) as ShapTrees; covers to be filled (zeros) unless given per tree. */
export function fromEnsemble(e: TreeEnsemble, covers?: ArrayLike<number>[]): ShapEnsemble {
  if (e.average) throw new Error('TreeSHAP: averaged ensembles (LightGBM random forests) are not supported; their margins are means, not sums');
  const K = e.nTargets;
  const trees = e.trees.map((t, ti): ShapTree => {
    const n = t.feature.length;
    const values = new Float64Array(n * K);
    for (let i = 0; i < n; i++) if (t.feature[i]! < 0) values[i * K + t.target] = t.value[i]! * t.weight;
    const cover = new Float64Array(n);
    if (covers) {
      if (covers[ti]!.length !== n) throw new Error(`TreeSHAP: tree ${ti} has ${n} nodes but ${covers[ti]!.length} covers`);
      cover.set(covers[ti]!);
    }
    return { feature: t.feature, threshold: t.threshold, left: t.left, right: t.right, missingLeft: t.missingLeft, values, outputs: [t.target], cover, mode: e.cmp };
  });
  return { trees, K, nFeatures: e.nFeatures, base: e.baseMargin.slice() };
}

const MODES: Record<string, SplitMode> = { BRANCH_LT: 'LT', BRANCH_LEQ: 'LEQ', BRANCH_GT: 'GT', BRANCH_GTE: 'GTE' };

/**
 * The trees of an ONNX model's TreeEnsembleRegressor (margins, aggregate SUM) or
 * TreeEnsembleClassifier (class scores before its post_transform). Node ids are renumbered so each
 * tree's root (its first listed node, as ONNX Runtime takes it) is 0. Covers are zero: fill them
 * with coversFromData.
 */
export function readOnnxTrees(bytes: Uint8Array, where = 'model.onnx'): ShapEnsemble & { op: string; postTransform: string } {
  const model = decodeModel(bytes);
  const nodes = model.graph.nodes.filter((n) => n.domain === 'ai.onnx.ml' && (n.opType === 'TreeEnsembleRegressor' || n.opType === 'TreeEnsembleClassifier'));
  if (nodes.length !== 1) throw new Error(`${where}: TreeSHAP needs exactly one ai.onnx.ml TreeEnsembleRegressor or TreeEnsembleClassifier node, found ${nodes.length}`);
  const node = nodes[0]!;
  const a = (name: string): unknown => {
    const at = node.attributes.find((x) => x.name === name);
    return at ? attributeValue(at) : undefined;
  };
  const req = <T>(name: string): T => {
    const v = a(name);
    if (v === undefined) throw new Error(`${where}: ${node.opType} has no ${name} attribute`);
    return v as T;
  };
  const cls = node.opType === 'TreeEnsembleClassifier';
  const agg = (a('aggregate_function') as string | undefined) ?? 'SUM';
  if (!cls && agg !== 'SUM') throw new Error(`${where}: ${node.opType} aggregate_function ${agg}: TreeSHAP covers sums of trees only`);
  if (a('nodes_values_as_tensor') || a('target_weights_as_tensor') || a('class_weights_as_tensor')) throw new Error(`${where}: ${node.opType} with *_as_tensor attributes (double thresholds) is not supported`);
  const treeIds = req<number[]>('nodes_treeids'), nodeIds = req<number[]>('nodes_nodeids');
  const featureIds = req<number[]>('nodes_featureids'), thresholds = req<number[]>('nodes_values');
  const modes = req<string[]>('nodes_modes'), trueIds = req<number[]>('nodes_truenodeids'), falseIds = req<number[]>('nodes_falsenodeids');
  const missing = (a('nodes_missing_value_tracks_true') as number[] | undefined) ?? [];
  const lt = cls ? req<number[]>('class_treeids') : req<number[]>('target_treeids');
  const ln = cls ? req<number[]>('class_nodeids') : req<number[]>('target_nodeids');
  const lk = cls ? req<number[]>('class_ids') : req<number[]>('target_ids');
  const lw = cls ? req<number[]>('class_weights') : req<number[]>('target_weights');
  const K = cls ? ((a('classlabels_int64s') as number[] | undefined)?.length || (a('classlabels_strings') as string[] | undefined)?.length || 0) : (req<number>('n_targets'));
  if (!(K > 0)) throw new Error(`${where}: ${node.opType} states no outputs (n_targets / classlabels)`);
  const base = ((a('base_values') as number[] | undefined) ?? []).slice();
  while (base.length < K) base.push(0);

  // Group node entries by tree, in the order listed.
  const byTree = new Map<number, number[]>();
  treeIds.forEach((t, i) => {
    let l = byTree.get(t);
    if (!l) byTree.set(t, (l = []));
    l.push(i);
  });
  const leafEntries = new Map<string, number[]>();
  lt.forEach((t, j) => {
    const key = `${t}:${ln[j]}`;
    let l = leafEntries.get(key);
    if (!l) leafEntries.set(key, (l = []));
    l.push(j);
  });
  let mode: SplitMode | undefined;
  let nFeatures = 0;
  const trees: ShapTree[] = [];
  for (const [tid, entries] of byTree) {
    const index = new Map<number, number>();
    for (const e of entries) index.set(nodeIds[e]!, e);
    // Renumber from the root, depth first, so children follow their parent.
    const order: number[] = [];
    const newId = new Map<number, number>();
    const stack = [nodeIds[entries[0]!]!];
    while (stack.length) {
      const id = stack.pop()!;
      const e = index.get(id);
      if (e === undefined) throw new Error(`${where}: tree ${tid} refers to node ${id}, which is not listed`);
      if (newId.has(id)) throw new Error(`${where}: tree ${tid} node ${id} is reached twice (not a tree)`);
      newId.set(id, order.length);
      order.push(e);
      if (modes[e] !== 'LEAF') stack.push(falseIds[e]!, trueIds[e]!);
    }
    const n = order.length;
    const t: ShapTree = {
      feature: new Int32Array(n).fill(-1), threshold: new Float64Array(n), left: new Int32Array(n).fill(-1), right: new Int32Array(n).fill(-1),
      missingLeft: new Uint8Array(n), values: new Float64Array(n * K), outputs: [], cover: new Float64Array(n), mode: 'LT',
    };
    const outs = new Set<number>();
    order.forEach((e, i) => {
      const m = modes[e]!;
      if (m === 'LEAF') {
        for (const j of leafEntries.get(`${tid}:${nodeIds[e]}`) ?? []) {
          t.values[i * K + lk[j]!] += lw[j]!;
          outs.add(lk[j]!);
        }
        return;
      }
      const sm = MODES[m];
      if (!sm) throw new Error(`${where}: tree ${tid} node ${nodeIds[e]} has mode ${m}; TreeSHAP here takes BRANCH_LT, BRANCH_LEQ, BRANCH_GT, BRANCH_GTE`);
      if (mode && sm !== mode) throw new Error(`${where}: the trees mix split modes (${mode} and ${sm})`);
      mode = sm;
      t.feature[i] = featureIds[e]!;
      nFeatures = Math.max(nFeatures, featureIds[e]! + 1);
      t.threshold[i] = thresholds[e]!;
      t.left[i] = newId.get(trueIds[e]!)!;
      t.right[i] = newId.get(falseIds[e]!)!;
      t.missingLeft[i] = missing[e] ? 1 : 0;
    });
    t.outputs = [...outs].sort((x, y) => x - y);
    trees.push(t);
  }
  for (const t of trees) t.mode = mode ?? 'LT';
  const inputDims = model.graph.inputs[0]?.shape;
  const last = Array.isArray(inputDims) ? inputDims[inputDims.length - 1] : undefined;
  if (typeof last === 'number') nFeatures = Math.max(nFeatures, last);
  return { trees, K, nFeatures, base, op: node.opType, postTransform: (a('post_transform') as string | undefined) ?? 'NONE' };
}

/**
 * Covers from data: each node's count of the rows (n x F, row-major) that reach it, plus `floor` at
 * every leaf (summed up the tree, so a parent's cover stays the sum of its children's) so that a
 * node no row reaches still has a defined share of its parent.
 */
export function coversFromData(e: ShapEnsemble, X: ArrayLike<number>, n: number, F: number, floor = 1e-3): void {
  for (const t of e.trees) {
    const c = t.cover;
    c.fill(0);
    for (let r = 0; r < n; r++) {
      let i = 0;
      while (t.feature[i]! >= 0) i = goesLeft(t, i, X[r * F + t.feature[i]!]!) ? t.left[i]! : t.right[i]!;
      c[i]++;
    }
    // Children have larger ids than their parent (readers and readOnnxTrees number them so): sum bottom-up.
    for (let i = c.length - 1; i >= 0; i--) {
      if (t.feature[i]! < 0) c[i] += floor;
      else c[i] = c[t.left[i]!]! + c[t.right[i]!]!;
    }
  }
}

/** Raw margins of one row (base + sum of leaves), K values. */
export function shapMargins(e: ShapEnsemble, x: ArrayLike<number>): Float64Array {
  const m = Float64Array.from(e.base);
  for (const t of e.trees) {
    let i = 0;
    while (t.feature[i]! >= 0) i = goesLeft(t, i, x[t.feature[i]!]!) ? t.left[i]! : t.right[i]!;
    for (const k of t.outputs) m[k] += t.values[i * e.K + k]!;
  }
  return m;
}

/** The expected value of each output over the covers: base + sum over trees of the cover-weighted mean leaf. */
export function expectedValue(e: ShapEnsemble): Float64Array {
  const out = Float64Array.from(e.base);
  for (const t of e.trees) {
    const mean = nodeMeans(t, e.K);
    for (const k of t.outputs) out[k] += mean[k]!;
  }
  return out;
}

/** Cover-weighted mean leaf value of a tree's subtrees; returns the root's (K values). */
function nodeMeans(t: ShapTree, K: number): Float64Array {
  const n = t.feature.length;
  const m = new Float64Array(n * K);
  for (let i = n - 1; i >= 0; i--) {
    if (t.feature[i]! < 0) {
      for (const k of t.outputs) m[i * K + k] = t.values[i * K + k]!;
      continue;
    }
    const l = t.left[i]!, r = t.right[i]!, c = t.cover[i]!;
    if (!(c > 0)) throw new Error(`TreeSHAP: node ${i} has cover ${c}; fill covers first (coversFromData)`);
    for (const k of t.outputs) m[i * K + k] = (m[l * K + k]! * t.cover[l]! + m[r * K + k]! * t.cover[r]!) / c;
  }
  return m.subarray(0, K);
}

function depthOf(t: ShapTree, i = 0): number {
  return t.feature[i]! < 0 ? 0 : 1 + Math.max(depthOf(t, t.left[i]!), depthOf(t, t.right[i]!));
}

/**
 * SHAP values for rows of X (n x F): out[(r * (F + 1) + f) * K + k] for feature f and output k, the
 * last "feature" (f = F) being the expected value, as XGBoost's pred_contribs lays them out per
 * class. Sum over f of out[r, f, k] = the margin of output k for row r.
 */
export function treeShap(e: ShapEnsemble, X: ArrayLike<number>, n: number, F: number): Float64Array {
  const K = e.K;
  const out = new Float64Array(n * (F + 1) * K);
  const ev = expectedValue(e);
  const maxDepth = Math.max(0, ...e.trees.map((t) => depthOf(t)));
  // The path buffers hold one path per recursion level (each level copies its parent's), as XGBoost does.
  const size = ((maxDepth + 2) * (maxDepth + 3)) / 2;
  const pf = new Int32Array(size), pz = new Float64Array(size), po = new Float64Array(size), pw = new Float64Array(size);
  const phi = new Float64Array(F * K);

  let t!: ShapTree;
  let xo = 0;

  const extend = (at: number, depth: number, zero: number, one: number, feature: number): void => {
    pf[at + depth] = feature;
    pz[at + depth] = zero;
    po[at + depth] = one;
    pw[at + depth] = depth === 0 ? 1 : 0;
    for (let i = depth - 1; i >= 0; i--) {
      pw[at + i + 1] += (one * pw[at + i]! * (i + 1)) / (depth + 1);
      pw[at + i] = (zero * pw[at + i]! * (depth - i)) / (depth + 1);
    }
  };
  const unwind = (at: number, depth: number, k: number): void => {
    const one = po[at + k]!, zero = pz[at + k]!;
    let next = pw[at + depth]!;
    for (let i = depth - 1; i >= 0; i--) {
      if (one !== 0) {
        const tmp = pw[at + i]!;
        pw[at + i] = (next * (depth + 1)) / ((i + 1) * one);
        next = tmp - (pw[at + i]! * zero * (depth - i)) / (depth + 1);
      } else {
        pw[at + i] = (pw[at + i]! * (depth + 1)) / (zero * (depth - i));
      }
    }
    for (let i = k; i < depth; i++) {
      pf[at + i] = pf[at + i + 1]!;
      pz[at + i] = pz[at + i + 1]!;
      po[at + i] = po[at + i + 1]!;
    }
  };
  const unwoundSum = (at: number, depth: number, k: number): number => {
    const one = po[at + k]!, zero = pz[at + k]!;
    let next = pw[at + depth]!, total = 0;
    if (one !== 0) {
      for (let i = depth - 1; i >= 0; i--) {
        const tmp = (next * (depth + 1)) / ((i + 1) * one);
        total += tmp;
        next = pw[at + i]! - (tmp * zero * (depth - i)) / (depth + 1);
      }
    } else {
      for (let i = depth - 1; i >= 0; i--) total += pw[at + i]! / ((zero * (depth - i)) / (depth + 1));
    }
    return total;
  };
  const recurse = (node: number, depth: number, parentAt: number, zero: number, one: number, feature: number): void => {
    // This level's path starts after the parent's (depth + 1 entries at parentAt), copied from it.
    const at = parentAt + depth;
    for (let i = 0; i < depth; i++) {
      pf[at + i] = pf[parentAt + i]!;
      pz[at + i] = pz[parentAt + i]!;
      po[at + i] = po[parentAt + i]!;
      pw[at + i] = pw[parentAt + i]!;
    }
    extend(at, depth, zero, one, feature);
    const f = t.feature[node]!;
    if (f < 0) {
      for (let i = 1; i <= depth; i++) {
        const w = unwoundSum(at, depth, i) * (po[at + i]! - pz[at + i]!);
        const pfi = pf[at + i]!;
        for (const k of t.outputs) phi[pfi * K + k] += w * t.values[node * K + k]!;
      }
      return;
    }
    const hot = goesLeft(t, node, X[xo + f]!) ? t.left[node]! : t.right[node]!;
    const cold = hot === t.left[node]! ? t.right[node]! : t.left[node]!;
    const c = t.cover[node]!;
    const hotZero = t.cover[hot]! / c, coldZero = t.cover[cold]! / c;
    let inZero = 1, inOne = 1;
    let k = 0;
    for (; k <= depth; k++) if (pf[at + k] === f) break;
    if (k !== depth + 1) {
      inZero = pz[at + k]!;
      inOne = po[at + k]!;
      unwind(at, depth, k);
      depth -= 1;
    }
    recurse(hot, depth + 1, at, hotZero * inZero, inOne, f);
    recurse(cold, depth + 1, at, coldZero * inZero, 0, f);
  };

  for (let r = 0; r < n; r++) {
    xo = r * F;
    phi.fill(0);
    for (const tree of e.trees) {
      t = tree;
      if (!(t.cover[0]! > 0)) throw new Error('TreeSHAP: a tree has no cover at its root; fill covers first (coversFromData)');
      if (t.feature[0]! < 0) continue; // a stump adds a constant: all in the expected value
      // The root's path holds one dummy element (feature -1), as in XGBoost (parent feature -1).
      recurse(0, 0, 0, 1, 1, -1);
    }
    const o = r * (F + 1) * K;
    out.set(phi, o);
    for (let k = 0; k < K; k++) out[o + F * K + k] = ev[k]!;
  }
  return out;
}
