/**
 * The batch path from a source spec to feature rows: source -> BookBuilder -> FeatureEngine ->
 * sink. Used by `flowcast features`, dataset builders and benchmarks; the server runs the same
 * stages live.
 */
import { openSource } from '../sources/spec.ts';
import type { MarketSource, SourceStats } from '../sources/source.ts';
import type { GapRecord, SymbolCounters } from '../book/builder.ts';
import { FeatureEngine, type FeatureEngineStats } from '../features/engine.ts';
import { featureOptions, type FeatureOptions } from '../features/options.ts';
import { outputColumns, type FeatureBlockSink } from '../features/columns.ts';
import { BadInputPolicy } from '../core/errors.ts';
import type { TimeBaseRef } from '../model/time.ts';
import type { ComputeInfo, ComputeSpec } from '../compute/backend.ts';
import { featuresCompute } from '../compute/features-hook.ts';
import { resolveDepth } from '../model/depth.ts';
import { bookBuilder } from './book.ts';
import { autoVpinBucketsFor } from './vpin.ts';

export interface FeaturesRunOptions extends Partial<Omit<FeatureOptions, 'vpinBucket'>> {
  /** VPIN bucket volume, or 'auto' (the input's traded volume / 500, per symbol, from a first pass over trades). */
  vpinBucket?: number | 'auto';
  /** Only these symbols. */
  symbols?: string[];
  policy?: BadInputPolicy;
  /** Called at every backpressure point with rows so far and input bytes consumed. */
  onProgress?: (rows: number, bytesRead: number, totalBytes: number) => void;
  /** Backend of the per-row columns (src/compute): cpu (the engine's own float64, default), gpujs[:mode] or auto. */
  compute?: ComputeSpec;
}

export interface FeaturesRunResult {
  source: MarketSource;
  sourceStats: SourceStats;
  book: SymbolCounters;
  gaps: GapRecord[];
  features: FeatureEngineStats;
  /** VPIN bucket volume used per symbol. */
  vpinBucket: Record<string, number>;
  symbols: readonly string[];
  columns: readonly string[];
  skipped: Record<string, number>;
  seconds: number;
  /** The per-row-column backend used and why. */
  compute: ComputeInfo;
  /** Which columns the float64 engine computed and which the kernels did (disjoint; together every output column). */
  computedBy: { engine: readonly string[]; kernels: readonly string[] };
}

/**
 * One line per time a book lost sync: where and why, and where it resynced or that it never did
 * (the input had no later snapshot, so every row after it is withheld). `only: 'unresolved'` for
 * the ones a user must hear about even when asking for quiet. At most `max` lines, then a count.
 */
export function syncLossLines(gaps: readonly GapRecord[], inputName: string, only: 'all' | 'unresolved' = 'all', max = 10): string[] {
  const list = only === 'all' ? gaps : gaps.filter((g) => g.unresolved);
  const out = list.slice(0, max).map((g) => {
    const what = `${g.symbol} lost sync at ${inputName}:${g.line} (${g.kind}: ${g.detail})`;
    if (g.resyncedAtLine !== undefined) return `${what}, resynced at line ${g.resyncedAtLine}`;
    if (g.unresolved) return `${what} and never resynced: the input has no later snapshot, so all its rows from there on are withheld`;
    return `${what}, lost again before a resync`;
  });
  if (list.length > max) out.push(`... and ${list.length - max} more`);
  return out;
}

/**
 * Runs the whole batch path. `makeSink` receives the output columns and the (lazily fixed) time base
 * once the engine is configured.
 */
export async function runFeatures(
  spec: string,
  opts: FeaturesRunOptions,
  makeSink: (columns: readonly string[], timeBase: TimeBaseRef) => FeatureBlockSink,
): Promise<FeaturesRunResult & { output: { rows: number; bytes: number } }> {
  const t0 = performance.now();
  const policy = opts.policy ?? new BadInputPolicy();
  const symbolFilter = opts.symbols?.length ? new Set(opts.symbols) : undefined;

  // The kernel backend starts (a worker thread, gpu.js loading) while the VPIN sizing pass reads the input.
  // (The options are checked first, so a bad one is reported as before; V is not known yet.)
  const checked = featureOptions({ ...opts, vpinBucket: 1 });
  const depth = resolveDepth(checked.levels);
  const computing = featuresCompute(opts.compute ?? 'cpu', { depth, blockRows: checked.blockRows });
  // Its failure (an unavailable backend) is reported where it is awaited, below.
  computing.catch(() => undefined);
  let bySymbol: Record<string, number> | undefined;
  let vpinBucket: number;
  let fo: FeatureOptions;
  let source: MarketSource;
  try {
    source = await openSource(spec, { policy });
    if (opts.vpinBucket === undefined || opts.vpinBucket === 'auto') {
      bySymbol = await autoVpinBucketsFor(source, () => openSource(spec, { policy: policy.sameRules() }), symbolFilter);
      // A symbol with no trades still needs a positive V; its VPIN stays NaN (no bucket ever completes).
      vpinBucket = 1;
    } else {
      vpinBucket = opts.vpinBucket;
    }
    fo = featureOptions({ ...opts, vpinBucket, vpinBucketBySymbol: bySymbol });
  } catch (e) {
    await computing.then((c) => c.dispose(), () => undefined);
    throw e;
  }
  const compute = await computing;
  const sink = compute.sink(makeSink(outputColumns(fo.horizons), source.timeBase));
  const engine = new FeatureEngine(fo, source.timeBase, (b, s) => sink.write(b, s), compute.engineColumns);
  const builder = bookBuilder({
    levels: depth.rowLevels,
    sink: compute.rows(engine),
    symbols: symbolFilter,
    policy,
    sourceName: source.spec,
  });
  const pause = async (): Promise<void> => {
    opts.onProgress?.(engine.stats().rows, source.bytesRead(), source.totalBytes);
    await sink.drain();
  };
  let sourceStats: SourceStats;
  try {
    sourceStats = await source.run(builder, pause);
    builder.finish();
    await compute.endOfRows();
    engine.finish();
  } catch (e) {
    await sink.close().catch(() => undefined);
    await compute.dispose();
    throw e;
  }
  const output = await sink.close();
  await compute.dispose();
  return {
    source,
    sourceStats,
    book: builder.totals(),
    gaps: builder.gaps,
    features: engine.stats(),
    vpinBucket: engine.vpinBuckets(),
    symbols: engine.symbols,
    columns: engine.columns,
    skipped: policy.summary(),
    seconds: (performance.now() - t0) / 1000,
    compute: compute.info,
    computedBy: { engine: engine.computed, kernels: compute.kernelColumns },
    output,
  };
}
