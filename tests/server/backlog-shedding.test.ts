/**
 * Prediction shedding by the ingest backlog on the micro-batched path (features.batching: batch,
 * EnginePredictor.onBatch) and its sweep (EnginePredictor.followBacklog). The row-by-row path
 * through the real server: overload.test.ts.
 *
 * The server's live pipeline with kernels in batches of 8, four symbols of the USD-M capture (the
 * same book events, each symbol its own trade sizes, so their windows differ), the shipped
 * goog-gbdt (T = 1) and goog-transformer (T = 100) on a real InferenceEngine. The backlog is what
 * the ingest would report (IngestBacklog.pendingRows), set here per symbol; maxInFlight is large,
 * so every skipped row is one the backlog shed.
 *
 * The capture is recorded first and fed in steps, each step's events and its last flush in one
 * synchronous turn: the sweep is a timer, so it cannot run before the step's rows have all reached
 * the predictor, whatever the interval. Each phase then waits for its accounting to close (every
 * ready row predicted or skipped), which for a parked symbol only the sweep can do.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LivePipeline, type PipelineOutput } from '../../src/pipeline/live.ts';
import type { SourceHandle } from '../../src/pipeline/source.ts';
import { DepthEvent, TradeEvent, type MarketSink } from '../../src/model/events.ts';
import { MetricsRegistry } from '../../src/server/metrics.ts';
import { resolveDepth } from '../../src/model/depth.ts';
import { TimeBase } from '../../src/model/time.ts';
import { GpuJsBackend } from '../../src/compute/gpujs.ts';
import { LiveDense } from '../../src/compute/live-dense.ts';
import { InferenceEngine } from '../../src/inference/engine.ts';
import { EnginePredictor } from '../../src/server/predictor.ts';
import type { IngestBacklog } from '../../src/server/ingest.ts';
import { openSource } from '../../src/sources/spec.ts';
import { USDM } from '../../src/sources/samples.ts';
import { setLogSink } from '../../src/core/log.ts';
import { fanOutSymbols } from '../helpers.ts';
import { cutWindow, rowsBySymbol, until } from './helpers.ts';

setLogSink(() => undefined);

const SYMBOLS = ['A', 'B', 'C', 'D'] as const;
type Sym = (typeof SYMBOLS)[number];
const BATCH = 8;
const MODELS = ['goog-gbdt', 'goog-transformer'];
const ENGINE = { dir: 'models', only: MODELS, watch: false, session: { intraOpThreads: 1 } } as const;
/** Short: the steps are synchronous, so the sweep cannot come early (see above), only later. */
const INTERVAL_MS = 20;
/** Events recorded from the capture: warm-up (100+ rows a symbol) and the phases' 80 rows a symbol, with room. */
const RECORDED = 1200;

interface Seen { sym: string; row: number; values: Float64Array }
/** A prediction, with the number of inference batches of waiting rows made before it was emitted. */
interface Pred { model: string; symbol: string; row: number; probs: Float32Array; waitingBatchesBefore: number }

/** The ingest's count of waiting book messages per symbol, as the test sets it. */
class Backlog implements IngestBacklog {
  private readonly pending = new Map<string, number>();
  set(counts: Partial<Record<Sym, number>>): void {
    for (const [s, n] of Object.entries(counts)) this.pending.set(s, n);
  }
  pendingRows(symbol: string): number {
    return this.pending.get(symbol) ?? 0;
  }
}

/** The first `n` events of the capture, copied (a source's events are flyweights). */
async function record(n: number): Promise<(DepthEvent | TradeEvent)[]> {
  const out: (DepthEvent | TradeEvent)[] = [];
  await (await openSource(USDM)).run({
    onDepth: (e) => {
      if (out.length < n) out.push(e.clone());
    },
    onTrade: (e) => {
      if (out.length >= n) return;
      const t = new TradeEvent();
      t.copyFrom(e);
      out.push(t);
    },
  });
  return out;
}

/** Every event to each symbol; symbol i's trades i + 1 times the size (trade_vol, tfi, vpin differ by symbol). */
function sizeVariants(h: SourceHandle): MarketSink {
  const sinks = SYMBOLS.map((s) => fanOutSymbols(h, [s]));
  return {
    onDepth: (e) => {
      for (const s of sinks) s.onDepth(e);
    },
    onTrade: (e) => {
      const size = e.size;
      sinks.forEach((s, i) => {
        e.size = size * (i + 1);
        s.onTrade(e);
      });
      e.size = size;
    },
  };
}

