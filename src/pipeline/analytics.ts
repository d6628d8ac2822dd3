/**
 * The batch path of the analytics: source -> analytics tap -> BookBuilder -> rows -> analytics (and,
 * optionally, any other row consumer such as the feature engine). Used by `flowcast analytics`, the
 * validation script and the benchmark; the live pipeline (live.ts) wires the same pieces live.
 */
import { openSource } from '../sources/spec.ts';
import type { MarketSink } from '../model/events.ts';
import type { MarketSource, SourceStats } from '../sources/source.ts';
import type { BookBuilder, SymbolCounters } from '../book/builder.ts';
import type { RowSink } from '../model/row.ts';
import { bookBuilder } from './book.ts';
import { autoVpinBuckets } from './vpin.ts';
import { BadInputPolicy } from '../core/errors.ts';
import type { TimeBaseRef } from '../model/time.ts';
import { AnalyticsEngine, type AnalyticsOutputs, type AnalyticsStats, type SpecMeasureSource } from '../analytics/engine.ts';
import { analyticsOptions, type AnalyticsOptions, type DeepPartial } from '../analytics/options.ts';
import { analyticsTap, teeRows } from '../analytics/tap.ts';

export interface AnalyticsRunOptions {
  /** Engine parameters; `measures.vpinBucket` may be left out with `vpinBucket: 'auto'`. */
  options?: DeepPartial<AnalyticsOptions>;
  /** VPIN bucket volume for every symbol, or 'auto': each symbol's traded volume / 500 (a first pass, as `flowcast features`). */
  vpinBucket?: number | 'auto';
  symbols?: string[];
  policy?: BadInputPolicy;
  /** Levels per side in rows (at least what other row consumers need). */
  rowLevels?: number;
  /** Another row consumer to run beside the analytics (rows reach it after the analytics). */
  rows?: RowSink;
  /** The FEATURES.md VPIN / bar states to read instead of keeping a copy (a FeatureEngine passed as `rows`). */
  spec?: SpecMeasureSource;
  /** Wraps the sink the source feeds (e.g. a synthetic-event injector for validation). */
  wrap?: (sink: MarketSink, builder: BookBuilder, timeBase: TimeBaseRef) => MarketSink;
  /** Called once the engine exists, before any event (hooks, timers). */
  onStart?: (engine: AnalyticsEngine, builder: BookBuilder, source: MarketSource) => void;
  onProgress?: (rows: number, bytesRead: number, totalBytes: number) => void;
}

export interface AnalyticsRunResult {
  source: MarketSource;
  sourceStats: SourceStats;
  book: SymbolCounters;
  engine: AnalyticsEngine;
  stats: AnalyticsStats;
  vpinBucket: Record<string, number>;
  seconds: number;
}

export async function runAnalytics(spec: string, run: AnalyticsRunOptions, outputs: AnalyticsOutputs): Promise<AnalyticsRunResult> {
  const t0 = performance.now();
  const policy = run.policy ?? new BadInputPolicy();
  const filter = run.symbols?.length ? new Set(run.symbols) : undefined;
  const vpinBucket: Record<string, number> = { ...(run.options?.measures?.vpinBucket ?? {}) };
  if (run.vpinBucket === 'auto') {
    await autoVpinBuckets(await openSource(spec, { policy: policy.sameRules() }), vpinBucket, filter);
  } else if (typeof run.vpinBucket === 'number') {
    vpinBucket['*'] = run.vpinBucket;
  }
  const opts = analyticsOptions({ ...run.options, measures: { ...run.options?.measures, vpinBucket } });
  const source = await openSource(spec, { policy });
  let engine!: AnalyticsEngine;
  const rowSink: RowSink = { onRow: (r) => engine.onRow(r) };
  const builder = bookBuilder({
    levels: Math.max(run.rowLevels ?? 10, 1),
    sink: run.rows ? teeRows(rowSink, run.rows) : rowSink,
    symbols: filter,
    policy,
    sourceName: source.spec,
  });
  engine = new AnalyticsEngine(opts, source.timeBase, outputs, builder, run.spec);
  run.onStart?.(engine, builder, source);
  let sink: MarketSink = analyticsTap(filter ? symbolFilter(engine, filter) : engine, builder);
  if (run.wrap) sink = run.wrap(sink, builder, source.timeBase);
  const pause = run.onProgress ? () => run.onProgress!(engine.stats().rows, source.bytesRead(), source.totalBytes) : undefined;
  const sourceStats = await source.run(sink, pause);
  builder.finish();
  engine.finish();
  return {
    source,
    sourceStats,
    book: builder.totals(),
    engine,
    stats: engine.stats(),
    vpinBucket: Object.fromEntries(engine.symbols().map((s) => [s, vpinBucket[s] ?? vpinBucket['*'] ?? NaN])),
    seconds: (performance.now() - t0) / 1000,
  };
}

function symbolFilter(engine: MarketSink, keep: ReadonlySet<string>): MarketSink {
  return {
    onDepth: (e) => { if (keep.has(e.symbol) || e.symbol === '') engine.onDepth(e); },
    onTrade: (e) => { if (keep.has(e.symbol)) engine.onTrade(e); },
    onQuote: (e) => { if (keep.has(e.symbol)) engine.onQuote?.(e); },
    onOrder: (e) => { if (keep.has(e.symbol)) engine.onOrder?.(e); },
  };
}
