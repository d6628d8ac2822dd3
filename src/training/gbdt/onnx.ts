/**
 * TreeEnsemble -> ONNX: one ai.onnx.ml TreeEnsembleRegressor producing the margins [N, targets],
 * then the link (Softmax; Sigmoid with [1-p, p] for binary; Identity for regression) as `probs`
 * (or `values` for regression). Inputs are float32 [N, F].
 *
 * Exactness on float32 inputs: ONNX Runtime compares in float32, while LightGBM compares the input
 * (widened to double) against a double threshold. For every float32 x, `x <= t` equals
 * `x <= t32` where t32 is the largest float32 not above t (and `x < t` equals `x < t32'` with t32'
 * the smallest float32 not below t), so thresholds are rounded in that direction instead of to
 * nearest. XGBoost's thresholds are already float32 and pass unchanged.
 */
import { GraphBuilder, attr, modelBytes, ONNX_OPSET, ONNX_ML_OPSET, DataType, type ModelOptions } from '../../inference/onnx/graph.ts';
import { outputWidth, type TreeEnsemble } from './ensemble.ts';

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The next float32 after x in the direction of +Infinity (dir 1) or -Infinity (dir -1); x is a float32. */
function nextFloat32(x: number, dir: 1 | -1): number {
  if (x === 0) return dir * 1.401298464324817e-45;
  f32[0] = x;
  if ((x > 0) === (dir > 0)) u32[0]! += 1;
  else u32[0]! -= 1;
  return f32[0]!;
}

/** The float32 threshold with the same decisions on float32 inputs as `t` (double) under cmp. */
export function float32Threshold(t: number, cmp: 'LT' | 'LEQ'): number {
  const f = Math.fround(t);
  if (f === t || !Number.isFinite(f)) return f;
  if (cmp === 'LEQ') return f > t ? nextFloat32(f, -1) : f;
  return f < t ? nextFloat32(f, 1) : f;
}

export interface TreeOnnxOptions extends ModelOptions {
  inputName?: string;
  graphName?: string;
  /**
   * Trees over lag columns: the input is a window [N, window, columns] (what a server gathers for
   * any windowed model) and the graph gathers the trees' features from it: `pick` holds each one's
   * offset in the flattened window (row-major, oldest row first), in the order the trees were
   * trained on (Dataset.designPick).
   */
  lags?: { window: number; columns: number; pick: readonly number[] };
}

export interface TreeOnnx {
  bytes: Uint8Array;
  inputName: string;
  outputName: string;
  /** Width of the output: classes (probabilities) or 1 (regression). */
  outputWidth: number;
  nodes: number;
}

export function ensembleToOnnx(e: TreeEnsemble, opts: TreeOnnxOptions = {}): TreeOnnx {
  const inputName = opts.inputName ?? 'features';
  const g = new GraphBuilder(opts.graphName ?? `${e.source}_trees`);
  let treesIn = inputName;
  const lags = opts.lags;
  if (lags) {
    if (e.nFeatures > lags.pick.length) throw new Error(`the trees read feature ${e.nFeatures - 1}, but the lag design has ${lags.pick.length}`);
    g.input(inputName, DataType.FLOAT, ['N', lags.window, lags.columns]);
    const flat = g.node('Reshape', [inputName, g.int64s('window_flat', [-1, lags.window * lags.columns])]);
    treesIn = g.node('Gather', [flat, g.int64s('design_pick', [...lags.pick])], { axis: attr.i(1) });
  } else g.input(inputName, DataType.FLOAT, ['N', e.nFeatures]);

  const treeIds: number[] = [], nodeIds: number[] = [], featureIds: number[] = [], values: number[] = [];
  const modes: string[] = [], trueIds: number[] = [], falseIds: number[] = [], missingTrue: number[] = [];
  const tTree: number[] = [], tNode: number[] = [], tTarget: number[] = [], tWeight: number[] = [];
  // Random forests average per target; pre-scaling the leaves keeps the aggregate a plain SUM.
  const perTarget = new Array<number>(e.nTargets).fill(0);
  for (const t of e.trees) perTarget[t.target]!++;
  const mode = e.cmp === 'LT' ? 'BRANCH_LT' : 'BRANCH_LEQ';
  e.trees.forEach((t, ti) => {
    const scale = t.weight / (e.average ? perTarget[t.target]! : 1);
    for (let i = 0; i < t.feature.length; i++) {
      treeIds.push(ti);
      nodeIds.push(i);
      const leaf = t.feature[i]! < 0;
      featureIds.push(leaf ? 0 : t.feature[i]!);
      values.push(leaf ? 0 : float32Threshold(t.threshold[i]!, e.cmp));
      modes.push(leaf ? 'LEAF' : mode);
      trueIds.push(leaf ? 0 : t.left[i]!);
      falseIds.push(leaf ? 0 : t.right[i]!);
      missingTrue.push(leaf ? 0 : t.missingLeft[i]!);
      if (leaf) {
        tTree.push(ti);
        tNode.push(i);
        tTarget.push(t.target);
        tWeight.push(t.value[i]! * scale);
      }
    }
  });

  const margins = g.node('TreeEnsembleRegressor', [treesIn], {
    n_targets: attr.i(e.nTargets),
    nodes_treeids: attr.ints(treeIds),
    nodes_nodeids: attr.ints(nodeIds),
    nodes_featureids: attr.ints(featureIds),
    nodes_values: attr.floats(values),
    nodes_modes: attr.strings(modes),
    nodes_truenodeids: attr.ints(trueIds),
    nodes_falsenodeids: attr.ints(falseIds),
    nodes_missing_value_tracks_true: attr.ints(missingTrue),
    target_treeids: attr.ints(tTree),
    target_nodeids: attr.ints(tNode),
    target_ids: attr.ints(tTarget),
    target_weights: attr.floats(tWeight),
    base_values: attr.floats(e.baseMargin),
    aggregate_function: attr.s('SUM'),
    post_transform: attr.s('NONE'),
  }, { domain: 'ai.onnx.ml', outputs: ['margins'] });
  g.output('margins', DataType.FLOAT, ['N', e.nTargets]);

  const width = outputWidth(e);
  let outputName = 'probs';
  if (e.link === 'softmax') g.node('Softmax', [margins], { axis: attr.i(-1) }, { outputs: ['probs'] });
  else if (e.link === 'sigmoid') {
    const z = e.sigmoidScale === 1 ? margins : g.node('Mul', [margins, g.scalar('sigmoid_scale', e.sigmoidScale)]);
    if (e.nTargets === 1) {
      const p = g.node('Sigmoid', [z]);
      const q = g.node('Sub', [g.scalar('one', 1), p]);
      g.node('Concat', [q, p], { axis: attr.i(1) }, { outputs: ['probs'] });
    } else g.node('Sigmoid', [z], {}, { outputs: ['probs'] });
  } else {
    outputName = 'values';
    g.node('Identity', [margins], {}, { outputs: ['values'] });
  }
  g.output(outputName, DataType.FLOAT, ['N', width]);

  const bytes = modelBytes(g.build(), { ...opts, opsets: [ONNX_OPSET, ONNX_ML_OPSET] });
  return { bytes, inputName, outputName, outputWidth: width, nodes: treeIds.length };
}
