/**
 * Issue 14 item 2, the fallback: an inference engine without predictMany (a user's wrapper, like
 * the backtester's in src/backtest/predict.ts) still gets the live micro-batches
 * (features.batching: batch, EnginePredictor.onBatch -> runGroup), each window of a group as its
 * own engine.predict request, the answers packed back in the group's order.
 *
 * The server's live pipeline with kernels in batches of 8, three interleaved symbols of the USD-M
 * capture, the shipped goog-gbdt (T = 1) and goog-transformer (T = 100), on a real InferenceEngine
 * behind a thin wrapper that delegates everything but predictMany and records its predict calls.
 * The symbols see the same book events but their own variant of the capture's trades (B: sizes
 * doubled, C: sides flipped), so the same row of two symbols is a different window: an answer
 * given to the wrong symbol or row of its group does not match.
 *  - each ready row is exactly one predict call, in the batch's order, with the window cut here
 *    from the rows' float32 values (bit for bit);
 *  - every prediction equals the unwrapped engine's answer (a separate engine, predictMany) for the
 *    window of its symbol and row, within 1e-5;
 *  - freshness with maxInFlight 1: every ready row predicted or counted as skipped, every symbol's
 *    newest row predicted, the rows that waited sent through the fallback too.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LivePipeline } from '../../src/pipeline/live.ts';
import type { SourceHandle } from '../../src/pipeline/source.ts';
import type { MarketSink } from '../../src/model/events.ts';
import type { Prediction } from '../../src/pipeline/plugins.ts';
import { MetricsRegistry } from '../../src/server/metrics.ts';
import { resolveDepth } from '../../src/model/depth.ts';
import { TimeBase } from '../../src/model/time.ts';
import { GpuJsBackend } from '../../src/compute/gpujs.ts';
import { LiveDense } from '../../src/compute/live-dense.ts';
import { InferenceEngine } from '../../src/inference/engine.ts';
import { EnginePredictor, engineThrough, type InferenceEngineLike } from '../../src/server/predictor.ts';
import { openSource } from '../../src/sources/spec.ts';
import { USDM } from '../../src/sources/samples.ts';
import { setLogSink } from '../../src/core/log.ts';
import { fanOutSymbols } from '../helpers.ts';
import { cutWindow, keepingOutput, rowsBySymbol, until, type SeenRow } from './helpers.ts';

setLogSink(() => undefined);

const SYMBOLS = ['A', 'B', 'C'] as const;
const BATCH = 8;
const MODELS = ['goog-gbdt', 'goog-transformer'];
const ENGINE = { dir: 'models', only: MODELS, watch: false, session: { intraOpThreads: 1 } } as const;

type Seen = SeenRow;
interface Call { model: string; symbol: string; window: Float32Array }

/**
 * What a user's wrapper of the engine looks like: every call the server uses but predictMany,
 * delegating to the engine; each predict call recorded with a copy of its window (the predictor's
 * packs are reused once a group has its answers).
 */
function withoutPredictMany(engine: InferenceEngine, calls: Call[]): InferenceEngineLike {
  return engineThrough(engine, (model, symbol, window) => {
    calls.push({ model, symbol, window: Float32Array.from(window) });
    return engine.predict(model, symbol, window);
  });
}

/**
 * The capture's events for A, B and C, interleaved; B's trades twice the size, C's on the other
 * side, so the symbols' trade columns (trade_vol, trade_signed_vol, tfi_h50, vpin) differ.
 */
function threeVariants(h: SourceHandle): MarketSink {
  const [a, b, c] = SYMBOLS.map((s) => fanOutSymbols(h, [s])) as [MarketSink, MarketSink, MarketSink];
  return {
    onDepth: (e) => {
      a.onDepth(e);
      b.onDepth(e);
      c.onDepth(e);
    },
    onTrade: (e) => {
      const size = e.size, sign = e.sign;
      a.onTrade(e);
      e.size = size * 2;
      b.onTrade(e);
      e.size = size;
      e.sign = sign === 1 ? -1 : sign === -1 ? 1 : 0;
      c.onTrade(e);
      e.sign = sign;
    },
  };
}

