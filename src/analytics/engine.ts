/**
 * The analytics engine: toxicity, impact and spread measures, market-abuse and market-stress
 * detectors, and the feed latency monitor, for any number of symbols, streaming. Pure computation:
 * events in, alerts and measure snapshots out through callbacks.
 *
 * It is both a MarketSink (the source's events: order-level messages, level changes, prints,
 * quotes) and a RowSink (the BookBuilder's rows: the synced book and the trades assigned to it, for
 * the FEATURES.md measures). Wire it with `analyticsTap` (tap.ts): every event reaches the engine
 * before the builder, so the builder's book, read through `books`, is the book *before* the event
 * (what a level held before a change, what was displayed when a print happened), and after it by
 * the time the row arrives.
 *
 * Reused, not redefined: FEATURES.md `vpin` is the feature engine's VpinState and the bar measures
 * its BarImpactState, fed the same rows in the same order, so the values equal the feature columns
 * (with settle time 0: a live feed does not wait for late trades).
 *
 * The detectors are the registry's (detectors/registry.ts), each behind the one Detector interface
 * (detectors/detector.ts): per event the engine writes a symbol's register once and calls the
 * hooks its detectors have; alerts come back through the symbol's context (SymbolState.emit).
 */
import { VpinState } from '../features/vpin.ts';
import { BarImpactState } from '../features/bars.ts';
import { feedSpecStates } from '../features/engine.ts';
import { ASK, BID, OrderType, type DepthEvent, type MarketSink, type OrderEvent, type QuoteEvent, type TradeEvent } from '../model/events.ts';
import type { BookRow, RowSink } from '../model/row.ts';
import type { L2Book } from '../book/l2-book.ts';
import type { PriceLadder } from '../book/ladder.ts';
import type { TimeBaseRef } from '../model/time.ts';
import { logger } from '../core/log.ts';
import { AlertCounts, type Alert, type AlertKind, type AlertSink, type Evidence, type Severity } from './alerts.ts';
import { analyticsOptions, type AnalyticsOptions, type DeepPartial } from './options.ts';
import { RollingQuantiles, SlidingWindowQuantile } from './stats.ts';
import { BvcVpinState } from './measures/bvc.ts';
import { RollSpread } from './measures/roll.ts';
import { ADVERSE, EFFECTIVE, REALISED, SpreadDecomposition } from './measures/spreads.ts';
import { M, MEASURE_COLUMNS, type MeasuresSink } from './measures/columns.ts';
import { DepthScratch, depthBoth, depthTopOnly, rowDepthTop, rowDepthWithin } from './measures/depth.ts';
import { DETECTORS, type DetectorFactory } from './detectors/registry.ts';
import type { Detector } from './detectors/detector.ts';
import {
  R_ASK, R_BEST, R_BID, R_CUM, R_DISP, R_FILLS, R_KEY, R_LAST, R_LEVEL, R_MID, R_NEAR_ASK, R_NEAR_BID, R_PX, R_SIDE, R_SIGN, R_SLOTS, R_SZ,
  R_THR, R_TOP_ASK, R_TOP_BID, R_TS, r6, type DetectorContext,
} from './detectors/context.ts';
import { LatencyMonitor, type LatencyStats, type SymbolStreams } from './latency.ts';
import type { MetricSample } from './metrics.ts';
import { fmt } from './alerts.ts';
import { NS_PER_MS } from '../model/time.ts';

const log = logger('analytics');

/**
 * Where the FEATURES.md VPIN and bar measures live when a FeatureEngine runs beside the analytics on
 * the same rows (it satisfies this): the analytics read its state machines instead of running a
 * second copy. Rows must reach the analytics first (teeRows(analytics, features)), so that a
 * snapshot taken when a row crosses a boundary is the state before that row, as with its own copy.
 */
export interface SpecMeasureSource {
  specStates(symbol: string): { vpin: VpinState; bars: BarImpactState } | undefined;
}

/** Read access to the books a BookBuilder keeps (it satisfies this as is). */
export interface BookView {
  book(symbol: string): L2Book | undefined;
  /** 'synced' when the book can be trusted; absent: always trusted. */
  status?(symbol: string): string | undefined;
}

export type DetectionHook = (symbol: string, kind: 'print' | 'refill', ts: number, side: number, price: number) => void;

export interface AnalyticsOutputs {
  onAlert?: AlertSink;
  onMeasures?: MeasuresSink;
}

