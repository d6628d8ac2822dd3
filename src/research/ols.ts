/**
 * Ordinary least squares for the small designs the tests fit (a few to ~50 regressors, up to
 * ~10^6 rows). The constant is partialled out by centring (Frisch-Waugh-Lovell), and the normal
 * equations are solved on the correlation-scaled Gram matrix: a price level of ~580 beside a
 * constant would otherwise square a condition number of ~1e5 into ~1e10. The residuals are formed
 * from the data, not from y'y - b'X'y, so the reported SSR carries no cancellation.
 */

export interface OlsResult {
  /** Coefficients of the regressors in the order given (the constant, if any, is `intercept`). */
  beta: Float64Array;
  /** Conventional (homoskedastic) standard errors of `beta`. */
  se: Float64Array;
  intercept: number;
  ssr: number;
  nobs: number;
  /** Parameters estimated, the constant included. */
  k: number;
  /** Residual degrees of freedom, nobs - k. */
  df: number;
  resid: Float64Array;
}

type Col = ArrayLike<number>;

interface Gram {
  n: number;
  p: number;
  means: Float64Array;
  ymean: number;
  /** Centred (if constant) cross products X'X, row-major p x p. */
  xx: Float64Array;
  xy: Float64Array;
  yy: number;
}

function gram(y: Col, xs: Col[], constant: boolean): Gram {
  const n = y.length, p = xs.length;
  for (const [j, x] of xs.entries()) if (x.length !== n) throw new Error(`ols: regressor ${j} has ${x.length} rows, y has ${n}`);
  const means = new Float64Array(p);
  let ymean = 0;
  if (constant) {
    for (let i = 0; i < n; i++) ymean += y[i]!;
    ymean /= n;
    for (let j = 0; j < p; j++) {
      const x = xs[j]!;
      let s = 0;
      for (let i = 0; i < n; i++) s += x[i]!;
      means[j] = s / n;
    }
  }
  const xx = new Float64Array(p * p), xy = new Float64Array(p);
  let yy = 0;
  for (let i = 0; i < n; i++) yy += (y[i]! - ymean) ** 2;
  for (let a = 0; a < p; a++) {
    const xa = xs[a]!, ma = means[a]!;
    let sy = 0;
    for (let i = 0; i < n; i++) sy += (xa[i]! - ma) * (y[i]! - ymean);
    xy[a] = sy;
    for (let b = a; b < p; b++) {
      const xb = xs[b]!, mb = means[b]!;
      let s = 0;
      for (let i = 0; i < n; i++) s += (xa[i]! - ma) * (xb[i]! - mb);
      xx[a * p + b] = s;
      xx[b * p + a] = s;
    }
  }
  return { n, p, means, ymean, xx, xy, yy };
}

/** Cholesky of the leading m x m block of a p x p scaled matrix; throws on a singular design. */
function cholesky(a: Float64Array, p: number, m: number, what: string): Float64Array {
  const l = new Float64Array(m * m);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j <= i; j++) {
      let s = a[i * p + j]!;
      for (let k = 0; k < j; k++) s -= l[i * m + k]! * l[j * m + k]!;
      if (i === j) {
        // Relative to the unit diagonal of a correlation matrix: below this the columns are collinear.
        if (!(s > 1e-12)) throw new Error(`${what}: regressors are collinear (pivot ${i} is ${s.toExponential(2)})`);
        l[i * m + i] = Math.sqrt(s);
      } else l[i * m + j] = s / l[j * m + j]!;
    }
  }
  return l;
}

function cholSolve(l: Float64Array, m: number, b: Float64Array): Float64Array {
  const z = new Float64Array(m);
  for (let i = 0; i < m; i++) {
    let s = b[i]!;
    for (let k = 0; k < i; k++) s -= l[i * m + k]! * z[k]!;
    z[i] = s / l[i * m + i]!;
  }
  for (let i = m - 1; i >= 0; i--) {
    let s = z[i]!;
    for (let k = i + 1; k < m; k++) s -= l[k * m + i]! * z[k]!;
    z[i] = s / l[i * m + i]!;
  }
  return z;
}

