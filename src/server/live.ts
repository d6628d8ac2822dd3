/**
 * The live pipeline behind the feed: every source (replay, exchange connector, ingest producer)
 * pushes normalised events into its own SourceHandle, which owns a BookBuilder (sync rules, gaps,
 * resync); rows from all of them meet here, where the book frames are throttled and published, the
 * float64 FeatureEngine computes each row's features (settled at once, one row per block), and the
 * predictor and alert producers see every feature row. All synchronous: a row's book, features and
 * the hand-off to inference happen inside the call that delivered its event.
 *
 * Time: one TimeBase for the whole server (today's UTC midnight at start); sources stamp their
 * events against it (replays re-stamp theirs onto the wall clock).
 */
import type { LiveDense } from '../compute/live-dense.ts';
import { BookBuilder, type SyncStatus, type SymbolCounters } from '../book/builder.ts';
import type { BookRow, RowSink } from '../model/row.ts';
import type { DepthEvent, MarketSink, OrderEvent, QuoteEvent, TradeEvent } from '../model/events.ts';
import { FeatureEngine } from '../features/engine.ts';
import { featureOptions } from '../features/options.ts';
import type { Depth } from '../model/depth.ts';
import { FEATURE_COLUMNS, type FeatureBlock } from '../features/columns.ts';
import { BadInputPolicy } from '../core/errors.ts';
import { TimeBase, TimeBaseRef } from '../model/time.ts';
import { logger } from '../core/log.ts';
import { Broker, type Topic } from './broker.ts';
import type { BookFrame, FeaturesFrame, PredFrame, AlertFrame } from '../protocol/frames.ts';
import { TOPICS } from '../protocol/topics.ts';
import type { CounterChild, HistogramMetric, MetricsRegistry } from './metrics.ts';
import { LATENCY_BUCKETS_S, type Histogram } from '../core/histogram.ts';
import type { ServerConfig } from './config.ts';
import type { AlertEvent, AlertProducer, AlertProducerFactory, Prediction, Predictor } from './plugins.ts';

const log = logger('live');

/** 'replay', 'ingest', or the id of the live venue it is fed by (src/venues/registry.ts). */
export type SourceKind = string;

const ZERO_COUNTERS = (): SymbolCounters => ({
  rows: 0, diffsDropped: 0, diffsStale: 0, rowsWithheld: 0, gaps: 0, resyncs: 0, crossedMessages: 0,
  repairedLevels: 0, unknownLevels: 0, trades: 0, tradesAfterLastRow: 0, nonMonotonic: 0,
});

/** One source's entry into the pipeline: counts, lag, and its own book builder. */
export class SourceHandle implements MarketSink {
  builder!: BookBuilder;
  state = 'starting';
  detail = '';
  depthIn = 0;
  tradesIn = 0;
  /** Wall clock (epoch ms) of the last event, and how far behind the exchange time it arrived. */
  lastArrivalMs = NaN;
  lagMs = NaN;
  /** Bad input is skipped and counted, never fatal: what the source's parser and books skipped (/healthz badInput). */
  readonly policy = BadInputPolicy.parse('all');
  /** A producer's messages refused with an error frame, by error code (/healthz refused; ingest only). */
  readonly refused = new Map<string, number>();
  private readonly past: SymbolCounters = ZERO_COUNTERS();
  private readonly depthCounter: CounterChild;
  private readonly tradeCounter: CounterChild;
  readonly symbols = new Set<string>();

  constructor(readonly name: string, readonly kind: SourceKind, private readonly pipeline: LivePipeline) {
    this.depthCounter = pipeline.eventsIn.labels(name, 'depth');
    this.tradeCounter = pipeline.eventsIn.labels(name, 'trade');
    this.newSession();
  }

  /** A fresh book builder (after a reconnect or a replay loop); counters carry over. */
  newSession(): void {
    if (this.builder) {
      // What the old session still held for a resync is released and counted, not carried.
      this.builder.finish();
      const t = this.builder.totals();
      for (const k of Object.keys(t) as (keyof SymbolCounters)[]) this.past[k] += t[k];
    }
    this.builder = new BookBuilder({
      levels: this.pipeline.depth.rowLevels,
      sink: this.pipeline,
      policy: this.policy,
      sourceName: this.name,
    });
  }

  onDepth(e: DepthEvent): void {
    this.depthIn++;
    this.depthCounter.value++;
    this.arrived(e.ts);
    const taps = this.pipeline.enter(this);
    for (let i = 0; i < taps.length; i++) taps[i]!.onDepth?.(e);
    this.builder.onDepth(e);
  }

