/**
 * Lo-MacKinlay variance ratio of q-period to 1-period returns, overlapping q-period returns, with
 * the unbiased variance estimators (Lo & MacKinlay 1988; Campbell, Lo & MacKinlay, "The Econometrics
 * of Financial Markets", 1997, 2.4). With returns r_1..r_T, μ̂ their mean and p_t = Σ_{s≤t} r_s:
 *   σ̂_a² = Σ (r_t - μ̂)² / (T - 1)
 *   σ̂_c² = Σ_{t=q}^{T} (p_t - p_{t-q} - qμ̂)² / m,   m = q (T - q + 1)(1 - q/T)
 *   VR(q) = σ̂_c² / σ̂_a²
 * Under a random walk VR = 1. z (homoskedastic increments) = (VR - 1) / sqrt(2(2q-1)(q-1)/(3qT));
 * z* (heteroskedasticity-robust, the one to read on market data) = (VR - 1) / sqrt(θ̂/T) with
 *   δ̂_j = T Σ_{t=j+1}^{T} (r_t - μ̂)²(r_{t-j} - μ̂)² / [Σ (r_t - μ̂)²]²,   θ̂ = Σ_{j=1}^{q-1} [2(q-j)/q]² δ̂_j.
 * Both are asymptotically N(0, 1) under their nulls.
 */
import { normTwoSided } from './dist.ts';

export interface VarianceRatioResult {
  q: number;
  vr: number;
  z: number;
  pZ: number;
  /** Heteroskedasticity-robust z* and its two-sided p-value. */
  zRobust: number;
  pRobust: number;
  nobs: number;
}

export function varianceRatio(r: ArrayLike<number>, q: number): VarianceRatioResult {
  const T = r.length;
  if (!(Number.isInteger(q) && q >= 2)) throw new Error(`variance ratio: q must be an integer ≥ 2, got ${q}`);
  if (T < 2 * q + 1) throw new Error(`variance ratio: ${T} returns are too few for q = ${q}`);
  let mu = 0;
  for (let t = 0; t < T; t++) {
    if (!Number.isFinite(r[t]!)) throw new Error(`variance ratio: return ${t} is ${r[t]}`);
    mu += r[t]!;
  }
  mu /= T;
  const d = new Float64Array(T);
  let ss = 0;
  for (let t = 0; t < T; t++) {
    d[t] = r[t]! - mu;
    ss += d[t]! * d[t]!;
  }
  if (!(ss > 0)) throw new Error('variance ratio: the returns are constant');
  const va = ss / (T - 1);
  // Sums of q consecutive centred returns = p_t - p_{t-q} - qμ̂, by a running window.
  let w = 0;
  for (let t = 0; t < q; t++) w += d[t]!;
  let sc = w * w;
  for (let t = q; t < T; t++) {
    w += d[t]! - d[t - q]!;
    sc += w * w;
  }
  const m = q * (T - q + 1) * (1 - q / T);
  const vr = sc / m / va;
  const z = (vr - 1) / Math.sqrt((2 * (2 * q - 1) * (q - 1)) / (3 * q * T));
  let theta = 0;
  for (let j = 1; j < q; j++) {
    let s = 0;
    for (let t = j; t < T; t++) s += d[t]! * d[t]! * d[t - j]! * d[t - j]!;
    const delta = (T * s) / (ss * ss);
    theta += ((2 * (q - j)) / q) ** 2 * delta;
  }
  const zRobust = (vr - 1) / Math.sqrt(theta / T);
  return { q, vr, z, pZ: normTwoSided(z), zRobust, pRobust: normTwoSided(zRobust), nobs: T };
}
