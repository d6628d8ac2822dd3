/**
 * A small transformer encoder over a window of feature rows, for TensorFlow.js training:
 *
 *   x [N, T, F] -> patches of P rows [N, L = T/P, P*F] -> linear embedding + learned positions
 *   -> `layers` x pre-LN blocks (multi-head self-attention, ReLU feed-forward, residuals)
 *   -> final LayerNorm -> mean over tokens (or the last token) -> linear -> softmax [N, classes]
 *
 * P = 1 makes every row a token. Parameters live in TransformerParams (plain Float32Arrays), the
 * single source for tfjs variables and for the ONNX export (export.ts), whose output the training
 * command checks against this forward pass.
 */
import type { Tf } from '../tf-backend.ts';
import { gaussian, mulberry32 } from '../random.ts';
import type { Tensor, Tensor2D, Tensor3D, Variable } from '@tensorflow/tfjs';

export interface TransformerConfig {
  window: number;
  features: number;
  /** Rows per token (T must be a multiple). */
  patch: number;
  dModel: number;
  heads: number;
  layers: number;
  ffn: number;
  classes: number;
  dropout: number;
  pool: 'mean' | 'last';
  eps: number;
}

export const DEFAULT_TRANSFORMER: Omit<TransformerConfig, 'features'> = {
  window: 100,
  // Tokens of 5 rows: ~5x faster to train than a token per row on tfjs-wasm, same 100-row view.
  patch: 5,
  dModel: 32,
  heads: 4,
  layers: 2,
  ffn: 64,
  classes: 3,
  dropout: 0.1,
  pool: 'last',
  eps: 1e-5,
};

export function checkConfig(c: TransformerConfig): void {
  const int = (v: number, name: string, min = 1): void => {
    if (!Number.isInteger(v) || v < min) throw new RangeError(`transformer: ${name} must be an integer >= ${min}, got ${v}`);
  };
  int(c.window, 'window');
  int(c.features, 'features');
  int(c.patch, 'patch');
  int(c.dModel, 'd_model');
  int(c.heads, 'heads');
  int(c.layers, 'layers', 0);
  int(c.ffn, 'ffn');
  int(c.classes, 'classes', 2);
  if (c.window % c.patch !== 0) throw new RangeError(`transformer: window ${c.window} is not a multiple of patch ${c.patch}`);
  if (c.dModel % c.heads !== 0) throw new RangeError(`transformer: d_model ${c.dModel} is not a multiple of heads ${c.heads}`);
  if (!(c.dropout >= 0 && c.dropout < 1)) throw new RangeError(`transformer: dropout must be in [0, 1), got ${c.dropout}`);
}

export const tokens = (c: TransformerConfig): number => c.window / c.patch;

export interface LayerParams {
  ln1g: Float32Array; ln1b: Float32Array;
  Wq: Float32Array; bq: Float32Array;
  Wk: Float32Array; bk: Float32Array;
  Wv: Float32Array; bv: Float32Array;
  Wo: Float32Array; bo: Float32Array;
  ln2g: Float32Array; ln2b: Float32Array;
  W1: Float32Array; b1: Float32Array;
  W2: Float32Array; b2: Float32Array;
}

export interface TransformerParams {
  embedW: Float32Array; embedB: Float32Array; pos: Float32Array;
  layers: LayerParams[];
  lnfG: Float32Array; lnfB: Float32Array;
  headW: Float32Array; headB: Float32Array;
}

/** Shapes of every parameter, by name (layer parameters prefixed `l<i>.`). */
export function paramShapes(c: TransformerConfig): Map<string, number[]> {
  const d = c.dModel;
  const m = new Map<string, number[]>([
    ['embedW', [c.patch * c.features, d]], ['embedB', [d]], ['pos', [tokens(c), d]],
    ['lnfG', [d]], ['lnfB', [d]], ['headW', [d, c.classes]], ['headB', [c.classes]],
  ]);
  for (let i = 0; i < c.layers; i++) {
    const l = (k: string, s: number[]) => m.set(`l${i}.${k}`, s);
    l('ln1g', [d]); l('ln1b', [d]);
    for (const w of ['q', 'k', 'v', 'o']) {
      l(`W${w}`, [d, d]);
      l(`b${w}`, [d]);
    }
    l('ln2g', [d]); l('ln2b', [d]);
    l('W1', [d, c.ffn]); l('b1', [c.ffn]); l('W2', [c.ffn, d]); l('b2', [d]);
  }
  return m;
}

