/**
 * Synthetic market segments injected into a real event stream, to measure detectors where the real
 * data has no labelled events: a liquidity crash, a quote-stuffing burst, a spoofing sequence, wash
 * prints, a receipt-delay spike. The injector sits in front of the analytics tap and forwards every
 * real event; when the stream's exchange time reaches a segment's events, it emits them first.
 *
 * Injected depth changes are L2 deltas with absolute sizes computed from the live book (what a real
 * feed would send if that liquidity moved), flagged `seqRule: 'none'` and carrying the last real
 * sequence number, so the book builder applies them without breaking the venue's sequence chain.
 * While a crash is in force, the real stream's own updates to the crashed band are scaled down by
 * the same fraction (the market makers who pulled out re-quote small or not at all); otherwise the
 * next real diff would restore the touch within milliseconds and the crash would never have been.
 * Their local receipt time keeps the stream's current clock offset, so the latency monitor sees
 * nothing unusual unless a latency segment asks for it.
 */
import { ASK, BID, DepthEvent, OrderEvent, OrderType, TradeEvent, type MarketSink, type OrderEvent as OrderEventT, type QuoteEvent } from '../model/events.ts';
import type { BookView } from './engine.ts';
import type { PriceLadder } from '../book/ladder.ts';
import { NS_PER_MS } from '../model/time.ts';


export type Segment =
  | { kind: 'crash'; symbol: string; at: number; bps: number; fraction: number; steps: number; stepMs: number; holdMs: number; sides: 'both' | 'bid' | 'ask' }
  | { kind: 'stuffing'; symbol: string; at: number; durationMs: number; ratePerS: number; level: number; size: number }
  | { kind: 'spoof'; symbol: string; at: number; repeats: number; gapMs: number; lifeMs: number; level: number; size: number; side: 'bid' | 'ask'; l3?: boolean }
  | { kind: 'wash'; symbol: string; at: number; prints: number; gapMs: number; price: number; size: number }
  | { kind: 'latency'; symbol: string; at: number; durationMs: number; extraMs: number };

/** What was injected, for scoring: each segment's first and last event time. */
export interface InjectedSegment {
  segment: Segment;
  start: number;
  end: number;
  events: number;
}

interface Pending {
  ts: number;
  seg: number;
  run: () => void;
}

export class Injector implements MarketSink {
  readonly injected: InjectedSegment[];
  private readonly queue: Pending[] = [];
  private lastSeq = new Map<string, number>();
  private offset = new Map<string, number>();
  private readonly depth = new DepthEvent();
  private readonly trade = new TradeEvent();
  private readonly order = new OrderEvent();
  private nextOrderId = 9e15;
  /** Crashes in force: the band (prices at the start) and the share of size kept so far. */
  private readonly crashes: { symbol: string; lo: number; hi: number; keep: number; until: number }[] = [];

  constructor(private readonly down: MarketSink, private readonly books: BookView, segments: readonly Segment[]) {
    this.injected = segments.map((segment) => ({ segment, start: NaN, end: NaN, events: 0 }));
    segments.forEach((seg, i) => this.plan(seg, i));
    this.queue.sort((a, b) => a.ts - b.ts);
  }

  onDepth(e: DepthEvent): void {
    this.release(e.ts);
    if (e.kind === 'delta' && e.lastSeq === e.lastSeq) this.lastSeq.set(e.symbol, e.lastSeq);
    if (e.kind === 'snapshot' && e.lastSeq === e.lastSeq) this.lastSeq.set(e.symbol, e.lastSeq);
    if (e.tsLocal === e.tsLocal) this.offset.set(e.symbol, e.tsLocal - e.ts);
    const lat = this.latencyShift(e.symbol, e.ts);
    if (lat !== 0) e.tsLocal += lat;
    if (this.crashes.length > 0 && e.kind === 'delta') this.scaleCrashed(e);
    this.down.onDepth(e);
  }

  /** Real level updates inside a crashed band come in at the crash's reduced size. */
  private scaleCrashed(e: DepthEvent): void {
    for (let c = this.crashes.length - 1; c >= 0; c--) {
      const k = this.crashes[c]!;
      if (e.ts > k.until) {
        this.crashes.splice(c, 1);
        continue;
      }
      if (k.symbol !== e.symbol) continue;
      for (let i = 0; i < e.nBids; i++) if (e.bidPx[i]! >= k.lo && e.bidPx[i]! <= k.hi) e.bidSz[i] = e.bidSz[i]! * k.keep;
      for (let i = 0; i < e.nAsks; i++) if (e.askPx[i]! >= k.lo && e.askPx[i]! <= k.hi) e.askSz[i] = e.askSz[i]! * k.keep;
    }
  }

