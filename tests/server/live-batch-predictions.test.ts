/**
 * Issue 14 item 2: with the kernels micro-batched (features.batching: batch), the models' inputs
 * come from the batch's float32 feature matrix and each model runs one inference batch per flush.
 * Three symbols interleaved from the USD-M capture, the shipped goog-gbdt (T = 1) and
 * goog-transformer (T = 100) on the server's predictor:
 *  - every prediction equals onnxruntime-node on the window cut here from the rows' float32 values,
 *    and those values are the float64 engine's within float32 tolerance;
 *  - each model's ONNX runs equal the flushes that had a complete window of it (the engine's
 *    batch counter; batches of 8 rows, a delay no run reaches, so the flushes are the test's);
 *  - freshness holds (maxInFlight 1: every ready row predicted or counted as skipped, the newest
 *    row of every symbol predicted);
 *  - the row-by-row path is unchanged (onFeatures per row, float64 windows).
 */
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LivePipeline } from '../../src/pipeline/live.ts';
import type { SourceHandle } from '../../src/pipeline/source.ts';
import type { MarketSink } from '../../src/model/events.ts';
import type { Prediction } from '../../src/pipeline/plugins.ts';
import { MetricsRegistry } from '../../src/server/metrics.ts';
import { resolveDepth } from '../../src/model/depth.ts';
import { TimeBase } from '../../src/model/time.ts';
import { COL } from '../../src/features/columns.ts';
import { GpuJsBackend } from '../../src/compute/gpujs.ts';
import { LiveDense } from '../../src/compute/live-dense.ts';
import { InferenceEngine } from '../../src/inference/engine.ts';
import { InputTransform } from '../../src/inference/normalize.ts';
import { EnginePredictor } from '../../src/server/predictor.ts';
import { openSource } from '../../src/sources/spec.ts';
import { USDM } from '../../src/sources/samples.ts';
import { setLogSink } from '../../src/core/log.ts';
import { fanOutSymbols, tempDir } from '../helpers.ts';
import { cutWindow, keepingOutput, rowsBySymbol, until, type SeenRow } from './helpers.ts';

setLogSink(() => undefined);

const SYMBOLS = ['A', 'B', 'C'];
const BATCH = 8;
const MODELS = ['goog-gbdt', 'goog-transformer'];

type Seen = SeenRow;

function threeSymbols(h: SourceHandle): MarketSink {
  return fanOutSymbols(h, SYMBOLS);
}

let dir: { dir: string; cleanup: () => void };
const sessions: Record<string, ort.InferenceSession> = {};
beforeAll(async () => {
  dir = tempDir('batch-models');
  for (const m of MODELS) {
    cpSync(join('models', m), join(dir.dir, m), { recursive: true });
    // The graph's own probabilities: a fitted temperature rescales outputs, which is not what this test is about.
    const file = join(dir.dir, m, 'manifest.json');
    const manifest = JSON.parse(readFileSync(file, 'utf8')) as { output: Record<string, unknown> };
    delete manifest.output['temperature'];
    writeFileSync(file, JSON.stringify(manifest));
    sessions[m] = await ort.InferenceSession.create(join(dir.dir, m, 'model.onnx'), { intraOpNumThreads: 1 });
  }
});
afterAll(() => dir?.cleanup());

interface Run {
  seen: Seen[];
  preds: Prediction[];
  runs: Record<string, number>;
  predictor: EnginePredictor;
  dense?: LiveDense;
}

