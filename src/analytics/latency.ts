/**
 * Feed latency per stream: the exchange's event time against our receipt time, d = local - exchange
 * (ms). d mixes two things a risk manager wants apart:
 *   - clock offset: where d sits (our clock vs theirs, plus the typical transit): the median of d
 *     over the trailing `windowMs`; also its 1st percentile (the clock offset plus the fastest
 *     transit, the closest to the pure clock difference);
 *   - jitter: how much d moves around that: p99 - p50 of d over the window (latency spikes are
 *     one-sided), and the MAD (median |d - median|).
 * Stats are recomputed every `tickMs` of local time. Alerts:
 *   latency-jitter:        jitter >= jitterMultiple x its baseline and >= minJitterMs;
 *   latency-offset-shift:  |offset - baseline offset| >= shiftMs (a clock step, or the feed falling behind);
 * baselines being medians of the last `baselineTicks` ticks (`minTicks` needed). Each re-arms when
 * back under half its trigger, no sooner than cooldownMs.
 *
 * A sample whose local time equals its exchange time exactly is skipped: that is a source that had
 * no exchange time and copied the local one (Binance spot bookTicker carries no E).
 */
import { SlidingWindowQuantile, select } from './stats.ts';
import type { AnalyticsOptions } from './options.ts';
import type { AlertKind, Evidence, Severity } from './alerts.ts';
import { fmt } from './alerts.ts';
import { r6 } from './detectors/context.ts';
import { NS_PER_MS } from '../model/time.ts';

export const STREAM_NAMES = ['depth', 'trade', 'quote'] as const;
export type StreamKind = 0 | 1 | 2;


export interface LatencyStats {
  symbol: string;
  stream: (typeof STREAM_NAMES)[number];
  samples: number;
  /** Median of local - exchange over the window (ms); negative: local clock behind the exchange's. */
  offsetMs: number;
  /** 1st percentile of local - exchange (ms). */
  floorMs: number;
  /** p99 - p50 of local - exchange (ms). */
  jitterMs: number;
  madMs: number;
  p99Ms: number;
  baselineJitterMs: number;
  baselineOffsetMs: number;
  alerts: number;
}

class StreamLatency {
  private tl = new Float64Array(1024);
  private d = new Float64Array(1024);
  private scratch = new Float64Array(1024);
  private first = 0;
  private next = 0;
  private nextTick = NaN;
  readonly jitterBase: SlidingWindowQuantile;
  readonly offsetBase: SlidingWindowQuantile;
  samples = 0;
  offset = NaN;
  floor = NaN;
  jitter = NaN;
  mad = NaN;
  p99 = NaN;
  alerts = 0;
  jitterArmed = true;
  shiftArmed = true;
  lastJitterAlert = -Infinity;
  lastShiftAlert = -Infinity;

  constructor(readonly symbol: string, readonly stream: StreamKind, baselineTicks: number) {
    this.jitterBase = new SlidingWindowQuantile(baselineTicks);
    this.offsetBase = new SlidingWindowQuantile(baselineTicks);
  }

  add(local: number, dMs: number): void {
    if (this.next - this.first === this.tl.length) this.grow();
    const m = this.tl.length - 1;
    const i = this.next++ & m;
    this.tl[i] = local;
    this.d[i] = dMs;
    this.samples++;
  }

  /** Drops samples older than the window, recomputes the stats; false if it is not time yet. */
  tick(local: number, windowNs: number, tickNs: number): boolean {
    if (this.nextTick !== this.nextTick) this.nextTick = (Math.floor(local / tickNs) + 1) * tickNs;
    if (local < this.nextTick) return false;
    this.nextTick = (Math.floor(local / tickNs) + 1) * tickNs;
    const m = this.tl.length - 1;
    while (this.first < this.next && this.tl[this.first & m]! <= local - windowNs) this.first++;
    const n = this.next - this.first;
    if (n === 0) return false;
    if (this.scratch.length < n) this.scratch = new Float64Array(this.tl.length);
    // Order statistics by selection (O(n) each), nearest rank: p = s[floor(q (n - 1))].
    const s = this.scratch;
    for (let k = 0; k < n; k++) s[k] = this.d[(this.first + k) & m]!;
    this.offset = select(s, n, Math.floor(0.5 * (n - 1)));
    this.floor = select(s, n, Math.floor(0.01 * (n - 1)));
    this.p99 = select(s, n, Math.floor(0.99 * (n - 1)));
    this.jitter = this.p99 - this.offset;
    for (let k = 0; k < n; k++) s[k] = Math.abs(s[k]! - this.offset);
    this.mad = select(s, n, Math.floor(0.5 * (n - 1)));
    return true;
  }

  private grow(): void {
    const cap = this.tl.length;
    const c = cap * 2;
    const tl = new Float64Array(c);
    const d = new Float64Array(c);
    for (let s = this.first; s < this.next; s++) {
      tl[s & (c - 1)] = this.tl[s & (cap - 1)]!;
      d[s & (c - 1)] = this.d[s & (cap - 1)]!;
    }
    this.tl = tl;
    this.d = d;
  }
}

export type LatencyAlertSink = (symbol: string, ts: number, kind: AlertKind, severity: Severity, message: string, evidence: Evidence) => void;