class SymbolState implements DetectorContext {
  readonly reg = new Float64Array(R_SLOTS);
  /** Its feed-latency streams (looked up once, not per event). */
  latency!: SymbolStreams;
  rows = 0;
  l3 = false;
  lastTs = -Infinity;
  lastRowTs = NaN;
  bestBid = NaN;
  bestAsk = NaN;
  mid = NaN;
  /** The venue's own best bid/offer (bookTicker), used when it arrived after the last depth event. */
  /** The builder's book for this symbol, once it exists, and whether it is trusted now (see trusted()). */
  book: L2Book | undefined;
  trust = false;
  depthArrival = 0;
  qArrival = 0;
  qBidPx = NaN;
  qBidSz = 0;
  qAskPx = NaN;
  qAskSz = 0;
  /** VPIN and bar states: the analytics' own, or (shared) the feature engine's once it has the symbol. */
  vpin: VpinState | undefined;
  readonly bvc: BvcVpinState | undefined;
  bars: BarImpactState | undefined;
  readonly ownSpec: boolean;
  /** A VPIN bucket volume was given for the symbol: without one there is no VPIN, shared or not. */
  readonly hasVpin: boolean;
  readonly roll: RollSpread;
  readonly spreads: SpreadDecomposition;
  readonly vpinHistory: SlidingWindowQuantile;
  vpinSeen = 0;
  toxicArmed = true;
  // The aggressive order being aggregated (fills at one time and side).
  pTs = NaN;
  pSign = 0;
  pSize = 0;
  pValue = 0;
  pFills = 0;
  pLast = NaN;
  pMid = NaN;
  // Prints since the book last changed (L2 execution attribution, cumulative size at a price).
  pendN = 0;
  pendSide = new Uint8Array(16);
  pendPx = new Float64Array(16);
  pendSz = new Float64Array(16);
  /** Add sizes, for spoofing's "large". */
  readonly addSizes: RollingQuantiles;
  /** The registry's detectors, and per hook those that have it (in registry order). */
  readonly detectors: Detector[] = [];
  readonly onAdd: Detector[] = [];
  readonly onCancel: Detector[] = [];
  readonly onExec: Detector[] = [];
  readonly onPrint: Detector[] = [];
  readonly onParentTrade: Detector[] = [];
  readonly onBook: Detector[] = [];
  readonly withMeasures: Detector[] = [];
  readonly scratch = [new DepthScratch(), new DepthScratch()];
  /** Depth near the mid: the band [nearLo, nearHi] around the reference mid of the last full count. */
  nearFresh = false;
  nearRef = NaN;
  nearLo = Infinity;
  nearHi = -Infinity;
  nearRows = 0;
  /** The delta that made the coming row went through levelChange. */
  deltaSeen = false;
  readonly depthNear = new Float64Array([NaN, NaN]);
  readonly depthTop = new Float64Array([NaN, NaN]);
  // Measure interval.
  nextEmit = NaN;
  trades = 0;
  volume = 0;
  alerts = 0;

  constructor(readonly id: number, readonly symbol: string, o: AnalyticsOptions, private readonly engine: AnalyticsEngine, timeBase: TimeBaseRef, shared: boolean) {
    const m = o.measures;
    const V = m.vpinBucket[symbol] ?? m.vpinBucket['*'];
    const tb = timeBase.get();
    this.ownSpec = !shared;
    this.hasVpin = V !== undefined;
    if (V !== undefined) {
      if (!shared) this.vpin = new VpinState(V, m.vpinBuckets);
      this.bvc = new BvcVpinState(tb, m.bvcBarMs, V, m.vpinBuckets, m.bvcSigmaBars);
    } else {
      log.info('no VPIN bucket volume for this symbol: BVC VPIN (and VPIN, when not shared) and toxic-flow alerts are off', { symbol });
    }
    if (!shared) this.bars = new BarImpactState(tb, m.barMs, m.barWindow, 0);
    this.roll = new RollSpread(m.rollTrades);
    this.spreads = new SpreadDecomposition(m.horizonMs, m.spreadWindowMs);
    this.vpinHistory = new SlidingWindowQuantile(2000);
    this.addSizes = new RollingQuantiles(o.whale.window, [o.spoofing.largeQuantile], o.whale.refreshEvery);
    for (const make of Object.values(engine.registry)) {
      const d = make(o, this);
      this.detectors.push(d);
      if (d.onAdd) this.onAdd.push(d);
      if (d.onCancel) this.onCancel.push(d);
      if (d.onExec) this.onExec.push(d);
      if (d.onPrint) this.onPrint.push(d);
      if (d.onParentTrade) this.onParentTrade.push(d);
      if (d.onBook) this.onBook.push(d);
      if (d.measures) this.withMeasures.push(d);
    }
  }

  detected(kind: 'print' | 'refill', ts: number, side: number, price: number): void {
    this.engine.detectionHook?.(this.symbol, kind, ts, side, price);
  }

  emit(ts: number, kind: AlertKind, severity: Severity, message: string, evidence: Evidence): void {
    this.alerts++;
    this.engine.raise({ symbol: this.symbol, ts, kind, severity, message, evidence });
  }

