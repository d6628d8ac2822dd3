/**
 * Wash-trade heuristic: the same size printing at the same price again and again within a short
 * interval, the aggressor alternating (buy, sell, buy, ...) as one party trading with itself
 * through two accounts would leave it. An alert when the alternating run of prints with one price
 * and size reaches `minPrints` within `windowMs`; one alert per run.
 *
 * Sizes that make up more than `commonShare` of the last `commonWindow` prints (round lots, the
 * venue's minimum) are ignored: independent traders print them back to back all day.
 *
 * What it cannot tell (docs/analytics.md): public data carries no account or beneficial-owner
 * ids, so two unrelated traders alternating at one size look exactly like a wash; a wash split
 * into different sizes or prices, or spread over longer than the window, is missed; venue
 * self-trade prevention may already block the real thing. It is an `info` lead for surveillance,
 * not a finding.
 */
import type { AnalyticsOptions } from '../options.ts';
import { NS_PER_MS, R_PX, R_SIGN, R_SZ, R_TS, r6, type DetectorContext } from './context.ts';
import type { Detector } from './detector.ts';
import { fmt } from '../alerts.ts';

const CAP = 256;

export class WashMonitor implements Detector {
  readonly kind = 'wash';
  private readonly ts = new Float64Array(CAP);
  private readonly px = new Float64Array(CAP);
  private readonly sz = new Float64Array(CAP);
  private readonly sg = new Int8Array(CAP);
  private n = 0;
  /** Size frequencies over the last commonWindow prints. */
  private readonly recent: Float64Array;
  private readonly freq = new Map<number, number>();
  private seen = 0;
  private readonly windowNs: number;
  private lastAlertPx = NaN;
  private lastAlertSz = NaN;
  private lastAlertTs = -Infinity;

  constructor(private readonly o: AnalyticsOptions['wash'], private readonly ctx: DetectorContext) {
    this.windowNs = o.windowMs * NS_PER_MS;
    this.recent = new Float64Array(o.commonWindow);
  }

  /** A print (R_TS, R_PX, R_SZ, R_SIGN). */
  onPrint(): void {
    const r = this.ctx.reg;
    const ts = r[R_TS]!;
    const price = r[R_PX]!;
    const size = r[R_SZ]!;
    const sign = r[R_SIGN]!;
    const common = this.isCommon(size);
    this.count(size);
    const j = this.n++ % CAP;
    this.ts[j] = ts;
    this.px[j] = price;
    this.sz[j] = size;
    this.sg[j] = sign;
    if (common || sign === 0 || this.seen < Math.min(200, this.o.commonWindow)) return;
    // Walk back over the window: the run of prints at this price and size whose signs alternate.
    let run = 1;
    let expect = -sign;
    let firstTs = ts;
    const from = Math.max(0, this.n - CAP);
    for (let k = this.n - 2; k >= from; k--) {
      const i = k % CAP;
      if (ts - this.ts[i]! > this.windowNs) break;
      if (this.px[i] !== price || this.sz[i] !== size) continue;
      if (this.sg[i] !== expect) break;
      run++;
      expect = -expect;
      firstTs = this.ts[i]!;
    }
    if (run < this.o.minPrints) return;
    // One alert per run: the same price and size alerted since the run began is the same run.
    if (price === this.lastAlertPx && size === this.lastAlertSz && this.lastAlertTs >= firstTs) {
      this.lastAlertTs = ts;
      return;
    }
    this.lastAlertPx = price;
    this.lastAlertSz = size;
    this.lastAlertTs = ts;
    const signs: number[] = [];
    const offsets: number[] = [];
    for (let k = from; k < this.n; k++) {
      const i = k % CAP;
      if (this.ts[i]! < firstTs || this.px[i] !== price || this.sz[i] !== size) continue;
      signs.push(this.sg[i]!);
      offsets.push(r6((this.ts[i]! - firstTs) / NS_PER_MS));
    }
    const spanMs = (ts - firstTs) / NS_PER_MS;
    this.ctx.emit(ts, 'wash-trade', 'info',
      `${this.ctx.symbol} ${run} prints of ${fmt(size)} at ${price} within ${fmt(spanMs)} ms with the aggressor alternating`,
      {
        price,
        size,
        prints: run,
        span_ms: r6(spanMs),
        signs: signs.slice(-run),
        offsets_ms: offsets.slice(-run),
        notional: r6(price * size * run),
        size_share: r6((this.freq.get(size) ?? 0) / Math.max(1, Math.min(this.seen, this.o.commonWindow))),
      });
  }

  private isCommon(size: number): boolean {
    const n = Math.min(this.seen, this.o.commonWindow);
    return n > 0 && (this.freq.get(size) ?? 0) > this.o.commonShare * n;
  }

  private count(size: number): void {
    const W = this.o.commonWindow;
    if (this.seen >= W) {
      const old = this.recent[this.seen % W]!;
      const c = this.freq.get(old)! - 1;
      if (c === 0) this.freq.delete(old);
      else this.freq.set(old, c);
    }
    this.recent[this.seen % W] = size;
    this.freq.set(size, (this.freq.get(size) ?? 0) + 1);
    this.seen++;
  }
}
