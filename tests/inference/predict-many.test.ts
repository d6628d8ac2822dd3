/**
 * engine.predictMany: samples that already form a batch (the live micro-batch's windows) run as
 * their own batches, one ONNX run per maxBatchSize samples, never merged with other requests, each
 * answer in order, normalised in the engine as single requests are.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { InferenceEngine } from '../../src/inference/engine.ts';
import { randomWindow, rng, tempDir, writeLinearModel } from './helpers.ts';

const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('InferenceEngine.predictMany', () => {
  for (const runner of ['worker', 'inline'] as const) it(`runs a packed batch as ceil(n / maxBatchSize) runs of its own, answers in order (${runner})`, async () => {
    const t = tempDir('models');
    cleanups.push(t.cleanup);
    const a = writeLinearModel(t.dir, 'alpha', { window: 4, seed: 5, normalize: true });
    const engine = await InferenceEngine.open({ dir: t.dir, runner, session: { intraOpThreads: 1 }, batcher: { maxBatchSize: 8, maxQueueDelayUs: 1e9 } });
    cleanups.push(() => engine.close());
    const size = engine.inputSpec('alpha').size;
    const r = rng(11);
    const n = 19;
    const packed = new Float32Array(n * size);
    const windows = Array.from({ length: n }, (_, i) => {
      const w = randomWindow(size, r);
      if (i % 5 === 0) w[1] = NaN;
      packed.set(w, i * size);
      return w;
    });
    // A single request waiting for its (never reached) delay: the group neither waits for it nor takes it in.
    const single = engine.predict('alpha', 'X', windows[0]!);
    const before = engine.describe().models.find((m) => m.name === 'alpha')!.metrics!.batches;
    const out = await engine.predictMany('alpha', packed, n, 'test windows');
    await single;
    const after = engine.describe().models.find((m) => m.name === 'alpha')!.metrics!.batches;
    expect(out.length).toBe(n * 3);
    for (let i = 0; i < n; i++) {
      const want = a.expect(windows[i]!);
      for (let c = 0; c < 3; c++) expect(Math.abs(out[i * 3 + c]! - want[c]!)).toBeLessThan(1e-5);
    }
    // 19 samples at 8 a run: 3 runs, plus the single's own.
    expect(after - before).toBe(4);
    await expect(engine.predictMany('alpha', packed.subarray(0, size), 2, 'short')).rejects.toThrow(/short/);
  });
});
