/**
 * The backtest engine: one discrete-event clock between the market (exchange time), the simulated
 * exchange and the strategy. It plugs into the LivePipeline (src/pipeline/live.ts) the way the live
 * server's own modules do: as an alert producer (a tap that sees every source event before the book
 * builder, and every row after it) and as the PipelineOutput (rows with their features,
 * predictions, alerts). So books, features, predictions and alerts are made by the same code as in
 * `flowcast serve`, and the same engine runs `flowcast paper` on a live pipeline.
 *
 * Time. Every source event carries its exchange time t. Before an event is handed on, everything
 * scheduled strictly before t happens first (strategy callbacks, orders reaching the exchange,
 * responses reaching the strategy), in (due, sequence) order; so an item due at t sees every event
 * stamped t already applied. Latencies:
 *  - feed: market data made at t reaches the strategy at t + feed (constant, or the event's own
 *    tsLocal - ts, kept non-decreasing because a feed delivers in order);
 *  - entry: an order sent at strategy time s reaches the exchange at s + entry, where it meets
 *    the book as it is then;
 *  - response: an ack or fill at exchange time x reaches the strategy at x + response.
 */
import { type DepthEvent, type OrderEvent, type QuoteEvent, type TradeEvent } from '../model/events.ts';
import type { BookRow } from '../model/row.ts';
import { FEATURE_COLUMNS } from '../features/columns.ts';
import type { AlertContext, AlertEvent, AlertProducer, AlertProducerFactory, Prediction } from '../pipeline/plugins.ts';
import type { PipelineOutput, RowResult } from '../pipeline/live.ts';
import { SimExchange, snapQty, type ExchangeOptions, type NewOrder, type TouchedLevels } from './exchange.ts';
import type { BookView, FeaturesView, Fill, Order, OrderRequest, Strategy, StrategyContext, TradeView } from './strategy.ts';

export interface LatencyModel {
  /** Feed latency in ns, or 'measured': each event's tsLocal - ts (events without tsLocal keep the last one measured). */
  feed: number | 'measured';
  /** Order entry: strategy to exchange, ns. */
  entry: number;
  /** Response: exchange to strategy (acks, fills), ns. */
  response: number;
}

export interface EngineOptions extends ExchangeOptions {
  latency: LatencyModel;
  /** Exchange-time step of the equity series (ns); default 1 s. */
  equityStepNs?: number;
}

/** A fill as the report reads it: the exchange's fill with the mids that price its slippage. */
export interface FillRecord extends Fill {
  /** Mid of the recorded book when the order was sent (the arrival price). */
  arrivalMid: number;
  /** Mid of the recorded book at the fill. */
  mid: number;
}

export interface OrderRecord extends Order {
  arrivalMid: number;
  /** Exchange time of the order's last state. */
  doneAt: number;
}

export interface EquityPoint {
  ts: number;
  /** Cash + positions marked to mid, fees included. */
  equity: number;
  /** Net position summed over symbols (one symbol: its position). */
  position: number;
  mid: number;
}

/** Everything a run produced, in exchange time: what the report (report/) is computed from. */
export interface RunRecord {
  fills: FillRecord[];
  orders: Map<number, OrderRecord>;
  equity: EquityPoint[];
  logs: { ts: number; message: string; fields?: Record<string, unknown> }[];
  events: number;
  rows: number;
  /** Predictions and alerts the pipeline made (each delivered to the strategy after the feed latency). */
  predictions: number;
  alerts: number;
  firstTs: number;
  lastTs: number;
  /** Feed latency: events with a measured tsLocal, events without (measured mode). */
  feedMeasured: number;
  feedMissing: number;
}

const K_ROW = 0;
const K_TRADE = 1;

/** A market-data delivery waiting for its feed latency (pooled). */
class MarketItem {
  due = 0;
  seq = 0;
  kind = K_ROW;
  symbol = '';
  ts = 0;
  nBids = 0;
  nAsks = 0;
  readonly bidPx: Float64Array;
  readonly bidSz: Float64Array;
  readonly askPx: Float64Array;
  readonly askSz: Float64Array;
  values: Float64Array | undefined;
  price = 0;
  size = 0;
  sign: -1 | 0 | 1 = 0;
  constructor(levels: number) {
    this.bidPx = new Float64Array(levels);
    this.bidSz = new Float64Array(levels);
    this.askPx = new Float64Array(levels);
    this.askSz = new Float64Array(levels);
  }
}