const inputs: Record<string, { columns: string[]; window: number }> = {};

/** The model's window of the symbol ending at `row`, cut here from the rows' values as float32. */
const cut = (rows: Seen[], model: string, row: number): Float32Array => cutWindow(rows, inputs[model]!.columns, inputs[model]!.window, row);

let reference: InferenceEngine;

/** The largest difference of the predictions from a separate engine's answers on the windows of their symbols and rows. */
async function worstDifference(preds: Pred[], seen: Seen[]): Promise<number> {
  const rows = rowsBySymbol(seen);
  let worst = 0;
  for (const model of MODELS) {
    const mine = preds.filter((p) => p.model === model);
    if (mine.length === 0) continue;
    const size = inputs[model]!.window * inputs[model]!.columns.length;
    const pack = new Float32Array(mine.length * size);
    mine.forEach((p, j) => pack.set(cut(rows.get(p.symbol)!, model, p.row), j * size));
    const want = await reference.predictMany(model, pack, mine.length, `${mine.length} expected windows`);
    mine.forEach((p, j) => {
      for (let c = 0; c < 3; c++) worst = Math.max(worst, Math.abs(p.probs[c]! - want[j * 3 + c]!));
    });
  }
  return worst;
}

/** What one phase did: the rows it made (by step), the predictions of its rows, the counters' deltas. */
interface Phase {
  steps: Seen[][];
  preds: Pred[];
  skipped: number;
  superseded: number;
  batchedFlushes: number;
  waitingBatches: number;
  waitingBatchesAtStart: number;
  /** Each model's ONNX runs and requests during the phase (the engine's own counters). */
  runs: Record<string, { batches: number; requests: number }>;
}

