/**
 * Connects the server to the modules that produce predictions, alerts and backend health
 * (src/inference, src/analytics, src/compute), through the interfaces in plugins.ts.
 */
import { DENSE_HISTORY } from '../../kernels/dense.ts';
import { liveCompute, type LiveCompute } from '../compute/live-dense.ts';
import { proofSummary } from '../compute/lane/record.ts';
import type { ServerConfig } from './config.ts';
import type { ServerOptions } from './server.ts';
import type { HealthSection } from './plugins.ts';
import type { AlertContext, AlertProducer, AlertProducerFactory } from '../pipeline/plugins.ts';
import { AnalyticsEngine, renderPrometheus } from '../analytics/index.ts';
import { EnginePredictor } from './predictor.ts';
import { InferenceEngine } from '../inference/engine.ts';
import { logger } from '../core/log.ts';

const log = logger('server');

/**
 * The live feed computes features with the float64 engine, row by row as each event arrives; with
 * `--compute gpujs...` the kernels recompute each row's dense columns (src/compute/live-dense.ts).
 * /healthz reports the choice and its reason, the kernels' time on the live path, and which kernel
 * backends this machine has (probed once, in the background, by running them).
 */
export function computeHealth(compute: LiveCompute): HealthSection {
  let probe: Promise<Record<string, unknown>> | undefined;
  const run = async (): Promise<Record<string, unknown>> => {
    try {
      const { probeComputeEnvironment } = await import('../compute/probe.ts');
      const env = await probeComputeEnvironment({ tfjs: false, onnx: false });
      return {
        kernels: env.gpujs.modes.map((m) => ({ backend: `gpujs:${m.mode}`, available: m.available && !m.error, detail: m.error ?? m.detail })),
      };
    } catch (e) {
      return { kernels: { error: (e as Error).message } };
    }
  };
  const { info, dense, batching } = compute;
  const path = !dense
    ? 'FeatureEngine (src/features/engine.ts), each row as it arrives'
    : compute.batch
      ? `FeatureEngine (src/features/engine.ts) each row as it arrives; dense columns by ${info.libraryMode} for micro-batches of rows of all symbols, one kernel call each`
      : `FeatureEngine (src/features/engine.ts) each row as it arrives; dense columns by ${info.libraryMode} over the row's last ${DENSE_HISTORY + 1} rows`;
  return {
    name: 'compute',
    async health() {
      probe ??= run();
      const kernelTime = dense ? {
        kernelRows: dense.rows,
        kernelCalls: dense.calls,
        kernelMeanUs: dense.rows ? Math.round((dense.seconds / dense.rows) * 1e7) / 10 : null,
        batching: { ...batching, meanRowsPerCall: dense.calls ? Math.round((dense.rows / dense.calls) * 10) / 10 : null },
      } : {};
      // Which GPU paths were proven where (the software-GPU lane here, scripts/gpu-check on a GPU box): read per request, the lane may rerun.
      return { ...info, path, ...kernelTime, ...(await probe), gpuProven: proofSummary() };
    },
  };
}

/** The inference engine over `models.dir`, serving the ready models (each to its configured symbols). */
export async function loadPredictor(cfg: ServerConfig): Promise<{ predictor?: EnginePredictor; inferenceStatus?: string }> {
  if (!cfg.models.dir) return { inferenceStatus: 'inference disabled (models.dir is empty)' };
  let engine: InferenceEngine;
  try {
    engine = await InferenceEngine.open({
      dir: cfg.models.dir,
      watch: true,
      runner: cfg.models.runner,
      pinned: cfg.models.versions,
      batcher: { maxBatchSize: cfg.models.maxBatchSize, maxQueueDelayUs: cfg.models.maxQueueDelayUs },
    });
  } catch (e) {
    log.warn('no models served', { dir: cfg.models.dir, error: e as Error });
    return { inferenceStatus: `no models served: ${(e as Error).message}` };
  }
  const ready = engine.models().filter((m) => m.state === 'ready');
  if (ready.length === 0) log.warn('no model is ready', { dir: cfg.models.dir, models: engine.models() });
  else log.info('serving models', { models: ready.map((m) => m.name), symbols: cfg.models.symbols });
  for (const m of engine.models()) if (m.pinned && m.state !== 'ready') log.warn('a model version in models.versions is not served', { model: m.name, error: m.error });
  // The features config goes by reference: models on an auto V fix it before the pipeline copies it.
  return { predictor: new EnginePredictor(engine, { symbols: cfg.models.symbols, features: cfg.features }) };
}

/**
 * The analytics engine (toxicity, impact, market-abuse and stress detectors, feed latency) the
 * server runs: its VPIN buckets are the features' (the same per-symbol sizes), and its VPIN and bar
 * measures are the feature engine's own state machines (rows reach the alert producers before the
 * feature engine, as SpecMeasureSource requires), so the live server computes each once.
 */
export function liveAnalytics(ctx: AlertContext): AnalyticsEngine {
  return new AnalyticsEngine({ measures: { vpinBucket: ctx.vpinBySymbol } }, ctx.timeBase, {
    onAlert: (a) => ctx.publish({ symbol: a.symbol, ts: a.ts, kind: a.kind, severity: a.severity, message: a.message, evidence: a.evidence }),
  }, ctx.books, ctx.features);
}

/** An analytics engine as an alert producer: each event before the book applies it, every row after; its measures go to /metrics. */
export function analyticsProducer(engine: AnalyticsEngine): AlertProducer {
  return {
    onDepth: (e) => engine.onDepth(e),
    onTrade: (e) => engine.onTrade(e),
    onQuote: (e) => engine.onQuote(e),
    onOrder: (e) => engine.onOrder(e),
    onRow: (r) => engine.onRow(r),
    health: () => ({ ...engine.stats() }),
    renderMetrics: (out) => out.push(renderPrometheus(engine.metrics()).trimEnd()),
  };
}

export const analyticsAlerts: AlertProducerFactory = (ctx) => analyticsProducer(liveAnalytics(ctx));

export async function loadPlugins(cfg: ServerConfig): Promise<ServerOptions> {
  const f = cfg.features;
  const compute = await liveCompute(f.compute, cfg.depth, { mode: f.batching, maxBatchSize: f.maxBatchSize, maxQueueDelayUs: f.maxQueueDelayUs });
  const health: HealthSection[] = [computeHealth(compute)];
  // Start the probe now so the first /healthz does not wait for it.
  void health[0]!.health();
  return { health, compute, alerts: [analyticsAlerts], ...(await loadPredictor(cfg)) };
}