  onTrade(e: TradeEvent): void {
    this.tradesIn++;
    this.tradeCounter.value++;
    this.arrived(e.ts);
    const taps = this.pipeline.enter(this);
    for (let i = 0; i < taps.length; i++) taps[i]!.onTrade?.(e);
    this.builder.onTrade(e);
  }

  /** Quotes and order-level messages make no rows; they go to the alert producers only. */
  onQuote(e: QuoteEvent): void {
    const taps = this.pipeline.enter(this);
    for (let i = 0; i < taps.length; i++) taps[i]!.onQuote?.(e);
  }

  onOrder(e: OrderEvent): void {
    const taps = this.pipeline.enter(this);
    for (let i = 0; i < taps.length; i++) taps[i]!.onOrder?.(e);
  }

  status(symbol: string): SyncStatus | undefined {
    return this.builder.status(symbol);
  }

  private arrived(ts: number): void {
    const now = Date.now();
    this.lastArrivalMs = now;
    this.lagMs = now - this.pipeline.tb.toEpochMs(ts);
  }

  counters(): SymbolCounters {
    const t = this.builder.totals();
    for (const k of Object.keys(t) as (keyof SymbolCounters)[]) t[k] += this.past[k];
    return t;
  }

  /** Events the books hold for a snapshot to come (bounded per symbol: OUT_OF_SYNC_BUFFER). */
  held(): number {
    let n = 0;
    for (const s of this.builder.symbols()) n += this.builder.buffered(s);
    return n;
  }

  /** Counts `n` of a producer's messages refused with `code`. */
  refuse(code: string, n = 1): void {
    this.refused.set(code, (this.refused.get(code) ?? 0) + n);
  }

  health(): Record<string, unknown> {
    const c = this.counters();
    const sync: Record<string, string> = {};
    for (const s of this.builder.symbols()) sync[s] = this.builder.status(s) ?? 'unknown';
    return {
      name: this.name,
      kind: this.kind,
      state: this.state,
      detail: this.detail || undefined,
      symbols: [...this.symbols],
      sync,
      eventsIn: { depth: this.depthIn, trades: this.tradesIn },
      rows: c.rows,
      gaps: c.gaps,
      resyncs: c.resyncs,
      rowsWithheld: c.rowsWithheld,
      diffsDropped: c.diffsDropped,
      diffsStale: c.diffsStale,
      crossedMessages: c.crossedMessages,
      repairedLevels: c.repairedLevels,
      held: this.held(),
      badInput: this.policy.summary(),
      refused: this.kind === 'ingest' ? Object.fromEntries(this.refused) : undefined,
      lagMs: Number.isFinite(this.lagMs) ? Math.round(this.lagMs * 1000) / 1000 : null,
      lastEventAgoMs: Number.isFinite(this.lastArrivalMs) ? Date.now() - this.lastArrivalMs : null,
    };
  }
}

/** Per-symbol feed state. */
class SymbolFeed {
  rows = 0;
  lastBookMs = -Infinity;
  bookDirty = false;
  bookTs = 0;
  nb = 0;
  na = 0;
  readonly bid: Float64Array;
  readonly ask: Float64Array;
  readonly bookTopic: Topic;
  readonly featuresTopic: Topic;
  readonly alertsTopic: Topic;
  readonly predTopics = new Map<string, Topic>();
  /** The last features row (published on subscribe when frames were skipped). */
  readonly lastValues: Float64Array;
  lastTs = 0;
  lastRow = 0;

  constructor(readonly name: string, public owner: SourceHandle, levels: number, broker: Broker) {
    this.bid = new Float64Array(levels * 2);
    this.ask = new Float64Array(levels * 2);
    this.bookTopic = broker.held(TOPICS.book.name(name));
    this.featuresTopic = broker.held(TOPICS.features.name(name));
    this.lastValues = new Float64Array(FEATURE_COLUMNS.length);
    // Held: an alert may come long after a subscriber came and went, and must reach the next one.
    this.alertsTopic = broker.held(TOPICS.alerts.name(name));
  }
}

export interface LivePlugins {
  predictor?: Predictor;
  alerts?: AlertProducerFactory[];
  /** Kernels that replace each row's dense columns (--compute gpujs...). */
  dense?: LiveDense;
}