/** Deterministic initialisation: Glorot-uniform weights, zero biases, unit LayerNorm gains, N(0, 0.02) positions. */
export function initParams(c: TransformerConfig, seed: number): TransformerParams {
  checkConfig(c);
  const r = mulberry32(seed);
  const flat = new Map<string, Float32Array>();
  for (const [name, shape] of paramShapes(c)) {
    const n = shape.reduce((a, b) => a * b, 1);
    const a = new Float32Array(n);
    const base = name.includes('.') ? name.split('.')[1]! : name;
    if (base === 'pos') for (let i = 0; i < n; i++) a[i] = 0.02 * gaussian(r);
    else if (/^ln.*g$|^lnfG$/.test(base)) a.fill(1);
    else if (shape.length === 2) {
      const limit = Math.sqrt(6 / (shape[0]! + shape[1]!));
      for (let i = 0; i < n; i++) a[i] = (r() * 2 - 1) * limit;
    }
    flat.set(name, a);
  }
  return fromFlat(c, flat);
}

export function toFlat(p: TransformerParams): Map<string, Float32Array> {
  const m = new Map<string, Float32Array>();
  for (const k of ['embedW', 'embedB', 'pos', 'lnfG', 'lnfB', 'headW', 'headB'] as const) m.set(k, p[k]);
  p.layers.forEach((l, i) => {
    for (const [k, v] of Object.entries(l)) m.set(`l${i}.${k}`, v as Float32Array);
  });
  return m;
}

export function fromFlat(c: TransformerConfig, m: Map<string, Float32Array>): TransformerParams {
  const get = (k: string): Float32Array => {
    const v = m.get(k);
    if (!v) throw new Error(`transformer parameters: missing ${k}`);
    return v;
  };
  const layers: LayerParams[] = [];
  for (let i = 0; i < c.layers; i++) {
    const g = (k: string) => get(`l${i}.${k}`);
    layers.push({
      ln1g: g('ln1g'), ln1b: g('ln1b'), Wq: g('Wq'), bq: g('bq'), Wk: g('Wk'), bk: g('bk'), Wv: g('Wv'), bv: g('bv'),
      Wo: g('Wo'), bo: g('bo'), ln2g: g('ln2g'), ln2b: g('ln2b'), W1: g('W1'), b1: g('b1'), W2: g('W2'), b2: g('b2'),
    });
  }
  return { embedW: get('embedW'), embedB: get('embedB'), pos: get('pos'), layers, lnfG: get('lnfG'), lnfB: get('lnfB'), headW: get('headW'), headB: get('headB') };
}

/** The model as tfjs variables with a forward pass. */
export class TfTransformer {
  readonly vars = new Map<string, Variable>();

  constructor(private readonly tf: Tf, readonly config: TransformerConfig, params: TransformerParams) {
    checkConfig(config);
    const shapes = paramShapes(config);
    for (const [name, value] of toFlat(params)) this.vars.set(name, tf.variable(tf.tensor(value, shapes.get(name)!), true, `fc/${name}/${Math.random().toString(36).slice(2)}`));
  }

  private v(name: string): Variable {
    return this.vars.get(name)!;
  }

  private layerNorm(x: Tensor, g: string, b: string): Tensor {
    const tf = this.tf;
    const mean = tf.mean(x, -1, true);
    const c = tf.sub(x, mean);
    const variance = tf.mean(tf.square(c), -1, true);
    return tf.add(tf.mul(tf.div(c, tf.sqrt(tf.add(variance, this.config.eps))), this.v(g)), this.v(b));
  }

