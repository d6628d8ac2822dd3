/**
 * The error distribution of impact estimates against realised impact. Pure: arrays in, numbers out.
 */

import { quantileSorted } from '../core/quantile.ts';

export { quantileSorted };

export function sortedCopy(values: ArrayLike<number>): Float64Array {
  return Float64Array.from(values).sort();
}

export interface ErrorSummary {
  /** Pairs where both the estimate and the realised value are finite (the others are counted in `dropped`). */
  n: number;
  dropped: number;
  estMedian: number;
  realMedian: number;
  /** Quantiles of estimate - realised. */
  errMedian: number;
  errP10: number;
  errP90: number;
  absErrMedian: number;
  /**
   * Share of pairs with |estimate - realised| <= tol * |realised| (the roadmap's "within 10% of
   * actual" with tol = 0.1). A realised value of 0 is matched only by an estimate of exactly 0:
   * a relative band around 0 is empty, and saying so beats inventing an absolute one.
   */
  within: number;
  /**
   * The same share among pairs whose realised value is not 0: where small orders mostly leave the mid
   * where it was, `within` is dominated by zeros matched by zeros, and this says how the estimate
   * does when something did move.
   */
  withinNonzero: number;
  /** Share of pairs whose realised value is exactly 0 (no mid move): where `within` cannot be met by a nonzero estimate. */
  realisedZero: number;
}

/** Summary of estimate - realised over paired arrays (same length; non-finite pairs dropped). */
export function errorSummary(est: ArrayLike<number>, real: ArrayLike<number>, tol = 0.1): ErrorSummary {
  if (est.length !== real.length) throw new RangeError(`estimates (${est.length}) and realised values (${real.length}) must pair up`);
  const e: number[] = [];
  const r: number[] = [];
  const err: number[] = [];
  const abs: number[] = [];
  let within = 0;
  let withinNz = 0;
  let zero = 0;
  for (let i = 0; i < est.length; i++) {
    const a = est[i]!;
    const b = real[i]!;
    if (!Number.isFinite(a) || !Number.isFinite(b)) continue;
    e.push(a);
    r.push(b);
    const d = a - b;
    err.push(d);
    abs.push(Math.abs(d));
    if (Math.abs(d) <= tol * Math.abs(b)) {
      within++;
      if (b !== 0) withinNz++;
    }
    if (b === 0) zero++;
  }
  const n = e.length;
  const se = sortedCopy(e);
  const sr = sortedCopy(r);
  const sd = sortedCopy(err);
  const sa = sortedCopy(abs);
  return {
    n,
    dropped: est.length - n,
    estMedian: quantileSorted(se, 0.5),
    realMedian: quantileSorted(sr, 0.5),
    errMedian: quantileSorted(sd, 0.5),
    errP10: quantileSorted(sd, 0.1),
    errP90: quantileSorted(sd, 0.9),
    absErrMedian: quantileSorted(sa, 0.5),
    within: n > 0 ? within / n : NaN,
    withinNonzero: n > zero ? withinNz / (n - zero) : NaN,
    realisedZero: n > 0 ? zero / n : NaN,
  };
}