  /** Cumulative print size at (side, price) since the book last changed, this print included. */
  pendingAdd(side: number, px: number, sz: number): number {
    let cum = sz;
    for (let i = 0; i < this.pendN; i++) if (this.pendSide[i] === side && this.pendPx[i] === px) cum += this.pendSz[i]!;
    if (this.pendN === this.pendPx.length) {
      const c = this.pendN * 2;
      const s = new Uint8Array(c); s.set(this.pendSide); this.pendSide = s;
      const p = new Float64Array(c); p.set(this.pendPx); this.pendPx = p;
      const z = new Float64Array(c); z.set(this.pendSz); this.pendSz = z;
    }
    this.pendSide[this.pendN] = side;
    this.pendPx[this.pendN] = px;
    this.pendSz[this.pendN++] = sz;
    return cum;
  }

  /** Takes up to `want` of the pending prints at (side, price): the part of a level's decrease that traded. */
  pendingTake(side: number, px: number, want: number): number {
    let got = 0;
    for (let i = 0; i < this.pendN && got < want; i++) {
      if (this.pendSide[i] !== side || this.pendPx[i] !== px) continue;
      const t = Math.min(this.pendSz[i]!, want - got);
      this.pendSz[i] -= t;
      got += t;
    }
    return got;
  }
}

export interface AnalyticsStats {
  symbols: string[];
  rows: number;
  orders: number;
  trades: number;
  depthEvents: number;
  quotes: number;
  alerts: number;
  alertsByKind: Partial<Record<AlertKind, number>>;
}

export class AnalyticsEngine implements MarketSink, RowSink {
  readonly options: AnalyticsOptions;
  private readonly byName = new Map<string, SymbolState>();
  private readonly bySymbolId: SymbolState[] = [];
  readonly latency: LatencyMonitor;
  readonly alertCounts = new AlertCounts();
  private readonly values = new Float64Array(MEASURE_COLUMNS.length);
  private readonly everyNs: number;
  private readonly counts = { rows: 0, orders: 0, trades: 0, depthEvents: 0, quotes: 0 };
  /** Read by each symbol's detectors' context (SymbolState.detected). */
  detectionHook: DetectionHook | undefined;
  private lastSymbol = '';
  private lastState: SymbolState | undefined;
  /** Arrival counter: which of a symbol's depth and quote streams spoke last. */
  private arrivals = 0;

  constructor(
    options: AnalyticsOptions | DeepPartial<AnalyticsOptions>,
    private readonly timeBase: TimeBaseRef,
    private readonly out: AnalyticsOutputs = {},
    private readonly books?: BookView,
    private readonly spec?: SpecMeasureSource,
    /** The detectors each symbol gets (tests add their own). */
    readonly registry: Readonly<Record<string, DetectorFactory>> = DETECTORS,
  ) {
    this.options = analyticsOptions(options as DeepPartial<AnalyticsOptions>);
    this.everyNs = this.options.measures.everyMs * NS_PER_MS;
    this.latency = new LatencyMonitor(this.options.latency, (symbol, ts, kind, severity, message, evidence) => {
      const s = this.byName.get(symbol);
      if (s) s.alerts++;
      this.raise({ symbol, ts, kind, severity, message, evidence });
    });
  }

  /** Every alert passes here (detectors and the latency monitor). */
  raise(a: Alert): void {
    this.alertCounts.add(a);
    this.out.onAlert?.(a);
  }

  symbols(): string[] {
    return [...this.byName.keys()];
  }

  stats(): AnalyticsStats {
    return { symbols: this.symbols(), ...this.counts, alerts: this.alertCounts.total, alertsByKind: this.alertCounts.byKind() };
  }

  /**
   * Detector internals per symbol (validation, metrics), each detector's counters() together: spoofEvents,
   * hiddenPrints, refills, stalePrints, updateBaseline (the stuffing baseline, updates/s).
   */
  detectorState(symbol: string): Record<string, number> | undefined {
    const s = this.byName.get(symbol);
    if (!s) return undefined;
    const out: Record<string, number> = {};
    for (const d of s.detectors) if (d.counters) Object.assign(out, d.counters());
    return out;
  }

  /**
   * Calls `fn` for every hidden-liquidity detection (a print beyond the display) and every refill,
   * of every symbol, alerted or not (validation scores detections, not just episode alerts).
   */
  onDetection(fn: DetectionHook): void {
    this.detectionHook = fn;
  }

  private state(symbol: string): SymbolState {
    // Consecutive events are nearly always of one symbol.
    if (symbol === this.lastSymbol) return this.lastState!;
    let s = this.byName.get(symbol);
    if (!s) {
      s = new SymbolState(this.byName.size, symbol, this.options, this, this.timeBase, this.spec !== undefined);
      s.latency = this.latency.streamsOf(symbol);
      this.byName.set(symbol, s);
    }
    this.lastSymbol = symbol;
    this.lastState = s;
    return s;
  }

  /** The symbol's book if it can be trusted now (its object is stable per symbol, its status is not). */
  /**
   * The symbol's book while it can be trusted. A row from the builder says the book is synced; a
   * depth event may change that (a gap, a snapshot), so each one withdraws the trust until the row
   * it makes confirms it. A BookView without a status is always trusted.
   */
  private trusted(s: SymbolState): L2Book | undefined {
    if (s.trust) return s.book;
    if (!this.books || this.books.status) return undefined;
    return s.book ?? (s.book = this.books.book(s.symbol));
  }

