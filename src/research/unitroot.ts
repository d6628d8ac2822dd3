/**
 * Stationarity tests: the augmented Dickey-Fuller test (null: a unit root) and the KPSS test (null:
 * stationarity around a level or a trend). Run together they separate the cases: a stationary series
 * rejects ADF's null and keeps KPSS's; a random walk does the opposite.
 *
 * ADF: Δx_t = [α + βt] + γ x_{t-1} + Σ_{j=1}^{p} δ_j Δx_{t-j} + e_t, statistic τ = γ̂ / se(γ̂)
 * (Said & Dickey 1984; Hamilton, "Time Series Analysis", 17.7). Lag p by AIC over 0..maxlag with
 * maxlag = ceil(12 (n/100)^{1/4}) (Schwert 1989), all candidates fitted on the same sample, then the
 * chosen p refitted on all the rows it allows: statsmodels' `adfuller(autolag="AIC")` convention.
 * p-value: MacKinnon (1994) response surface; critical values: MacKinnon (2010), N = 1.
 *
 * KPSS: e_t residuals of x on a constant [and trend], S_t = Σ_{s≤t} e_s, η = Σ S_t² / (n² σ̂²) with σ̂²
 * the Newey-West long-run variance (Bartlett weights 1 - i/(l+1)); Kwiatkowski, Phillips, Schmidt &
 * Shin (1992). Bandwidth l by the data-dependent rule of Newey & West (1994) as Hobijn, Franses & Ooms
 * (1998) apply it (statsmodels' nlags="auto"). p-value interpolated in KPSS (1992) Table 1, so it is
 * only known to lie in [0.01, 0.10]: outside, the boundary is returned and `pBound` says which side.
 */
import { normCdf } from './dist.ts';
import { nestedSsr, ols } from './ols.ts';

export type Trend = 'c' | 'ct';

/** MacKinnon (1994), N = 1: the τ range where the surfaces hold, the switch point, and the polynomial coefficients in τ. */
const MACKINNON_1994: Record<Trend, { max: number; min: number; star: number; small: number[]; large: number[] }> = {
  c: { max: 2.74, min: -18.83, star: -1.61, small: [2.1659, 1.4412, 0.038269], large: [1.7339, 0.93202, -0.12745, -0.010368] },
  ct: { max: 0.7, min: -16.18, star: -2.89, small: [3.2512, 1.6047, 0.049588], large: [2.5261, 0.61654, -0.37956, -0.060285] },
};

/** MacKinnon (2010) Table 2, N = 1: critical value = β∞ + β1/T + β2/T² + β3/T³ at 1%, 5%, 10%. */
const MACKINNON_2010: Record<Trend, [number, number, number, number][]> = {
  c: [[-3.43035, -6.5393, -16.786, -79.433], [-2.86154, -2.8903, -4.234, -40.04], [-2.56677, -1.5384, -2.809, 0]],
  ct: [[-3.95877, -9.0531, -28.428, -134.155], [-3.41049, -4.3904, -9.036, -45.374], [-3.12705, -2.5856, -3.925, -22.38]],
};

/** MacKinnon's approximate p-value of an ADF τ (one series, no cointegration). */
export function mackinnonP(tau: number, trend: Trend): number {
  const t = MACKINNON_1994[trend];
  if (tau > t.max) return 1;
  if (tau < t.min) return 0;
  const c = tau <= t.star ? t.small : t.large;
  let v = 0;
  for (let i = c.length - 1; i >= 0; i--) v = v * tau + c[i]!;
  return normCdf(v);
}

/** MacKinnon (2010) finite-sample critical values for T observations in the regression. */
export function mackinnonCrit(trend: Trend, nobs: number): { '1%': number; '5%': number; '10%': number } {
  const f = (b: number[]) => b[0]! + b[1]! / nobs + b[2]! / nobs ** 2 + b[3]! / nobs ** 3;
  const [a, b, c] = MACKINNON_2010[trend];
  return { '1%': f(a!), '5%': f(b!), '10%': f(c!) };
}