interface Run {
  seen: Seen[];
  preds: Prediction[];
  calls: Call[];
  /** Requests each model's batcher took during the run (the engine's own count). */
  requests: Record<string, number>;
  predictor: EnginePredictor;
}

/** The capture through the live pipeline, kernels in batches of 8, the predictor on the wrapped engine. */
async function run(maxInFlight: number): Promise<Run> {
  const engine = await InferenceEngine.open({ ...ENGINE, batcher: { maxBatchSize: 64, maxQueueDelayUs: 200 } });
  const calls: Call[] = [];
  const predictor = new EnginePredictor(withoutPredictMany(engine, calls), { maxInFlight, refreshMs: 1e6 });
  const { seen, preds, out } = keepingOutput();
  const backend = await GpuJsBackend.create('cpu');
  const pipeline = new LivePipeline(
    { depth: resolveDepth(10), timeBase: TimeBase.ofEpochMs(Date.now()), features: { vpinBucket: 5, vpinBucketBySymbol: {}, vpinBuckets: 50, barMs: 1000, barWindow: 300 } },
    out, new MetricsRegistry(),
    // A delay no run reaches: every flush is 8 rows in arrival order, the last one at flush().
    { predictor, dense: new LiveDense(backend, resolveDepth(10), BATCH), batch: { maxBatchSize: BATCH, maxQueueDelayUs: 1e9 } },
  );
  await (await openSource(USDM)).run(threeVariants(pipeline.addSource('usdm', 'replay')));
  pipeline.flush();
  await backend.dispose();
  const ready = readyRows(seen).length;
  await until(() => preds.length + predictor.skipped + predictor.failed >= ready, 120_000, `${ready} predictions`);
  const requests = Object.fromEntries(engine.describe().models.map((m) => [m.name, m.metrics?.requests ?? 0]));
  await predictor.close();
  return { seen, preds, calls, requests, predictor };
}

const inputs: Record<string, { columns: string[]; window: number }> = {};
const windowOf = (model: string): number => inputs[model]!.window;

/** The rows with a complete window of each model, in arrival order. */
function readyRows(seen: Seen[], model?: string): Seen[] {
  return (model ? [model] : MODELS).flatMap((m) => seen.filter((s) => s.row >= windowOf(m) - 1));
}


/** The model's window of the symbol ending at `row`, cut here from the rows' values as float32. */
const cut = (rows: Seen[], model: string, row: number): Float32Array => cutWindow(rows, inputs[model]!.columns, windowOf(model), row);

function sameWindow(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i] && !(Number.isNaN(a[i]) && Number.isNaN(b[i]))) return false;
  return true;
}

let reference: InferenceEngine;

/** The unwrapped engine's answers for the windows, in order (predictMany, 1,024 at a time). */
async function expected(model: string, windows: Float32Array[]): Promise<Float32Array[]> {
  const size = windows[0]!.length, out: Float32Array[] = [];
  for (let i = 0; i < windows.length; i += 1024) {
    const part = windows.slice(i, i + 1024);
    const pack = new Float32Array(part.length * size);
    part.forEach((w, j) => pack.set(w, j * size));
    const probs = await reference.predictMany(model, pack, part.length, `${part.length} expected windows`);
    for (let j = 0; j < part.length; j++) out.push(probs.slice(j * 3, j * 3 + 3));
  }
  return out;
}

/** Every prediction against the unwrapped engine on the window of its own symbol and row; the largest difference per model. */
async function worstDifference(r: Run, model: string): Promise<number> {
  const rows = rowsBySymbol(r.seen);
  const mine = r.preds.filter((p) => p.model === model);
  const want = await expected(model, mine.map((p) => cut(rows.get(p.symbol)!, model, p.row)));
  let worst = 0;
  mine.forEach((p, i) => {
    for (let c = 0; c < 3; c++) worst = Math.max(worst, Math.abs(p.probs[c]! - want[i]![c]!));
  });
  return worst;
}

