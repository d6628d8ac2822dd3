/**
 * Circular block bootstrap (Politis & Romano 1992) for confidence intervals on time-ordered
 * samples: consecutive test samples share most of their input window and their label horizons
 * overlap, so resampling single samples would understate the variance. Blocks of `block`
 * consecutive samples are drawn with wrap-around until n samples are covered; each replicate is a
 * weight vector (how often each sample was drawn), so any weighted metric can be recomputed.
 * Several statistics evaluated on the same replicates give paired intervals (e.g. the difference
 * between a model and a baseline).
 */
import { quantileSorted } from '../../core/quantile.ts';
import { mulberry32 } from '../random.ts';

export interface Interval {
  estimate: number;
  lo: number;
  hi: number;
}

export interface BootstrapOptions {
  /** Samples per block. */
  block: number;
  replicates: number;
  /** Two-sided level (0.95 -> 2.5% and 97.5% percentiles). */
  level: number;
  seed: number;
}

/**
 * Percentile intervals of each statistic. `stats(w)` returns one value per statistic for sample
 * weights w (all-ones for the point estimate).
 */
export function blockBootstrap(n: number, stats: (w: Float64Array) => number[], o: BootstrapOptions): Interval[] {
  const ones = new Float64Array(n).fill(1);
  const point = stats(ones);
  const k = point.length;
  const draws: number[][] = Array.from({ length: k }, () => []);
  const rand = mulberry32(o.seed);
  const block = Math.max(1, Math.min(o.block, n));
  const w = new Float64Array(n);
  for (let r = 0; r < o.replicates; r++) {
    w.fill(0);
    let covered = 0;
    while (covered < n) {
      const start = Math.floor(rand() * n);
      const len = Math.min(block, n - covered);
      for (let j = 0; j < len; j++) w[(start + j) % n]!++;
      covered += len;
    }
    const v = stats(w);
    for (let s = 0; s < k; s++) if (Number.isFinite(v[s]!)) draws[s]!.push(v[s]!);
  }
  const a = (1 - o.level) / 2;
  return point.map((estimate, s) => {
    const d = draws[s]!.sort((x, y) => x - y);
    if (d.length === 0) return { estimate, lo: NaN, hi: NaN };
    return { estimate, lo: quantileSorted(d, a), hi: quantileSorted(d, 1 - a) };
  });
}
