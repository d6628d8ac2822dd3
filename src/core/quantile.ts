/**
 * Quantile q of a sorted array by linear interpolation between order statistics (Hyndman and Fan
 * type 7, numpy's default), so a reader can reproduce any figure with np.quantile. NaN when empty.
 * One definition for the evaluation's bootstrap intervals and the impact report's distributions.
 */
export function quantileSorted(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  if (!(q >= 0 && q <= 1)) throw new RangeError(`quantile must be in [0, 1], got ${q}`);
  const h = (n - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, n - 1);
  return sorted[lo]! + (h - lo) * (sorted[hi]! - sorted[lo]!);
}