  // ---- MarketSink ----

  onOrder(e: OrderEvent): void {
    this.counts.orders++;
    const s = this.state(e.symbol);
    s.l3 = true;
    const ts = e.ts;
    if (ts > s.lastTs) this.clock(s, ts);
    const book = this.trusted(s);
    const side = e.side;
    const ladder = book ? (side === BID ? book.bids : book.asks) : undefined;
    const r = s.reg;
    r[R_TS] = ts;
    r[R_KEY] = e.orderId;
    r[R_SIDE] = side;
    r[R_PX] = e.price;
    r[R_SZ] = e.size;
    switch (e.type) {
      case OrderType.Add:
        this.levelAdd(s, ladder ? ladder.sizeAt(e.price) : 0, ladder ? ladder.bestPrice() : NaN, ladder !== undefined);
        return;
      case OrderType.Cancel:
        this.levelCancel(s, false);
        return;
      case OrderType.Delete:
        this.levelCancel(s, true);
        return;
      case OrderType.Execute:
        r[R_LEVEL] = ladder ? ladder.sizeAt(e.price) : NaN;
        this.levelExec(s);
        return;
      case OrderType.Halt:
        this.halt(s, e);
        return;
      default:
        // Hidden executions reach the analytics as prints (onTrade), like any tape print.
        return;
    }
  }

  onDepth(e: DepthEvent): void {
    this.counts.depthEvents++;
    const s = this.state(e.symbol);
    if (e.kind === 'snapshot') {
      s.pendN = 0;
      s.nearFresh = false;
      s.trust = false;
      return;
    }
    this.latency.sample(s.latency, e.symbol, 0, e.ts, e.tsLocal);
    if (e.ts > s.lastTs) this.clock(s, e.ts);
    s.depthArrival = ++this.arrivals;
    if (!s.l3) {
      const book = this.trusted(s);
      if (book) {
        const rel = e.sizes === 'relative';
        const r = s.reg;
        r[R_TS] = e.ts;
        // The touch before the message: a level set through the opposite touch makes the builder
        // remove crossed levels the message does not name (see levelChange).
        r[R_BID] = book.bestBid();
        r[R_ASK] = book.bestAsk();
        r[R_SIDE] = BID;
        for (let i = 0; i < e.nBids; i++) this.levelChange(s, book.bids, e.bidPx, e.bidSz, i, rel);
        r[R_SIDE] = ASK;
        for (let i = 0; i < e.nAsks; i++) this.levelChange(s, book.asks, e.askPx, e.askSz, i, rel);
        s.deltaSeen = true;
      } else {
        s.nearFresh = false;
      }
    }
    s.pendN = 0;
    s.trust = false;
  }

  onTrade(e: TradeEvent): void {
    this.counts.trades++;
    const s = this.state(e.symbol);
    this.latency.sample(s.latency, e.symbol, 1, e.ts, e.tsLocal);
    const ts = e.ts;
    const px = e.price;
    const sz = e.size;
    const sign = e.sign;
    // The aggressive order: fills at one time and side are one order.
    if (s.pFills > 0 && (ts !== s.pTs || sign !== s.pSign)) this.flushParent(s);
    if (ts > s.lastTs) s.lastTs = ts;
    const r = s.reg;
    r[R_TS] = ts;
    r[R_PX] = px;
    r[R_SZ] = sz;
    r[R_SIGN] = sign;
    r[R_DISP] = NaN;
    if (sign !== 0) {
      const side = sign > 0 ? ASK : BID;
      const book = this.trusted(s);
      if (book) {
        let displayed = (side === BID ? book.bids : book.asks).sizeAt(px);
        let bb = book.bestBid();
        let ba = book.bestAsk();
        if (s.qArrival > s.depthArrival) {
          // The venue's BBO stream is newer than its depth stream: it shows the touch as it is now.
          if (side === BID && px === s.qBidPx && s.qBidSz > displayed) displayed = s.qBidSz;
          if (side === ASK && px === s.qAskPx && s.qAskSz > displayed) displayed = s.qAskSz;
          bb = s.qBidPx;
          ba = s.qAskPx;
        }
        r[R_SIDE] = side;
        r[R_CUM] = s.pendingAdd(side, px, sz);
        r[R_DISP] = displayed;
        r[R_BID] = bb;
        r[R_ASK] = ba;
      }
    }
    s.spreads.onTrade(r);
    s.bvc?.addTrade(ts, px, sz);
    const hooks = s.onPrint;
    for (let i = 0; i < hooks.length; i++) hooks[i]!.onPrint!();
    if (s.pFills === 0) {
      s.pTs = ts;
      s.pSign = sign;
      s.pMid = s.mid;
    }
    s.pFills++;
    s.pSize += sz;
    s.pValue += px * sz;
    s.pLast = px;
    s.trades++;
    s.volume += sz;
  }

