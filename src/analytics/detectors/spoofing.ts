/**
 * Spoofing and layering: large orders placed away from the touch, where they are unlikely to trade,
 * and pulled within moments without a fill, again and again on the same side.
 *
 * A candidate is an add (an L3 order, or an L2 level's size increase) that is
 *   - large: size above the symbol's rolling `largeQuantile` of add sizes (and >= minSize);
 *   - non-marketable and away from the touch: priced behind the best on its side (bid below the
 *     best bid, ask above the best ask) by more than `awayBps`.
 * It becomes a spoof event when it is cancelled (L3: deleted, or cancelled down to 10% of its size
 * or less; L2: the level shrinks by 90% of the added size or more with no trade at that price)
 * within `maxLifeMs` of being added, with no fill in between. `minRepeats` spoof events on one side
 * within `windowMs` raise an alert; when they span `layerLevels` distinct prices or more it is
 * layering (critical). The evidence lists the orders and the aggressive volume on each side over
 * the window (spoofers trade on the other side of the book they fake).
 */
import type { AnalyticsOptions } from '../options.ts';
import { NS_PER_MS, R_BEST, R_KEY, R_PX, R_SIDE, R_SIGN, R_SZ, R_THR, R_TS, SIDE_NAME, r6, type DetectorContext } from './context.ts';
import type { Detector } from './detector.ts';
import { BucketCounter } from '../stats.ts';
import { fmt } from '../alerts.ts';

const OPEN_CAP = 512;
const EVENTS_CAP = 64;

export class SpoofingMonitor implements Detector {
  readonly kind = 'spoofing';
  /** Open candidates, a ring of slots; `slotOf` maps an order key to its slot. */
  private readonly key = new Float64Array(OPEN_CAP);
  private readonly side = new Uint8Array(OPEN_CAP);
  private readonly price = new Float64Array(OPEN_CAP);
  private readonly size = new Float64Array(OPEN_CAP);
  private readonly cancelled = new Float64Array(OPEN_CAP);
  private readonly addTs = new Float64Array(OPEN_CAP);
  private readonly away = new Float64Array(OPEN_CAP);
  private readonly active = new Uint8Array(OPEN_CAP);
  private readonly slotOf = new Map<number, number>();
  private nextSlot = 0;
  /** Spoof events per side: rings of (ts, price, size, life ms, away bps). */
  private readonly evTs = [new Float64Array(EVENTS_CAP), new Float64Array(EVENTS_CAP)];
  private readonly evPx = [new Float64Array(EVENTS_CAP), new Float64Array(EVENTS_CAP)];
  private readonly evSz = [new Float64Array(EVENTS_CAP), new Float64Array(EVENTS_CAP)];
  private readonly evLife = [new Float64Array(EVENTS_CAP), new Float64Array(EVENTS_CAP)];
  private readonly evAway = [new Float64Array(EVENTS_CAP), new Float64Array(EVENTS_CAP)];
  private readonly evCount = [0, 0];
  private readonly lastAlert = [-Infinity, -Infinity];
  /** Aggressive volume per side (0 buyer-initiated, 1 seller-initiated), 1 s buckets over the window. */
  private readonly flow: BucketCounter;
  private readonly maxLifeNs: number;
  private readonly windowNs: number;
  private readonly cooldownNs: number;
  /** Spoof events so far (all sides). */
  events = 0;

  constructor(private readonly o: AnalyticsOptions['spoofing'], private readonly ctx: DetectorContext) {
    this.maxLifeNs = o.maxLifeMs * NS_PER_MS;
    this.windowNs = o.windowMs * NS_PER_MS;
    this.cooldownNs = o.cooldownMs * NS_PER_MS;
    this.flow = new BucketCounter(1000 * NS_PER_MS, Math.max(1, Math.ceil(o.windowMs / 1000)), 2);
  }

  /** An add (R_TS, R_KEY, R_SIDE, R_PX, R_SZ, R_BEST; R_THR: the large-size threshold before it). */
  onAdd(): void {
    const r = this.ctx.reg;
    const size = r[R_SZ]!;
    const best = r[R_BEST]!;
    if (!(size > r[R_THR]!) || size < this.o.minSize || best !== best) return;
    const ts = r[R_TS]!;
    const key = r[R_KEY]!;
    const side = r[R_SIDE]!;
    const price = r[R_PX]!;
    const awayBps = side === 0 ? ((best - price) / best) * 1e4 : ((price - best) / best) * 1e4;
    if (!(awayBps > this.o.awayBps)) return;
    const prev = this.slotOf.get(key);
    if (prev !== undefined) this.active[prev] = 0;
    const i = this.nextSlot;
    this.nextSlot = (i + 1) % OPEN_CAP;
    if (this.active[i]) this.slotOf.delete(this.key[i]!);
    this.key[i] = key;
    this.side[i] = side;
    this.price[i] = price;
    this.size[i] = size;
    this.cancelled[i] = 0;
    this.addTs[i] = ts;
    this.away[i] = awayBps;
    this.active[i] = 1;
    this.slotOf.set(key, i);
  }

