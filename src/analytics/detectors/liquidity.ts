/**
 * Liquidity evaporation: the depth near the mid collapses faster than anyone could replenish it.
 * Watched per side on two measures, after every book row:
 *   - near: total size within `bps` basis points of the mid;
 *   - top:  total size of the best `levels` levels.
 * Each measure has a trailing median M (sampled every `sampleMs` over `windowMs`, the value in
 * force at each grid point) and the maximum over the last `fallMs` (StepHistory). A measure has
 * collapsed when
 *     D_now <= (1 - dropFrac) * M   and   D_now <= (1 - dropFrac) * max_{fallMs}(D),
 * i.e. depth is 70% or more below its trailing median, and 70% or more of what was there at some
 * point in the last 100 ms is gone (a collapse, not a slow drain). With `requireBoth` (the default) both measures
 * must have collapsed: on a small-tick book the top levels alone churn this much all the time, and
 * on a thin one a single cancel can empty the band near the mid. critical when D_now <= criticalFrac * M or the
 * other side is down too. One alert per episode: the side re-arms once both measures are back
 * above rearmFrac * M, and no sooner than cooldownMs after its last alert.
 */
import { SlidingWindowQuantile, StepHistory } from '../stats.ts';
import type { AnalyticsOptions } from '../options.ts';
import { NS_PER_MS, R_ASK, R_BID, R_NEAR_ASK, R_NEAR_BID, R_TOP_ASK, R_TOP_BID, R_TS, SIDE_NAME, r6, type DetectorContext } from './context.ts';
import type { Detector } from './detector.ts';
import { fmt } from '../alerts.ts';

class Series {
  readonly baseline: SlidingWindowQuantile;
  value = NaN;
  /** The baseline's median, refreshed when a sample is pushed. */
  median = NaN;

  constructor(readonly slot: number, samples: number) {
    this.baseline = new SlidingWindowQuantile(samples);
  }
}

const NEAR = 0;
const TOP = 1;
/** Series order in the history: near bid, top bid, near ask, top ask (side * 2 + measure). */

export class LiquidityMonitor implements Detector {
  readonly kind = 'liquidity';
  /** series[side * 2 + measure] */
  private readonly series: Series[] = [];
  private readonly armed = [true, true];
  private readonly lastAlert = [-Infinity, -Infinity];
  private grid = NaN;
  private nextGrid = -Infinity;
  private readonly sampleNs: number;
  private readonly fallNs: number;
  private readonly cooldownNs: number;
  private readonly history: StepHistory;
  private readonly values = new Float64Array(4);
  private readonly maxOut = new Float64Array(2);

  constructor(private readonly o: AnalyticsOptions['liquidity'], private readonly ctx: DetectorContext) {
    this.sampleNs = o.sampleMs * NS_PER_MS;
    this.fallNs = o.fallMs * NS_PER_MS;
    this.cooldownNs = o.cooldownMs * NS_PER_MS;
    const samples = Math.max(1, Math.round(o.windowMs / o.sampleMs));
    for (let i = 0; i < 4; i++) this.series.push(new Series(i, samples));
    this.history = new StepHistory(this.fallNs, 4);
  }

  /** The book after a row: R_TS, depth within bps and top-L depth per side, R_BID and R_ASK the touch. */
  onBook(): void {
    const inp = this.ctx.reg;
    const ts = inp[R_TS]!;
    const bestBid = inp[R_BID]!;
    const bestAsk = inp[R_ASK]!;
    const grid = ts >= this.nextGrid;
    if (grid) this.sample(ts);
    const ser = this.series;
    const v = this.values;
    const nb = inp[R_NEAR_BID]!;
    const tb = inp[R_TOP_BID]!;
    const na = inp[R_NEAR_ASK]!;
    const ta = inp[R_TOP_ASK]!;
    // Unchanged values: the step functions go on; the recent maximum can only have fallen since,
    // so nothing can newly trigger (re-arming waits for the next change, which is all it gates).
    if (!grid && nb === v[0] && tb === v[1] && na === v[2] && ta === v[3]) return;
    v[0] = ser[0]!.value = nb;
    v[1] = ser[1]!.value = tb;
    v[2] = ser[2]!.value = na;
    v[3] = ser[3]!.value = ta;
    this.history.record(ts, v);
    this.check(ts, 0, bestBid, bestAsk);
    this.check(ts, 1, bestBid, bestAsk);
  }