export class LivePipeline implements RowSink {
  readonly timeBase: TimeBaseRef;
  readonly tb: TimeBase;
  readonly depth: Depth;
  readonly eventsIn;
  private readonly engine: FeatureEngine;
  private readonly feeds = new Map<string, SymbolFeed>();
  /** Feeds by the engine's symbol index. */
  private readonly byEngineId: SymbolFeed[] = [];
  private readonly sources = new Set<SourceHandle>();
  /** Per-symbol VPIN bucket volumes; filled in before a symbol's first row (the engine reads it then). */
  readonly vpinBySymbol: Record<string, number>;
  private current: SourceHandle | undefined;
  private enteredAt = 0;
  private bookTimer: NodeJS.Timeout | undefined;
  private readonly featuresFrame: FeaturesFrame;
  private readonly rowsOut: CounterChild;
  private readonly rowsRejected: CounterChild;
  private readonly featureLatency: Histogram;
  private readonly predLatency: HistogramMetric;
  /** Each model's child of predLatency (the label lookup once per model, not per frame). */
  private readonly predLatencyByModel = new Map<string, Histogram>();
  private readonly alertsOut: CounterChild;
  private readonly warnedOwner = new Set<string>();
  private readonly emitPrediction = (p: Prediction): void => this.publishPrediction(p);
  private readonly alerts: AlertProducer[];

  constructor(
    private readonly cfg: ServerConfig,
    private readonly broker: Broker,
    metrics: MetricsRegistry,
    private readonly plugins: LivePlugins = {},
  ) {
    this.tb = TimeBase.ofEpochMs(Date.now());
    this.timeBase = new TimeBaseRef(this.tb);
    this.vpinBySymbol = { ...cfg.features.vpinBucketBySymbol };
    this.depth = cfg.depth;
    const fo = featureOptions({
      levels: this.depth.levels,
      vpinBucket: typeof cfg.features.vpinBucket === 'number' ? cfg.features.vpinBucket : 1,
      vpinBucketBySymbol: this.vpinBySymbol,
      vpinBuckets: cfg.features.vpinBuckets,
      barMs: cfg.features.barMs,
      barWindow: cfg.features.barWindow,
      horizons: [],
      settleMs: 0,
      blockRows: 1,
    });
    this.engine = new FeatureEngine(fo, this.timeBase, (b, s) => this.onFeatures(b, s));
    const books = {
      book: (sym: string) => this.feeds.get(sym)?.owner.builder.book(sym),
      status: (sym: string) => this.feeds.get(sym)?.owner.builder.status(sym),
    };
    this.alerts = (plugins.alerts ?? []).map((make) => make({
      publish: (a) => this.publishAlert(a), books, timeBase: this.timeBase, vpinBySymbol: this.vpinBySymbol, features: this.engine,
    }));
    this.featuresFrame = { t: 'features', topic: '', seq: 0, ts: 0, sym: '', row: 0, v: new Array<number>(FEATURE_COLUMNS.length).fill(0) };

    this.eventsIn = metrics.counter('flowcast_events_in_total', 'Market events received, by source and kind', ['source', 'kind']);
    this.rowsOut = metrics.counter('flowcast_book_rows_total', 'Book rows (features rows) produced').labels();
    this.rowsRejected = metrics.counter('flowcast_book_rows_rejected_total', 'Rows for a symbol owned by another source, not published').labels();
    this.alertsOut = metrics.counter('flowcast_alerts_total', 'Alerts published').labels();
    this.featureLatency = metrics.histogram('flowcast_features_latency_seconds',
      'From a book event entering the server to its features frame being published', LATENCY_BUCKETS_S).labels();
    this.predLatency = metrics.histogram('flowcast_prediction_latency_seconds',
      'From a book event entering the server to its prediction frame being published (inference and batching included), by model', LATENCY_BUCKETS_S, ['model']);
    metrics.gauge('flowcast_source_lag_seconds', 'How far behind exchange time the last event arrived, by source', ['source'], () =>
      [...this.sources].filter((s) => Number.isFinite(s.lagMs)).map((s) => [[s.name], s.lagMs / 1000]));
    metrics.gauge('flowcast_source_up', 'Whether a source is running (1) or not (0)', ['source', 'kind'], () =>
      [...this.sources].map((s) => [[s.name, s.kind], s.state === 'running' ? 1 : 0]));
  }

  start(): void {
    const iv = this.cfg.feed.bookIntervalMs;
    if (iv > 0) {
      this.bookTimer = setInterval(() => this.flushBooks(), iv);
      this.bookTimer.unref();
    }
  }

