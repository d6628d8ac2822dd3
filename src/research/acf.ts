/**
 * Sample autocorrelation with Bartlett standard errors and the Ljung-Box portmanteau test, and the
 * sample cross-correlation of two series. Conventions follow statsmodels' `acf` (biased autocovariance,
 * divided by n) and `acorr_ljungbox`; references: Box, Jenkins & Reinsel, "Time Series Analysis"
 * (Bartlett's formula), Ljung & Box (1978), Tsay, "Analysis of Financial Time Series", 3rd ed., 2.2.
 */
import { chi2Sf, normInv } from './dist.ts';

export interface AcfResult {
  n: number;
  /** r_k for k = 0..nlags (r_0 = 1). */
  acf: number[];
  /** Bartlett standard error of r_k under the hypothesis that the true ACF is 0 beyond lag k-1. */
  se: number[];
  /** Confidence interval r_k ± z se_k at `level`. */
  ci: [number, number][];
  level: number;
  /** Ljung-Box Q(m) for m = 1..nlags, and its chi-square(m) p-value. */
  q: number[];
  pQ: number[];
}

function mean(x: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i]!;
  return s / x.length;
}

export function acf(x: ArrayLike<number>, nlags: number, level = 0.95): AcfResult {
  const n = x.length;
  if (n < 3) throw new Error(`acf: ${n} observations (need at least 3)`);
  if (!(nlags >= 1 && nlags < n)) throw new Error(`acf: nlags ${nlags} outside 1..${n - 1}`);
  const m = mean(x);
  const d = new Float64Array(n);
  for (let i = 0; i < n; i++) d[i] = x[i]! - m;
  let c0 = 0;
  for (let i = 0; i < n; i++) c0 += d[i]! * d[i]!;
  if (!(c0 > 0)) throw new Error('acf: the series is constant');
  const r = [1];
  for (let k = 1; k <= nlags; k++) {
    let s = 0;
    for (let i = 0; i + k < n; i++) s += d[i]! * d[i + k]!;
    r.push(s / c0);
  }
  const z = normInv(0.5 + level / 2);
  const se = [0], ci: [number, number][] = [[1, 1]];
  let cum = 0;
  for (let k = 1; k <= nlags; k++) {
    // Bartlett: Var(r_k) ≈ (1 + 2 Σ_{j<k} r_j²)/n when ρ_j = 0 for j ≥ k (an MA(k-1) null).
    const s = Math.sqrt((1 + 2 * cum) / n);
    se.push(s);
    ci.push([r[k]! - z * s, r[k]! + z * s]);
    cum += r[k]! * r[k]!;
  }
  const q: number[] = [], pQ: number[] = [];
  let acc = 0;
  for (let k = 1; k <= nlags; k++) {
    acc += (r[k]! * r[k]!) / (n - k);
    const Q = n * (n + 2) * acc;
    q.push(Q);
    pQ.push(chi2Sf(Q, k));
  }
  return { n, acf: r, se, ci, level, q, pQ };
}

export interface CcfResult {
  n: number;
  /** Lags -maxLag..maxLag. */
  lags: number[];
  /** ρ(k) = corr(x_t, y_{t+k}): a peak at k > 0 means x moves first (x leads y by k steps). */
  ccf: number[];
  /** ± z/√n: the bound |ρ(k)| stays inside with probability `level` at each lag when x and y are independent and one of them is white noise. */
  bound: number;
  level: number;
  /** The lag of the largest |ρ(k)|, its value, and whether it is outside the bound. */
  peakLag: number;
  peak: number;
  significant: boolean;
}

export function ccf(x: ArrayLike<number>, y: ArrayLike<number>, maxLag: number, level = 0.95): CcfResult {
  const n = x.length;
  if (y.length !== n) throw new Error(`ccf: series of ${n} and ${y.length} observations (they must be aligned)`);
  if (!(maxLag >= 0 && maxLag < n)) throw new Error(`ccf: maxLag ${maxLag} outside 0..${n - 1}`);
  const mx = mean(x), my = mean(y);
  let sx = 0, sy = 0;
  for (let i = 0; i < n; i++) {
    sx += (x[i]! - mx) ** 2;
    sy += (y[i]! - my) ** 2;
  }
  if (!(sx > 0) || !(sy > 0)) throw new Error(`ccf: ${sx > 0 ? 'y' : 'x'} is constant`);
  const norm = Math.sqrt(sx * sy);
  const lags: number[] = [], out: number[] = [];
  for (let k = -maxLag; k <= maxLag; k++) {
    let s = 0;
    // Divided by the full n (like the ACF), so the values form a positive-definite sequence.
    for (let t = Math.max(0, -k); t < n && t + k < n; t++) s += (x[t]! - mx) * (y[t + k]! - my);
    lags.push(k);
    out.push(s / norm);
  }
  const bound = normInv(0.5 + level / 2) / Math.sqrt(n);
  let best = 0;
  for (let i = 1; i < out.length; i++) if (Math.abs(out[i]!) > Math.abs(out[best]!)) best = i;
  return { n, lags, ccf: out, bound, level, peakLag: lags[best]!, peak: out[best]!, significant: Math.abs(out[best]!) > bound };
}