  onQuote(e: QuoteEvent): void {
    this.counts.quotes++;
    const s = this.state(e.symbol);
    this.latency.sample(s.latency, e.symbol, 2, e.ts, e.tsLocal);
    if (e.ts > s.lastTs) this.clock(s, e.ts);
    if (e.bidPx < e.askPx) {
      s.qArrival = ++this.arrivals;
      s.qBidPx = e.bidPx;
      s.qBidSz = e.bidSz;
      s.qAskPx = e.askPx;
      s.qAskSz = e.askSz;
      s.mid = (e.bidPx + e.askPx) / 2;
      s.spreads.setMid(e.ts, s.mid);
    }
  }

  // ---- RowSink ----

  onRow(row: BookRow): void {
    this.counts.rows++;
    let s = this.bySymbolId[row.symbolId];
    if (!s || s.symbol !== row.symbol) {
      s = this.state(row.symbol);
      this.bySymbolId[row.symbolId] = s;
    }
    const ts = row.ts;
    // Buckets the previous row completed (its alert carries that row's time).
    if (s.vpin && s.vpin.completed !== s.vpinSeen) this.toxicity(s, s.lastRowTs, s.vpin);
    if (ts >= s.nextEmit || s.nextEmit !== s.nextEmit) this.maybeEmit(s, ts);
    if (ts > s.lastTs) this.clock(s, ts);
    const b1 = row.bidPx[0]!;
    const a1 = row.askPx[0]!;
    const mid = (a1 + b1) / 2;

    // FEATURES.md measures: the feature engine's own state machines when it runs beside us (it has
    // seen this row already), else ours, fed exactly as it feeds them.
    if (s.ownSpec) {
      feedSpecStates(s.vpin, s.bars!, row, s.rows === 0, mid);
    } else if (s.bars === undefined) {
      // The feature engine has the symbol from its first row on (which it sees after us).
      const st = this.spec!.specStates(row.symbol);
      if (st) {
        s.bars = st.bars;
        if (s.hasVpin) s.vpin = st.vpin;
      }
    }
    s.rows++;
    s.lastRowTs = ts;

    s.bestBid = b1;
    s.bestAsk = a1;
    if (mid === mid) {
      s.mid = mid;
      s.spreads.setMid(ts, mid);
    }
    s.bvc?.advance(ts);

    // Depth near the mid and at the top, from the full book when there is one.
    const L = this.options.liquidity.levels;
    const bps = this.options.liquidity.bps;
    const book = s.book ?? (s.book = this.books?.book(row.symbol));
    s.trust = book !== undefined;
    // A book no deeper than the row (a 10-level LOBSTER file) is all in the row: no ladder walk.
    if (book && (book.bids.n > row.levels || book.asks.n > row.levels)) {
      // On an L2 delta feed the depth near the mid is kept up to date from the level changes (the
      // band fixed at a reference mid); it is recounted from the book when the mid has moved by more
      // than 1% of the band, after a snapshot or an untrusted stretch, and every 256 rows.
      const tol = mid * bps * 1e-6;
      // A row whose delta we did not see (the builder replaying buffered diffs after a snapshot) recounts.
      if (s.nearFresh && s.deltaSeen && !s.l3 && Math.abs(mid - s.nearRef) <= tol && ++s.nearRows < 256) {
        depthTopOnly(book.bids, L, s.scratch[0]!, s.depthTop, 0);
        depthTopOnly(book.asks, L, s.scratch[1]!, s.depthTop, 1);
      } else {
        depthBoth(book.bids, mid, bps, L, s.scratch[0]!, s.depthNear, s.depthTop, 0);
        depthBoth(book.asks, mid, bps, L, s.scratch[1]!, s.depthNear, s.depthTop, 1);
        s.nearFresh = mid === mid;
        s.nearRef = mid;
        s.nearLo = mid * (1 - bps / 1e4);
        s.nearHi = mid * (1 + bps / 1e4);
        s.nearRows = 0;
      }
      s.deltaSeen = false;
    } else {
      s.nearFresh = false;
      const n = row.usableLevels;
      s.depthNear[0] = rowDepthWithin(row.bidPx, row.bidSz, n, mid, bps);
      s.depthNear[1] = rowDepthWithin(row.askPx, row.askSz, n, mid, bps);
      s.depthTop[0] = rowDepthTop(row.bidSz, Math.min(n, L));
      s.depthTop[1] = rowDepthTop(row.askSz, Math.min(n, L));
    }
    if (mid === mid) {
      const r = s.reg;
      r[R_TS] = ts;
      r[R_NEAR_BID] = s.depthNear[0]!;
      r[R_NEAR_ASK] = s.depthNear[1]!;
      r[R_TOP_BID] = s.depthTop[0]!;
      r[R_TOP_ASK] = s.depthTop[1]!;
      r[R_BID] = b1;
      r[R_ASK] = a1;
      const hooks = s.onBook;
      for (let i = 0; i < hooks.length; i++) hooks[i]!.onBook!();
    }
  }

