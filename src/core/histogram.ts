/**
 * A fixed-bucket histogram (Prometheus semantics: a sample lands in the first bucket whose upper
 * bound it does not exceed; an implicit +Inf bucket follows), shared by the server's /metrics
 * registry and the inference engine's per-model metrics, and its text exposition.
 */
import { formatValue } from './prometheus.ts';

/** Latency buckets in seconds, 10 µs .. 10 s, roughly 2.5x apart (feed latencies and inference runs alike). */
export const LATENCY_BUCKETS_S: readonly number[] = [
  1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2, 0.1, 0.25, 0.5, 1, 2.5, 10,
];

/** 1, 2, 4, ... up to max. */
export function powersOfTwo(max: number): number[] {
  const out: number[] = [];
  for (let v = 1; v <= max; v *= 2) out.push(v);
  return out;
}

export class Histogram {
  readonly bounds: Float64Array;
  /** Per bucket (not cumulative); the last slot is +Inf. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  /** `bounds`: upper bounds, in any order. */
  constructor(bounds: readonly number[]) {
    this.bounds = Float64Array.from(bounds).sort();
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(v: number): void {
    const b = this.bounds;
    // Buckets are few and the common values small: a linear scan from the bottom wins.
    let i = 0;
    while (i < b.length && v > b[i]!) i++;
    this.counts[i]!++;
    this.sum += v;
    this.count++;
  }

  /** Upper bound of the bucket holding quantile q (a bucket-resolution estimate). */
  quantile(q: number): number {
    if (this.count === 0) return NaN;
    const target = q * this.count;
    let acc = 0;
    for (let i = 0; i < this.counts.length; i++) {
      acc += this.counts[i]!;
      if (acc >= target) return i < this.bounds.length ? this.bounds[i]! : Infinity;
    }
    return Infinity;
  }

  mean(): number {
    return this.count ? this.sum / this.count : NaN;
  }

  /**
   * Appends the exposition lines (cumulative `_bucket`s, `_sum`, `_count`) of this histogram as
   * metric `name`; `labels` are the series' own labels, already formatted (`a="x",b="y"`) or empty.
   */
  render(out: string[], name: string, labels = ''): void {
    const sep = labels ? `${labels},` : '';
    let acc = 0;
    for (let i = 0; i < this.bounds.length; i++) {
      acc += this.counts[i]!;
      out.push(`${name}_bucket{${sep}le="${formatValue(this.bounds[i]!)}"} ${acc}`);
    }
    out.push(`${name}_bucket{${sep}le="+Inf"} ${this.count}`);
    const braces = labels ? `{${labels}}` : '';
    out.push(`${name}_sum${braces} ${formatValue(this.sum)}`, `${name}_count${braces} ${this.count}`);
  }
}
