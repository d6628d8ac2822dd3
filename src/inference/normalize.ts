/**
 * Raw feature window -> model input, per the manifest's normalisation: optional signed log,
 * z-score with the training statistics, clipping, NaN -> nanValue. Without normalisation the
 * values are copied as they are (tree models route NaN themselves). One pass, no allocation: the
 * batcher writes each request straight into its slot of the batch tensor.
 */
import type { ModelManifest } from './manifest.ts';

export class InputTransform {
  /** Floats per sample (T x F). */
  readonly size: number;
  private readonly nCols: number;
  private readonly mean: Float64Array | undefined;
  private readonly invStd: Float64Array | undefined;
  private readonly slog: Uint8Array | undefined;
  private readonly clip: number;
  private readonly nanValue: number;

  constructor(m: ModelManifest) {
    this.nCols = m.input.columns.length;
    this.size = m.input.window * this.nCols;
    const n = m.normalization;
    this.clip = n?.clip ?? Infinity;
    this.nanValue = n?.nanValue ?? NaN;
    if (n) {
      this.mean = Float64Array.from(n.columns, (c) => c.mean);
      this.invStd = Float64Array.from(n.columns, (c) => 1 / c.std);
      this.slog = Uint8Array.from(n.columns, (c) => (c.transform === 'slog1p' ? 1 : 0));
    }
  }

  /** Writes one sample (raw, T x F row-major, oldest row first) into out[offset .. offset + size). */
  write(raw: ArrayLike<number>, out: Float32Array, offset: number): void {
    const size = this.size;
    if (!this.mean) {
      for (let i = 0; i < size; i++) out[offset + i] = raw[i]!;
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

  /** A whole matrix of samples (for evaluation and training code that already holds them). */
  apply(raw: ArrayLike<number>, n: number): Float32Array {
    const out = new Float32Array(n * this.size);
    if (raw.length !== n * this.size) throw new RangeError(`expected ${n} samples of ${this.size} values, got ${raw.length} values`);
    if (!this.mean) {
      for (let i = 0; i < out.length; i++) out[i] = raw[i]!;
      return out;
    }
    for (let s = 0; s < n; s++) this.write(subview(raw, s * this.size, this.size), out, s * this.size);
    return out;
  }
}

function subview(a: ArrayLike<number>, start: number, len: number): ArrayLike<number> {
  if (a instanceof Float32Array || a instanceof Float64Array) return a.subarray(start, start + len);
  return Array.prototype.slice.call(a, start, start + len) as number[];
}