  onTrade(e: TradeEvent): void {
    this.release(e.ts);
    const lat = this.latencyShift(e.symbol, e.ts);
    if (lat !== 0) e.tsLocal += lat;
    this.down.onTrade(e);
  }

  onQuote(e: QuoteEvent): void {
    this.release(e.ts);
    const lat = this.latencyShift(e.symbol, e.ts);
    if (lat !== 0 && e.tsLocal !== e.ts) e.tsLocal += lat;
    this.down.onQuote?.(e);
  }

  onOrder(e: OrderEventT): void {
    this.release(e.ts);
    this.down.onOrder?.(e);
  }

  /** Emits whatever is due at or before ts. */
  private release(ts: number): void {
    while (this.queue.length > 0 && this.queue[0]!.ts <= ts) {
      const p = this.queue.shift()!;
      p.run();
    }
  }

  private mark(seg: number, ts: number): void {
    const r = this.injected[seg]!;
    if (!(r.start <= ts)) r.start = ts;
    if (!(r.end >= ts)) r.end = ts;
    r.events++;
  }

  private latencyShift(symbol: string, ts: number): number {
    let add = 0;
    for (const r of this.injected) {
      const s = r.segment;
      if (s.kind !== 'latency' || s.symbol !== symbol) continue;
      if (ts >= s.at && ts < s.at + s.durationMs * NS_PER_MS) {
        add += s.extraMs * NS_PER_MS;
        if (!(r.start <= ts)) r.start = ts;
        r.end = ts;
        r.events++;
      }
    }
    return add;
  }

  private plan(seg: Segment, i: number): void {
    const q = this.queue;
    switch (seg.kind) {
      case 'crash': {
        // Step k leaves (1 - fraction (k+1)/steps) of each level in the band, from the live book.
        let levels: { side: number; px: number }[] = [];
        const until = seg.at + seg.holdMs * NS_PER_MS;
        const state = { symbol: seg.symbol, lo: NaN, hi: NaN, keep: 1, until };
        for (let k = 0; k < seg.steps; k++) {
          const ts = seg.at + k * seg.stepMs * NS_PER_MS;
          q.push({ ts, seg: i, run: () => {
            if (k === 0) {
              const band = this.band(seg.symbol, seg.bps);
              levels = this.bandLevels(seg.symbol, band, seg.sides);
              if (seg.sides !== 'ask') state.lo = band.lo;
              else state.lo = band.mid;
              state.hi = seg.sides !== 'bid' ? band.hi : band.mid;
              this.crashes.push(state);
            }
            const before = state.keep;
            state.keep = 1 - (seg.fraction * (k + 1)) / seg.steps;
            this.emitScaled(seg.symbol, ts, i, levels, state.keep / before);
          } });
        }
        q.push({ ts: until, seg: i, run: () => {
          this.emitScaled(seg.symbol, until, i, levels, 1 / state.keep);
          state.until = -Infinity;
        } });
        return;
      }
      case 'stuffing': {
        const n = Math.round((seg.ratePerS * seg.durationMs) / 1000);
        const gap = 1e9 / seg.ratePerS;
        let px = NaN;
        for (let k = 0; k < n; k++) {
          const ts = seg.at + Math.round(k * gap);
          q.push({ ts, seg: i, run: () => {
            if (k === 0) px = this.levelPrice(seg.symbol, BID, seg.level);
            if (px !== px) return;
            // Even steps add the size, odd steps take it back out.
            this.emitLevels(seg.symbol, ts, i, [{ side: BID, px, delta: k % 2 === 0 ? seg.size : -seg.size }]);
          } });
        }
        return;
      }
      case 'spoof': {
        const side = seg.side === 'bid' ? BID : ASK;
        for (let k = 0; k < seg.repeats; k++) {
          const t0 = seg.at + k * seg.gapMs * NS_PER_MS;
          const t1 = t0 + seg.lifeMs * NS_PER_MS;
          let px = NaN;
          const id = this.nextOrderId++;
          q.push({ ts: t0, seg: i, run: () => {
            px = this.levelPrice(seg.symbol, side, seg.level);
            if (px !== px) return;
            if (seg.l3) this.emitOrder(seg.symbol, t0, i, OrderType.Add, id, side, px, seg.size);
            else this.emitLevels(seg.symbol, t0, i, [{ side, px, delta: seg.size }]);
          } });
          q.push({ ts: t1, seg: i, run: () => {
            if (px !== px) return;
            if (seg.l3) this.emitOrder(seg.symbol, t1, i, OrderType.Delete, id, side, px, seg.size);
            else this.emitLevels(seg.symbol, t1, i, [{ side, px, delta: -seg.size }]);
          } });
        }
        return;
      }
      case 'wash': {
        for (let k = 0; k < seg.prints; k++) {
          const ts = seg.at + k * seg.gapMs * NS_PER_MS;
          q.push({ ts, seg: i, run: () => this.emitTrade(seg.symbol, ts, i, seg.price, seg.size, k % 2 === 0 ? 1 : -1) });
        }
        return;
      }
      case 'latency':
        return;
    }
  }