  /** Logits [N, classes] for normalised windows x [N, T, F]; `seed` makes the dropout masks reproducible. */
  logits(x: Tensor3D, training: boolean, seed?: number): Tensor2D {
    const tf = this.tf;
    const c = this.config;
    const N = x.shape[0];
    const L = tokens(c), d = c.dModel, H = c.heads, dh = d / H;
    let k = 0;
    const drop = (t: Tensor): Tensor => (training && c.dropout > 0 ? tf.dropout(t, c.dropout, undefined, seed === undefined ? undefined : seed + k++) : t);
    const lin = (t: Tensor, W: string, b: string, rows: number, cols: number): Tensor =>
      tf.add(tf.matMul(tf.reshape(t, [rows, cols]) as Tensor2D, this.v(W) as unknown as Tensor2D), this.v(b));
    let h: Tensor = tf.add(tf.reshape(lin(x, 'embedW', 'embedB', N * L, c.patch * c.features), [N, L, d]), this.v('pos'));
    for (let i = 0; i < c.layers; i++) {
      const p = `l${i}.`;
      const a = this.layerNorm(h, `${p}ln1g`, `${p}ln1b`);
      const heads = (w: string): Tensor => tf.transpose(tf.reshape(lin(a, `${p}W${w}`, `${p}b${w}`, N * L, d), [N, L, H, dh]), [0, 2, 1, 3]);
      const q = heads('q'), k = heads('k'), v = heads('v');
      const scores = tf.mul(tf.matMul(q as Tensor3D, k as Tensor3D, false, true), 1 / Math.sqrt(dh));
      const att = drop(tf.softmax(scores, -1));
      const o = tf.reshape(tf.transpose(tf.matMul(att as Tensor3D, v as Tensor3D), [0, 2, 1, 3]), [N * L, d]);
      h = tf.add(h, drop(tf.reshape(lin(o, `${p}Wo`, `${p}bo`, N * L, d), [N, L, d])));
      const f1 = tf.relu(lin(this.layerNorm(h, `${p}ln2g`, `${p}ln2b`), `${p}W1`, `${p}b1`, N * L, d));
      h = tf.add(h, drop(tf.reshape(lin(f1, `${p}W2`, `${p}b2`, N * L, c.ffn), [N, L, d])));
    }
    h = this.layerNorm(h, 'lnfG', 'lnfB');
    const pooled = c.pool === 'mean' ? tf.mean(h, 1) : tf.reshape(tf.slice(h, [0, L - 1, 0], [N, 1, d]), [N, d]);
    return tf.add(tf.matMul(pooled as Tensor2D, this.v('headW') as unknown as Tensor2D), this.v('headB')) as Tensor2D;
  }

  /** Class probabilities for normalised windows, in batches (no gradients). */
  predict(z: Float32Array, n: number, batch = 256): Float32Array {
    const tf = this.tf;
    const c = this.config;
    const size = c.window * c.features;
    const out = new Float32Array(n * c.classes);
    for (let s = 0; s < n; s += batch) {
      const b = Math.min(batch, n - s);
      const probs = tf.tidy(() => tf.softmax(this.logits(tf.tensor3d(z.subarray(s * size, (s + b) * size), [b, c.window, c.features]), false)));
      out.set(probs.dataSync() as Float32Array, s * c.classes);
      probs.dispose();
    }
    return out;
  }

  /** Current values as plain arrays (for export and checkpoints). */
  params(): TransformerParams {
    const flat = new Map<string, Float32Array>();
    for (const [k, v] of this.vars) flat.set(k, Float32Array.from(v.dataSync() as Float32Array));
    return fromFlat(this.config, flat);
  }

  assign(p: TransformerParams): void {
    const shapes = paramShapes(this.config);
    for (const [k, v] of toFlat(p)) this.vars.get(k)!.assign(this.tf.tensor(v, shapes.get(k)!));
  }

  dispose(): void {
    for (const v of this.vars.values()) v.dispose();
    this.vars.clear();
  }
}
