/**
 * The live pipeline: every source (replay, exchange connector, ingest producer) pushes normalised
 * events into its own SourceHandle, which owns a BookBuilder (sync rules, gaps, resync); rows from
 * all of them meet here, go to the alert producers, the dense kernels and the float64 FeatureEngine
 * (settled at once, one row per block), and each features row to the predictor and the alert
 * producers. What comes out (book rows, features rows, predictions, alerts) goes forward to one
 * PipelineOutput, which the server implements; nothing here knows frames or topics. All
 * synchronous: a row's book, features and the hand-off to inference happen inside the call that
 * delivered its event.
 *
 * Time: one TimeBase for the whole server; sources stamp their events against it (replays re-stamp
 * theirs onto the wall clock).
 */
import type { LiveDense } from '../compute/live-dense.ts';
import type { BookBuilder, GapRecord, SyncStatus, SymbolCounters } from '../book/builder.ts';
import type { BookRow, RowSink } from '../model/row.ts';
import type { DepthEvent, MarketSink, OrderEvent, QuoteEvent, TradeEvent } from '../model/events.ts';
import { FeatureEngine } from '../features/engine.ts';
import { featureOptions } from '../features/options.ts';
import type { Depth } from '../model/depth.ts';
import { FEATURE_COLUMNS, type FeatureBlock } from '../features/columns.ts';
import { BadInputPolicy } from '../core/errors.ts';
import { type TimeBase, TimeBaseRef } from '../model/time.ts';
import { logger } from '../core/log.ts';
import { bookBuilder } from './book.ts';
import type { AlertEvent, AlertProducer, AlertProducerFactory, Prediction, RowPredictor } from './plugins.ts';

const log = logger('live');

/** Where the pipeline's results go (the server's feed implements it). Called in flow order. */
export interface PipelineOutput {
  /** A book row of a symbol's owning source; the builder reuses the row after the call. */
  book(sym: string, row: BookRow): void;
  /**
   * A features row (FEATURE_COLUMNS order; `row` counts the symbol's rows from 0). `v` is the
   * symbol's own array, overwritten only by its next row, so it may be kept as its last value.
   * `enteredAt`: performance.now() when the event that made the row entered the pipeline.
   */
  features(sym: string, ts: number, row: number, v: Float64Array, enteredAt: number): void;
  prediction(p: Prediction): void;
  alert(a: AlertEvent): void;
}

/** The counters the pipeline keeps (a MetricsRegistry is one). */
export interface PipelineMetrics {
  counter(name: string, help: string, labelNames?: readonly string[]): { labels(...values: string[]): { value: number; inc(v?: number): void } };
  gauge(name: string, help: string, labelNames: readonly string[], collect: () => Iterable<[readonly string[], number]>): unknown;
}

export interface LivePipelineOptions {
  /** The one resolved depth (rows carry depth.rowLevels, the engine reads depth.levels). */
  depth: Depth;
  timeBase: TimeBase;
  features: {
    vpinBucket: number | 'auto';
    vpinBucketBySymbol: Record<string, number>;
    vpinBuckets: number;
    barMs: number;
    barWindow: number;
  };
}

export interface LivePlugins {
  predictor?: RowPredictor;
  alerts?: AlertProducerFactory[];
  /** Kernels that replace each row's dense columns (--compute gpujs...). */
  dense?: LiveDense;
}

/** 'replay', 'ingest', or the id of the live venue it is fed by (src/venues/registry.ts). */
export type SourceKind = string;

const ZERO_COUNTERS = (): SymbolCounters => ({
  rows: 0, diffsDropped: 0, diffsStale: 0, rowsWithheld: 0, gaps: 0, resyncs: 0, crossedMessages: 0,
  repairedLevels: 0, unknownLevels: 0, trades: 0, tradesAfterLastRow: 0, nonMonotonic: 0,
});

