/**
 * Calibration of class probabilities (issue 17 item 6): is a predicted 0.6 right 60% of the time?
 *
 * - Brier score, multi-class (Brier 1950): the mean over rows of sum_c (p_c - 1[y = c])^2, in
 *   [0, 2]. A proper scoring rule like the log loss, but bounded, so one confident mistake does not
 *   dominate it.
 * - Reliability diagram, one-vs-rest per class: rows binned by the predicted P(class) in equal-width
 *   bins; per bin the count, the mean predicted probability and the observed frequency of the class.
 *   A calibrated model's points lie on the diagonal.
 * - ECE (expected calibration error) in the top-label form of Guo et al. 2017 ("On Calibration of
 *   Modern Neural Networks"): rows binned by their highest probability (the confidence), ECE =
 *   sum_b (n_b / n) |accuracy_b - confidence_b|. The one-vs-rest bins above give a classwise ECE
 *   too (Kull et al. 2019), the mean over classes of the same weighted gap.
 * - Temperature scaling (Guo et al. 2017): p_T = softmax(log p / T), one scalar fitted by minimising
 *   the negative log-likelihood on a split the model was not trained on (validation). The served
 *   models output probabilities, and log p is the logit vector up to a per-row constant, which a
 *   softmax ignores, so this is exactly temperature scaling of the logits. It cannot change the
 *   argmax (macro-F1, accuracy and every AUC stay as they are), only how confident the model says it is.
 *
 * Every function takes probabilities n x C row-major and class indices, and optional sample weights
 * (the block bootstrap's replicate multiplicities).
 */
import { TEMPERATURE_PROB_FLOOR, temperatureInto } from '../inference/temperature.ts';

/** Probabilities are clamped here before a log: the same floor as the log loss (metrics.ts). */
export const PROB_FLOOR = TEMPERATURE_PROB_FLOOR;

/** Each row's Brier term, sum_c (p_c - 1[y = c])^2. */
export function sampleBrier(y: ArrayLike<number>, p: ArrayLike<number>, n: number, C: number): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let c = 0; c < C; c++) {
      const d = p[i * C + c]! - (y[i] === c ? 1 : 0);
      s += d * d;
    }
    out[i] = s;
  }
  return out;
}

/** Weighted mean of per-row terms (w absent: 1 each); NaN when the weights sum to 0. */
export function weightedMean(terms: ArrayLike<number>, w?: ArrayLike<number>): number {
  let s = 0, t = 0;
  for (let i = 0; i < terms.length; i++) {
    const wi = w ? w[i]! : 1;
    if (wi === 0) continue;
    s += wi * terms[i]!;
    t += wi;
  }
  return t > 0 ? s / t : NaN;
}

/** Multi-class Brier score. */
export function brierScore(y: ArrayLike<number>, p: ArrayLike<number>, n: number, C: number, w?: ArrayLike<number>): number {
  return weightedMean(sampleBrier(y, p, n, C), w);
}

/** Mean negative log-likelihood of the true class (the log loss), p clamped at PROB_FLOOR. */
export function logLoss(y: ArrayLike<number>, p: ArrayLike<number>, n: number, C: number, w?: ArrayLike<number>): number {
  let s = 0, t = 0;
  for (let i = 0; i < n; i++) {
    const wi = w ? w[i]! : 1;
    if (wi === 0) continue;
    s -= wi * Math.log(Math.max(p[i * C + y[i]!]!, PROB_FLOOR));
    t += wi;
  }
  return t > 0 ? s / t : NaN;
}

export interface ReliabilityBin {
  /** Bin edges: [lo, hi), the last bin [lo, 1]. */
  lo: number;
  hi: number;
  count: number;
  /** Mean predicted probability in the bin (NaN when empty). */
  predicted: number;
  /** Observed frequency of the event in the bin (NaN when empty). */
  observed: number;
}

/** Equal-width bin of a probability; 1 (and anything above) goes to the last bin. */
function binOf(v: number, bins: number): number {
  return Math.min(bins - 1, Math.max(0, Math.floor(v * bins)));
}

/** Bins of (score, event) pairs: count, mean score, event frequency. */
function binPairs(score: (i: number) => number, event: (i: number) => boolean, n: number, bins: number, w?: ArrayLike<number>): ReliabilityBin[] {
  const cnt = new Float64Array(bins), sp = new Float64Array(bins), so = new Float64Array(bins);
  for (let i = 0; i < n; i++) {
    const wi = w ? w[i]! : 1;
    if (wi === 0) continue;
    const s = score(i);
    const b = binOf(s, bins);
    cnt[b] += wi;
    sp[b] += wi * s;
    if (event(i)) so[b] += wi;
  }
  return Array.from({ length: bins }, (_, b) => ({
    lo: b / bins,
    hi: (b + 1) / bins,
    count: cnt[b]!,
    predicted: cnt[b]! > 0 ? sp[b]! / cnt[b]! : NaN,
    observed: cnt[b]! > 0 ? so[b]! / cnt[b]! : NaN,
  }));
}