describe('live micro-batch to an engine without predictMany (separate requests)', () => {
  beforeAll(async () => {
    reference = await InferenceEngine.open({ ...ENGINE, batcher: { maxBatchSize: 64, maxQueueDelayUs: 0 } });
    for (const m of MODELS) {
      const spec = reference.inputSpec(m);
      inputs[m] = { columns: spec.columns, window: spec.window };
    }
  }, 120_000);
  afterAll(() => reference?.close());

  it('every ready row is one predict call with its window, in the batch\'s order; every answer goes to its own symbol and row', async () => {
    const r = await run(1e9);
    const rows = rowsBySymbol(r.seen);
    expect(r.predictor.failed).toBe(0);
    expect(r.predictor.batchedFlushes, 'groups from the flushes (onBatch, not onFeatures)').toBeGreaterThan(0);
    expect(r.predictor.waitingBatches).toBe(0);
    // Groups of several windows, so the order of their answers is what is tested.
    expect(r.calls.length).toBeGreaterThan(3 * r.predictor.batchedFlushes);
    for (const m of MODELS) {
      const ready = readyRows(r.seen, m);
      const calls = r.calls.filter((c) => c.model === m);
      expect(ready.length, m).toBeGreaterThan(1000);
      // One call per window, nothing else reaching the engine (its batcher counts the same).
      expect(calls.length, `${m}: predict calls`).toBe(ready.length);
      expect(r.requests[m], `${m}: the engine's requests`).toBe(ready.length);
      // The calls go in the batch's order (onBatch makes them synchronously), each with its row's window.
      calls.forEach((c, i) => {
        expect(c.symbol, `${m} call ${i}`).toBe(ready[i]!.sym);
        expect(sameWindow(c.window, cut(rows.get(c.symbol)!, m, ready[i]!.row)), `${m} call ${i}: the window of ${ready[i]!.sym} row ${ready[i]!.row}`).toBe(true);
      });
      // Every ready row predicted exactly once.
      const got = r.preds.filter((p) => p.model === m).map((p) => `${p.symbol}:${p.row}`);
      expect(new Set(got).size).toBe(got.length);
      expect(got.sort()).toEqual(ready.map((s) => `${s.sym}:${s.row}`).sort());
      expect(await worstDifference(r, m), `${m}: largest difference from the unwrapped engine on the window of the prediction's symbol and row`).toBeLessThan(1e-5);
    }
    // The symbols' windows differ, so an answer packed for a neighbour in the group would not match.
    const wants = await expected('goog-gbdt', SYMBOLS.map((s) => cut(rows.get(s)!, 'goog-gbdt', 2000)));
    const gap = (x: Float32Array, y: Float32Array) => Math.max(...[0, 1, 2].map((c) => Math.abs(x[c]! - y[c]!)));
    expect(gap(wants[0]!, wants[1]!)).toBeGreaterThan(1e-4);
    expect(gap(wants[0]!, wants[2]!)).toBeGreaterThan(1e-4);
    expect(gap(wants[1]!, wants[2]!)).toBeGreaterThan(1e-4);
  }, 300_000);

  it('maxInFlight 1: every ready row predicted or skipped, each symbol\'s newest row predicted, one call per predicted window', async () => {
    const r = await run(1);
    expect(r.predictor.failed).toBe(0);
    expect(r.preds.length + r.predictor.skipped).toBe(readyRows(r.seen).length);
    expect(r.predictor.skipped).toBeGreaterThan(0);
    // Rows that waited for a free slot went as groups of their own, through the same fallback.
    expect(r.predictor.waitingBatches).toBeGreaterThan(0);
    for (const m of MODELS) {
      const mine = r.preds.filter((p) => p.model === m);
      expect(r.calls.filter((c) => c.model === m).length, `${m}: predict calls`).toBe(mine.length);
      expect(r.requests[m], `${m}: the engine's requests`).toBe(mine.length);
      for (const sym of SYMBOLS) {
        const last = r.seen.filter((s) => s.sym === sym).at(-1)!.row;
        expect(mine.some((p) => p.symbol === sym && p.row === last), `${m} ${sym} newest row ${last}`).toBe(true);
      }
      const got = mine.map((p) => `${p.symbol}:${p.row}`);
      expect(new Set(got).size, `${m}: no row predicted twice`).toBe(got.length);
      expect(mine.length).toBeGreaterThan(50);
      expect(await worstDifference(r, m), `${m}: largest difference from the unwrapped engine`).toBeLessThan(1e-5);
    }
  }, 300_000);
});
