/**
 * Hurst exponent of a series of increments (returns, OFI): H = 0.5 for no memory, > 0.5 persistent,
 * < 0.5 anti-persistent.
 *
 * DFA-1 (Peng et al. 1994; Kantelhardt et al. 2001): profile Y_i = Σ_{j≤i} (x_j - x̄); for each scale s,
 * non-overlapping windows of s points taken from the start and again from the end; in each a straight
 * line is fitted to Y and F²(s) is the mean squared residual over all windows; H = slope of log F(s)
 * on log s. R/S (Hurst 1951; Mandelbrot & Wallis 1969): in each window of s points, R = range of the
 * cumulated deviations from the window mean, S = the window's standard deviation; H = slope of
 * log mean(R/S) on log s. Scales: ~20 log-spaced integers from 10 (R/S: 16) to n/4.
 *
 * Confidence interval: the points of the log-log fit are dependent, so the regression's own interval
 * is too narrow (it is reported, labelled so). The interval to read is a parametric bootstrap:
 * B series of fractional Gaussian noise with H = Ĥ and the data's length, simulated exactly by
 * circulant embedding (Davies & Harte 1987; Wood & Chan 1994), each estimated the same way; the
 * basic-bootstrap interval [2Ĥ - q_{1-α/2}, 2Ĥ - q_{α/2}] of those estimates also takes out the
 * estimator's small-sample bias (R/S's is upward). It assumes Gaussian fGn increments: heavy tails
 * and volatility clustering in market data widen the true interval.
 */
import { gaussian, mulberry32 } from '../training/random.ts';
import { ols } from './ols.ts';
import { tInv } from './dist.ts';

/** In-place iterative radix-2 FFT (sign -1: forward); length a power of two. */
export function fft(re: Float64Array, im: Float64Array, sign = -1): void {
  const n = re.length;
  if (n & (n - 1)) throw new Error(`fft: length ${n} is not a power of two`);
  for (let i = 1, j = 0; i < n; i++) {
    let bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) {
      [re[i], re[j]] = [re[j]!, re[i]!];
      [im[i], im[j]] = [im[j]!, im[i]!];
    }
  }
  for (let len = 2; len <= n; len <<= 1) {
    const ang = (sign * 2 * Math.PI) / len;
    const wr = Math.cos(ang), wi = Math.sin(ang);
    for (let i = 0; i < n; i += len) {
      let cr = 1, ci = 0;
      for (let k = 0; k < len / 2; k++) {
        const a = i + k, b = a + len / 2;
        const xr = re[b]! * cr - im[b]! * ci, xi = re[b]! * ci + im[b]! * cr;
        re[b] = re[a]! - xr;
        im[b] = im[a]! - xi;
        re[a] = re[a]! + xr;
        im[a] = im[a]! + xi;
        const t = cr * wr - ci * wi;
        ci = cr * wi + ci * wr;
        cr = t;
      }
    }
  }
}

/** Autocovariance of unit-variance fractional Gaussian noise at lag k. */
export function fgnAutocov(k: number, H: number): number {
  const h2 = 2 * H;
  k = Math.abs(k);
  return 0.5 * (Math.pow(k + 1, h2) - 2 * Math.pow(k, h2) + Math.pow(Math.abs(k - 1), h2));
}

/**
 * Exact fractional Gaussian noise generator (circulant embedding). Returns a function that draws a
 * series of length n with Hurst exponent H from the given uniform generator; the eigenvalues are
 * computed once and shared by every draw.
 */
export function fgnSampler(n: number, H: number): (rand: () => number) => Float64Array {
  if (!(H > 0 && H < 1)) throw new Error(`fgn: H must be in (0, 1), got ${H}`);
  let N = 1;
  while (N < n) N <<= 1;
  const M = 2 * N;
  const re = new Float64Array(M), im = new Float64Array(M);
  for (let k = 0; k <= N; k++) re[k] = fgnAutocov(k, H);
  for (let k = N + 1; k < M; k++) re[k] = re[M - k]!;
  fft(re, im);
  const scale = new Float64Array(M);
  for (let k = 0; k < M; k++) {
    // fGn's embedding is non-negative definite (Craigmile 2003); tiny negatives are rounding.
    if (re[k]! < -1e-8 * re[0]!) throw new Error(`fgn: circulant embedding not non-negative for H = ${H}`);
    scale[k] = Math.sqrt(Math.max(0, re[k]!) / M);
  }
  return (rand) => {
    // Re(FFT(√(λ/M) (Z1 + i Z2))) has exactly the embedded covariance (Wood & Chan 1994).
    const a = new Float64Array(M), b = new Float64Array(M);
    for (let k = 0; k < M; k++) {
      a[k] = scale[k]! * gaussian(rand);
      b[k] = scale[k]! * gaussian(rand);
    }
    fft(a, b);
    return a.slice(0, n);
  };
}

export interface HurstResult {
  method: 'dfa' | 'rs';
  h: number;
  scales: number[];
  /** F(s) for DFA, mean R/S for R/S. */
  values: number[];
  /** OLS standard error of the slope and the regression's 95% interval (too narrow: see the module comment). */
  se: number;
  regressionCi: [number, number];
  /** Parametric-bootstrap interval (fGn with H = ĥ), when computed. */
  ci?: [number, number];
  level?: number;
  bootstrap?: number;
  n: number;
}