  /** End of input: the last aggressive order is judged, and a last snapshot is emitted per symbol. */
  finish(): void {
    for (const s of this.byName.values()) {
      if (s.pFills > 0) this.flushParent(s);
      if (s.vpin && s.vpin.completed !== s.vpinSeen) this.toxicity(s, s.lastRowTs, s.vpin);
      if (this.everyNs > 0 && this.out.onMeasures && Number.isFinite(s.lastTs)) {
        this.fillMeasures(s, this.values);
        this.out.onMeasures(s.symbol, s.lastTs, this.values);
      }
    }
  }

  /** The VPIN and bar state machines the measures of a symbol read (its own, or a SpecMeasureSource's). */
  measureStates(symbol: string): { vpin: VpinState | undefined; bars: BarImpactState | undefined } | undefined {
    const s = this.byName.get(symbol);
    return s && { vpin: s.vpin, bars: s.bars };
  }

  /** The current measures of a symbol (a fresh array), or undefined if it was never seen. */
  measures(symbol: string): Float64Array | undefined {
    const s = this.byName.get(symbol);
    if (!s) return undefined;
    const v = new Float64Array(MEASURE_COLUMNS.length);
    this.fillMeasures(s, v);
    return v;
  }

  /**
   * The book depth the liquidity monitor last saw for a symbol: size within liquidity.bps of the
   * reference mid (the mid of the last full count, within 1% of the band of the current one) and
   * in the top liquidity.levels levels, per side.
   */
  bookDepth(symbol: string): { referenceMid: number; near: [number, number]; top: [number, number] } | undefined {
    const s = this.byName.get(symbol);
    return s && { referenceMid: s.nearRef, near: [s.depthNear[0]!, s.depthNear[1]!], top: [s.depthTop[0]!, s.depthTop[1]!] };
  }

  latencyStats(): LatencyStats[] {
    return this.latency.stats();
  }

  /** Gauges and counters for /metrics (render with renderPrometheus). */
  metrics(): MetricSample[] {
    const out: MetricSample[] = [];
    const v = new Float64Array(MEASURE_COLUMNS.length);
    const gauges: [string, number, string][] = [
      ['flowcast_analytics_vpin', M.vpin, 'VPIN (FEATURES.md), last n completed volume buckets'],
      ['flowcast_analytics_vpin_bvc', M.vpin_bvc, 'VPIN with bulk volume classification on time bars'],
      ['flowcast_analytics_kyle_lambda', M.kyle_lambda, "Kyle's lambda over the last W bars"],
      ['flowcast_analytics_hasbrouck_lambda', M.hasbrouck_lambda, "Hasbrouck's lambda over the last W bars"],
      ['flowcast_analytics_amihud', M.amihud, "Amihud's illiquidity over the last W bars"],
      ['flowcast_analytics_roll_spread_bps', M.roll_spread_bps, "Roll's spread, bps of mid"],
      ['flowcast_analytics_effective_spread_bps', M.effective_spread_bps, 'size-weighted effective spread, bps'],
      ['flowcast_analytics_realized_spread_bps', M.realized_spread_bps, 'size-weighted realised spread at horizon h, bps'],
      ['flowcast_analytics_adverse_selection_bps', M.adverse_selection_bps, 'size-weighted adverse selection at horizon h, bps'],
      ['flowcast_analytics_update_rate', M.update_rate, 'book updates per second over the stuffing window'],
    ];
    for (const s of this.byName.values()) {
      this.fillMeasures(s, v);
      for (const [name, col, help] of gauges) out.push({ name, help, type: 'gauge', labels: { symbol: s.symbol }, value: v[col]! });
      for (const [side, cn, ct] of [['bid', M.depth_bid_near, M.depth_bid_top], ['ask', M.depth_ask_near, M.depth_ask_top]] as const) {
        out.push({ name: 'flowcast_analytics_depth_near', help: `size within liquidity.bps of mid`, type: 'gauge', labels: { symbol: s.symbol, side }, value: v[cn]! });
        out.push({ name: 'flowcast_analytics_depth_top', help: `size in the top liquidity.levels levels`, type: 'gauge', labels: { symbol: s.symbol, side }, value: v[ct]! });
      }
    }
    for (const r of this.alertCounts.rows()) {
      out.push({ name: 'flowcast_analytics_alerts_total', help: 'alerts raised', type: 'counter', labels: { symbol: r.symbol, kind: r.kind, severity: r.severity }, value: r.count });
    }
    for (const l of this.latency.stats()) {
      const labels = { symbol: l.symbol, stream: l.stream };
      out.push({ name: 'flowcast_latency_offset_ms', help: 'median of local receipt time - exchange time over the window (ms); negative: local clock behind', type: 'gauge', labels, value: l.offsetMs });
      out.push({ name: 'flowcast_latency_floor_ms', help: '1st percentile of local - exchange time (ms)', type: 'gauge', labels, value: l.floorMs });
      out.push({ name: 'flowcast_latency_jitter_ms', help: 'p99 - p50 of local - exchange time over the window (ms)', type: 'gauge', labels, value: l.jitterMs });
      out.push({ name: 'flowcast_latency_mad_ms', help: 'median absolute deviation of local - exchange time (ms)', type: 'gauge', labels, value: l.madMs });
      out.push({ name: 'flowcast_latency_samples_total', help: 'receipts with both clocks', type: 'counter', labels, value: l.samples });
      out.push({ name: 'flowcast_latency_alerts_total', help: 'latency-jitter and latency-offset-shift alerts', type: 'counter', labels, value: l.alerts });
    }
    out.push({ name: 'flowcast_analytics_events_total', help: 'events the analytics consumed', type: 'counter', labels: { kind: 'order' }, value: this.counts.orders });
    out.push({ name: 'flowcast_analytics_events_total', help: 'events the analytics consumed', type: 'counter', labels: { kind: 'trade' }, value: this.counts.trades });
    out.push({ name: 'flowcast_analytics_events_total', help: 'events the analytics consumed', type: 'counter', labels: { kind: 'depth' }, value: this.counts.depthEvents });
    out.push({ name: 'flowcast_analytics_events_total', help: 'events the analytics consumed', type: 'counter', labels: { kind: 'quote' }, value: this.counts.quotes });
    out.push({ name: 'flowcast_analytics_events_total', help: 'events the analytics consumed', type: 'counter', labels: { kind: 'row' }, value: this.counts.rows });
    return out;
  }

