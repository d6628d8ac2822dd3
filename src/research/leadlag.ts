/**
 * Lead-lag between two asynchronously observed prices by the Hayashi-Yoshida (2005) covariance with
 * one series' clock shifted (Hoffmann, Rosenbaum & Yoshida 2013):
 *   U(θ) = Σ_{i,j} r^x_i r^y_j 1{(a_i, b_i] ∩ (c_j - θ, d_j - θ] ≠ ∅}
 * over the returns r^x_i on (a_i, b_i] and r^y_j on (c_j, d_j] between consecutive observations; no
 * resampling, so no Epps effect from a sampling clock. If y follows x with delay θ0 the contrast
 * |U(θ)| peaks at θ = θ0: θ̂ > 0 means x leads y. ρ(θ) = U(θ) / sqrt(Σ r^x² Σ r^y²).
 * Significance at each θ: if x and y are independent and each has uncorrelated increments,
 * E U = 0 and Var U = Σ_{overlapping i,j} E r_i² E r_j², estimated by Σ r_i² r_j²; z = U / sqrt(that)
 * is asymptotically N(0, 1) pointwise (the maximum over many θ needs a stricter bound: Bonferroni is
 * reported beside it).
 */
import { normInv, normTwoSided } from './dist.ts';

export interface HyPoint {
  theta: number;
  rho: number;
  z: number;
  p: number;
}

export interface HyLeadLagResult {
  points: HyPoint[];
  /** θ of the largest |U(θ)|, and its correlation / z. */
  thetaHat: number;
  rho: number;
  z: number;
  /** Pointwise two-sided p of the peak, and the same times the number of θ tried (Bonferroni, capped at 1). */
  p: number;
  pBonferroni: number;
  nx: number;
  ny: number;
  /** ρ at θ = 0: the Hayashi-Yoshida correlation itself. */
  rho0: number;
}

interface Returns {
  a: Float64Array;
  b: Float64Array;
  r: Float64Array;
}

function returns(t: ArrayLike<number>, p: ArrayLike<number>, name: string): Returns {
  const n = t.length;
  if (p.length !== n) throw new Error(`hayashi-yoshida: ${name} has ${n} times and ${p.length} prices`);
  if (n < 3) throw new Error(`hayashi-yoshida: ${name} has ${n} observations (need 3)`);
  const a = new Float64Array(n - 1), b = new Float64Array(n - 1), r = new Float64Array(n - 1);
  for (let i = 1; i < n; i++) {
    if (!(t[i]! >= t[i - 1]!)) throw new Error(`hayashi-yoshida: ${name} times go back at observation ${i} (${t[i - 1]} then ${t[i]})`);
    if (!Number.isFinite(p[i]!)) throw new Error(`hayashi-yoshida: ${name} price ${i} is ${p[i]}`);
    a[i - 1] = t[i - 1]!;
    b[i - 1] = t[i]!;
    r[i - 1] = p[i]! - p[i - 1]!;
  }
  return { a, b, r };
}

/** U(θ) and its null variance, by prefix sums over the contiguous block of y intervals each x interval overlaps. */
function contrast(x: Returns, y: Returns, Py: Float64Array, Py2: Float64Array, theta: number): { u: number; v: number } {
  const m = y.r.length;
  let u = 0, v = 0;
  let lo = 0, hi = 0;
  for (let i = 0; i < x.r.length; i++) {
    const ai = x.a[i]! + theta, bi = x.b[i]! + theta;
    // Overlap of (a_i, b_i] and (c_j - θ, d_j - θ] ⇔ d_j > a_i + θ and c_j < b_i + θ; both bounds only move forward with i.
    while (lo < m && !(y.b[lo]! > ai)) lo++;
    if (hi < lo) hi = lo;
    while (hi < m && y.a[hi]! < bi) hi++;
    if (hi > lo && x.b[i]! > x.a[i]!) {
      const ri = x.r[i]!;
      u += ri * (Py[hi]! - Py[lo]!);
      v += ri * ri * (Py2[hi]! - Py2[lo]!);
    }
  }
  return { u, v };
}

/**
 * Lead-lag of x and y (observation times in any one unit, log prices) over the shifts `thetas`
 * (same unit). Observations at equal times in one series are allowed (a zero-length interval
 * overlaps nothing).
 */
export function hyLeadLag(tx: ArrayLike<number>, px: ArrayLike<number>, ty: ArrayLike<number>, py: ArrayLike<number>, thetas: number[]): HyLeadLagResult {
  const x = returns(tx, px, 'x'), y = returns(ty, py, 'y');
  const m = y.r.length;
  const ry2 = new Float64Array(m);
  const Py = new Float64Array(m + 1), Py2 = new Float64Array(m + 1);
  for (let j = 0; j < m; j++) {
    ry2[j] = y.r[j]! * y.r[j]!;
    Py[j + 1] = Py[j]! + y.r[j]!;
    Py2[j + 1] = Py2[j]! + ry2[j]!;
  }
  let sx = 0;
  for (const v of x.r) sx += v * v;
  const sy = Py2[m]!;
  if (!(sx > 0) || !(sy > 0)) throw new Error(`hayashi-yoshida: ${sx > 0 ? 'y' : 'x'} never moves`);
  const norm = Math.sqrt(sx * sy);
  const points = thetas.map((theta) => {
    const { u, v } = contrast(x, y, Py, Py2, theta);
    const z = v > 0 ? u / Math.sqrt(v) : 0;
    return { theta, rho: u / norm, z, p: normTwoSided(z) };
  });
  let best = 0;
  points.forEach((pt, i) => {
    if (Math.abs(pt.rho) > Math.abs(points[best]!.rho)) best = i;
  });
  const pk = points[best]!;
  const zero = contrast(x, y, Py, Py2, 0);
  return {
    points, thetaHat: pk.theta, rho: pk.rho, z: pk.z, p: pk.p, pBonferroni: Math.min(1, pk.p * thetas.length),
    nx: x.r.length, ny: m, rho0: zero.u / norm,
  };
}

/** The z beyond which a pointwise-N(0,1) statistic is significant at `level` after Bonferroni over k shifts. */
export function bonferroniZ(k: number, level = 0.95): number {
  return normInv(1 - (1 - level) / (2 * k));
}