  private band(symbol: string, bps: number): { lo: number; hi: number; mid: number } {
    const b = this.books.book(symbol);
    const mid = b ? (b.bestBid() + b.bestAsk()) / 2 : NaN;
    return { lo: mid * (1 - bps / 1e4), hi: mid * (1 + bps / 1e4), mid };
  }

  /** Levels of the book inside the band on the chosen sides. */
  private bandLevels(symbol: string, band: { lo: number; hi: number }, sides: 'both' | 'bid' | 'ask'): { side: number; px: number }[] {
    const b = this.books.book(symbol);
    if (!b) return [];
    const out: { side: number; px: number }[] = [];
    const scan = (l: PriceLadder, side: number): void => {
      const px = new Float64Array(l.n);
      const sz = new Float64Array(l.n);
      l.top(l.n, px, sz);
      for (let i = 0; i < l.n; i++) {
        if (px[i]! < band.lo || px[i]! > band.hi) break;
        out.push({ side, px: px[i]! });
      }
    };
    if (sides !== 'ask') scan(b.bids, BID);
    if (sides !== 'bid') scan(b.asks, ASK);
    return out;
  }

  /** One depth delta multiplying the live size of each level by `factor`. */
  private emitScaled(symbol: string, ts: number, seg: number, levels: { side: number; px: number }[], factor: number): void {
    const b = this.books.book(symbol);
    if (!b) return;
    this.emitLevels(symbol, ts, seg, levels.map((l) => {
      const now = (l.side === BID ? b.bids : b.asks).sizeAt(l.px);
      return { side: l.side, px: l.px, delta: now * factor - now };
    }), false);
  }

  private levelPrice(symbol: string, side: number, level: number): number {
    const b = this.books.book(symbol);
    return b ? (side === BID ? b.bids : b.asks).priceAt(level) : NaN;
  }

  /** One depth delta setting each level to its live size plus delta (>= 0). */
  private emitLevels(symbol: string, ts: number, seg: number, changes: { side: number; px: number; delta: number }[], clampToBook = true): void {
    const b = this.books.book(symbol);
    if (!b || changes.length === 0) return;
    const e = this.depth;
    e.reset();
    e.symbol = symbol;
    e.kind = 'delta';
    e.sizes = 'absolute';
    e.makesRow = true;
    e.depthLimit = Infinity;
    e.seqRule = 'none';
    const seq = this.lastSeq.get(symbol) ?? NaN;
    e.firstSeq = e.lastSeq = e.prevSeq = seq;
    e.ts = ts;
    e.tsLocal = ts + (this.offset.get(symbol) ?? NaN);
    e.line = 0;
    for (const c of changes) {
      const l = c.side === BID ? b.bids : b.asks;
      const now = l.sizeAt(c.px);
      const size = Math.max(0, now + c.delta);
      if (clampToBook && now === 0 && c.delta < 0) continue;
      if (c.side === BID) e.pushBid(c.px, size);
      else e.pushAsk(c.px, size);
    }
    this.mark(seg, ts);
    this.down.onDepth(e);
  }

  private emitTrade(symbol: string, ts: number, seg: number, price: number, size: number, sign: 1 | -1): void {
    const t = this.trade;
    t.symbol = symbol;
    t.ts = ts;
    t.tsLocal = ts + (this.offset.get(symbol) ?? NaN);
    t.price = price;
    t.size = size;
    t.sign = sign;
    t.id = NaN;
    t.hidden = false;
    t.line = 0;
    this.mark(seg, ts);
    this.down.onTrade(t);
  }

  private emitOrder(symbol: string, ts: number, seg: number, type: OrderType, id: number, side: number, price: number, size: number): void {
    const o = this.order;
    o.symbol = symbol;
    o.ts = ts;
    o.type = type;
    o.orderId = id;
    o.side = side as typeof BID;
    o.price = price;
    o.size = size;
    o.line = 0;
    this.mark(seg, ts);
    this.down.onOrder?.(o);
  }
}