export interface AdfOptions {
  trend?: Trend;
  /** Largest lag considered (default ceil(12 (n/100)^{1/4}), capped at n/2 - trend terms - 1). */
  maxlag?: number;
  /** 'AIC' (default) or 'BIC' to choose among 0..maxlag, or 'fixed' to use maxlag itself. */
  autolag?: 'AIC' | 'BIC' | 'fixed';
}

export interface AdfResult {
  stat: number;
  p: number;
  usedLag: number;
  maxlag: number;
  nobs: number;
  trend: Trend;
  autolag: string;
  crit: { '1%': number; '5%': number; '10%': number };
  /** γ̂: the coefficient on x_{t-1} (γ = ρ - 1). */
  gamma: number;
}

function adfDesign(x: ArrayLike<number>, lags: number, from: number, trend: Trend): { y: Float64Array; cols: Float64Array[] } {
  // Rows t = from..n-2 of the differences d_t = x_{t+1} - x_t; `from` ≥ lags so every row has its lags.
  const n = x.length;
  const rows = n - 1 - from;
  const y = new Float64Array(rows);
  const level = new Float64Array(rows);
  const lagCols = Array.from({ length: lags }, () => new Float64Array(rows));
  for (let r = 0; r < rows; r++) {
    const t = from + r;
    y[r] = x[t + 1]! - x[t]!;
    level[r] = x[t]!;
    for (let j = 1; j <= lags; j++) lagCols[j - 1]![r] = x[t - j + 1]! - x[t - j]!;
  }
  const cols: Float64Array[] = [];
  if (trend === 'ct') cols.push(Float64Array.from({ length: rows }, (_, r) => r + 1));
  cols.push(level, ...lagCols);
  return { y, cols };
}

export function adf(x: ArrayLike<number>, o: AdfOptions = {}): AdfResult {
  const trend = o.trend ?? 'c';
  const autolag = o.autolag ?? 'AIC';
  const n = x.length;
  for (let i = 0; i < n; i++) if (!Number.isFinite(x[i]!)) throw new Error(`adf: value ${i} is ${x[i]} (the series must be finite)`);
  const ntrend = trend === 'ct' ? 2 : 1;
  let maxlag = o.maxlag ?? Math.ceil(12 * Math.pow(n / 100, 0.25));
  maxlag = Math.min(maxlag, Math.floor(n / 2) - ntrend - 1);
  if (maxlag < 0) throw new Error(`adf: ${n} observations are too few for the ${trend} regression`);
  let usedLag = maxlag;
  if (autolag !== 'fixed') {
    const { y, cols } = adfDesign(x, maxlag, maxlag, trend);
    const first = trend === 'ct' ? 2 : 1; // trend column (if any) and the level
    const sizes = Array.from({ length: maxlag + 1 }, (_, j) => first + j);
    const ssr = nestedSsr(y, cols, true, sizes, 'adf lag search');
    const nobs = y.length;
    let best = Infinity;
    sizes.forEach((m, j) => {
      const k = m + 1; // + the constant
      const pen = autolag === 'AIC' ? 2 * k : Math.log(nobs) * k;
      const ic = nobs * Math.log(ssr[j]! / nobs) + pen;
      if (ic < best) {
        best = ic;
        usedLag = j;
      }
    });
  }
  const { y, cols } = adfDesign(x, usedLag, usedLag, trend);
  const fit = ols(y, cols, true, 'adf');
  const li = trend === 'ct' ? 1 : 0;
  const stat = fit.beta[li]! / fit.se[li]!;
  return { stat, p: mackinnonP(stat, trend), usedLag, maxlag, nobs: fit.nobs, trend, autolag, crit: mackinnonCrit(trend, fit.nobs), gamma: fit.beta[li]! };
}

/** KPSS (1992) Table 1: upper-tail critical values at 10%, 5%, 2.5%, 1%. */
const KPSS_CRIT: Record<Trend, number[]> = { c: [0.347, 0.463, 0.574, 0.739], ct: [0.119, 0.146, 0.176, 0.216] };
const KPSS_P = [0.1, 0.05, 0.025, 0.01];

export interface KpssOptions {
  trend?: Trend;
  /** 'auto' (default: Newey-West 1994 / Hobijn et al. 1998), 'legacy' (ceil(12 (n/100)^{1/4}), as statsmodels computes it) or a fixed bandwidth. */
  nlags?: 'auto' | 'legacy' | number;
}

