/**
 * The inference engine end to end on real ONNX Runtime sessions: manifests validated at load (a bad
 * model refused with a precise error while the others serve), requests from many symbols merged
 * into batches with each answer going to its own request, backpressure, hot reload with in-flight
 * requests finishing on the old session, and the health/metrics reports.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { InferenceEngine } from '../../src/inference/engine.ts';
import { QueueFullError } from '../../src/inference/batcher.ts';
import { setLogSink } from '../../src/core/log.ts';
import { randomWindow, rng, tempDir, writeLinearModel } from './helpers.ts';

// Refusals and reload failures log errors by design; keep them out of the test output.
setLogSink(() => undefined);

const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function setup() {
  const t = tempDir('models');
  cleanups.push(t.cleanup);
  return t.dir;
}

async function open(dir: string, opts: Parameters<typeof InferenceEngine.open>[0] = {}) {
  const engine = await InferenceEngine.open({ dir, session: { intraOpThreads: 1 }, ...opts });
  cleanups.push(() => engine.close());
  return engine;
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

describe('InferenceEngine', () => {
  for (const runner of ['worker', 'inline'] as const) it(`merges concurrent requests across symbols into batches, each answer to its own request (${runner})`, async () => {
    const dir = setup();
    const a = writeLinearModel(dir, 'alpha', { window: 5, seed: 3 });
    const b = writeLinearModel(dir, 'beta', { window: 1, seed: 4, columns: ['imb_5', 'tfi_h50'] });
    const engine = await open(dir, { runner, batcher: { maxBatchSize: 16, maxQueueDelayUs: 2000 } });
    expect(engine.describe().runner).toBe(runner);
    const r = rng(9);
    const symbols = ['GOOG', 'AMZN', 'BTCUSDT', 'ETHUSDT'];
    const reqs = Array.from({ length: 100 }, (_, i) => {
      const model = i % 5 === 0 ? b : a;
      const w = randomWindow(model.manifest.input.window * model.manifest.input.columns.length, r);
      if (i % 7 === 0) w[2] = NaN; // NaN becomes the training mean (0 after normalisation)
      return { model, w, p: engine.predict(model.manifest.name, symbols[i % 4]!, w) };
    });
    const results = await Promise.all(reqs.map((q) => q.p));
    reqs.forEach((q, i) => {
      expect(results[i]!.length).toBe(3);
      expect(maxDiff(results[i]!, q.model.expect(q.w))).toBeLessThan(1e-5);
    });
    const snap = engine.describe().models.find((m) => m.name === 'alpha')!.metrics!;
    expect(snap.requests).toBe(80);
    expect(snap.batches).toBeLessThan(80 / 4); // merged: 16 per batch at most, never one by one
    expect(snap.meanBatchSize).toBeGreaterThan(4);
    expect(engine.inputSpec('beta')).toEqual({ columns: ['imb_5', 'tfi_h50'], window: 1, size: 2, classes: ['down', 'flat', 'up'] });
  });

  it('normalisation inside the graph gives the same answers as in the engine, NaN and clipping included', async () => {
    const dir = setup();
    const js = writeLinearModel(dir, 'js', { window: 6, seed: 12 });
    const graph = writeLinearModel(dir, 'graph', { window: 6, seed: 12, inGraph: true });
    const engine = await open(dir);
    const r = rng(2);
    for (let k = 0; k < 20; k++) {
      const w = randomWindow(18, r);
      w[k % 18] = k % 2 ? NaN : 1e6 * (k - 10); // NaN -> mean; huge -> clipped
      const [a, b] = await Promise.all([engine.predict('js', 'GOOG', w), engine.predict('graph', 'GOOG', w)]);
      expect(maxDiff(a, js.expect(w))).toBeLessThan(1e-5);
      expect(maxDiff(b, graph.expect(w))).toBeLessThan(1e-5);
      expect(maxDiff(a, b)).toBeLessThan(1e-5);
    }
    expect(engine.repository.get('graph')!.transform.copiesRaw).toBe(true);
    expect(engine.repository.get('js')!.transform.copiesRaw).toBe(false);
  });

  it('refuses a model whose inputs are not in the feature set, naming it, while others serve', async () => {
    const dir = setup();
    writeLinearModel(dir, 'good', { seed: 1 });
    writeLinearModel(dir, 'alien', { columns: ['imb_1', 'ofi_9', 'moon_phase'] });
    const logs: string[] = [];
    const prev = setLogSink((l) => logs.push(l));
    cleanups.push(() => void setLogSink(prev));
    const engine = await open(dir);
    const st = Object.fromEntries(engine.models().map((m) => [m.name, m]));
    expect(st.good!.state).toBe('ready');
    expect(st.alien!.state).toBe('refused');
    expect(st.alien!.error).toMatch(/alien\/manifest\.json: input\.columns\[1\] "ofi_9", input\.columns\[2\] "moon_phase" are not in the feature set \(spec v1: mid, spread/);
    await expect(engine.predict('alien', 'GOOG', new Float32Array(12))).rejects.toThrow(/model alien is refused: .*"ofi_9"/);
    await expect(engine.predict('nope', 'GOOG', new Float32Array(12))).rejects.toThrow(/no model "nope" \(serving: good\)/);
    const p = await engine.predict('good', 'GOOG', new Float32Array(12));
    expect(p.reduce((s, v) => s + v, 0)).toBeCloseTo(1, 5);
    expect(logs.some((l) => l.includes('"msg":"model refused"') && l.includes('ofi_9'))).toBe(true);

    // A restricted feature set (a server computing fewer columns) refuses models that need more.
    const narrow = await open(dir, { featureColumns: ['imb_1', 'spread_bps'] });
    expect(narrow.models().find((m) => m.name === 'good')!.error).toMatch(/input\.columns\[1\] "ofi_1" is not in the feature set/);
  });

  it('names what is wrong with a model directory', async () => {
    const dir = setup();
    const m = writeLinearModel(dir, 'shape', { window: 4 });
    // The manifest claims a window the graph does not take.
    const man = JSON.parse(readFileSync(join(dir, 'shape', 'manifest.json'), 'utf8'));
    man.input.window = 6;
    man.onnx.sha256 = undefined;
    writeFileSync(join(dir, 'shape', 'manifest.json'), JSON.stringify(man));
    writeLinearModel(dir, 'hash');
    writeFileSync(join(dir, 'hash', 'model.onnx'), Buffer.concat([readFileSync(join(dir, 'hash', 'model.onnx')), Buffer.from([0])]));
    mkdirSync(join(dir, 'empty'));
    writeLinearModel(dir, 'json');
    writeFileSync(join(dir, 'json', 'manifest.json'), '{"schema": "flowcast.model/v1",');
    writeLinearModel(dir, 'classes');
    const cm = JSON.parse(readFileSync(join(dir, 'classes', 'manifest.json'), 'utf8'));
    cm.output.classes = ['down', 'up'];
    cm.output.labelValues = [-1, 1];
    writeFileSync(join(dir, 'classes', 'manifest.json'), JSON.stringify(cm));
    writeLinearModel(dir, 'misnamed');
    const mm = JSON.parse(readFileSync(join(dir, 'misnamed', 'manifest.json'), 'utf8'));
    mm.name = 'other';
    writeFileSync(join(dir, 'misnamed', 'manifest.json'), JSON.stringify(mm));
    const engine = await open(dir);
    const err = Object.fromEntries(engine.models().map((s) => [s.name, s.error ?? 'ready']));
    expect(err.shape).toMatch(/shape\/model\.onnx: input "features" has shape \[N, 4, 3\], expected \[N, 6, 3\]/);
    expect(err.hash).toMatch(/hash\/model\.onnx: sha256 [0-9a-f]{64} differs from manifest onnx\.sha256/);
    expect(err.empty).toMatch(/empty\/manifest\.json: missing/);
    expect(err.json).toMatch(/json\/manifest\.json: not valid JSON/);
    expect(err.classes).toMatch(/classes\/model\.onnx: output "probs" has 3 values per sample, but the manifest lists 2 classes/);
    expect(err.misnamed).toMatch(/name is "other" but the directory is "misnamed"/);
    void m;
  });

  it('refuses requests beyond the queue bound and rejects malformed windows', async () => {
    const dir = setup();
    writeLinearModel(dir, 'm', { window: 2 });
    // Inline: one batch in flight, so exactly 4 leave and 8 wait.
    const engine = await open(dir, { runner: 'inline', batcher: { maxBatchSize: 4, maxQueueSize: 8, maxQueueDelayUs: 50_000 } });
    // The first 4 leave at once as a full batch; 8 more fill the queue while it runs.
    const ok = Array.from({ length: 12 }, () => engine.predict('m', 'X', new Float32Array(6)));
    await expect(engine.predict('m', 'X', new Float32Array(6))).rejects.toBeInstanceOf(QueueFullError);
    await expect(engine.predict('m', 'GOOG', new Float32Array(5))).rejects.toThrow(/model m: the window for GOOG has 5 values, expected 6/);
    expect((await Promise.all(ok)).length).toBe(12);
    const text = engine.metricsText();
    expect(text).toMatch(/flowcast_inference_rejected_total\{model="m"\} 1/);
    expect(text).toMatch(/flowcast_inference_requests_total\{model="m"\} 12/);
    expect(text).toMatch(/flowcast_inference_batch_size_bucket\{model="m",le="4"\} 3/);
    expect(text).toMatch(/# TYPE flowcast_inference_latency_seconds histogram/);
  });

  it('keeps the event loop free while a worker runs, and restarts a worker that died', async () => {
    const dir = setup();
    const m = writeLinearModel(dir, 'w', { window: 4, seed: 6 });
    const engine = await open(dir, { runner: 'worker' });
    const w = randomWindow(12, rng(3));
    expect(maxDiff(await engine.predict('w', 'GOOG', w), m.expect(w))).toBeLessThan(1e-5);
    const runner = engine.repository.get('w')!.runner as unknown as { worker: { terminate(): Promise<number> } };
    await runner.worker.terminate();
    await new Promise((r) => setTimeout(r, 20));
    expect(maxDiff(await engine.predict('w', 'GOOG', w), m.expect(w))).toBeLessThan(1e-5);
  });

  it('a worker takes a batch assembled in its own buffer without copying it, and copies any other', async () => {
    const dir = setup();
    writeLinearModel(dir, 'w', { window: 4, seed: 6 });
    const engine = await open(dir, { runner: 'worker' });
    const runner = engine.repository.get('w')!.runner;
    const size = 4 * 3;
    const mine = Float32Array.from(randomWindow(2 * size, rng(5)));
    const viaCopy = await runner.run(mine, 2);
    expect(mine.buffer.byteLength).toBe(2 * size * 4); // still the caller's
    const lent = runner.batchBuffer!(2 * size);
    lent.set(mine);
    const viaTransfer = await runner.run(lent.subarray(0, 2 * size), 2);
    expect(lent.buffer.byteLength).toBe(0); // transferred to the worker, not copied
    expect(Array.from(viaTransfer)).toEqual(Array.from(viaCopy));
  });

  it('a lone request leaves after the queue delay', async () => {
    const dir = setup();
    writeLinearModel(dir, 'm');
    for (const delay of [0, 300, 3000]) {
      const engine = await open(dir, { batcher: { maxBatchSize: 64, maxQueueDelayUs: delay } });
      const t0 = performance.now();
      const p = await engine.predict('m', 'X', new Float32Array(12));
      expect(p.length).toBe(3);
      expect(performance.now() - t0).toBeGreaterThanOrEqual(delay / 1000 - 0.5);
    }
  });

  it('hot reload: new versions swap in, in-flight requests finish on the old one, a broken version is refused', async () => {
    const dir = setup();
    const v1 = writeLinearModel(dir, 'live', { seed: 1, version: '1' });
    writeLinearModel(dir, 'other', { seed: 2 });
    const engine = await open(dir, { watch: true, debounceMs: 50, batcher: { maxBatchSize: 8, maxQueueDelayUs: 20_000 } });
    const repo = engine.repository;
    const r = rng(5);
    const w = randomWindow(12, r);
    const old = repo.get('live')!;
    // Queued on version 1 before the swap: must be answered by version 1.
    const inflight = Array.from({ length: 5 }, () => engine.predict('live', 'GOOG', w));
    const reloaded = new Promise<void>((res) => repo.once('reloaded', () => res()));
    const v2 = writeLinearModel(dir, 'live', { seed: 77, version: '2' });
    await reloaded;
    expect(repo.get('live')!.manifest.version).toBe('2');
    for (const p of await Promise.all(inflight)) expect(maxDiff(p, v1.expect(w))).toBeLessThan(1e-5);
    expect(maxDiff(await engine.predict('live', 'GOOG', w), v2.expect(w))).toBeLessThan(1e-5);
    expect(old.isRetired).toBe(true);

    // A broken version (unknown column) is refused; version 2 keeps serving.
    const failed = new Promise<Error>((res) => repo.once('reload-failed', (_n: string, e: Error) => res(e)));
    writeLinearModel(dir, 'live', { columns: ['imb_1', 'warp_speed', 'spread_bps'], version: '3' });
    expect((await failed).message).toMatch(/"warp_speed" is not in the feature set/);
    const st = engine.models().find((m) => m.name === 'live')!;
    expect([st.state, st.version]).toEqual(['ready', '2']);
    expect(st.lastReloadError).toMatch(/warp_speed/);
    expect(maxDiff(await engine.predict('live', 'GOOG', w), v2.expect(w))).toBeLessThan(1e-5);
    expect(engine.metricsText()).toMatch(/flowcast_inference_reload_failures_total 1/);

    // A new directory appears: loaded without a restart.
    const added = new Promise<string>((res) => repo.once('loaded', (n: string) => res(n)));
    writeLinearModel(dir, 'newcomer', { seed: 8 });
    expect(await added).toBe('newcomer');
    expect((await engine.predict('newcomer', 'AMZN', w)).length).toBe(3);
  });

  it('describes providers (with the reason CUDA is not used), threads, batcher and models', async () => {
    const dir = setup();
    writeLinearModel(dir, 'm');
    const engine = await open(dir, { session: { intraOpThreads: 1, providers: ['cuda', 'cpu'] } });
    const d = engine.describe();
    expect(d.providers.preference).toEqual(['cuda', 'cpu']);
    const cuda = d.providers.available.find((p) => p.provider === 'cuda')!;
    expect(typeof cuda.reason).toBe('string');
    expect(cuda.reason.length).toBeGreaterThan(5);
    const m = d.models[0]!;
    expect(m.provider).toBe(cuda.available ? 'cuda' : 'cpu');
    expect(d.threads).toEqual({ intraOp: 1, interOp: 1, spinning: false });
    expect(d.batcher.maxBatchSize).toBe(64);
    expect(m.input).toEqual({ name: 'features', columns: ['imb_1', 'ofi_1', 'spread_bps'], window: 4, layout: 'NTF' });
    expect(JSON.parse(JSON.stringify(d))).toBeTruthy();
  });
});