  stop(): void {
    clearInterval(this.bookTimer);
  }

  addSource(name: string, kind: SourceKind): SourceHandle {
    const h = new SourceHandle(name, kind, this);
    this.sources.add(h);
    return h;
  }

  removeSource(h: SourceHandle): void {
    this.sources.delete(h);
    h.state = 'stopped';
    // Its symbols' feeds keep the handle (the owner) until another source takes them: what its
    // books held for a resync that can no longer come must not stay with it.
    h.builder.finish();
  }

  sourceList(): SourceHandle[] {
    return [...this.sources];
  }

  /** The source that owns a symbol (the first to produce a row for it). */
  ownerOf(symbol: string): SourceHandle | undefined {
    return this.feeds.get(symbol)?.owner;
  }

  symbols(): string[] {
    return [...this.feeds.keys()];
  }

  /**
   * Each symbol's VPIN warm-up: completed volume buckets against the window VPIN needs (it is NaN
   * until the window fills), so a client can say why a symbol has no VPIN yet.
   */
  vpinProgress(include: (symbol: string) => boolean): Record<string, { buckets: number; window: number; bucketVolume: number }> {
    const out: Record<string, { buckets: number; window: number; bucketVolume: number }> = {};
    for (const sym of this.feeds.keys()) {
      const v = include(sym) ? this.engine.specStates(sym)?.vpin : undefined;
      if (v) out[sym] = { buckets: v.completed, window: v.window, bucketVolume: v.bucketVolume };
    }
    return out;
  }

  /** Called by a source handle before it passes an event on; returns the alert producers to tap. */
  enter(h: SourceHandle, at = performance.now()): readonly AlertProducer[] {
    this.current = h;
    this.enteredAt = at;
    return this.alerts;
  }

  onRow(row: BookRow): void {
    const h = this.current!;
    let f = this.feeds.get(row.symbol);
    if (!f) {
      const nf = (f = new SymbolFeed(row.symbol, h, this.cfg.feed.bookLevels, this.broker));
      nf.bookTopic.refresh = () => this.publishBook(nf, performance.now());
      nf.featuresTopic.refresh = () => this.publishFeatures(nf);
      this.feeds.set(row.symbol, f);
      h.symbols.add(row.symbol);
      log.info('new symbol', { symbol: row.symbol, source: h.name });
    } else if (f.owner !== h && f.owner.state === 'stopped') {
      // The previous source is gone (a producer reconnected): the symbol passes to the new one.
      f.owner = h;
      h.symbols.add(row.symbol);
    } else if (f.owner !== h) {
      this.rowsRejected.inc();
      if (!this.warnedOwner.has(`${h.name}/${row.symbol}`)) {
        this.warnedOwner.add(`${h.name}/${row.symbol}`);
        log.warn('symbol already fed by another source: rows ignored', { symbol: row.symbol, source: h.name, owner: f.owner.name });
      }
      return;
    }
    this.rowsOut.inc();
    this.bookRow(f, row);
    for (let i = 0; i < this.alerts.length; i++) this.alerts[i]!.onRow?.(row);
    this.plugins.dense?.onRow(row);
    this.engine.onRow(row);
  }

  // ---- book frames ----

  private bookRow(f: SymbolFeed, row: BookRow): void {
    const L = this.cfg.feed.bookLevels;
    const n = row.usableLevels < L ? row.usableLevels : L;
    let nb = 0;
    let na = 0;
    for (let i = 0; i < n; i++) {
      const bp = row.bidPx[i]!;
      if (bp === bp) {
        f.bid[2 * nb] = bp;
        f.bid[2 * nb++ + 1] = row.bidSz[i]!;
      }
      const ap = row.askPx[i]!;
      if (ap === ap) {
        f.ask[2 * na] = ap;
        f.ask[2 * na++ + 1] = row.askSz[i]!;
      }
    }
    f.nb = nb;
    f.na = na;
    f.bookTs = row.ts;
    if (f.bookTopic.subscribers === 0) {
      // Nobody to send it to: keep the state; a subscriber gets it as the last value (Topic.refresh).
      f.bookTopic.stale = true;
      f.bookDirty = false;
      return;
    }
    const now = performance.now();
    if (now - f.lastBookMs >= this.cfg.feed.bookIntervalMs) this.publishBook(f, now);
    else f.bookDirty = true;
  }