/** The capture through a live pipeline with the predictor; batched: kernels in batches of 8. */
async function run(mode: 'batch' | 'row' | 'engine', maxInFlight: number): Promise<Run> {
  const engine = await InferenceEngine.open({ dir: dir.dir, watch: false, session: { intraOpThreads: 1 }, batcher: { maxBatchSize: 64, maxQueueDelayUs: 200 } });
  const predictor = new EnginePredictor(engine, { maxInFlight, refreshMs: 1e6 });
  const runsBefore = Object.fromEntries(engine.describe().models.map((m) => [m.name, m.metrics?.batches ?? 0]));
  const { seen, preds, out } = keepingOutput();
  const backend = mode === 'engine' ? undefined : await GpuJsBackend.create('cpu');
  const dense = backend && new LiveDense(backend, resolveDepth(10), mode === 'batch' ? BATCH : 1);
  const pipeline = new LivePipeline(
    { depth: resolveDepth(10), timeBase: TimeBase.ofEpochMs(Date.now()), features: { vpinBucket: 5, vpinBucketBySymbol: {}, vpinBuckets: 50, barMs: 1000, barWindow: 300 } },
    out, new MetricsRegistry(),
    { predictor, ...(dense ? { dense } : {}), ...(mode === 'batch' ? { batch: { maxBatchSize: BATCH, maxQueueDelayUs: 1e9 } } : {}) },
  );
  await (await openSource(USDM)).run(threeSymbols(pipeline.addSource('usdm', 'replay')));
  pipeline.flush();
  await backend?.dispose();
  // Every ready row is predicted or skipped; wait for the engine to answer them all.
  const ready = MODELS.reduce((n, m) => n + seen.filter((s) => s.row >= windowOf(m) - 1).length, 0);
  await until(() => preds.length + predictor.skipped + predictor.failed >= ready, 120_000, `${ready} predictions`);
  const runs = Object.fromEntries(engine.describe().models.map((m) => [m.name, (m.metrics?.batches ?? 0) - (runsBefore[m.name] ?? 0)]));
  await predictor.close();
  return { seen, preds, runs, predictor, ...(dense ? { dense } : {}) };
}

/** Each model's input: columns, window, and whether the graph takes [N, F] (one row) or [N, T, F]. */
const inputs: Record<string, { columns: string[]; window: number; flat: boolean; transform: InputTransform }> = {};
const windowOf = (model: string): number => inputs[model]!.window;
const columnsOf = (model: string): string[] => inputs[model]!.columns;



/** onnxruntime-node on the windows, normalised per the manifest (a copy where the graph does it). */
async function reference(model: string, windows: Float32Array[]): Promise<Float32Array[]> {
  const s = sessions[model]!;
  const size = windows[0]!.length, T = windowOf(model), F = size / T;
  const out: Float32Array[] = [];
  for (let i = 0; i < windows.length; i += 512) {
    const part = windows.slice(i, i + 512);
    const x = new Float32Array(part.length * size);
    part.forEach((w, j) => inputs[model]!.transform.write(w, x, j * size));
    const dims = inputs[model]!.flat ? [part.length, T * F] : [part.length, T, F];
    const r = await s.run({ [s.inputNames[0]!]: new ort.Tensor('float32', x, dims) });
    const p = r[s.outputNames.find((n) => n === 'probs') ?? s.outputNames[0]!]!.data as Float32Array;
    for (let j = 0; j < part.length; j++) out.push(p.slice(j * 3, j * 3 + 3));
  }
  return out;
}

/** Every prediction the model's answer on its window, cut from the rows' values as float32 (the model's input type on both paths). */
async function expectPredictionsMatch(r: Run, atLeast = 1000): Promise<void> {
  const rows = rowsBySymbol(r.seen);
  for (const model of MODELS) {
    const mine = r.preds.filter((p) => p.model === model);
    expect(mine.length).toBeGreaterThan(atLeast);
    const want = await reference(model, mine.map((p) => cutWindow(rows.get(p.symbol)!, columnsOf(model), windowOf(model), p.row)));
    let worst = 0;
    mine.forEach((p, i) => {
      for (let c = 0; c < 3; c++) worst = Math.max(worst, Math.abs(p.probs[c]! - want[i]![c]!));
    });
    expect(worst, `${model}: largest difference from onnxruntime on the window cut outside the server`).toBeLessThan(1e-5);
  }
}