/** One symbol's streams, indexed by StreamKind (depth, trade, quote). */
export type SymbolStreams = (StreamLatency | undefined)[];

export class LatencyMonitor {
  private readonly streams = new Map<string, StreamLatency>();
  /** Per symbol, its streams by kind (depth, trade, quote). */
  private readonly bySymbol = new Map<string, SymbolStreams>();
  private readonly windowNs: number;
  private readonly tickNs: number;
  private readonly cooldownNs: number;
  /** Samples skipped because local time equalled exchange time (no exchange time in the source). */
  skipped = 0;

  constructor(private readonly o: AnalyticsOptions['latency'], private readonly emit: LatencyAlertSink) {
    this.windowNs = o.windowMs * NS_PER_MS;
    this.tickNs = o.tickMs * NS_PER_MS;
    this.cooldownNs = o.cooldownMs * NS_PER_MS;
  }

  /** A symbol's streams (depth, trade, quote), created on first use: callers keep it per symbol. */
  streamsOf(symbol: string): SymbolStreams {
    let list = this.bySymbol.get(symbol);
    if (!list) this.bySymbol.set(symbol, (list = [undefined, undefined, undefined]));
    return list;
  }

  /** One receipt: exchange time `ts`, local time `local` (both ns since the TimeBase). */
  sample(list: SymbolStreams, symbol: string, stream: StreamKind, ts: number, local: number): void {
    if (local !== local || ts !== ts) return;
    if (local === ts) {
      this.skipped++;
      return;
    }
    let s = list[stream];
    if (!s) {
      s = new StreamLatency(symbol, stream, this.o.baselineTicks);
      list[stream] = s;
      this.streams.set(symbol + '\u0000' + stream, s);
    }
    if (s.tick(local, this.windowNs, this.tickNs)) this.check(s, ts);
    s.add(local, (local - ts) / NS_PER_MS);
  }

  /** The symbol's depth stream stats, else its trade stream's, else its quote stream's. */
  primary(symbol: string): { offset: number; jitter: number } | undefined {
    const list = this.bySymbol.get(symbol);
    return list && (list[0] ?? list[1] ?? list[2]);
  }

  stats(): LatencyStats[] {
    return [...this.streams.values()].map((s) => ({
      symbol: s.symbol,
      stream: STREAM_NAMES[s.stream],
      samples: s.samples,
      offsetMs: s.offset,
      floorMs: s.floor,
      jitterMs: s.jitter,
      madMs: s.mad,
      p99Ms: s.p99,
      baselineJitterMs: s.jitterBase.median(),
      baselineOffsetMs: s.offsetBase.median(),
      alerts: s.alerts,
    }));
  }

  private check(s: StreamLatency, ts: number): void {
    const o = this.o;
    const ready = s.jitterBase.size >= o.minTicks;
    const jb = s.jitterBase.median();
    const ob = s.offsetBase.median();
    const name = STREAM_NAMES[s.stream];
    if (ready) {
      const trigger = Math.max(o.jitterMultiple * jb, o.minJitterMs);
      if (s.jitterArmed && s.jitter >= trigger) {
        s.jitterArmed = false;
        s.lastJitterAlert = ts;
        s.alerts++;
        this.emit(s.symbol, ts, 'latency-jitter', s.jitter >= 2 * trigger ? 'critical' : 'warning',
          `${s.symbol} ${name} feed jitter ${fmt(s.jitter)} ms (p99 - p50 of receipt delay over ${o.windowMs} ms) vs a baseline of ${fmt(jb)} ms`,
          this.evidence(s, jb, ob));
      } else if (!s.jitterArmed && s.jitter < trigger / 2 && ts - s.lastJitterAlert >= this.cooldownNs) {
        s.jitterArmed = true;
      }
      const shift = s.offset - ob;
      if (s.shiftArmed && Math.abs(shift) >= o.shiftMs) {
        s.shiftArmed = false;
        s.lastShiftAlert = ts;
        s.alerts++;
        this.emit(s.symbol, ts, 'latency-offset-shift', 'warning',
          `${s.symbol} ${name} receipt delay moved ${shift > 0 ? '+' : ''}${fmt(shift)} ms (median ${fmt(s.offset)} ms vs ${fmt(ob)} ms): a clock step or the feed falling behind`,
          this.evidence(s, jb, ob));
      } else if (!s.shiftArmed && Math.abs(shift) < o.shiftMs / 2 && ts - s.lastShiftAlert >= this.cooldownNs) {
        s.shiftArmed = true;
      }
    }
    s.jitterBase.push(s.jitter);
    s.offsetBase.push(s.offset);
  }

  private evidence(s: StreamLatency, jb: number, ob: number): Evidence {
    return {
      stream: STREAM_NAMES[s.stream],
      offset_ms: r6(s.offset),
      floor_ms: r6(s.floor),
      jitter_ms: r6(s.jitter),
      mad_ms: r6(s.mad),
      p99_ms: r6(s.p99),
      baseline_jitter_ms: r6(jb),
      baseline_offset_ms: r6(ob),
      window_ms: this.o.windowMs,
    };
  }
}
