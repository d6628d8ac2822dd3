/**
 * How much of a parent order should be done by a given time: the schedules of the execution
 * algorithms (TWAP, VWAP, POV). Pure functions; the execution strategy (execution.ts) chases the
 * target they give and crosses the spread when it falls behind.
 */
import { onLot } from './params.ts';
import type { VolumeCurve } from './volume-curve.ts';
import { curveMass } from './volume-curve.ts';

/**
 * A slice schedule: slice i becomes due at `times[i]` and brings the cumulative target to
 * `cum[i]`. The last cumulative target is the parent quantity exactly, so the slices sum to it
 * whatever the rounding.
 */
export interface SliceSchedule {
  readonly start: number;
  readonly end: number;
  readonly qty: number;
  readonly times: readonly number[];
  readonly cum: readonly number[];
  /** Why the schedule is not the one asked for (VWAP with no curve volume in the window falls back to TWAP). */
  readonly note?: string;
}

/** Number of slices of [start, end) at `interval`: the last slice may be shorter. */
export function sliceCount(start: number, end: number, interval: number): number {
  if (!(end > start)) throw new RangeError(`schedule: end (${end}) must be after start (${start})`);
  if (!(interval > 0)) throw new RangeError(`schedule: interval must be > 0, got ${interval}`);
  return Math.max(1, Math.ceil((end - start) / interval - 1e-9));
}

/**
 * Cumulative targets from slice weights: each cumulative fraction rounded down to the lot, the
 * last one the whole quantity. Rounding the cumulative (not each slice) keeps the error below one
 * lot at every time instead of letting it add up.
 */
function fromWeights(qty: number, start: number, end: number, times: number[], w: readonly number[], lot: number, note?: string): SliceSchedule {
  const total = w.reduce((a, b) => a + b, 0);
  const cum: number[] = [];
  let acc = 0;
  for (let i = 0; i < w.length; i++) {
    acc += w[i]!;
    cum.push(i === w.length - 1 ? qty : onLot((qty * acc) / total, lot));
  }
  return note === undefined ? { start, end, qty, times, cum } : { start, end, qty, times, cum, note };
}

function sliceTimes(start: number, end: number, interval: number): number[] {
  const n = sliceCount(start, end, interval);
  return Array.from({ length: n }, (_, i) => start + i * interval);
}

/** TWAP: equal slices, one due at the start of every interval. */
export function twapSchedule(qty: number, start: number, end: number, interval: number, lot = 0): SliceSchedule {
  if (!(qty > 0)) throw new RangeError(`twap: quantity must be > 0, got ${qty}`);
  const times = sliceTimes(start, end, interval);
  // Weights by slice length, so a short last slice gets a proportionally smaller share.
  const w = times.map((t, i) => Math.min(end, times[i + 1] ?? end) - t);
  return fromWeights(qty, start, end, times, w, lot);
}

/**
 * VWAP: slice i gets the share of the curve's volume that falls in its interval, so the order
 * trades most when the market usually does. A window where the curve has no volume at all (a curve
 * from another session) falls back to TWAP and says so in `note`.
 */
export function vwapSchedule(qty: number, start: number, end: number, interval: number, curve: VolumeCurve, lot = 0): SliceSchedule {
  if (!(qty > 0)) throw new RangeError(`vwap: quantity must be > 0, got ${qty}`);
  const times = sliceTimes(start, end, interval);
  const w = times.map((t, i) => curveMass(curve, t, Math.min(end, times[i + 1] ?? end)));
  if (!(w.reduce((a, b) => a + b, 0) > 0)) {
    const twap = twapSchedule(qty, start, end, interval, lot);
    return { ...twap, note: 'the volume curve has no volume in the order window: equal (TWAP) slices' };
  }
  return fromWeights(qty, start, end, times, w, lot);
}

/** The cumulative target due at time t (0 before the first slice, the whole quantity from the last slice on). */
export function scheduleTarget(s: SliceSchedule, t: number): number {
  if (t < s.times[0]!) return 0;
  // Binary search for the last slice time <= t: schedules of a day at 1 s have ~23,000 slices.
  let lo = 0, hi = s.times.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (s.times[mid]! <= t) lo = mid;
    else hi = mid - 1;
  }
  return s.cum[lo]!;
}

/** The slice sizes (differences of the cumulative targets). */
export function sliceSizes(s: SliceSchedule): number[] {
  return s.cum.map((c, i) => c - (i === 0 ? 0 : s.cum[i - 1]!));
}

/**
 * POV: the target is a fixed fraction of the market volume traded since the start, never more than
 * the parent quantity. `rate` 0.1 = take part in 10% of the volume (of the market's volume alone:
 * our own fills are not in the feed).
 */
export function povTarget(qty: number, rate: number, marketVolume: number, lot = 0): number {
  if (!(rate > 0 && rate <= 1)) throw new RangeError(`pov: rate must be in (0, 1], got ${rate}`);
  return Math.min(qty, onLot(rate * marketVolume, lot));
}