describe('live micro-batch to the models', () => {
  let engineRun: Run;
  beforeAll(async () => {
    const eng = await InferenceEngine.open({ dir: dir.dir, watch: false });
    for (const m of MODELS) {
      const spec = eng.inputSpec(m);
      const manifest = eng.repository.get(m)!.manifest;
      inputs[m] = { columns: spec.columns, window: spec.window, flat: manifest.input.layout === 'NF', transform: new InputTransform(manifest) };
    }
    await eng.close();
    engineRun = await run('engine', 1e9);
  }, 300_000);

  it('batch: every prediction is the model on the window of the batch\'s float32 values; one ONNX run per model per flush with a complete window', async () => {
    const r = await run('batch', 1e9);
    // The rows are the float64 engine's, within float32 tolerance, in the models' columns.
    expect(r.seen.length).toBe(engineRun.seen.length);
    let compared = 0;
    for (let i = 0; i < r.seen.length; i++) {
      const a = r.seen[i]!.values, b = engineRun.seen[i]!.values;
      for (const c of columnsOf('goog-transformer')) {
        const x = a[COL[c as keyof typeof COL]]!, y = b[COL[c as keyof typeof COL]]!;
        if (Number.isNaN(y)) { expect(x).toBeNaN(); continue; }
        expect(Math.abs(x - y), `${c} row ${i}`).toBeLessThanOrEqual(1e-5 * Math.abs(y) + 1e-9);
        compared++;
      }
    }
    expect(compared).toBeGreaterThan(r.seen.length * 15);
    await expectPredictionsMatch(r);
    // Every ready row predicted (nothing waits with maxInFlight this large), through onBatch only.
    for (const m of MODELS) expect(r.preds.filter((p) => p.model === m).length).toBe(r.seen.filter((s) => s.row >= windowOf(m) - 1).length);
    expect(r.predictor.waitingBatches).toBe(0);
    // Flush k is rows [8k, 8k + 8) in arrival order (full batches, the last at flush()).
    for (const m of MODELS) {
      let flushes = 0;
      for (let k = 0; k < r.seen.length; k += BATCH) if (r.seen.slice(k, k + BATCH).some((s) => s.row >= windowOf(m) - 1)) flushes++;
      expect(r.runs[m], `${m}: ONNX runs`).toBe(flushes);
    }
    expect(r.dense!.calls).toBe(Math.ceil(r.seen.length / BATCH));
    expect(r.predictor.batchedFlushes).toBe(r.runs['goog-gbdt']! + r.runs['goog-transformer']!);
    const metrics: string[] = [];
    r.predictor.renderMetrics(metrics);
    expect(metrics).toContain(`flowcast_live_inference_batches_total{source="flush"} ${r.runs['goog-gbdt']! + r.runs['goog-transformer']!}`);
  }, 300_000);

  it('batch, maxInFlight 1: every ready row is predicted or skipped, the newest row of every symbol predicted', async () => {
    const r = await run('batch', 1);
    for (const m of MODELS) {
      const mine = r.preds.filter((p) => p.model === m);
      for (const sym of SYMBOLS) {
        const last = r.seen.filter((s) => s.sym === sym).at(-1)!.row;
        expect(mine.some((p) => p.symbol === sym && p.row === last), `${m} ${sym} newest row ${last}`).toBe(true);
      }
    }
    const ready = MODELS.reduce((n, m) => n + r.seen.filter((s) => s.row >= windowOf(m) - 1).length, 0);
    expect(r.preds.length + r.predictor.skipped).toBe(ready);
    expect(r.predictor.failed).toBe(0);
    // Runs: one per flush with a window ready and a free slot, plus one per batch of rows that waited.
    expect(r.runs['goog-gbdt']! + r.runs['goog-transformer']!).toBe(r.predictor.batchedFlushes + r.predictor.waitingBatches);
    expect(r.predictor.skipped).toBeGreaterThan(0);
    await expectPredictionsMatch(r, 50);
  }, 300_000);

  it('row by row: unchanged (onFeatures per row, the float64 rows\' windows)', async () => {
    const r = await run('row', 1e9);
    expect(r.predictor.batchedFlushes).toBe(0);
    for (const m of MODELS) expect(r.preds.filter((p) => p.model === m).length).toBe(r.seen.filter((s) => s.row >= windowOf(m) - 1).length);
    await expectPredictionsMatch(r);
    // Without kernels, the same predictions (the float64 engine's rows).
    const e = engineRun;
    expect(e.predictor.batchedFlushes).toBe(0);
    await expectPredictionsMatch(e);
  }, 300_000);
});