/** Weighted mean |observed - predicted| over bins, weighted by their counts. */
export function binGap(bins: ReliabilityBin[]): number {
  let s = 0, t = 0;
  for (const b of bins) {
    if (b.count === 0) continue;
    s += b.count * Math.abs(b.observed - b.predicted);
    t += b.count;
  }
  return t > 0 ? s / t : NaN;
}

/** One-vs-rest reliability diagram of class c: P(c) binned, the frequency of y = c per bin. */
export function reliability(y: ArrayLike<number>, p: ArrayLike<number>, n: number, C: number, c: number, bins = 10, w?: ArrayLike<number>): ReliabilityBin[] {
  return binPairs((i) => p[i * C + c]!, (i) => y[i] === c, n, bins, w);
}

/** Top-label bins: each row's highest probability (first class on ties, as argmax) and whether that class is right. */
export function confidenceBins(y: ArrayLike<number>, p: ArrayLike<number>, n: number, C: number, bins = 10, w?: ArrayLike<number>): ReliabilityBin[] {
  const top = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let c = 1; c < C; c++) if (p[i * C + c]! > p[i * C + best]!) best = c;
    top[i] = best;
  }
  return binPairs((i) => p[i * C + top[i]!]!, (i) => y[i] === top[i], n, bins, w);
}

/** Top-label ECE (Guo et al. 2017) with equal-width bins. */
export function expectedCalibrationError(y: ArrayLike<number>, p: ArrayLike<number>, n: number, C: number, bins = 10, w?: ArrayLike<number>): number {
  return binGap(confidenceBins(y, p, n, C, bins, w));
}

/** Classwise ECE (Kull et al. 2019): the mean over classes of the one-vs-rest reliability gap. */
export function classwiseEce(y: ArrayLike<number>, p: ArrayLike<number>, n: number, C: number, bins = 10, w?: ArrayLike<number>): number {
  let s = 0;
  for (let c = 0; c < C; c++) s += binGap(reliability(y, p, n, C, c, bins, w));
  return s / C;
}

/** softmax(log p / T) per row: the probabilities a temperature T makes of p (the server's own computation). */
export function applyTemperature(p: ArrayLike<number>, n: number, C: number, T: number): Float64Array {
  if (!(T > 0) || !Number.isFinite(T)) throw new RangeError(`temperature must be a positive finite number, got ${T}`);
  return temperatureInto(p, n, C, T, new Float64Array(n * C));
}

export interface TemperatureFit {
  T: number;
  /** NLL at T = 1 and at the fitted T, on the rows it was fitted on. */
  nllBefore: number;
  nllAfter: number;
  /** Golden-section steps taken. */
  steps: number;
}

/**
 * The temperature minimising the NLL of y under softmax(log p / T). With z = log p and b = 1/T, the
 * NLL is mean(logsumexp(b z) - b z_y): convex in b, so unimodal in ln T too, and a golden-section
 * search over ln T in [ln tMin, ln tMax] finds the minimum to `tol` (relative, in T). A minimum at
 * a bound is returned as the bound (the caller sees T == tMin or tMax).
 */
export function fitTemperature(y: ArrayLike<number>, p: ArrayLike<number>, n: number, C: number, o: { tMin?: number; tMax?: number; tol?: number } = {}): TemperatureFit {
  if (n === 0) throw new RangeError('fitTemperature: no rows');
  const z = new Float64Array(n * C);
  for (let i = 0; i < n * C; i++) z[i] = Math.log(Math.max(p[i]!, PROB_FLOOR));
  const nll = (T: number): number => {
    const b = 1 / T;
    let s = 0;
    for (let i = 0; i < n; i++) {
      let mx = -Infinity;
      for (let c = 0; c < C; c++) mx = Math.max(mx, b * z[i * C + c]!);
      let e = 0;
      for (let c = 0; c < C; c++) e += Math.exp(b * z[i * C + c]! - mx);
      s += mx + Math.log(e) - b * z[i * C + y[i]!]!;
    }
    return s / n;
  };
  const g = (Math.sqrt(5) - 1) / 2;
  let a = Math.log(o.tMin ?? 0.05), d = Math.log(o.tMax ?? 20);
  const tol = o.tol ?? 1e-6;
  let b = d - g * (d - a), c = a + g * (d - a);
  let fb = nll(Math.exp(b)), fc = nll(Math.exp(c));
  let steps = 0;
  while (d - a > tol) {
    steps++;
    if (fb <= fc) {
      d = c; c = b; fc = fb;
      b = d - g * (d - a); fb = nll(Math.exp(b));
    } else {
      a = b; b = c; fb = fc;
      c = a + g * (d - a); fc = nll(Math.exp(c));
    }
  }
  const T = Math.exp((a + d) / 2);
  return { T, nllBefore: nll(1), nllAfter: nll(T), steps };
}