/** What the strategy holds as its view of a symbol's book (copied: the strategy may keep it until the next one). */
class Book implements BookView {
  symbol = '';
  ts = 0;
  nBids = 0;
  nAsks = 0;
  bidPx: Float64Array;
  bidSz: Float64Array;
  askPx: Float64Array;
  askSz: Float64Array;
  constructor(levels: number) {
    this.bidPx = new Float64Array(levels);
    this.bidSz = new Float64Array(levels);
    this.askPx = new Float64Array(levels);
    this.askSz = new Float64Array(levels);
  }
}

const COLUMN_INDEX = new Map<string, number>(FEATURE_COLUMNS.map((c, i) => [c, i]));

class Features implements FeaturesView {
  symbol = '';
  ts = 0;
  values = new Float64Array(FEATURE_COLUMNS.length);
  get(column: string): number {
    const i = COLUMN_INDEX.get(column);
    if (i === undefined) throw new RangeError(`features: no column "${column}" (see docs/features.md)`);
    return this.values[i]!;
  }
}

type Timed =
  | { due: number; seq: number; k: 'submit'; o: NewOrder }
  | { due: number; seq: number; k: 'cancel'; id: number }
  | { due: number; seq: number; k: 'modify'; id: number; change: { price?: number; qty?: number } }
  | { due: number; seq: number; k: 'fill'; f: Fill }
  | { due: number; seq: number; k: 'update'; o: Order }
  | { due: number; seq: number; k: 'prediction'; p: Prediction }
  | { due: number; seq: number; k: 'alert'; a: AlertEvent };

/** A binary min-heap on (due, seq): orders, responses, predictions and alerts (few at a time). */
class Heap {
  private readonly a: Timed[] = [];
  get size(): number {
    return this.a.length;
  }
  peek(): Timed | undefined {
    return this.a[0];
  }
  push(x: Timed): void {
    const a = this.a;
    a.push(x);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(a[i]!, a[p]!)) break;
      [a[i], a[p]] = [a[p]!, a[i]!];
      i = p;
    }
  }
  pop(): Timed | undefined {
    const a = this.a;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && before(a[l]!, a[m]!)) m = l;
        if (r < a.length && before(a[r]!, a[m]!)) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m]!, a[i]!];
        i = m;
      }
    }
    return top;
  }
}

function before(x: { due: number; seq: number }, y: { due: number; seq: number }): boolean {
  return x.due < y.due || (x.due === y.due && x.seq < y.seq);
}

export class BacktestEngine {
  readonly record: RunRecord = {
    fills: [], orders: new Map(), equity: [], logs: [], events: 0, rows: 0, predictions: 0, alerts: 0, firstTs: NaN, lastTs: NaN, feedMeasured: 0, feedMissing: 0,
  };
  exchange!: SimExchange;
  private books: AlertContext['books'] | undefined;
  private readonly heap = new Heap();
  /** Market deliveries, due times non-decreasing (a ring over an array). */
  private fifo: MarketItem[] = [];
  private fifoHead = 0;
  private readonly pool: MarketItem[] = [];
  private seq = 0;
  private now = NaN;
  private started = false;
  private ended = false;
  private lastFeedDue = -Infinity;
  private lastFeedLatency = 0;
  private nextId = 1;
  private nextSample = NaN;
  private readonly equityStep: number;

  // The strategy's own state: what it has heard so far.
  private readonly views = new Map<number, Order>();
  private readonly open = new Map<number, Order>();
  private readonly positions = new Map<string, number>();
  private cash = 0;
  private readonly seenBooks = new Map<string, Book>();
  private readonly featuresView = new Features();
  private readonly tradeView = { symbol: '', ts: 0, price: 0, size: 0, sign: 0 as -1 | 0 | 1 };

  // The exchange side's state (exchange time): positions and cash for the equity series.
  private readonly xPositions = new Map<string, number>();
  private xCash = 0;
  private readonly lastMid = new Map<string, number>();

  readonly ctx: StrategyContext;
  private readonly wantsFeatures: boolean;
  private readonly wantsTrades: boolean;