export interface KpssResult {
  stat: number;
  /** Interpolated in the table; clipped to [0.01, 0.10]. */
  p: number;
  /** '<' when the statistic is beyond the 1% value (p < 0.01), '>' when below the 10% value (p > 0.10). */
  pBound: '<' | '>' | '=';
  lags: number;
  nobs: number;
  trend: Trend;
  crit: { '10%': number; '5%': number; '2.5%': number; '1%': number };
}

/** Newey-West (1994) automatic bandwidth for the Bartlett kernel, as Hobijn, Franses & Ooms (1998) use it in the KPSS test. */
export function neweyWestBandwidth(e: ArrayLike<number>): number {
  const n = e.length;
  const covlags = Math.floor(Math.pow(n, 2 / 9));
  let s0 = 0;
  for (let t = 0; t < n; t++) s0 += e[t]! * e[t]!;
  s0 /= n;
  let s1 = 0;
  for (let i = 1; i <= covlags; i++) {
    let g = 0;
    for (let t = i; t < n; t++) g += e[t]! * e[t - i]!;
    // Both sides of the symmetric sum: 2 γ̂_i.
    g = (2 * g) / n;
    s0 += g;
    s1 += i * g;
  }
  const gammaHat = 1.1447 * Math.pow((s1 / s0) ** 2, 1 / 3);
  return Math.min(n - 1, Math.floor(gammaHat * Math.pow(n, 1 / 3)));
}

export function kpss(x: ArrayLike<number>, o: KpssOptions = {}): KpssResult {
  const trend = o.trend ?? 'c';
  const n = x.length;
  if (n < 10) throw new Error(`kpss: ${n} observations (need at least 10)`);
  for (let i = 0; i < n; i++) if (!Number.isFinite(x[i]!)) throw new Error(`kpss: value ${i} is ${x[i]} (the series must be finite)`);
  let e: Float64Array;
  if (trend === 'c') {
    let m = 0;
    for (let i = 0; i < n; i++) m += x[i]!;
    m /= n;
    e = Float64Array.from({ length: n }, (_, i) => x[i]! - m);
  } else {
    e = ols(x, [Float64Array.from({ length: n }, (_, i) => i + 1)], true, 'kpss').resid;
  }
  const nl = o.nlags ?? 'auto';
  const lags = nl === 'auto' ? neweyWestBandwidth(e) : nl === 'legacy' ? Math.min(n - 1, Math.ceil(12 * Math.pow(n / 100, 0.25))) : nl;
  if (!(Number.isInteger(lags) && lags >= 0 && lags < n)) throw new Error(`kpss: bandwidth ${lags} outside 0..${n - 1}`);
  let s2 = 0;
  for (let t = 0; t < n; t++) s2 += e[t]! * e[t]!;
  for (let i = 1; i <= lags; i++) {
    let g = 0;
    for (let t = i; t < n; t++) g += e[t]! * e[t - i]!;
    s2 += 2 * (1 - i / (lags + 1)) * g;
  }
  s2 /= n;
  if (!(s2 > 0)) throw new Error('kpss: the long-run variance is not positive (a constant series?)');
  let S = 0, eta = 0;
  for (let t = 0; t < n; t++) {
    S += e[t]!;
    eta += S * S;
  }
  const stat = eta / (n * n) / s2;
  const cv = KPSS_CRIT[trend];
  let p: number, pBound: '<' | '>' | '=';
  if (stat <= cv[0]!) {
    p = KPSS_P[0]!;
    pBound = '>';
  } else if (stat >= cv[3]!) {
    p = KPSS_P[3]!;
    pBound = '<';
  } else {
    let i = 0;
    while (stat > cv[i + 1]!) i++;
    const w = (stat - cv[i]!) / (cv[i + 1]! - cv[i]!);
    p = KPSS_P[i]! + w * (KPSS_P[i + 1]! - KPSS_P[i]!);
    pBound = '=';
  }
  return { stat, p, pBound, lags, nobs: n, trend, crit: { '10%': cv[0]!, '5%': cv[1]!, '2.5%': cv[2]!, '1%': cv[3]! } };
}
