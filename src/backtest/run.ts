/**
 * The I/O side of `flowcast backtest`: opens the source (any spec the project reads, or a
 * recording), sizes VPIN as `flowcast features` does, builds the same LivePipeline the server runs
 * with the engine as its tap and output (plus the server's predictor and analytics when asked), and
 * streams the source through it. The matching and the clock are in engine.ts / exchange.ts.
 */
import { BadInputPolicy } from '../core/errors.ts';
import { DepthEvent, OrderEvent, QuoteEvent, TradeEvent, type MarketSink } from '../model/events.ts';
import { resolveDepth } from '../model/depth.ts';
import { LivePipeline } from '../pipeline/live.ts';
import type { SourceHandle } from '../pipeline/source.ts';
import type { AlertProducerFactory, RowPredictor } from '../pipeline/plugins.ts';
import { autoVpinBuckets } from '../pipeline/vpin.ts';
import { openReplaySource } from '../server/replay.ts';
import { MetricsRegistry } from '../server/metrics.ts';
import { BacktestEngine, type EngineOptions, type RunRecord } from './engine.ts';
import type { Strategy } from './strategy.ts';

export interface FeatureParams {
  levels: number;
  vpinBucket: number | 'auto';
  vpinBuckets: number;
  barMs: number;
  barWindow: number;
}

export const DEFAULT_FEATURE_PARAMS: FeatureParams = { levels: 10, vpinBucket: 'auto', vpinBuckets: 50, barMs: 1000, barWindow: 300 };

export interface BacktestRunOptions extends EngineOptions {
  features?: Partial<FeatureParams>;
  /** The server's predictor over a models directory (src/server/wiring.ts loadPredictor). */
  predictor?: RowPredictor & { close?(): Promise<void> };
  /**
   * Its predict calls in flight (predict.ts): given, each event goes on only once none is, so
   * every row is predicted before the next event (repeatable runs); events wait in a buffer.
   */
  paced?: { inFlight(): number; idle(): Promise<void> };
  /** VPIN buckets per symbol fixed beforehand (a predictor adopts its models'). */
  vpinBucketBySymbol?: Record<string, number>;
  /** The server's analytics as alert producers (alerts reach the strategy's onAlert). */
  alerts?: AlertProducerFactory[];
  onProgress?: (events: number, bytesRead: number, totalBytes: number) => void;
}

export interface BacktestResult {
  record: RunRecord;
  engine: BacktestEngine;
  seconds: number;
  symbols: string[];
  spec: string;
  kind: string;
  /** Epoch ms of exchange time 0 (for reports). */
  baseMs: number;
}

export async function runBacktest(spec: string, strategy: Strategy, opts: BacktestRunOptions): Promise<BacktestResult> {
  const t0 = performance.now();
  const fp = { ...DEFAULT_FEATURE_PARAMS, ...opts.features };
  const depth = resolveDepth(fp.levels);
  const policy = new BadInputPolicy();
  const vpinBySymbol: Record<string, number> = { ...opts.vpinBucketBySymbol };
  if (fp.vpinBucket === 'auto') await autoVpinBuckets(await openReplaySource(spec, policy.sameRules()), vpinBySymbol);
  const source = await openReplaySource(spec, policy);
  const engine = new BacktestEngine(strategy, opts, depth.rowLevels);
  let pipeline: LivePipeline | undefined;
  let handle: SourceHandle | undefined;
  // The pipeline needs the run's time base, which the source fixes from its first timestamp.
  const start = (): SourceHandle => {
    pipeline = new LivePipeline(
      {
        depth,
        timeBase: source.timeBase.get(),
        features: { vpinBucket: fp.vpinBucket, vpinBucketBySymbol: vpinBySymbol, vpinBuckets: fp.vpinBuckets, barMs: fp.barMs, barWindow: fp.barWindow },
      },
      engine.output,
      new MetricsRegistry(),
      { predictor: opts.predictor, alerts: [engine.producer, ...(opts.alerts ?? [])] },
    );
    return (handle = pipeline.addSource(spec, 'replay'));
  };
  const direct: MarketSink = {
    onDepth: (e: DepthEvent) => (handle ?? start()).onDepth(e),
    onTrade: (e: TradeEvent) => (handle ?? start()).onTrade(e),
    onQuote: (e: QuoteEvent) => (handle ?? start()).onQuote(e),
    onOrder: (e: OrderEvent) => (handle ?? start()).onOrder(e),
  };
  const total = 'totalBytes' in source ? (source as { totalBytes: number }).totalBytes : 0;
  const read = (): number => ('bytesRead' in source ? (source as { bytesRead(): number }).bytesRead() : 0);
  const progress = (): void => opts.onProgress?.(engine.record.events, read(), total);
  const paced = opts.paced;
  if (!paced) {
    await source.run(direct, progress);
  } else {
    // The source parses a chunk into copies; at its pause point they go on one at a time, each
    // after the predictions the previous one asked for have come back.
    const held: (() => void)[] = [];
    const drain = async (): Promise<void> => {
      for (let i = 0; i < held.length; i++) {
        held[i]!();
        if (paced.inFlight() > 0) await paced.idle();
      }
      held.length = 0;
      progress();
    };
    await source.run({
      onDepth: (e) => { const c = e.clone(); held.push(() => direct.onDepth(c)); },
      onTrade: (e) => { const c = new TradeEvent(); c.copyFrom(e); held.push(() => direct.onTrade(c)); },
      onQuote: (e) => { const c = Object.assign(new QuoteEvent(), e); held.push(() => direct.onQuote!(c)); },
      onOrder: (e) => { const c = Object.assign(new OrderEvent(), e); held.push(() => direct.onOrder!(c)); },
    }, drain);
    await drain();
  }
  handle?.builder.finish();
  pipeline?.flush();
  engine.finish();
  await opts.predictor?.close?.();
  const tb = source.timeBase.isSet ? source.timeBase.get() : undefined;
  return {
    record: engine.record,
    engine,
    seconds: (performance.now() - t0) / 1000,
    symbols: pipeline?.symbols() ?? [],
    spec,
    kind: /^[a-z]+/.exec(spec)?.[0] ?? 'unknown',
    baseMs: tb ? tb.baseMs : 0,
  };
}