  constructor(
    private readonly strategy: Strategy,
    private readonly opts: EngineOptions,
    private readonly levels: number,
  ) {
    this.equityStep = opts.equityStepNs ?? 1e9;
    this.wantsFeatures = typeof strategy.onFeatures === 'function';
    this.wantsTrades = typeof strategy.onTrade === 'function';
    const lat = opts.latency;
    for (const [k, v] of [['entry', lat.entry], ['response', lat.response], ['feed', lat.feed === 'measured' ? 0 : lat.feed]] as const) {
      if (!(v >= 0) || !Number.isFinite(v)) throw new RangeError(`backtest: ${k} latency must be a finite number of ns >= 0, got ${v}`);
    }
    const self = this;
    this.ctx = {
      now: () => self.now,
      book: (s) => self.seenBooks.get(s),
      position: (s) => self.positions.get(s) ?? 0,
      cash: () => self.cash,
      place: (req) => self.place(req),
      cancel: (id) => self.schedule({ due: self.now + lat.entry, seq: self.seq++, k: 'cancel', id }),
      modify: (id, change) => self.schedule({ due: self.now + lat.entry, seq: self.seq++, k: 'modify', id, change: { ...change } }),
      openOrders: (s) => [...self.open.values()].filter((o) => s === undefined || o.symbol === s),
      order: (id) => self.views.get(id),
      log: (message, fields) => {
        if (self.record.logs.length < 10_000) self.record.logs.push({ ts: self.now, message, fields });
      },
    };
  }

  /** Price levels each symbol's depth events listed since its last row. */
  private readonly touched = new Map<string, TouchedLevels>();

  /** The tap the pipeline is built with (one engine, one pipeline). */
  readonly producer: AlertProducerFactory = (ctx) => {
    this.books = ctx.books;
    this.exchange = new SimExchange({ side: (s, side) => ctx.books.book(s)?.side(side) }, this.opts, {
      fill: (f) => this.onExchangeFill(f),
      update: (o, ts) => this.onExchangeUpdate(o, ts),
    });
    const tap: AlertProducer = {
      onDepth: (e: DepthEvent) => {
        this.marketEvent(e.ts);
        // The levels it lists, for the row it makes: the exchange hands each of them to the queue
        // model of an order resting there, even where the size comes out unchanged.
        let t = this.touched.get(e.symbol);
        if (!t) this.touched.set(e.symbol, (t = { bid: [], ask: [] }));
        for (let i = 0; i < e.nBids; i++) t.bid.push(e.bidPx[i]!);
        for (let i = 0; i < e.nAsks; i++) t.ask.push(e.askPx[i]!);
      },
      onTrade: (e: TradeEvent) => {
        this.marketEvent(e.ts);
        this.exchange.onTrade(e.symbol, e.price, e.size, e.sign, e.hidden, e.ts);
        if (this.wantsTrades) this.queueTrade(e);
      },
      onQuote: (e: QuoteEvent) => this.marketEvent(e.ts),
      onOrder: (e: OrderEvent) => {
        this.marketEvent(e.ts);
        this.exchange.onOrder(e);
      },
      // After the builder applied the event: the exchange reads the new book.
      onRow: (row: BookRow) => {
        const t = this.touched.get(row.symbol);
        this.exchange.onBook(row.symbol, row.ts, t);
        if (t) t.bid.length = t.ask.length = 0;
      },
    };
    return tap;
  };

  /** The pipeline's output: rows (book + features) go to the strategy after the feed latency. */
  readonly output: PipelineOutput = {
    row: (r: RowResult) => this.queueRow(r),
    prediction: (p: Prediction) => {
      this.record.predictions++;
      const due = Math.max(this.feedDue(p.ts, NaN), this.now === this.now ? this.now : -Infinity);
      this.schedule({ due, seq: this.seq++, k: 'prediction', p: { ...p, probs: Array.from(p.probs) } });
    },
    alert: (a: AlertEvent) => {
      this.record.alerts++;
      this.schedule({ due: Math.max(this.feedDue(a.ts, NaN), this.now === this.now ? this.now : -Infinity), seq: this.seq++, k: 'alert', a: { ...a } });
    },
  };

  /** Every source event enters here first: what is due before it happens, then it does. */
  private marketEvent(ts: number): void {
    const r = this.record;
    r.events++;
    if (!this.started) {
      this.started = true;
      r.firstTs = ts;
      this.now = ts;
      this.nextSample = ts;
      this.strategy.onStart?.(this.ctx);
    }
    this.advance(ts);
    if (ts >= this.nextSample) this.sample(ts);
    r.lastTs = ts;
  }

  /** Runs everything due strictly before t. */
  advance(t: number): void {
    if (!this.started) return;
    const heap = this.heap;
    for (;;) {
      const m = this.fifoHead < this.fifo.length ? this.fifo[this.fifoHead]! : undefined;
      const h = heap.peek();
      if (m && (!h || before(m, h))) {
        if (!(m.due < t)) return;
        this.fifoHead++;
        this.deliverMarket(m);
      } else if (h) {
        if (!(h.due < t)) return;
        heap.pop();
        this.run(h);
      } else return;
    }
  }