function logScales(lo: number, hi: number, count: number): number[] {
  const out = new Set<number>();
  for (let i = 0; i < count; i++) out.add(Math.round(Math.exp(Math.log(lo) + ((Math.log(hi) - Math.log(lo)) * i) / (count - 1))));
  return [...out].sort((a, b) => a - b);
}

/** F(s) of DFA-1 at each scale, on the profile of x. */
function dfaFluct(x: ArrayLike<number>, scales: number[]): number[] {
  const n = x.length;
  let m = 0;
  for (let i = 0; i < n; i++) m += x[i]!;
  m /= n;
  const Y = new Float64Array(n);
  let acc = 0;
  for (let i = 0; i < n; i++) Y[i] = acc += x[i]! - m;
  return scales.map((s) => {
    const nw = Math.floor(n / s);
    const tbar = (s - 1) / 2, stt = (s * (s * s - 1)) / 12;
    let total = 0;
    const window = (start: number) => {
      let ym = 0;
      for (let i = 0; i < s; i++) ym += Y[start + i]!;
      ym /= s;
      let syy = 0, sty = 0;
      for (let i = 0; i < s; i++) {
        const dy = Y[start + i]! - ym;
        syy += dy * dy;
        sty += (i - tbar) * dy;
      }
      total += (syy - (sty * sty) / stt) / s;
    };
    for (let w = 0; w < nw; w++) window(w * s);
    for (let w = 0; w < nw; w++) window(n - (w + 1) * s);
    return Math.sqrt(total / (2 * nw));
  });
}

function rsValues(x: ArrayLike<number>, scales: number[]): number[] {
  const n = x.length;
  return scales.map((s) => {
    const nw = Math.floor(n / s);
    let sum = 0, used = 0;
    for (let w = 0; w < nw; w++) {
      const st = w * s;
      let m = 0;
      for (let i = 0; i < s; i++) m += x[st + i]!;
      m /= s;
      let z = 0, lo = 0, hi = 0, ss = 0;
      for (let i = 0; i < s; i++) {
        const d = x[st + i]! - m;
        z += d;
        if (z < lo) lo = z;
        if (z > hi) hi = z;
        ss += d * d;
      }
      const sd = Math.sqrt(ss / s);
      // A window with no variation (e.g. no mid change in a quiet spell) has no R/S; it is skipped.
      if (sd > 0) {
        sum += (hi - lo) / sd;
        used++;
      }
    }
    return used ? sum / used : NaN;
  });
}

function slope(scales: number[], values: number[]): { h: number; se: number; ci: [number, number] } {
  const lx: number[] = [], ly: number[] = [];
  scales.forEach((s, i) => {
    if (values[i]! > 0 && Number.isFinite(values[i]!)) {
      lx.push(Math.log(s));
      ly.push(Math.log(values[i]!));
    }
  });
  if (lx.length < 3) throw new Error(`hurst: ${lx.length} usable scales (need 3; the series is too short or constant)`);
  const fit = ols(ly, [lx], true, 'hurst');
  const t = tInv(0.975, fit.df);
  return { h: fit.beta[0]!, se: fit.se[0]!, ci: [fit.beta[0]! - t * fit.se[0]!, fit.beta[0]! + t * fit.se[0]!] };
}

export interface HurstOptions {
  method?: 'dfa' | 'rs';
  /** Bootstrap replications for the interval (0: none). Default 0. */
  bootstrap?: number;
  level?: number;
  seed?: number;
}

function estimate(x: ArrayLike<number>, method: 'dfa' | 'rs'): { scales: number[]; values: number[]; h: number; se: number; ci: [number, number] } {
  const n = x.length;
  const lo = method === 'dfa' ? 10 : 16;
  const hi = Math.floor(n / 4);
  if (hi < lo * 2) throw new Error(`hurst: ${n} observations are too few (need ${lo * 8})`);
  const scales = logScales(lo, hi, 20);
  const values = method === 'dfa' ? dfaFluct(x, scales) : rsValues(x, scales);
  return { scales, values, ...slope(scales, values) };
}

export function hurst(x: ArrayLike<number>, o: HurstOptions = {}): HurstResult {
  const method = o.method ?? 'dfa';
  const n = x.length;
  for (let i = 0; i < n; i++) if (!Number.isFinite(x[i]!)) throw new Error(`hurst: value ${i} is ${x[i]}`);
  const e = estimate(x, method);
  const out: HurstResult = { method, h: e.h, scales: e.scales, values: e.values, se: e.se, regressionCi: e.ci, n };
  const B = o.bootstrap ?? 0;
  if (B > 0) {
    const level = o.level ?? 0.95;
    const rand = mulberry32(o.seed ?? 1);
    // fGn is defined for 0 < H < 1; an estimate at or beyond the edge is simulated just inside it.
    const sim = fgnSampler(n, Math.min(0.99, Math.max(0.01, e.h)));
    const hs: number[] = [];
    for (let b = 0; b < B; b++) hs.push(estimate(sim(rand), method).h);
    hs.sort((a, b) => a - b);
    const q = (p: number) => {
      const pos = p * (B - 1), i = Math.floor(pos), f = pos - i;
      return i + 1 < B ? hs[i]! * (1 - f) + hs[i + 1]! * f : hs[i]!;
    };
    const a = (1 - level) / 2;
    out.ci = [2 * e.h - q(1 - a), 2 * e.h - q(a)];
    out.level = level;
    out.bootstrap = B;
  }
  return out;
}
