/**
 * The server's predictor (src/server/predictor.ts EnginePredictor over an InferenceEngine), made to
 * answer every row in a backtest. Live, inference is asynchronous and a symbol's rows that come
 * while two requests are in flight are skipped (the newest waits): right for a server, but a
 * backtest reads the day far faster than real time, so it would skip most rows, and which ones
 * would depend on the machine's load. Here the engine's predict calls are counted; the backtest
 * (run.ts) hands the pipeline its next event only once none is in flight, so every row gets its
 * prediction before the market moves on, and a run is repeatable.
 */
import { InferenceEngine } from '../inference/engine.ts';
import { EnginePredictor, engineThrough, type ServerFeatureConfig } from '../server/predictor.ts';
import type { ModelsConfig } from '../server/config.ts';

export interface PacedPredictor {
  predictor: EnginePredictor;
  /** Predict calls not yet answered. */
  inFlight(): number;
  /** Resolves once no call is in flight (at once when none is). */
  idle(): Promise<void>;
  close(): Promise<void>;
}

export async function pacedPredictor(models: Pick<ModelsConfig, 'dir' | 'runner' | 'maxBatchSize' | 'symbols'>, features: ServerFeatureConfig): Promise<PacedPredictor> {
  // No watching (a backtest reads the models as they are at its start); no batching delay.
  const engine = await InferenceEngine.open({ dir: models.dir, watch: false, runner: models.runner, batcher: { maxBatchSize: models.maxBatchSize, maxQueueDelayUs: 0 } });
  let pending = 0;
  let waiters: (() => void)[] = [];
  const settle = (): void => {
    if (--pending === 0) {
      const w = waiters;
      waiters = [];
      for (const f of w) f();
    }
  };
  const counted = engineThrough(engine, (model, symbol, window) => {
    pending++;
    const p = engine.predict(model, symbol, window);
    // Registered before the predictor's own callbacks: the count drops first, and whoever awaits
    // idle() resumes after the prediction has been emitted (a later microtask).
    p.then(settle, settle);
    return p;
  });
  const ready = engine.models().filter((m) => m.state === 'ready');
  if (ready.length === 0) {
    await engine.close();
    throw new Error(`models ${models.dir}: no model is ready (${engine.models().map((m) => `${m.name}: ${m.state}`).join(', ') || 'none found'})`);
  }
  const predictor = new EnginePredictor(counted, { symbols: models.symbols, features });
  return {
    predictor,
    inFlight: () => pending,
    idle: () => (pending === 0 ? Promise.resolve() : new Promise<void>((r) => waiters.push(r))),
    close: () => predictor.close(),
  };
}
