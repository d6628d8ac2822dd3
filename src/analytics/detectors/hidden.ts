/**
 * Hidden liquidity and icebergs: liquidity that trades but was never (fully) displayed.
 *
 * hidden-liquidity (tape vs book): a print whose size, added to the prints at the same price and
 * resting side since the book last changed, exceeds the displayed size there by more than
 * `tolerance` (a print inside the spread, where nothing is displayed, always does). The book is the
 * one in force before the print. Prints on one side within `episodeMs` of the previous detection
 * on that side are one episode and one alert (at its first print); the episode's size grows.
 *
 * iceberg (refill): a visible execution at a price, then an add at the same price and side within
 * `refillMs`: the level refilling, as a reserve order shows a new tip. `minRefills` refills at one
 * price, each within `episodeMs` of the previous, raise one alert. The evidence estimates the
 * reserve as the volume executed at the price beyond the largest size ever displayed there during
 * the episode.
 *
 * What they cannot tell: which order the hidden volume belonged to; a refill by a different trader
 * who likes the price looks the same as an iceberg's; on feeds whose depth lags the trade stream,
 * a print can exceed a stale displayed size (docs/analytics.md gives the false-alarm rate).
 */
import type { AnalyticsOptions } from '../options.ts';
import { NS_PER_MS, R_ASK, R_BID, R_CUM, R_DISP, R_LEVEL, R_PX, R_SIDE, R_SZ, R_TS, SIDE_NAME, r6, type DetectorContext } from './context.ts';
import type { Detector } from './detector.ts';
import { fmt } from '../alerts.ts';

export class HiddenLiquidityMonitor implements Detector {
  readonly kind = 'hidden';
  private readonly episodeNs: number;
  private readonly refillNs: number;
  /** Per side: the current hidden-liquidity episode. */
  private readonly hidLast = [-Infinity, -Infinity];
  private readonly hidVolume = [0, 0];
  private readonly hidPrints = [0, 0];
  /** Per side: the last visible execution (price, time, level size before it). */
  private readonly execPx = [NaN, NaN];
  private readonly execTs = [-Infinity, -Infinity];
  private readonly lastExecSize = [0, 0];
  private readonly lastExecLevel = [0, 0];
  /** Per side: the current refill episode at one price. */
  private readonly icePx = [NaN, NaN];
  private readonly iceLast = [-Infinity, -Infinity];
  private readonly iceStart = [0, 0];
  private readonly iceRefills = [0, 0];
  private readonly iceExecuted = [0, 0];
  private readonly iceMaxShown = [0, 0];
  private readonly iceAlerted = [false, false];
  /** Detections (prints) and refills so far, for validation. */
  detections = 0;
  refills = 0;
  /** Prints that exceeded the display but crossed the opposite touch of a stale book (not counted). */
  stale = 0;

  constructor(private readonly o: AnalyticsOptions['hidden'], private readonly ctx: DetectorContext) {
    this.episodeNs = o.episodeMs * NS_PER_MS;
    this.refillNs = o.refillMs * NS_PER_MS;
  }

