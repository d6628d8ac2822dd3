/**
 * Transformer -> ONNX (opset 17), the same computation as TfTransformer.logits + softmax, optionally
 * preceded by the input normalisation (raw features in; see appendNormalization):
 * Reshape (patches) -> MatMul/Add (embedding) -> Add (positions) -> per layer LayerNormalization,
 * Q/K/V MatMul/Add -> Reshape [N, L, H, dh] -> Transpose -> MatMul -> Mul (1/sqrt(dh)) -> Softmax
 * -> MatMul -> Transpose -> Reshape -> MatMul/Add -> residual Add; LayerNormalization -> MatMul/Add
 * -> Relu -> MatMul/Add -> residual Add; final LayerNormalization -> ReduceMean over tokens (or
 * Gather of the last) -> MatMul/Add -> Softmax. Input `features` [N, T, F], output `probs` [N, C];
 * with bookLevels the input is [N, T, L, 4] and a Reshape to [N, T, L * 4] follows the normalisation.
 */
import { GraphBuilder, attr, modelBytes, DataType, type ModelOptions } from '../../inference/onnx/graph.ts';
import { appendNormalization } from '../../inference/normalize.ts';
import type { Normalization } from '../../inference/manifest.ts';
import { tokens, type TransformerConfig, type TransformerParams } from './model.ts';

export interface TransformerExportOptions extends ModelOptions {
  inputName?: string;
  /** Prepend the input normalisation (the graph then takes raw features). */
  normalization?: Normalization | null;
  /**
   * Raw book levels: the graph takes [N, T, L, channels] (SnapshotBatch.book windows), normalises
   * per channel along the last axis, then Reshapes to [N, T, L * channels], each row one token's
   * features (config.features must be L * channels).
   */
  bookLevels?: { levels: number; channels: number };
}

export function transformerToOnnx(c: TransformerConfig, p: TransformerParams, opts: TransformerExportOptions = {}): Uint8Array {
  const g = new GraphBuilder('flowcast_transformer');
  const L = tokens(c), d = c.dModel, H = c.heads, dh = d / H;
  const bl = opts.bookLevels;
  if (bl && bl.levels * bl.channels !== c.features) throw new RangeError(`transformer export: ${bl.levels} levels x ${bl.channels} channels is not the config's ${c.features} features`);
  const input = g.input(opts.inputName ?? 'features', DataType.FLOAT, bl ? ['N', c.window, bl.levels, bl.channels] : ['N', c.window, c.features]);
  const normed = opts.normalization ? appendNormalization(g, input, opts.normalization) : input;
  const x = bl ? g.node('Reshape', [normed, g.int64s('levels_to_rows', [0, c.window, c.features])]) : normed;
  g.output('probs', DataType.FLOAT, ['N', c.classes]);

  const linear = (t: string, W: Float32Array, b: Float32Array, rows: number, cols: number, name: string): string =>
    g.node('Add', [g.node('MatMul', [t, g.weight(`${name}.W`, [rows, cols], W)]), g.weight(`${name}.b`, [cols], b)]);
  const layerNorm = (t: string, gain: Float32Array, bias: Float32Array, name: string): string =>
    g.node('LayerNormalization', [t, g.weight(`${name}.g`, [d], gain), g.weight(`${name}.b`, [d], bias)], { axis: attr.i(-1), epsilon: attr.f(c.eps) });

  const patches = c.patch === 1 ? x : g.node('Reshape', [x, g.int64s('patch_shape', [0, L, c.patch * c.features])]);
  let h = g.node('Add', [linear(patches, p.embedW, p.embedB, c.patch * c.features, d, 'embed'), g.weight('pos', [L, d], p.pos)]);
  const headShape = g.int64s('head_shape', [0, L, H, dh]);
  const tokenShape = g.int64s('token_shape', [0, L, d]);
  const scale = g.scalar('attn_scale', 1 / Math.sqrt(dh));
  p.layers.forEach((l, i) => {
    const n = `l${i}`;
    const a = layerNorm(h, l.ln1g, l.ln1b, `${n}.ln1`);
    const split = (W: Float32Array, b: Float32Array, w: string, perm: number[]): string =>
      g.node('Transpose', [g.node('Reshape', [linear(a, W, b, d, d, `${n}.${w}`), headShape])], { perm: attr.ints(perm) });
    const q = split(l.Wq, l.bq, 'q', [0, 2, 1, 3]);
    const kT = split(l.Wk, l.bk, 'k', [0, 2, 3, 1]);
    const v = split(l.Wv, l.bv, 'v', [0, 2, 1, 3]);
    const att = g.node('Softmax', [g.node('Mul', [g.node('MatMul', [q, kT]), scale])], { axis: attr.i(-1) });
    const o = g.node('Reshape', [g.node('Transpose', [g.node('MatMul', [att, v])], { perm: attr.ints([0, 2, 1, 3]) }), tokenShape]);
    h = g.node('Add', [h, linear(o, l.Wo, l.bo, d, d, `${n}.o`)]);
    const f = g.node('Relu', [linear(layerNorm(h, l.ln2g, l.ln2b, `${n}.ln2`), l.W1, l.b1, d, c.ffn, `${n}.ffn1`)]);
    h = g.node('Add', [h, linear(f, l.W2, l.b2, c.ffn, d, `${n}.ffn2`)]);
  });
  h = layerNorm(h, p.lnfG, p.lnfB, 'lnf');
  const pooled = c.pool === 'mean'
    ? g.node('ReduceMean', [h], { axes: attr.ints([1]), keepdims: attr.i(0) })
    : g.node('Gather', [h, g.int64s('last_token', [L - 1])], { axis: attr.i(1) });
  const flatPooled = c.pool === 'mean' ? pooled : g.node('Reshape', [pooled, g.int64s('pooled_shape', [0, d])]);
  g.node('Softmax', [linear(flatPooled, p.headW, p.headB, d, c.classes, 'head')], { axis: attr.i(-1) }, { outputs: ['probs'] });
  const { inputName: _i, normalization: _n, bookLevels: _b, ...modelOpts } = opts;
  return modelBytes(g.build(), { docString: `flowcast transformer encoder: T=${c.window}, patch=${c.patch}, d_model=${d}, heads=${H}, layers=${c.layers}, ffn=${c.ffn}${bl ? `, raw book levels [N, T, ${bl.levels}, ${bl.channels}] reshaped to rows` : ''}${opts.normalization ? ', input normalisation in the graph' : ''}`, ...modelOpts });
}
