/**
 * The intraday volume curve VWAP slices by: the share of a session's traded volume in each
 * time-of-day bucket, built from history (another day's trades, or another instrument's day when
 * only one day of a symbol exists; see docs/backtest.md). Times of day are UTC: event times are ns
 * since the run's UTC midnight (LOBSTER's New York times converted), so `ts mod 1 day` lines up
 * days of the same venue (across a daylight-saving change, US sessions shift by an hour).
 */
import { readFileSync } from 'node:fs';
import { NS_PER_S } from '../../model/time.ts';

const DAY_NS = 86_400 * NS_PER_S;

export interface VolumeCurve {
  /** Bucket width in ns. */
  readonly bucketNs: number;
  /** Time of day (ns after midnight) where bucket 0 starts. */
  readonly originNs: number;
  /** Share of the volume in each bucket; sums to 1 (all zeros only for a curve built from no volume). */
  readonly share: readonly number[];
  /** Where it was built from (a source spec, a file), for reports. */
  readonly from?: string;
  /** Total volume it was built from, in the source's size unit. */
  readonly volume?: number;
}

/**
 * Buckets trades by time of day. The origin is the first trade's bucket boundary (a whole number of
 * buckets after midnight), so curves of the same bucket width from different days line up.
 */
export function buildVolumeCurve(trades: Iterable<{ ts: number; size: number }>, bucketNs: number, from?: string): VolumeCurve {
  if (!(bucketNs > 0)) throw new RangeError(`volume curve: bucket must be > 0 ns, got ${bucketNs}`);
  const byBucket = new Map<number, number>();
  let total = 0;
  for (const t of trades) {
    if (!(t.size > 0)) continue;
    const k = Math.floor((((t.ts % DAY_NS) + DAY_NS) % DAY_NS) / bucketNs);
    byBucket.set(k, (byBucket.get(k) ?? 0) + t.size);
    total += t.size;
  }
  if (byBucket.size === 0) throw new RangeError(`volume curve${from ? ` from ${from}` : ''}: no trades with a positive size`);
  const keys = [...byBucket.keys()];
  const k0 = Math.min(...keys), k1 = Math.max(...keys);
  const share = Array.from({ length: k1 - k0 + 1 }, (_, i) => (byBucket.get(k0 + i) ?? 0) / total);
  const c: VolumeCurve = { bucketNs, originNs: k0 * bucketNs, share, volume: total };
  return from === undefined ? c : { ...c, from };
}

/**
 * The share of the curve's volume between two times (ns on the run's clock, so any day), assuming
 * volume is spread evenly inside a bucket. A window that wraps past midnight is split at it.
 */
export function curveMass(c: VolumeCurve, t0: number, t1: number): number {
  if (!(t1 > t0)) return 0;
  if (t1 - t0 >= DAY_NS) return c.share.reduce((a, b) => a + b, 0);
  const a = ((t0 % DAY_NS) + DAY_NS) % DAY_NS;
  const b = a + (t1 - t0);
  if (b > DAY_NS) return massInDay(c, a, DAY_NS) + massInDay(c, 0, b - DAY_NS);
  return massInDay(c, a, b);
}

function massInDay(c: VolumeCurve, a: number, b: number): number {
  const x0 = (a - c.originNs) / c.bucketNs, x1 = (b - c.originNs) / c.bucketNs;
  const lo = Math.max(0, Math.floor(x0)), hi = Math.min(c.share.length - 1, Math.ceil(x1) - 1);
  let m = 0;
  for (let k = lo; k <= hi; k++) {
    const overlap = Math.min(x1, k + 1) - Math.max(x0, k);
    if (overlap > 0) m += c.share[k]! * overlap;
  }
  return m;
}

/** Reads a curve written as JSON by scripts/volume-curve.ts (or by hand), checking its shape. */
export function readVolumeCurve(file: string): VolumeCurve {
  let j: unknown;
  try {
    j = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`volume curve ${file}: ${(e as Error).message}`);
  }
  const o = j as Partial<VolumeCurve>;
  if (!(typeof o.bucketNs === 'number' && o.bucketNs > 0)) throw new Error(`volume curve ${file}: bucketNs must be a positive number`);
  if (!(typeof o.originNs === 'number' && o.originNs >= 0 && o.originNs < DAY_NS)) throw new Error(`volume curve ${file}: originNs must be a time of day in ns`);
  if (!Array.isArray(o.share) || o.share.length === 0 || o.share.some((x) => typeof x !== 'number' || !(x >= 0))) {
    throw new Error(`volume curve ${file}: share must be a non-empty array of numbers >= 0`);
  }
  const sum = o.share.reduce((a, b) => a + b, 0);
  if (!(sum > 0)) throw new Error(`volume curve ${file}: share sums to 0`);
  // Renormalised: a hand-written curve may be in shares of 100 or in raw volumes.
  return { ...(o as VolumeCurve), share: o.share.map((x) => x / sum), from: o.from ?? file };
}