  /**
   * A print against resting side R_SIDE at R_PX of R_SZ; R_CUM: its size plus earlier prints at that
   * price and side since the book last changed; R_DISP: the displayed size there before them;
   * R_BID, R_ASK: the touch in force. R_DISP NaN: no book to hold the print against.
   */
  onPrint(): void {
    const r = this.ctx.reg;
    const displayed = r[R_DISP]!;
    if (displayed !== displayed) return;
    const cumSize = r[R_CUM]!;
    // Sizes are decimals summed in binary floating point: a relative 1e-9 absorbs the rounding.
    if (!(cumSize > displayed * (1 + this.o.tolerance) + 1e-9 * (displayed > 1 ? displayed : 1))) return;
    // A print through the opposite touch (a sell at or above the best ask) says the book is stale,
    // not that liquidity was hidden: the depth stream has not caught up with the trade stream yet.
    const side = r[R_SIDE]!;
    const price = r[R_PX]!;
    const bestBid = r[R_BID]!;
    const bestAsk = r[R_ASK]!;
    if (side === 0 ? !(price < bestAsk) : !(price > bestBid)) {
      this.stale++;
      return;
    }
    const ts = r[R_TS]!;
    const size = r[R_SZ]!;
    this.detections++;
    this.ctx.detected('print', ts, side, price);
    const newEpisode = ts - this.hidLast[side]! > this.episodeNs;
    this.hidLast[side] = ts;
    if (!newEpisode) {
      this.hidVolume[side] += size;
      this.hidPrints[side]++;
      return;
    }
    this.hidVolume[side] = size;
    this.hidPrints[side] = 1;
    const inside = price > bestBid && price < bestAsk;
    const mid = (bestBid + bestAsk) / 2;
    this.ctx.emit(ts, 'hidden-liquidity', 'info',
      `${this.ctx.symbol} ${fmt(size)} traded against the ${SIDE_NAME[side]} at ${price} where ${fmt(displayed)} was displayed` +
      (inside ? ' (inside the spread)' : ''),
      {
        side: SIDE_NAME[side]!,
        price,
        size,
        cumulative_at_price: r6(cumSize),
        displayed: r6(displayed),
        hidden_estimate: r6(cumSize - displayed),
        inside_spread: inside,
        best_bid: bestBid,
        best_ask: bestAsk,
        distance_from_mid_bps: r6(((price - mid) / mid) * 1e4),
      });
  }

  /** A visible execution of R_SZ at R_PX on R_SIDE, the level holding R_LEVEL before it. */
  onExec(): void {
    const r = this.ctx.reg;
    const ts = r[R_TS]!;
    const side = r[R_SIDE]!;
    const price = r[R_PX]!;
    const size = r[R_SZ]!;
    const levelBefore = r[R_LEVEL]!;
    this.execPx[side] = price;
    this.execTs[side] = ts;
    if (price === this.icePx[side] && ts - this.iceLast[side]! <= this.episodeNs) {
      this.iceExecuted[side] += size;
      if (levelBefore > this.iceMaxShown[side]!) this.iceMaxShown[side] = levelBefore;
    }
    this.lastExecSize[side] = size;
    this.lastExecLevel[side] = levelBefore;
  }

  /** An add at R_PX on R_SIDE; R_LEVEL: the level's displayed size with it (NaN: no book, no refill to see). */
  onAdd(): void {
    const r = this.ctx.reg;
    const levelAfter = r[R_LEVEL]!;
    if (levelAfter !== levelAfter) return;
    const side = r[R_SIDE]!;
    const price = r[R_PX]!;
    const ts = r[R_TS]!;
    if (price !== this.execPx[side] || ts - this.execTs[side]! > this.refillNs) return;
    this.refills++;
    this.ctx.detected('refill', ts, side, price);
    this.execTs[side] = -Infinity; // one refill per execution
    if (price !== this.icePx[side] || ts - this.iceLast[side]! > this.episodeNs) {
      this.icePx[side] = price;
      this.iceStart[side] = ts;
      this.iceRefills[side] = 0;
      this.iceExecuted[side] = this.lastExecSize[side]!;
      this.iceMaxShown[side] = this.lastExecLevel[side]!;
      this.iceAlerted[side] = false;
    }
    this.iceLast[side] = ts;
    this.iceRefills[side]++;
    if (levelAfter > this.iceMaxShown[side]!) this.iceMaxShown[side] = levelAfter;
    if (this.iceAlerted[side] || this.iceRefills[side]! < this.o.minRefills) return;
    this.iceAlerted[side] = true;
    const executed = this.iceExecuted[side]!;
    const shown = this.iceMaxShown[side]!;
    this.ctx.emit(ts, 'iceberg', 'info',
      `${this.ctx.symbol} ${SIDE_NAME[side]} level ${price} refilled ${this.iceRefills[side]} times after executions ` +
      `(${fmt(executed)} executed, at most ${fmt(shown)} shown)`,
      {
        side: SIDE_NAME[side]!,
        price,
        refills: this.iceRefills[side]!,
        executed: r6(executed),
        max_displayed: r6(shown),
        reserve_estimate: r6(Math.max(0, executed - shown)),
        span_ms: r6((ts - this.iceStart[side]!) / NS_PER_MS),
        refill_ms: this.o.refillMs,
      });
  }

  counters(): Record<string, number> {
    return { hiddenPrints: this.detections, refills: this.refills, stalePrints: this.stale };
  }
}