  /** Trailing edge of the throttle: the newest state of every symbol that changed since its last frame. */
  private flushBooks(): void {
    const now = performance.now();
    for (const f of this.feeds.values()) if (f.bookDirty && now - f.lastBookMs >= this.cfg.feed.bookIntervalMs) this.publishBook(f, now);
  }

  private publishBook(f: SymbolFeed, now: number): void {
    f.lastBookMs = now;
    f.bookDirty = false;
    const bids: [number, number][] = new Array(f.nb);
    const asks: [number, number][] = new Array(f.na);
    for (let i = 0; i < f.nb; i++) bids[i] = [f.bid[2 * i]!, f.bid[2 * i + 1]!];
    for (let i = 0; i < f.na; i++) asks[i] = [f.ask[2 * i]!, f.ask[2 * i + 1]!];
    const frame: BookFrame = { t: 'book', topic: '', seq: 0, ts: this.tb.toEpochMs(f.bookTs), sym: f.name, bids, asks };
    this.broker.publish(f.bookTopic, frame);
  }

  // ---- features, predictions, alerts ----

  private onFeatures(b: FeatureBlock, symbols: readonly string[]): void {
    const nc = FEATURE_COLUMNS.length;
    for (let i = 0; i < b.n; i++) {
      const sid = b.symbolId[i]!;
      const f = (this.byEngineId[sid] ??= this.feeds.get(symbols[sid]!)!);
      const v = f.lastValues;
      for (let c = 0; c < nc; c++) v[c] = b.values[c]![i]!;
      this.plugins.dense?.apply(f.name, v);
      const row = (f.lastRow = f.rows++);
      const ts = (f.lastTs = b.ts[i]!);
      if (f.featuresTopic.subscribers > 0) {
        this.publishFeatures(f);
        this.featureLatency.observe((performance.now() - this.enteredAt) / 1000);
      } else f.featuresTopic.stale = true;
      this.plugins.predictor?.onFeatures(f.name, ts, row, v, this.enteredAt, this.emitPrediction);
      for (let k = 0; k < this.alerts.length; k++) this.alerts[k]!.onFeatures?.(f.name, ts, row, v);
    }
  }

  private publishFeatures(f: SymbolFeed): void {
    const fr = this.featuresFrame;
    fr.ts = this.tb.toEpochMs(f.lastTs);
    fr.sym = f.name;
    fr.row = f.lastRow;
    const v = f.lastValues;
    for (let c = 0; c < v.length; c++) fr.v[c] = v[c]!;
    this.broker.publish(f.featuresTopic, fr);
  }

  private publishPrediction(p: Prediction): void {
    const f = this.feeds.get(p.symbol);
    if (!f) return;
    let t = f.predTopics.get(p.model);
    if (!t) {
      t = this.broker.topic(TOPICS.pred.name(p.model, p.symbol));
      f.predTopics.set(p.model, t);
    }
    const latency = performance.now() - p.enteredAt;
    const frame: PredFrame = {
      t: 'pred', topic: '', seq: 0, ts: this.tb.toEpochMs(p.ts), sym: p.symbol, model: p.model, classes: p.classes,
      probs: Array.from(p.probs), row: p.row, latencyUs: Math.round(latency * 1000),
    };
    this.broker.publish(t, frame);
    let h = this.predLatencyByModel.get(p.model);
    if (!h) this.predLatencyByModel.set(p.model, (h = this.predLatency.labels(p.model)));
    h.observe(latency / 1000);
  }

  publishAlert(a: AlertEvent): void {
    const f = this.feeds.get(a.symbol);
    const frame: AlertFrame = {
      t: 'alert', topic: '', seq: 0, ts: this.tb.toEpochMs(a.ts), sym: a.symbol, kind: a.kind, severity: a.severity,
      ...(a.message ? { message: a.message } : {}), evidence: a.evidence,
    };
    this.alertsOut.inc();
    this.broker.publish(f ? f.alertsTopic : this.broker.topic(TOPICS.alerts.name(a.symbol)), frame);
    this.broker.publish(this.broker.topic(TOPICS.allAlerts.name()), frame);
  }

  health(): Record<string, unknown>[] {
    return [...this.sources].map((s) => s.health());
  }

  alertsHealth(): Record<string, unknown>[] {
    return this.alerts.map((a) => a.health?.() ?? {});
  }

  renderMetrics(out: string[]): void {
    for (const a of this.alerts) a.renderMetrics?.(out);
  }
}
