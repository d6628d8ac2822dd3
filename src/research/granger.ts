/**
 * Granger causality x -> y by the F test of the lagged x terms (Granger 1969; Hamilton, "Time
 * Series Analysis", 11.2; statsmodels `grangercausalitytests`, its "ssr based F test"):
 *   restricted   y_t = c + Σ_{j=1}^{L} a_j y_{t-j} + e_t
 *   unrestricted y_t = c + Σ_{j=1}^{L} a_j y_{t-j} + Σ_{j=1}^{L} b_j x_{t-j} + u_t
 *   F = ((SSR_r - SSR_u)/L) / (SSR_u/(T - 2L - 1)) ~ F(L, T - 2L - 1) under b = 0,
 * T = n - L rows (t = L..n-1). The lag L is stated by the caller or chosen by AIC of the
 * unrestricted equation over 1..maxLag on one common sample (t = maxLag..n-1), then refitted.
 */
import { fSf } from './dist.ts';
import { nestedSsr, ols } from './ols.ts';

export interface GrangerResult {
  /** Lags of each variable in both equations. */
  lags: number;
  /** How the lag was set: 'fixed' or 'AIC(1..maxLag)'. */
  lagRule: string;
  f: number;
  df1: number;
  df2: number;
  p: number;
  nobs: number;
  ssrRestricted: number;
  ssrUnrestricted: number;
}

function lagged(v: ArrayLike<number>, j: number, from: number, rows: number): Float64Array {
  const out = new Float64Array(rows);
  for (let r = 0; r < rows; r++) out[r] = v[from + r - j]!;
  return out;
}

/** Does x Granger-cause y? `lags`: a fixed L, or { maxLag } to choose L by AIC. */
export function granger(y: ArrayLike<number>, x: ArrayLike<number>, lags: number | { maxLag: number }): GrangerResult {
  const n = y.length;
  if (x.length !== n) throw new Error(`granger: y has ${n} observations, x ${x.length} (they must be aligned)`);
  for (let i = 0; i < n; i++) if (!Number.isFinite(y[i]!) || !Number.isFinite(x[i]!)) throw new Error(`granger: row ${i} is not finite (y ${y[i]}, x ${x[i]})`);
  let L: number, rule: string;
  if (typeof lags === 'number') {
    L = lags;
    rule = 'fixed';
  } else {
    const M = lags.maxLag;
    if (!(M >= 1 && n - M > 2 * M + 2)) throw new Error(`granger: maxLag ${M} does not fit ${n} observations`);
    const rows = n - M;
    const yy = lagged(y, 0, M, rows);
    // Interleaved y_{t-1}, x_{t-1}, y_{t-2}, x_{t-2}, ...: the first 2L columns are the model with L lags.
    const cols: Float64Array[] = [];
    for (let j = 1; j <= M; j++) cols.push(lagged(y, j, M, rows), lagged(x, j, M, rows));
    const sizes = Array.from({ length: M }, (_, i) => 2 * (i + 1));
    const ssr = nestedSsr(yy, cols, true, sizes, 'granger lag search');
    let best = Infinity;
    L = 1;
    sizes.forEach((m, i) => {
      const ic = rows * Math.log(ssr[i]! / rows) + 2 * (m + 1);
      if (ic < best) {
        best = ic;
        L = i + 1;
      }
    });
    rule = `AIC(1..${M})`;
  }
  if (!(Number.isInteger(L) && L >= 1 && n - L > 2 * L + 1)) throw new Error(`granger: ${L} lags do not fit ${n} observations`);
  const rows = n - L;
  const yy = lagged(y, 0, L, rows);
  const ylags = Array.from({ length: L }, (_, j) => lagged(y, j + 1, L, rows));
  const xlags = Array.from({ length: L }, (_, j) => lagged(x, j + 1, L, rows));
  const r = ols(yy, ylags, true, 'granger restricted');
  const u = ols(yy, [...ylags, ...xlags], true, 'granger unrestricted');
  const df2 = rows - 2 * L - 1;
  const f = (r.ssr - u.ssr) / L / (u.ssr / df2);
  return { lags: L, lagRule: rule, f, df1: L, df2, p: fSf(f, L, df2), nobs: rows, ssrRestricted: r.ssr, ssrUnrestricted: u.ssr };
}