  /** The data ended: what is in flight lands, the strategy's onEnd runs, and what it sends lands too. */
  finish(): void {
    if (this.ended || !this.started) return;
    this.advance(Infinity);
    this.ended = true;
    this.strategy.onEnd?.(this.ctx);
    this.advance(Infinity);
    this.sample(this.record.lastTs);
  }

  // ---- market data to the strategy ----

  private feedDue(ts: number, tsLocal: number): number {
    const f = this.opts.latency.feed;
    let lat: number;
    if (f === 'measured') {
      if (tsLocal === tsLocal) {
        this.record.feedMeasured++;
        lat = this.lastFeedLatency = tsLocal - ts;
      } else {
        this.record.feedMissing++;
        lat = this.lastFeedLatency;
      }
    } else lat = f;
    const due = ts + lat;
    return due > this.lastFeedDue ? (this.lastFeedDue = due) : this.lastFeedDue;
  }

  private item(kind: number, symbol: string, ts: number, tsLocal: number): MarketItem {
    const m = this.pool.pop() ?? new MarketItem(this.levels);
    m.kind = kind;
    m.symbol = symbol;
    m.ts = ts;
    m.due = this.feedDue(ts, tsLocal);
    m.seq = this.seq++;
    if (this.fifoHead > 4096 && this.fifoHead * 2 > this.fifo.length) {
      this.fifo = this.fifo.slice(this.fifoHead);
      this.fifoHead = 0;
    }
    this.fifo.push(m);
    return m;
  }

  private queueRow(r: RowResult): void {
    this.record.rows++;
    const b = r.book;
    const m = this.item(K_ROW, r.sym, r.ts, b.tsLocal);
    const n = Math.min(b.usableLevels, this.levels);
    let nb = 0;
    let na = 0;
    for (let i = 0; i < n; i++) {
      const bp = b.bidPx[i]!;
      if (bp === bp) {
        m.bidPx[nb] = bp;
        m.bidSz[nb++] = b.bidSz[i]!;
      }
      const ap = b.askPx[i]!;
      if (ap === ap) {
        m.askPx[na] = ap;
        m.askSz[na++] = b.askSz[i]!;
      }
    }
    m.nBids = nb;
    m.nAsks = na;
    if (this.wantsFeatures) {
      m.values ??= new Float64Array(FEATURE_COLUMNS.length);
      m.values.set(r.values);
    }
  }

  private queueTrade(e: TradeEvent): void {
    const m = this.item(K_TRADE, e.symbol, e.ts, e.tsLocal);
    m.price = e.price;
    m.size = e.size;
    m.sign = e.sign;
  }

  private deliverMarket(m: MarketItem): void {
    this.tick(m.due);
    const s = this.strategy;
    if (m.kind === K_ROW) {
      let b = this.seenBooks.get(m.symbol);
      if (!b) {
        this.seenBooks.set(m.symbol, (b = new Book(this.levels)));
        b.symbol = m.symbol;
      }
      b.ts = m.ts;
      b.nBids = m.nBids;
      b.nAsks = m.nAsks;
      b.bidPx.set(m.bidPx);
      b.bidSz.set(m.bidSz);
      b.askPx.set(m.askPx);
      b.askSz.set(m.askSz);
      s.onBook?.(this.ctx, b);
      if (m.values && s.onFeatures) {
        const f = this.featuresView;
        f.symbol = m.symbol;
        f.ts = m.ts;
        f.values.set(m.values);
        s.onFeatures(this.ctx, f);
      }
    } else {
      const t = this.tradeView;
      t.symbol = m.symbol;
      t.ts = m.ts;
      t.price = m.price;
      t.size = m.size;
      t.sign = m.sign;
      s.onTrade?.(this.ctx, t as TradeView);
    }
    this.pool.push(m);
  }

  // ---- orders: strategy -> exchange -> strategy ----

  private place(req: OrderRequest): number {
    if (this.now !== this.now) throw new Error('backtest: an order was placed before the first market event');
    if (req.side !== 'buy' && req.side !== 'sell') throw new RangeError(`place: side must be buy or sell, got ${String(req.side)}`);
    if (req.kind !== 'limit' && req.kind !== 'market') throw new RangeError(`place: kind must be limit or market, got ${String(req.kind)}`);
    const id = this.nextId++;
    const tif = req.kind === 'market' ? 'IOC' : (req.tif ?? 'GTC');
    const o: Order = {
      id, symbol: req.symbol, side: req.side, kind: req.kind, tif, price: req.kind === 'market' ? NaN : (req.price ?? NaN),
      qty: req.qty, filled: 0, status: 'pending', tag: req.tag, sentAt: this.now,
    };
    this.views.set(id, o);
    this.open.set(id, o);
    const arrivalMid = this.markMid(req.symbol);
    this.record.orders.set(id, { ...o, arrivalMid, doneAt: NaN });
    this.schedule({
      due: this.now + this.opts.latency.entry, seq: this.seq++, k: 'submit',
      o: { id, symbol: o.symbol, side: o.side, kind: o.kind, tif, price: o.price, qty: o.qty, tag: o.tag, sentAt: this.now },
    });
    return id;
  }