function scaled(g: Gram, what: string): { a: Float64Array; d: Float64Array } {
  const { p, xx } = g;
  const d = new Float64Array(p);
  for (let j = 0; j < p; j++) {
    const v = xx[j * p + j]!;
    if (!(v > 0)) throw new Error(`${what}: regressor ${j} is constant${g.means.length ? ' (after removing the mean)' : ''}`);
    d[j] = Math.sqrt(v);
  }
  const a = new Float64Array(p * p);
  for (let i = 0; i < p; i++) for (let j = 0; j < p; j++) a[i * p + j] = xx[i * p + j]! / (d[i]! * d[j]!);
  return { a, d };
}

/** OLS of y on xs (and a constant if asked). `what` names the caller in errors. */
export function ols(y: Col, xs: Col[], constant: boolean, what = 'ols'): OlsResult {
  const g = gram(y, xs, constant);
  const { n, p } = g;
  const k = p + (constant ? 1 : 0);
  if (n <= k) throw new Error(`${what}: ${n} observations for ${k} parameters`);
  const beta = new Float64Array(p), se = new Float64Array(p);
  let intercept = constant ? g.ymean : 0;
  const resid = new Float64Array(n);
  if (p > 0) {
    const { a, d } = scaled(g, what);
    const l = cholesky(a, p, p, what);
    const rhs = new Float64Array(p);
    for (let j = 0; j < p; j++) rhs[j] = g.xy[j]! / d[j]!;
    const bs = cholSolve(l, p, rhs);
    for (let j = 0; j < p; j++) {
      beta[j] = bs[j]! / d[j]!;
      intercept -= beta[j]! * g.means[j]!;
    }
    // Diagonal of (X'X)^-1 = D^-1 A^-1 D^-1, column by column of A^-1.
    const e = new Float64Array(p);
    const inv = new Float64Array(p);
    for (let j = 0; j < p; j++) {
      e.fill(0);
      e[j] = 1;
      inv[j] = cholSolve(l, p, e)[j]! / (d[j]! * d[j]!);
    }
    for (let i = 0; i < n; i++) {
      let f = intercept;
      for (let j = 0; j < p; j++) f += beta[j]! * xs[j]![i]!;
      resid[i] = y[i]! - f;
    }
    let ssr = 0;
    for (let i = 0; i < n; i++) ssr += resid[i]! * resid[i]!;
    const s2 = ssr / (n - k);
    for (let j = 0; j < p; j++) se[j] = Math.sqrt(s2 * inv[j]!);
    return { beta, se, intercept, ssr, nobs: n, k, df: n - k, resid };
  }
  let ssr = 0;
  for (let i = 0; i < n; i++) {
    resid[i] = y[i]! - intercept;
    ssr += resid[i]! * resid[i]!;
  }
  return { beta, se, intercept, ssr, nobs: n, k, df: n - k, resid };
}

/**
 * SSR of the nested regressions of y on the first m regressors (plus the constant), for each m in
 * `sizes`, on one sample: one Gram matrix, one Cholesky of the largest block (its leading blocks are
 * the smaller ones' factors). For lag-length searches, where refitting each model would cost
 * O(n k^2) per candidate.
 */
export function nestedSsr(y: Col, xs: Col[], constant: boolean, sizes: number[], what = 'ols'): number[] {
  const g = gram(y, xs, constant);
  const { p } = g;
  if (p === 0) return sizes.map(() => g.yy);
  const { a, d } = scaled(g, what);
  const mMax = Math.max(...sizes);
  const l = cholesky(a, p, mMax, what);
  const rhs = new Float64Array(p);
  for (let j = 0; j < p; j++) rhs[j] = g.xy[j]! / d[j]!;
  // With L the Cholesky factor, b'X'y = |L^-1 X'y|^2: forward substitution, then prefix sums.
  const z = new Float64Array(mMax);
  for (let i = 0; i < mMax; i++) {
    let s = rhs[i]!;
    for (let k = 0; k < i; k++) s -= l[i * mMax + k]! * z[k]!;
    z[i] = s / l[i * mMax + i]!;
  }
  const explained = new Float64Array(mMax + 1);
  for (let i = 0; i < mMax; i++) explained[i + 1] = explained[i]! + z[i]! * z[i]!;
  return sizes.map((m) => Math.max(0, g.yy - explained[m]!));
}