describe('prediction shedding by the ingest backlog, micro-batched', () => {
  let engine: InferenceEngine;
  let predictor: EnginePredictor;
  let backend: GpuJsBackend;
  let pipeline: LivePipeline;
  let sink: MarketSink;
  let events: (DepthEvent | TradeEvent)[];
  let next = 0;
  const backlog = new Backlog();
  const seen: Seen[] = [];
  const preds: Pred[] = [];

  beforeAll(async () => {
    reference = await InferenceEngine.open({ ...ENGINE, batcher: { maxBatchSize: 64, maxQueueDelayUs: 0 } });
    for (const m of MODELS) {
      const spec = reference.inputSpec(m);
      inputs[m] = { columns: spec.columns, window: spec.window };
    }
    events = await record(RECORDED);
    engine = await InferenceEngine.open({ ...ENGINE, batcher: { maxBatchSize: 64, maxQueueDelayUs: 200 } });
    predictor = new EnginePredictor(engine, { maxInFlight: 1e9, refreshMs: 1e6 });
    predictor.followBacklog(backlog, INTERVAL_MS);
    const out: PipelineOutput = {
      row: (r) => seen.push({ sym: r.sym, row: r.row, values: Float64Array.from(r.values) }),
      prediction: (p) => preds.push({ model: p.model, symbol: p.symbol, row: p.row, probs: Float32Array.from(p.probs), waitingBatchesBefore: predictor.waitingBatches }),
      alert: () => {},
    };
    backend = await GpuJsBackend.create('cpu');
    pipeline = new LivePipeline(
      { depth: resolveDepth(10), timeBase: TimeBase.ofEpochMs(Date.now()), features: { vpinBucket: 5, vpinBucketBySymbol: {}, vpinBuckets: 50, barMs: 1000, barWindow: 300 } },
      out, new MetricsRegistry(),
      // A delay no run reaches: the test's flushes and full batches of 8 are the only ones.
      { predictor, dense: new LiveDense(backend, resolveDepth(10), BATCH), batch: { maxBatchSize: BATCH, maxQueueDelayUs: 1e9 } },
    );
    sink = sizeVariants(pipeline.addSource('usdm', 'replay'));
    // Warm-up, nothing pending: every symbol past the longest window, every ready row predicted.
    const T = Math.max(...MODELS.map((m) => inputs[m]!.window));
    while (seen.filter((s) => s.sym === 'A').length < T + BATCH) {
      if (next >= events.length) throw new Error(`warm-up: ${RECORDED} recorded events make fewer than ${T + BATCH} rows a symbol`);
      for (const end = next + 20; next < end && next < events.length; next++) push(events[next]!);
      pipeline.flush();
    }
    await settled();
    expect(predictor.skipped).toBe(0);
  }, 300_000);

  afterAll(async () => {
    await predictor?.close();
    await backend?.dispose();
    await reference?.close();
  });

  function push(e: DepthEvent | TradeEvent): void {
    if (e instanceof DepthEvent) sink.onDepth(e);
    else sink.onTrade(e);
  }

  function readyRows(rows: Seen[], model: string): Seen[] {
    return rows.filter((s) => s.row >= inputs[model]!.window - 1);
  }

  /** Waits until every ready row so far is predicted or skipped. */
  async function settled(): Promise<void> {
    const ready = MODELS.reduce((n, m) => n + readyRows(seen, m).length, 0);
    await until(() => preds.length + predictor.skipped + predictor.failed >= ready, 120_000, `${ready} ready rows predicted or skipped`);
  }

  function engineRuns(): Record<string, { batches: number; requests: number }> {
    return Object.fromEntries(engine.describe().models.map((m) => [m.name, { batches: m.metrics?.batches ?? 0, requests: m.metrics?.requests ?? 0 }]));
  }

  /**
   * Steps in one synchronous turn: each sets the backlog, feeds events until every symbol has
   * `rows` more rows, and flushes (so a step's rows meet the predictor under its backlog). Then
   * waits for the accounting to close.
   */
  async function phase(steps: { pending: Partial<Record<Sym, number>>; rows: number }[]): Promise<Phase> {
    const p0 = preds.length, skipped0 = predictor.skipped, superseded0 = predictor.supersededRows;
    const flushes0 = predictor.batchedFlushes, waiting0 = predictor.waitingBatches, runs0 = engineRuns();
    const made: Seen[][] = [];
    for (const step of steps) {
      backlog.set(step.pending);
      const s0 = seen.length;
      for (let deltas = 0; deltas < step.rows; next++) {
        if (next >= events.length) throw new Error(`phase step: the ${RECORDED} recorded events ran out`);
        const e = events[next]!;
        push(e);
        if (e instanceof DepthEvent && e.makesRow) deltas++;
      }
      pipeline.flush();
      made.push(seen.slice(s0));
    }
    await settled();
    const runs1 = engineRuns();
    return {
      steps: made,
      preds: preds.slice(p0),
      skipped: predictor.skipped - skipped0,
      superseded: predictor.supersededRows - superseded0,
      batchedFlushes: predictor.batchedFlushes - flushes0,
      waitingBatches: predictor.waitingBatches - waiting0,
      waitingBatchesAtStart: waiting0,
      runs: Object.fromEntries(MODELS.map((m) => [m, { batches: runs1[m]!.batches - runs0[m]!.batches, requests: runs1[m]!.requests - runs0[m]!.requests }])),
    };
  }

  /** The rows of `sym` the phase predicted with `model`, in order. */
  const predicted = (ph: Phase, model: string, sym: string): number[] => ph.preds.filter((p) => p.model === model && p.symbol === sym).map((p) => p.row).sort((a, b) => a - b);
  const rowsOf = (rows: Seen[], sym: string): number[] => rows.filter((s) => s.sym === sym).map((s) => s.row);
  /** Flushes (runs of 8 rows from the step's start) holding a row of a symbol predicted at once: one inference batch per model each. */
  const flushGroups = (rows: Seen[], atOnce: readonly string[]): number => {
    let n = 0;
    for (let k = 0; k < rows.length; k += BATCH) if (rows.slice(k, k + BATCH).some((s) => atOnce.includes(s.sym))) n++;
    return n;
  };

  /** Common to every phase: each step made `rows` rows a symbol, all ready; accounting closes; every answer the model's on its own window. */
  async function expectPhase(ph: Phase, rows: number[]): Promise<void> {
    ph.steps.forEach((made, i) => {
      for (const sym of SYMBOLS) expect(rowsOf(made, sym).length, `step ${i}: ${sym}'s rows`).toBe(rows[i]);
      for (const m of MODELS) expect(readyRows(made, m).length, `step ${i}: ${m} ready rows`).toBe(made.length);
    });
    const all = ph.steps.flat();
    expect(predictor.failed).toBe(0);
    // (5) Every ready row of the phase predicted or skipped, none twice.
    expect(ph.preds.length + ph.skipped, 'predicted + skipped = ready rows').toBe(MODELS.length * all.length);
    const keys = ph.preds.map((p) => `${p.model}:${p.symbol}:${p.row}`);
    expect(new Set(keys).size, 'no row predicted twice').toBe(keys.length);
    expect(ph.preds.every((p) => all.some((s) => s.sym === p.symbol && s.row === p.row)), 'predictions only of the phase\'s rows').toBe(true);
    // Every skip here is the backlog's (maxInFlight is large), and the health block says so.
    expect(ph.superseded).toBe(ph.skipped);
    expect(predictor.health()['backlog']).toEqual({ predictionIntervalMs: INTERVAL_MS, supersededRows: predictor.supersededRows });
    expect(await worstDifference(ph.preds, seen), 'largest difference from the engine on the window of the prediction\'s symbol and row').toBeLessThan(1e-5);
  }

  /** A parked symbol: in each model, exactly its newest row predicted, by the sweep (after a batch of waiting rows was made). */
  function expectSweptOnly(ph: Phase, sym: string, newest: number): void {
    for (const m of MODELS) {
      expect(predicted(ph, m, sym), `${m} ${sym}: only the newest row, ${newest}`).toEqual([newest]);
      const p = ph.preds.find((q) => q.model === m && q.symbol === sym)!;
      expect(p.waitingBatchesBefore, `${m} ${sym}: emitted by the sweep`).toBeGreaterThan(ph.waitingBatchesAtStart);
    }
  }

  /** A symbol not pending: in each model, every one of its rows predicted. */
  function expectAllPredicted(ph: Phase, sym: string, rows: number[]): void {
    for (const m of MODELS) expect(predicted(ph, m, sym), `${m} ${sym}: every row`).toEqual(rows);
  }

  it('A, C and D pending, B not: B\'s rows predicted from the flushes; one sweep predicts each parked symbol\'s newest row, the three windows one inference batch per model', async () => {
    const parked = ['A', 'C', 'D'];
    const ph = await phase([{ pending: { A: 2, B: 0, C: 1, D: 3 }, rows: 30 }]);
    await expectPhase(ph, [30]);
    const rows = ph.steps[0]!;
    // (1) B as before: every ready row, from the flushes.
    expectAllPredicted(ph, 'B', rowsOf(rows, 'B'));
    // (1), (2) A, C, D: nothing until the sweep, then exactly the newest row, the others skipped.
    for (const sym of parked) expectSweptOnly(ph, sym, Math.max(...rowsOf(rows, sym)));
    expect(ph.skipped, 'the parked symbols\' older rows, each model').toBe(MODELS.length * parked.length * 29);
    // (3) The flushes' groups hold B's windows only; the sweep is one batch of A, C and D per model.
    const groups = flushGroups(rows, ['B']);
    expect(ph.batchedFlushes).toBe(MODELS.length * groups);
    expect(ph.waitingBatches, 'one batch of parked windows per model').toBe(MODELS.length);
    for (const m of MODELS) {
      expect(ph.runs[m]!.batches, `${m}: ONNX runs, the flushes' and one sweep`).toBe(groups + 1);
      expect(ph.runs[m]!.requests, `${m}: windows, B's rows and the three swept`).toBe(rowsOf(rows, 'B').length + parked.length);
    }
    // The swept windows differ, so an answer handed to another symbol of the batch would not match.
    const newest = Math.max(...rowsOf(rows, 'A'));
    const answers = parked.map((s) => ph.preds.find((p) => p.model === 'goog-transformer' && p.symbol === s && p.row === newest)!.probs);
    const gap = (x: Float32Array, y: Float32Array) => Math.max(...[0, 1, 2].map((c) => Math.abs(x[c]! - y[c]!)));
    expect(Math.min(gap(answers[0]!, answers[1]!), gap(answers[0]!, answers[2]!), gap(answers[1]!, answers[2]!))).toBeGreaterThan(1e-4);
  }, 300_000);

  it('A\'s backlog gone: its rows predicted at once again; C and D still swept', async () => {
    const ph = await phase([{ pending: { A: 0, C: 1, D: 1 }, rows: 20 }]);
    await expectPhase(ph, [20]);
    const rows = ph.steps[0]!;
    // (4) A's next row and every one after it, from the flushes.
    expectAllPredicted(ph, 'A', rowsOf(rows, 'A'));
    expectAllPredicted(ph, 'B', rowsOf(rows, 'B'));
    for (const sym of ['C', 'D']) expectSweptOnly(ph, sym, Math.max(...rowsOf(rows, sym)));
    // A's parked row went with the last sweep: nothing of A's to supersede now.
    expect(ph.skipped).toBe(MODELS.length * 2 * 19);
    const groups = flushGroups(rows, ['A', 'B']);
    expect(ph.batchedFlushes).toBe(MODELS.length * groups);
    expect(ph.waitingBatches).toBe(MODELS.length);
    for (const m of MODELS) {
      expect(ph.runs[m]!.batches).toBe(groups + 1);
      expect(ph.runs[m]!.requests).toBe(2 * 20 + 2);
    }
  }, 300_000);

  it('a row made once A\'s backlog is gone supersedes A\'s parked row before the sweep', async () => {
    // One synchronous turn: A parked for 12 rows, then its backlog applied and 12 more rows come.
    const ph = await phase([
      { pending: { A: 1, C: 1, D: 1 }, rows: 12 },
      { pending: { A: 0 }, rows: 12 },
    ]);
    await expectPhase(ph, [12, 12]);
    const [parkedRows, freeRows] = ph.steps as [Seen[], Seen[]];
    // A: none of the parked rows (the newest superseded by the first free one), every free row.
    expectAllPredicted(ph, 'A', rowsOf(freeRows, 'A'));
    expectAllPredicted(ph, 'B', rowsOf(ph.steps.flat(), 'B'));
    for (const sym of ['C', 'D']) expectSweptOnly(ph, sym, Math.max(...rowsOf(freeRows, sym)));
    expect(ph.skipped, 'A\'s 12 parked rows; C\'s and D\'s 23 older rows').toBe(MODELS.length * (12 + 2 * 23));
    // The sweep holds C and D only: A's window has no row waiting.
    expect(ph.waitingBatches).toBe(MODELS.length);
    for (const m of MODELS) {
      expect(ph.runs[m]!.batches).toBe(flushGroups(parkedRows, ['B']) + flushGroups(freeRows, ['A', 'B']) + 1);
      expect(ph.runs[m]!.requests).toBe(12 + 24 + 2);
    }
  }, 300_000);

  it('a batch that returns while its symbol is parked leaves the parked row to the sweep', async () => {
    // No sweep within the test: what predicts A's parked row can only be a returning batch (the fault) or a later free row.
    predictor.followBacklog(backlog, 60_000);
    try {
      backlog.set({ A: 0, B: 0, C: 0, D: 0 });
      const p0 = preds.length, skipped0 = predictor.skipped;
      const feed = (rows: number): Seen[] => {
        const s0 = seen.length;
        for (let deltas = 0; deltas < rows; next++) {
          const e = events[next]!;
          push(e);
          if (e instanceof DepthEvent && e.makesRow) deltas++;
        }
        pipeline.flush();
        return seen.slice(s0);
      };
      // One synchronous turn: A's rows go to the engine, then A's later rows are parked while those batches are out.
      const inFlight = feed(4);
      backlog.set({ A: 1 });
      const parked = feed(4);
      const waiting0 = predictor.waitingBatches;
      const aFirst = rowsOf(inFlight, 'A');
      await until(() => MODELS.every((m) => aFirst.every((r) => preds.slice(p0).some((p) => p.model === m && p.symbol === 'A' && p.row === r))), 120_000, "A's first rows predicted");
      // Those batches have returned (their answers are emitted before the waiting rows are looked at): none took A's parked row.
      expect(predictor.waitingBatches, 'no batch of waiting rows made by a returning batch').toBe(waiting0);
      // A's backlog applied: its next row supersedes the parked one and everything settles.
      backlog.set({ A: 0 });
      const free = feed(4);
      const ready = MODELS.length * (inFlight.length + parked.length + free.length);
      await until(() => preds.length - p0 + predictor.skipped - skipped0 >= ready, 120_000, `${ready} ready rows predicted or skipped`);
      const mine = preds.slice(p0);
      for (const m of MODELS) {
        const a = mine.filter((p) => p.model === m && p.symbol === 'A').map((p) => p.row).sort((x, y) => x - y);
        expect(a, `${m} A: the rows before and after the backlog, none parked`).toEqual([...aFirst, ...rowsOf(free, 'A')]);
      }
      expect(predictor.skipped - skipped0, "A's 4 parked rows, each model").toBe(MODELS.length * 4);
    } finally {
      predictor.followBacklog(backlog, INTERVAL_MS);
    }
  }, 300_000);
});