  /** A fill of (part of) the order or level R_KEY: it traded, so it was not a spoof. */
  onExec(): void {
    if (this.slotOf.size === 0) return;
    const key = this.ctx.reg[R_KEY]!;
    const i = this.slotOf.get(key);
    if (i === undefined) return;
    this.active[i] = 0;
    this.slotOf.delete(key);
  }

  /** A cancel of R_SZ from the order or level R_KEY; `gone`: the order (or level) no longer exists. */
  onCancel(gone: boolean): void {
    if (this.slotOf.size === 0) return;
    const r = this.ctx.reg;
    const key = r[R_KEY]!;
    const i = this.slotOf.get(key);
    if (i === undefined) return;
    const ts = r[R_TS]!;
    const size = r[R_SZ]!;
    const life = ts - this.addTs[i]!;
    if (life > this.maxLifeNs) {
      this.active[i] = 0;
      this.slotOf.delete(key);
      return;
    }
    this.cancelled[i] += size;
    if (!gone && this.cancelled[i]! < 0.9 * this.size[i]!) return;
    this.active[i] = 0;
    this.slotOf.delete(key);
    this.recordEvent(ts, this.side[i]!, this.price[i]!, this.size[i]!, life / NS_PER_MS, this.away[i]!);
  }

  /** A print: aggressive volume by side (R_TS, R_SIGN, R_SZ). */
  onPrint(): void {
    const r = this.ctx.reg;
    const sign = r[R_SIGN]!;
    const size = r[R_SZ]!;
    this.flow.advance(r[R_TS]!);
    if (sign > 0) this.flow.add(0, size);
    else if (sign < 0) this.flow.add(1, size);
  }

  counters(): Record<string, number> {
    return { spoofEvents: this.events };
  }

  private recordEvent(ts: number, side: number, price: number, size: number, lifeMs: number, awayBps: number): void {
    this.events++;
    const j = this.evCount[side]!++ % EVENTS_CAP;
    this.evTs[side]![j] = ts;
    this.evPx[side]![j] = price;
    this.evSz[side]![j] = size;
    this.evLife[side]![j] = lifeMs;
    this.evAway[side]![j] = awayBps;
    // Events on this side within the window, newest first.
    const n = this.evCount[side]!;
    const from = Math.max(0, n - EVENTS_CAP);
    let k = n - 1;
    while (k >= from && ts - this.evTs[side]![k % EVENTS_CAP]! <= this.windowNs) k--;
    const count = n - 1 - k;
    if (count < this.o.minRepeats || ts - this.lastAlert[side]! < this.cooldownNs) return;
    this.lastAlert[side] = ts;
    const prices: number[] = [];
    const sizes: number[] = [];
    const lives: number[] = [];
    let maxAway = 0;
    let total = 0;
    for (let e = k + 1; e < n; e++) {
      const s = e % EVENTS_CAP;
      prices.push(this.evPx[side]![s]!);
      sizes.push(this.evSz[side]![s]!);
      lives.push(r6(this.evLife[side]![s]!));
      total += this.evSz[side]![s]!;
      if (this.evAway[side]![s]! > maxAway) maxAway = this.evAway[side]![s]!;
    }
    const levels = new Set(prices).size;
    const layering = levels >= this.o.layerLevels;
    this.flow.advance(ts);
    const spanMs = (ts - this.evTs[side]![(k + 1) % EVENTS_CAP]!) / NS_PER_MS;
    this.ctx.emit(ts, 'spoofing', layering ? 'critical' : 'warning',
      `${this.ctx.symbol} ${count} large ${SIDE_NAME[side]}s (${fmt(total)} in all) placed behind the touch and cancelled unfilled ` +
      `within ${fmt(Math.max(...lives))} ms, over ${fmt(spanMs)} ms` + (layering ? `, across ${levels} price levels (layering)` : ''),
      {
        side: SIDE_NAME[side]!,
        orders: count,
        total_size: r6(total),
        prices,
        sizes,
        lifetimes_ms: lives,
        distinct_prices: levels,
        layering,
        max_away_bps: r6(maxAway),
        span_ms: r6(spanMs),
        buy_aggressive_volume: r6(this.flow.total(0)),
        sell_aggressive_volume: r6(this.flow.total(1)),
      });
  }
}