  // ---- internals ----

  /** Time moves on for a symbol: a finished aggressive order is judged, the stuffing window slides. */
  private clock(s: SymbolState, ts: number): void {
    if (s.pFills > 0 && ts > s.pTs) this.flushParent(s);
    if (ts > s.lastTs) s.lastTs = ts;
  }

  private flushParent(s: SymbolState): void {
    const vwap = s.pValue / s.pSize;
    s.roll.addPrice(vwap);
    // Always before the event at hand writes the register: nothing of it is overwritten here.
    const r = s.reg;
    r[R_TS] = s.pTs;
    r[R_PX] = vwap;
    r[R_SZ] = s.pSize;
    r[R_SIGN] = s.pSign;
    r[R_FILLS] = s.pFills;
    r[R_LAST] = s.pLast;
    r[R_MID] = s.pMid;
    const hooks = s.onParentTrade;
    for (let i = 0; i < hooks.length; i++) hooks[i]!.onParentTrade!();
    s.pFills = 0;
    s.pSize = 0;
    s.pValue = 0;
  }

  /**
   * Level i of an L2 delta (R_TS and R_SIDE already set): its new size (absolute) or change
   * (relative), against the book before it.
   */
  private levelChange(s: SymbolState, ladder: PriceLadder, pxs: Float64Array, szs: Float64Array, i: number, relative: boolean): void {
    const px = pxs[i]!;
    const old = ladder.sizeAt(px);
    const now = relative ? Math.max(0, old + szs[i]!) : szs[i]!;
    const d = now - old;
    if (d === 0) return;
    const r = s.reg;
    const side = r[R_SIDE]!;
    // Keep the depth near the mid current between full recounts (see onRow); a level set through
    // the opposite touch gets crossed levels repaired away unseen, so the next row recounts.
    if (side === BID ? px >= s.nearLo : px <= s.nearHi) s.depthNear[side === BID ? 0 : 1] += d;
    if (d > 0 && (side === BID ? px >= r[R_ASK]! : px <= r[R_BID]!)) s.nearFresh = false;
    r[R_PX] = px;
    r[R_KEY] = side === BID ? px : -px;
    if (d > 0) {
      r[R_SZ] = d;
      // The book before the message: `old` is this level, R_BID / R_ASK the touch.
      this.levelAdd(s, old, side === BID ? r[R_BID]! : r[R_ASK]!, true);
      return;
    }
    const traded = s.pendingTake(side, px, -d);
    if (traded > 0) {
      r[R_SZ] = traded;
      r[R_LEVEL] = old;
      this.levelExec(s);
    }
    if (-d - traded > 0) {
      r[R_SZ] = -d - traded;
      this.levelCancel(s, now === 0);
    }
  }

  /**
   * An add (R_TS, R_KEY, R_SIDE, R_PX, R_SZ set), against its side of the book before it: the size
   * resting at its price and the best price (NaN) there, `booked` whether there is a book at all.
   */
  private levelAdd(s: SymbolState, levelBefore: number, best: number, booked: boolean): void {
    const r = s.reg;
    const size = r[R_SZ]!;
    const q = s.addSizes;
    r[R_BEST] = best;
    // The threshold before this add: the value judged is not part of its own threshold.
    r[R_THR] = q.size >= this.options.whale.minSamples ? q.values[0]! : NaN;
    q.push(size);
    r[R_LEVEL] = booked ? levelBefore + size : NaN;
    const hooks = s.onAdd;
    for (let i = 0; i < hooks.length; i++) hooks[i]!.onAdd!();
  }