/** What a source's books did with one depth event (the ingest protocol answers its producer with it). */
export interface DepthOutcome {
  /** The sync loss the event opened; undefined when it opened none (an open one goes on). */
  loss: GapRecord | undefined;
  /** The last seq applied before the event, and whether the event was the first diff after a snapshot. */
  prevSeq: number;
  firstDiff: boolean;
  /** Ignored as a repeated, older or dropped diff. */
  ignored: boolean;
  /** The event crossed the book: this many levels of the other side were removed as stale, leaving this top. */
  crossed: boolean;
  repairedLevels: number;
  bestBid: number;
  bestAsk: number;
}

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
  private readonly depthCounter: { value: number };
  private readonly tradeCounter: { value: number };
  readonly symbols = new Set<string>();
  private readonly outcome: DepthOutcome = {
    loss: undefined, prevSeq: NaN, firstDiff: false, ignored: false, crossed: false, repairedLevels: 0, bestBid: NaN, bestAsk: NaN,
  };

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
    this.builder = bookBuilder({
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

  /**
   * onDepth, and what the books did with the event, read off the symbol's counters and open sync
   * loss before and after. The answer is one object, overwritten by the next call.
   */
  applyDepth(e: DepthEvent): DepthOutcome {
    const b = this.builder;
    const sym = e.symbol;
    const c0 = b.counters(sym);
    const ignored0 = c0 ? c0.diffsStale + c0.diffsDropped : 0;
    const crossed0 = c0 ? c0.crossedMessages : 0;
    const repaired0 = c0 ? c0.repairedLevels : 0;
    const loss0 = b.syncLoss(sym);
    const r = this.outcome;
    r.firstDiff = b.status(sym) === 'awaiting-first-diff';
    r.prevSeq = b.lastSeq(sym);
    this.onDepth(e);
    const c1 = b.counters(sym)!;
    const loss = b.syncLoss(sym);
    r.loss = loss !== loss0 ? loss : undefined;
    r.ignored = c1.diffsStale + c1.diffsDropped !== ignored0;
    r.crossed = c1.crossedMessages !== crossed0;
    r.repairedLevels = c1.repairedLevels - repaired0;
    r.bestBid = r.crossed ? b.book(sym)!.bestBid() : NaN;
    r.bestAsk = r.crossed ? b.book(sym)!.bestAsk() : NaN;
    return r;
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

/** A symbol's place in the pipeline: the source that owns it and its features rows. */
class SymbolLane {
  rows = 0;
  /** The last features row, handed to the output (which may keep it). */
  readonly values = new Float64Array(FEATURE_COLUMNS.length);
  constructor(readonly name: string, public owner: SourceHandle) {}
}

export class LivePipeline implements RowSink {
  readonly timeBase: TimeBaseRef;
  readonly tb: TimeBase;
  readonly depth: Depth;
  readonly eventsIn;
  private readonly engine: FeatureEngine;
  private readonly lanes = new Map<string, SymbolLane>();
  /** Lanes by the engine's symbol index. */
  private readonly byEngineId: SymbolLane[] = [];
  private readonly sources = new Set<SourceHandle>();
  /** Per-symbol VPIN bucket volumes; filled in before a symbol's first row (the engine reads it then). */
  readonly vpinBySymbol: Record<string, number>;
  private current: SourceHandle | undefined;
  private enteredAt = 0;
  private readonly rowsOut: { inc(): void };
  private readonly rowsRejected: { inc(): void };
  private readonly warnedOwner = new Set<string>();
  private readonly emitPrediction = (p: Prediction): void => this.out.prediction(p);
  private readonly alerts: AlertProducer[];

  constructor(
    opts: LivePipelineOptions,
    private readonly out: PipelineOutput,
    metrics: PipelineMetrics,
    private readonly plugins: LivePlugins = {},
  ) {
    this.tb = opts.timeBase;
    this.timeBase = new TimeBaseRef(this.tb);
    const feat = opts.features;
    this.vpinBySymbol = { ...feat.vpinBucketBySymbol };
    this.depth = opts.depth;
    const fo = featureOptions({
      levels: this.depth.levels,
      vpinBucket: typeof feat.vpinBucket === 'number' ? feat.vpinBucket : 1,
      vpinBucketBySymbol: this.vpinBySymbol,
      vpinBuckets: feat.vpinBuckets,
      barMs: feat.barMs,
      barWindow: feat.barWindow,
      horizons: [],
      settleMs: 0,
      blockRows: 1,
    });
    this.engine = new FeatureEngine(fo, this.timeBase, (b, s) => this.onFeatures(b, s));
    const books = {
      book: (sym: string) => this.lanes.get(sym)?.owner.builder.book(sym),
      status: (sym: string) => this.lanes.get(sym)?.owner.builder.status(sym),
    };
    this.alerts = (plugins.alerts ?? []).map((make) => make({
      publish: (a) => this.publishAlert(a), books, timeBase: this.timeBase, vpinBySymbol: this.vpinBySymbol, features: this.engine,
    }));

    this.eventsIn = metrics.counter('flowcast_events_in_total', 'Market events received, by source and kind', ['source', 'kind']);
    this.rowsOut = metrics.counter('flowcast_book_rows_total', 'Book rows (features rows) produced').labels();
    this.rowsRejected = metrics.counter('flowcast_book_rows_rejected_total', 'Rows for a symbol owned by another source, not published').labels();
    metrics.gauge('flowcast_source_lag_seconds', 'How far behind exchange time the last event arrived, by source', ['source'], () =>
      [...this.sources].filter((s) => Number.isFinite(s.lagMs)).map((s) => [[s.name], s.lagMs / 1000]));
    metrics.gauge('flowcast_source_up', 'Whether a source is running (1) or not (0)', ['source', 'kind'], () =>
      [...this.sources].map((s) => [[s.name, s.kind], s.state === 'running' ? 1 : 0]));
  }

  addSource(name: string, kind: SourceKind): SourceHandle {
    const h = new SourceHandle(name, kind, this);
    this.sources.add(h);
    return h;
  }

  removeSource(h: SourceHandle): void {
    this.sources.delete(h);
    h.state = 'stopped';
    // Its symbols keep the handle (the owner) until another source takes them: what its books held
    // for a resync that can no longer come must not stay with it.
    h.builder.finish();
  }

  sourceList(): SourceHandle[] {
    return [...this.sources];
  }

  /** The source that owns a symbol (the first to produce a row for it). */
  ownerOf(symbol: string): SourceHandle | undefined {
    return this.lanes.get(symbol)?.owner;
  }

  symbols(): string[] {
    return [...this.lanes.keys()];
  }

  /**
   * Each symbol's VPIN warm-up: completed volume buckets against the window VPIN needs (it is NaN
   * until the window fills), so a client can say why a symbol has no VPIN yet.
   */
  vpinProgress(include: (symbol: string) => boolean): Record<string, { buckets: number; window: number; bucketVolume: number }> {
    const out: Record<string, { buckets: number; window: number; bucketVolume: number }> = {};
    for (const sym of this.lanes.keys()) {
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
    let lane = this.lanes.get(row.symbol);
    if (!lane) {
      lane = new SymbolLane(row.symbol, h);
      this.lanes.set(row.symbol, lane);
      h.symbols.add(row.symbol);
      log.info('new symbol', { symbol: row.symbol, source: h.name });
    } else if (lane.owner !== h && lane.owner.state === 'stopped') {
      // The previous source is gone (a producer reconnected): the symbol passes to the new one.
      lane.owner = h;
      h.symbols.add(row.symbol);
    } else if (lane.owner !== h) {
      this.rowsRejected.inc();
      if (!this.warnedOwner.has(`${h.name}/${row.symbol}`)) {
        this.warnedOwner.add(`${h.name}/${row.symbol}`);
        log.warn('symbol already fed by another source: rows ignored', { symbol: row.symbol, source: h.name, owner: lane.owner.name });
      }
      return;
    }
    this.rowsOut.inc();
    this.out.book(row.symbol, row);
    for (let i = 0; i < this.alerts.length; i++) this.alerts[i]!.onRow?.(row);
    this.plugins.dense?.onRow(row);
    this.engine.onRow(row);
  }

  private onFeatures(b: FeatureBlock, symbols: readonly string[]): void {
    const nc = FEATURE_COLUMNS.length;
    for (let i = 0; i < b.n; i++) {
      const sid = b.symbolId[i]!;
      const lane = (this.byEngineId[sid] ??= this.lanes.get(symbols[sid]!)!);
      const v = lane.values;
      for (let c = 0; c < nc; c++) v[c] = b.values[c]![i]!;
      this.plugins.dense?.apply(lane.name, v);
      const row = lane.rows++;
      const ts = b.ts[i]!;
      this.out.features(lane.name, ts, row, v, this.enteredAt);
      this.plugins.predictor?.onFeatures(lane.name, ts, row, v, this.enteredAt, this.emitPrediction);
      for (let k = 0; k < this.alerts.length; k++) this.alerts[k]!.onFeatures?.(lane.name, ts, row, v);
    }
  }

  /** An alert into the output (the producers' way out; tests raise their own). */
  publishAlert(a: AlertEvent): void {
    this.out.alert(a);
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