  /**
   * The strategy's clock moves to an item's due time, never back: in a backtest items come in due
   * order anyway; live (paper), an event older than what the quiet-market timer already let happen
   * is handled at the clock's time, not before it.
   */
  private tick(due: number): void {
    if (!(due < this.now)) this.now = due;
  }

  private schedule(t: Timed): void {
    this.heap.push(t);
  }

  private run(t: Timed): void {
    this.tick(t.due);
    const x = this.exchange;
    switch (t.k) {
      case 'submit': x.submit(t.o, t.due); break;
      case 'cancel': x.cancel(t.id, t.due); break;
      case 'modify': x.modify(t.id, t.change, t.due); break;
      case 'fill': this.deliverFill(t.f); break;
      case 'update': this.deliverUpdate(t.o); break;
      case 'prediction': this.strategy.onPrediction?.(this.ctx, t.p); break;
      case 'alert': this.strategy.onAlert?.(this.ctx, t.a); break;
    }
  }

  private onExchangeFill(f: Fill): void {
    const rec = this.record.orders.get(f.orderId);
    const sign = f.side === 'buy' ? 1 : -1;
    this.xPositions.set(f.symbol, snapQty((this.xPositions.get(f.symbol) ?? 0) + sign * f.qty));
    this.xCash -= sign * f.price * f.qty + f.fee;
    f.seenAt = f.ts + this.opts.latency.response;
    this.record.fills.push({ ...f, arrivalMid: rec?.arrivalMid ?? NaN, mid: this.markMid(f.symbol) });
    this.schedule({ due: f.seenAt, seq: this.seq++, k: 'fill', f });
  }

  private onExchangeUpdate(o: Order, ts: number): void {
    const rec = this.record.orders.get(o.id);
    if (rec) Object.assign(rec, o, { doneAt: ts });
    this.schedule({ due: ts + this.opts.latency.response, seq: this.seq++, k: 'update', o });
  }

  private deliverFill(f: Fill): void {
    const sign = f.side === 'buy' ? 1 : -1;
    this.positions.set(f.symbol, snapQty((this.positions.get(f.symbol) ?? 0) + sign * f.qty));
    this.cash -= sign * f.price * f.qty + f.fee;
    const v = this.views.get(f.orderId);
    if (v) v.filled = snapQty(v.filled + f.qty);
    this.strategy.onFill?.(this.ctx, f);
  }

  private deliverUpdate(o: Order): void {
    const v = this.views.get(o.id);
    if (!v) return;
    v.status = o.status;
    v.price = o.price;
    v.qty = o.qty;
    v.filled = o.filled;
    v.reason = o.reason;
    if (o.status !== 'pending' && o.status !== 'open') this.open.delete(o.id);
    this.strategy.onOrder?.(this.ctx, v);
  }

  // ---- the equity series (exchange time) ----

  /** The recorded book's mid, or the last one it had (a side emptied for a moment). */
  private markMid(symbol: string): number {
    const m = this.exchange?.mid(symbol) ?? NaN;
    if (m === m) {
      this.lastMid.set(symbol, m);
      return m;
    }
    return this.lastMid.get(symbol) ?? NaN;
  }

  private sample(ts: number): void {
    let equity = this.xCash;
    let position = 0;
    let mid = NaN;
    for (const [sym, pos] of this.xPositions) {
      const m = this.markMid(sym);
      if (pos !== 0) equity += pos * m;
      position += pos;
      mid = m;
    }
    if (this.xPositions.size === 0 && this.books) {
      // No fills yet: the chart still wants the price; the first symbol with a book gives it.
      for (const sym of this.seenBooks.keys()) {
        mid = this.markMid(sym);
        break;
      }
    }
    const eq = this.record.equity;
    const last = eq[eq.length - 1];
    if (last && last.ts === ts) eq.pop();
    eq.push({ ts, equity, position, mid });
    const step = this.equityStep;
    this.nextSample = (Math.floor(ts / step) + 1) * step;
  }

  /** Signed positions and cash as the exchange has them (exchange time). */
  exchangeState(): { positions: Record<string, number>; cash: number } {
    return { positions: Object.fromEntries(this.xPositions), cash: this.xCash };
  }
}