  private levelCancel(s: SymbolState, gone: boolean): void {
    const hooks = s.onCancel;
    for (let i = 0; i < hooks.length; i++) hooks[i]!.onCancel!(gone);
  }

  /** A visible execution (R_TS, R_KEY, R_SIDE, R_PX, R_SZ, R_LEVEL set). */
  private levelExec(s: SymbolState): void {
    const hooks = s.onExec;
    for (let i = 0; i < hooks.length; i++) hooks[i]!.onExec!();
  }

  private halt(s: SymbolState, e: OrderEvent): void {
    // LOBSTER type 7: price -1 = halt, 0 = quoting resumes, 1 = trading resumes.
    const what = e.price < 0 ? 'trading halted' : e.price === 0 ? 'quoting resumed' : 'trading resumed';
    s.emit(e.ts, 'trading-halt', e.price < 0 ? 'critical' : 'info', `${s.symbol} ${what}`, { status: what, code: e.price });
  }

  private toxicity(s: SymbolState, ts: number, vpin: VpinState): void {
    s.vpinSeen = vpin.completed;
    const v = vpin.value();
    if (v !== v) return;
    const h = s.vpinHistory;
    const t = this.options.toxicity;
    if (h.size >= t.minBuckets) {
      const hi = h.quantile(t.quantile);
      if (s.toxicArmed && v > hi) {
        s.toxicArmed = false;
        s.emit(ts, 'toxic-flow', 'warning',
          `${s.symbol} VPIN ${fmt(v)} above its p${Math.round(t.quantile * 100)} ${fmt(hi)} over the last ${h.size} buckets: order flow is one-sided`,
          {
            vpin: r6(v),
            threshold: r6(hi),
            quantile: t.quantile,
            history_buckets: h.size,
            vpin_bvc: r6(s.bvc ? s.bvc.value() : NaN),
            bucket_volume: vpin.bucketVolume,
            last_bucket_imbalance: r6(vpin.lastImbalance() / vpin.bucketVolume),
            buckets: vpin.window,
          });
      } else if (!s.toxicArmed && v < h.quantile(t.rearmQuantile)) {
        s.toxicArmed = true;
      }
    }
    h.push(v);
  }

  private maybeEmit(s: SymbolState, ts: number): void {
    const e = this.everyNs;
    if (s.nextEmit !== s.nextEmit) {
      s.nextEmit = (Math.floor(ts / e) + 1) * e;
      return;
    }
    if (ts < s.nextEmit) return;
    const boundary = Math.floor(ts / e) * e;
    s.nextEmit = boundary + e;
    if (!this.out.onMeasures) return;
    this.fillMeasures(s, this.values);
    this.out.onMeasures(s.symbol, boundary, this.values);
    s.trades = 0;
    s.volume = 0;
    s.alerts = 0;
  }

  private fillMeasures(s: SymbolState, v: Float64Array): void {
    const mid = s.mid;
    v[M.mid] = mid;
    v[M.spread_bps] = ((s.bestAsk - s.bestBid) / ((s.bestAsk + s.bestBid) / 2)) * 1e4;
    v[M.vpin] = s.vpin ? s.vpin.value() : NaN;
    v[M.vpin_bvc] = s.bvc ? s.bvc.value() : NaN;
    if (s.lastRowTs === s.lastRowTs && s.bars) {
      const b = s.bars.valuesAt(s.lastRowTs);
      v[M.kyle_lambda] = b.kyle;
      v[M.hasbrouck_lambda] = b.hasbrouck;
      v[M.amihud] = b.amihud;
    } else {
      v[M.kyle_lambda] = v[M.hasbrouck_lambda] = v[M.amihud] = NaN;
    }
    const roll = s.roll.value();
    v[M.roll_spread] = roll;
    v[M.roll_spread_bps] = (roll / mid) * 1e4;
    if (Number.isFinite(s.lastTs)) s.spreads.advance(s.lastTs);
    v[M.effective_spread_bps] = s.spreads.mean(EFFECTIVE);
    v[M.realized_spread_bps] = s.spreads.mean(REALISED);
    v[M.adverse_selection_bps] = s.spreads.mean(ADVERSE);
    v[M.depth_bid_near] = s.depthNear[0]!;
    v[M.depth_ask_near] = s.depthNear[1]!;
    v[M.depth_bid_top] = s.depthTop[0]!;
    v[M.depth_ask_top] = s.depthTop[1]!;
    for (const d of s.withMeasures) d.measures!(v, s.lastTs);
    v[M.trades] = s.trades;
    v[M.volume] = s.volume;
    const lat = this.latency.primary(s.symbol);
    v[M.latency_offset_ms] = lat ? lat.offset : NaN;
    v[M.latency_jitter_ms] = lat ? lat.jitter : NaN;
    v[M.alerts] = s.alerts;
  }
}
