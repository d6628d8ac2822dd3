/**
 * Whale activity: trades and resting orders far larger than the symbol's usual.
 *   whale-trade: an aggressive order (its fills aggregated: same time and side) whose size exceeds
 *                the rolling `quantile` (default 99.5th percentile) of the last `window` such orders;
 *   whale-order: resting size above the same quantile of the last `window` adds within `nearBps`
 *                of the touch: on an L3 feed the added order's size; on an L2 feed, where an add
 *                is a level growing, the level's size after it. One alert per price and side
 *                within `repeatMs` (a wall that keeps growing is one whale).
 * Thresholds refresh every `refreshEvery` values and alerts wait for `minSamples` of them; the
 * value being judged is not part of its own threshold. critical at `criticalMultiple` x threshold.
 */
import type { AnalyticsOptions } from '../options.ts';
import { RollingQuantiles } from '../stats.ts';
import { R_BEST, R_FILLS, R_LAST, R_LEVEL, R_MID, R_PX, R_SIDE, R_SIGN, R_SZ, R_TS, SIDE_NAME, r6, type DetectorContext } from './context.ts';
import type { Detector } from './detector.ts';
import { fmt } from '../alerts.ts';

const RECENT = 8;

export class WhaleMonitor implements Detector {
  readonly kind = 'whale';
  readonly tradeSizes: RollingQuantiles;
  readonly restingSizes: RollingQuantiles;
  /** Per side, the prices alerted lately (a small ring) and when. */
  private readonly alertedPx = [new Float64Array(RECENT).fill(NaN), new Float64Array(RECENT).fill(NaN)];
  private readonly alertedTs = [new Float64Array(RECENT), new Float64Array(RECENT)];
  private readonly alertedN = [0, 0];
  private readonly repeatNs: number;

  constructor(private readonly o: AnalyticsOptions['whale'], private readonly ctx: DetectorContext) {
    this.tradeSizes = new RollingQuantiles(o.window, [o.quantile], o.refreshEvery);
    this.restingSizes = new RollingQuantiles(o.window, [o.quantile], o.refreshEvery);
    this.repeatNs = o.repeatMs * 1_000_000;
  }

  /** An aggregated aggressive order: R_FILLS prints, VWAP R_PX, total R_SZ; R_MID before it. */
  onParentTrade(): void {
    const r = this.ctx.reg;
    const ts = r[R_TS]!;
    const price = r[R_PX]!;
    const size = r[R_SZ]!;
    const sign = r[R_SIGN]!;
    const fills = r[R_FILLS]!;
    const lastPrice = r[R_LAST]!;
    const mid = r[R_MID]!;
    const q = this.tradeSizes;
    const thr = q.values[0]!;
    if (q.size >= this.o.minSamples && size > thr) {
      const ratio = size / thr;
      const dir = sign > 0 ? 'buy' : sign < 0 ? 'sell' : 'trade';
      this.ctx.emit(ts, 'whale-trade', ratio >= this.o.criticalMultiple ? 'critical' : 'warning',
        `${this.ctx.symbol} aggressive ${dir} of ${fmt(size)} (${fmt(ratio)}x the p${pct(this.o.quantile)} ${fmt(thr)}) at ${fmt(price)}` +
        (fills > 1 ? ` over ${fills} fills` : ''),
        {
          size: r6(size),
          threshold: r6(thr),
          quantile: this.o.quantile,
          ratio: r6(ratio),
          sign,
          vwap: r6(price),
          last_price: lastPrice,
          fills,
          notional: r6(price * size),
          mid_before: r6(mid),
          sweep_bps: r6(mid > 0 ? (sign * (lastPrice - mid) / mid) * 1e4 : NaN),
          samples: q.size,
        });
    }
    q.push(size);
  }

  /**
   * An add at R_PX on R_SIDE of R_SZ; on an L3 feed the resting size judged is the order (R_SZ),
   * else the level after the add (R_LEVEL); R_BEST: the best price on that side before it.
   */
  onAdd(): void {
    const r = this.ctx.reg;
    const l3 = this.ctx.l3;
    const side = r[R_SIDE]!;
    const price = r[R_PX]!;
    const best = r[R_BEST]!;
    const size = r[R_SZ]!;
    const resting = l3 ? size : r[R_LEVEL]!;
    const ts = r[R_TS]!;
    const before = resting - size;
    const away = best === best ? (side === 0 ? (best - price) / best : (price - best) / best) * 1e4 : NaN;
    if (!(away <= this.o.nearBps)) return;
    const q = this.restingSizes;
    const threshold = q.values[0]!;
    const samples = q.size;
    q.push(resting);
    // A level already above the threshold that grows further is the same whale.
    if (samples < this.o.minSamples || !(resting > threshold) || before > threshold || this.recentlyAlerted(side, price, ts)) return;
    const ratio = resting / threshold;
    this.ctx.emit(ts, 'whale-order', ratio >= this.o.criticalMultiple ? 'critical' : 'warning',
      `${this.ctx.symbol} ${fmt(resting)} resting on the ${SIDE_NAME[side]} at ${price} (${fmt(ratio)}x the p${pct(this.o.quantile)} ${fmt(threshold)})`,
      {
        side: SIDE_NAME[side]!,
        price,
        resting: r6(resting),
        added: r6(size),
        threshold: r6(threshold),
        quantile: this.o.quantile,
        ratio: r6(ratio),
        notional: r6(price * resting),
        away_from_touch_bps: r6(away),
        samples,
      });
  }

  private recentlyAlerted(side: number, price: number, ts: number): boolean {
    const px = this.alertedPx[side]!;
    const at = this.alertedTs[side]!;
    for (let i = 0; i < RECENT; i++) if (px[i] === price && ts - at[i]! < this.repeatNs) return true;
    const j = this.alertedN[side]!++ % RECENT;
    px[j] = price;
    at[j] = ts;
    return false;
  }
}

function pct(q: number): string {
  return String(Number((q * 100).toPrecision(4)));
}
