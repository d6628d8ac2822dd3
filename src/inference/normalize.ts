/**
 * Raw feature window -> model input, per the manifest's normalisation: signed log where asked,
 * z-score with the training statistics, NaN -> nanValue, clipping.
 *
 * Two places can do it. `InputTransform` does it in JavaScript (one pass, no allocation, straight
 * into the request's slot of the batch tensor). `appendNormalization` puts the same operations at
 * the head of the ONNX graph, where ONNX Runtime runs them vectorised: the engine then only copies
 * raw values (a typed-array copy), which keeps the batcher's cost per request near zero. Exported
 * models use the graph; the JavaScript path serves manifests without `inGraph` and produces the
 * training inputs. Both compute sign(x) ln(1 + |x|) and (v - mean) / std; the training command
 * checks that they agree (ONNX Runtime against TensorFlow.js within 1e-4).
 */
import { sampleSize, type ModelManifest, type Normalization } from './manifest.ts';
import type { GraphBuilder } from './onnx/graph.ts';

export class InputTransform {
  /** Floats per sample (T x F; T x L x 4 for raw book levels, normalised per channel along the last axis). */
  readonly size: number;
  /** true: values are copied as they are (no normalisation, or normalisation inside the graph). */
  readonly copiesRaw: boolean;
  private readonly nCols: number;
  private readonly mean: Float64Array | undefined;
  private readonly invStd: Float64Array | undefined;
  private readonly slog: Uint8Array | undefined;
  private readonly clip: number;
  private readonly nanValue: number;

  constructor(m: ModelManifest) {
    this.nCols = m.input.columns.length;
    this.size = sampleSize(m);
    const n = m.normalization;
    this.clip = n?.clip ?? Infinity;
    this.nanValue = n?.nanValue ?? NaN;
    this.copiesRaw = !n || n.inGraph === true;
    if (n && !this.copiesRaw) {
      this.mean = Float64Array.from(n.columns, (c) => c.mean);
      this.invStd = Float64Array.from(n.columns, (c) => 1 / c.std);
      this.slog = Uint8Array.from(n.columns, (c) => (c.transform === 'slog1p' ? 1 : 0));
    }
  }

  /** Writes one sample (raw, T x F row-major, oldest row first) into out[offset .. offset + size). */
  write(raw: ArrayLike<number>, out: Float32Array, offset: number): void {
    const size = this.size;
    if (!this.mean) {
      if (raw instanceof Float32Array || raw instanceof Float64Array) out.set(raw.length === size ? raw : raw.subarray(0, size), offset);
      else for (let i = 0; i < size; i++) out[offset + i] = raw[i]!;
      return;
    }
    const F = this.nCols, mean = this.mean, inv = this.invStd!, slog = this.slog!, clip = this.clip, nanValue = this.nanValue;
    for (let i = 0, f = 0; i < size; i++) {
      let v = raw[i]!;
      if (slog[f] === 1) v = v < 0 ? -Math.log1p(-v) : Math.log1p(v);
      let z = (v - mean[f]!) * inv[f]!;
      if (z !== z) z = nanValue;
      else if (z > clip) z = clip;
      else if (z < -clip) z = -clip;
      out[offset + i] = z;
      if (++f === F) f = 0;
    }
  }
}

/**
 * Appends the normalisation to a graph whose input `x` holds raw features along its last axis;
 * returns the normalised value's name.
 */
export function appendNormalization(g: GraphBuilder, x: string, n: Normalization): string {
  const F = n.columns.length;
  let v = x;
  const mask = n.columns.map((c) => c.transform === 'slog1p');
  if (mask.some(Boolean)) {
    const logged = g.node('Mul', [g.node('Sign', [x]), g.node('Log', [g.node('Add', [g.node('Abs', [x]), g.scalar('norm/one', 1)])])]);
    v = mask.every(Boolean) ? logged : g.node('Where', [g.bools('norm/slog_mask', [F], mask), logged, x]);
  }
  let z = g.node('Mul', [
    g.node('Sub', [v, g.weight('norm/mean', [F], n.columns.map((c) => c.mean))]),
    g.weight('norm/inv_std', [F], n.columns.map((c) => 1 / c.std)),
  ]);
  z = g.node('Where', [g.node('IsNaN', [z]), g.scalar('norm/nan_value', n.nanValue), z]);
  if (n.clip !== null) z = g.node('Clip', [z, g.scalar('norm/clip_lo', -n.clip), g.scalar('norm/clip_hi', n.clip)]);
  return z;
}
