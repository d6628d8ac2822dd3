/**
 * The live pipeline, wired: the only place where the live path's book builders (through the source
 * handles), feature engine, alert producers, dense kernels and predictor are put together. An event
 * flows one way through its stages, each in its own file, and never back into this one:
 *
 *   source -> SourceHandle (source.ts; taps the alert producers) -> BookBuilder (book/builder.ts)
 *     -> RowStage (rows.ts; symbol ownership; the producers, the dense kernels, the feature engine)
 *     -> FeatureEngine (features/engine.ts)
 *     -> ResultsStage (results.ts; the row's book and features to the output in one call, then the
 *        predictor and the producers)
 *
 * Everything that comes out (rows with their book and features, predictions, alerts) goes forward to
 * one PipelineOutput, which the server implements; nothing here knows frames or topics. All
 * synchronous: a row's book, features and the hand-off to inference happen inside the call that
 * delivered its event (the live engine emits each row's features before onRow returns: one-row
 * blocks, nothing deferred). Time: one TimeBase for the whole server; sources stamp their events
 * against it (replays re-stamp theirs onto the wall clock).
 */
import type { LiveDense } from '../compute/live-dense.ts';
import { DENSE_COLUMNS } from '../compute/dense.ts';
import { FeatureEngine } from '../features/engine.ts';
import { featureOptions } from '../features/options.ts';
import type { Depth } from '../model/depth.ts';
import { type TimeBase, TimeBaseRef } from '../model/time.ts';
import { SourceHandle, type SourceContext, type SourceKind } from './source.ts';
import { RowStage } from './rows.ts';
import { ResultsStage, type RowResult } from './results.ts';
import type { BatchSettings } from './batching.ts';
import type { AlertEvent, AlertProducer, AlertProducerFactory, Prediction, RowPredictor } from './plugins.ts';

export type { RowResult };

/** Where the pipeline's results go (the server's feed implements it). Called in flow order. */
export interface PipelineOutput {
  row(r: RowResult): void;
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
  /** With `dense`: rows wait for each other and the kernels compute them in micro-batches (batching.ts). */
  batch?: BatchSettings;
}

export class LivePipeline {
  readonly timeBase: TimeBaseRef;
  readonly tb: TimeBase;
  readonly depth: Depth;
  private readonly engine: FeatureEngine;
  private readonly rows: RowStage;
  private readonly results: ResultsStage;
  private readonly kernelColumns: readonly string[];
  private readonly sourceContext: SourceContext;
  private readonly sources = new Set<SourceHandle>();
  /** Per-symbol VPIN bucket volumes; filled in before a symbol's first row (the engine reads it then). */
  readonly vpinBySymbol: Record<string, number>;
  private readonly alerts: AlertProducer[];

  constructor(
    opts: LivePipelineOptions,
    private readonly out: PipelineOutput,
    metrics: PipelineMetrics,
    plugins: LivePlugins = {},
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
    const clock = { enteredAt: 0 };
    // The producers are made first (they read the engine's state machines, not its rows); the
    // results stage the engine hands its rows to exists by the time a row comes.
    let results!: ResultsStage;
    // With kernels, the engine keeps only the trade state (VPIN, bars): the kernels compute every
    // per-row column, so no column is computed twice.
    this.engine = new FeatureEngine(fo, this.timeBase, (b, s) => results.onFeatures(b, s), plugins.dense ? 'trade-state' : 'all');
    this.kernelColumns = plugins.dense ? DENSE_COLUMNS : [];
    const books = {
      book: (sym: string) => this.rows.ownerOf(sym)?.builder.book(sym),
      status: (sym: string) => this.rows.ownerOf(sym)?.builder.status(sym),
    };
    this.alerts = (plugins.alerts ?? []).map((make) => make({
      publish: (a) => this.publishAlert(a), books, timeBase: this.timeBase, vpinBySymbol: this.vpinBySymbol, features: this.engine,
    }));
    results = new ResultsStage(out, this.alerts, plugins.dense, plugins.predictor, clock,
      plugins.batch && { ...plugins.batch, levels: this.depth.rowLevels });
    this.results = results;

    const eventsIn = metrics.counter('flowcast_events_in_total', 'Market events received, by source and kind', ['source', 'kind']);
    const rowsOut = metrics.counter('flowcast_book_rows_total', 'Book rows (features rows) produced').labels();
    const rowsRejected = metrics.counter('flowcast_book_rows_rejected_total', 'Rows for a symbol owned by another source, not published').labels();
    this.rows = new RowStage(this.alerts, plugins.dense, this.engine, results, rowsOut, rowsRejected);
    this.sourceContext = { rowLevels: this.depth.rowLevels, rows: this.rows, taps: this.alerts, tb: this.tb, clock, eventsIn };
    metrics.gauge('flowcast_source_lag_seconds', 'How far behind exchange time the last event arrived, by source', ['source'], () =>
      [...this.sources].filter((s) => Number.isFinite(s.lagMs)).map((s) => [[s.name], s.lagMs / 1000]));
    metrics.gauge('flowcast_source_up', 'Whether a source is running (1) or not (0)', ['source', 'kind'], () =>
      [...this.sources].map((s) => [[s.name, s.kind], s.state === 'running' ? 1 : 0]));
  }

  addSource(name: string, kind: SourceKind): SourceHandle {
    const h = new SourceHandle(name, kind, this.sourceContext);
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

  /** Which columns the float64 engine computes and which the kernels (disjoint; together every column). */
  computedBy(): { engine: readonly string[]; kernels: readonly string[] } {
    return { engine: this.engine.computed, kernels: this.kernelColumns };
  }

  /** Rows still waiting for a micro-batch go on now (the server stopping). */
  flush(): void {
    this.results.queue?.flushNow();
  }

  sourceList(): SourceHandle[] {
    return [...this.sources];
  }

  /** The source that owns a symbol (the first to produce a row for it). */
  ownerOf(symbol: string): SourceHandle | undefined {
    return this.rows.ownerOf(symbol);
  }

  symbols(): string[] {
    return this.rows.symbols();
  }

  /**
   * Each symbol's VPIN warm-up: completed volume buckets against the window VPIN needs (it is NaN
   * until the window fills), so a client can say why a symbol has no VPIN yet.
   */
  vpinProgress(include: (symbol: string) => boolean): Record<string, { buckets: number; window: number; bucketVolume: number }> {
    const out: Record<string, { buckets: number; window: number; bucketVolume: number }> = {};
    for (const sym of this.rows.symbols()) {
      const v = include(sym) ? this.engine.specStates(sym)?.vpin : undefined;
      if (v) out[sym] = { buckets: v.completed, window: v.window, bucketVolume: v.bucketVolume };
    }
    return out;
  }

  /** An alert to the output: the alert producers' way out (tests raise their own). */
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