  /** Maximum of a series over the last fallMs into maxOut (value, time set). */
  private recentMax(s: Series, ts: number): number {
    this.history.max(s.slot, ts, this.maxOut);
    return this.maxOut[0]!;
  }

  /** Time reached a new grid point: the values in force at the points passed join the baselines. */
  private sample(ts: number): void {
    const g = Math.floor(ts / this.sampleNs);
    this.nextGrid = (g + 1) * this.sampleNs;
    if (this.grid !== this.grid) this.grid = g;
    else if (g > this.grid) {
      // The values in force at grid points grid+1 .. g are the ones set before this row.
      const k = g - this.grid;
      for (let i = 0; i < 4; i++) {
        const s = this.series[i]!;
        if (s.value === s.value) {
          s.baseline.pushRepeated(s.value, k);
          s.median = s.baseline.median();
        }
      }
      this.grid = g;
    }
  }

  private fallen(s: Series, ts: number): boolean {
    if (s.baseline.size < this.o.minSamples) return false;
    const M = s.median;
    if (!(M > 0)) return false;
    const D = s.value;
    const drop = this.o.dropFrac;
    return D <= (1 - drop) * M && D <= (1 - drop) * this.recentMax(s, ts);
  }

  private recovered(s: Series): boolean {
    return !(s.median > 0) || s.value >= this.o.rearmFrac * s.median;
  }

  private check(ts: number, side: number, bestBid: number, bestAsk: number): void {
    const near = this.series[side * 2 + NEAR]!;
    const top = this.series[side * 2 + TOP]!;
    if (!this.armed[side]) {
      if (this.recovered(near) && this.recovered(top) && ts - this.lastAlert[side]! >= this.cooldownNs) this.armed[side] = true;
      return;
    }
    // Most rows: neither measure is anywhere near its trigger.
    const keep = 1 - this.o.dropFrac;
    if (near.value > keep * near.median && top.value > keep * top.median) return;
    const fn = this.fallen(near, ts);
    const ft = this.fallen(top, ts);
    if (this.o.requireBoth ? !(fn && ft) : !fn && !ft) return;
    this.armed[side] = false;
    this.lastAlert[side] = ts;
    const trig = fn ? near : top;
    const M = trig.median;
    const other = this.series[(1 - side) * 2 + (fn ? NEAR : TOP)]!;
    const Mo = other.median;
    const otherFrac = Mo > 0 ? other.value / Mo : NaN;
    const bothSides = otherFrac <= 1 - this.o.dropFrac;
    const critical = trig.value <= this.o.criticalFrac * M || bothSides;
    const mid = (bestBid + bestAsk) / 2;
    this.recentMax(trig, ts);
    const fallMs = (ts - this.maxOut[1]!) / NS_PER_MS;
    const what = fn ? `within ${this.o.bps} bps of mid` : `in the top ${this.o.levels} levels`;
    this.ctx.emit(ts, 'liquidity-evaporation', critical ? 'critical' : 'warning',
      `${this.ctx.symbol} ${SIDE_NAME[side]} depth ${what} fell ${Math.round(100 * (1 - trig.value / M))}% below its ` +
      `${Math.round(this.o.windowMs / 1000)} s median (${fmt(trig.value)} vs ${fmt(M)}) within ${fmt(fallMs)} ms` +
      (bothSides ? '; the other side is down too' : ''),
      {
        side: SIDE_NAME[side]!,
        trigger: fn ? 'within_bps' : 'top_levels',
        bps: this.o.bps,
        levels: this.o.levels,
        depth_near: r6(near.value),
        median_near: r6(near.median),
        max_near_fall_window: r6(this.recentMax(near, ts)),
        drop_near: dropOf(near),
        depth_top: r6(top.value),
        median_top: r6(top.median),
        max_top_fall_window: r6(this.recentMax(top, ts)),
        drop_top: dropOf(top),
        fall_ms: r6(fallMs),
        other_side_frac_of_median: r6(otherFrac),
        both_sides: bothSides,
        mid: r6(mid),
        best_bid: bestBid,
        best_ask: bestAsk,
        spread_bps: r6(((bestAsk - bestBid) / mid) * 1e4),
      });
  }
}

function dropOf(s: Series): number {
  return r6(1 - s.value / s.median);
}
