/**
 * The models shipped in models/: the repository loads them (the server's default), their manifests
 * say what they read and predict, and their predictions on the committed reference inputs equal
 * the training library's outputs (TensorFlow.js for the transformer, XGBoost for the trees; scaled
 * by the stored temperature where a manifest has one), both through the dynamic batcher and in one
 * batch. Only the transformer serves a temperature (docs/models.md, "Serving a temperature").
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InferenceEngine } from '../../src/inference/engine.ts';
import { AUTO_INLINE_MAX_MS } from '../../src/inference/runner.ts';
import { FEATURE_COLUMNS } from '../../src/features/columns.ts';

const SHIPPED = ['goog-gbdt', 'goog-gbdt-lags', 'goog-transformer'];
let engine: InferenceEngine;

interface Reference { library: string; samples: { row: number; inputs: (number | null)[]; probs: number[] }[] }
/** softmax(ln p / T) of one row. */
function scaled(p: number[], T: number): number[] {
  const e = p.map((v) => Math.exp(Math.log(v) / T));
  const z = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / z);
}
const reference = (name: string): Reference => JSON.parse(readFileSync(join('models', name, 'reference.json'), 'utf8')) as Reference;

beforeAll(async () => {
  engine = await InferenceEngine.open({ dir: 'models', batcher: { maxBatchSize: 8, maxQueueDelayUs: 1000 } });
});
afterAll(() => engine.close());

describe('shipped models', () => {
  it('load by default from models/, all ready', () => {
    const st = Object.fromEntries(engine.models().map((m) => [m.name, m]));
    for (const name of SHIPPED) expect([name, st[name]?.state, st[name]?.error]).toEqual([name, 'ready', undefined]);
    expect(existsSync('models/EVALUATION.md')).toBe(true);
    expect(existsSync('models/EVALUATION.html')).toBe(true);
  });

  it('have manifests that describe inputs, normalisation, outputs, training and metrics', () => {
    for (const name of SHIPPED) {
      const m = engine.repository.get(name)!.manifest;
      expect(m.input.columns.every((c) => (FEATURE_COLUMNS as readonly string[]).includes(c))).toBe(true);
      expect(m.output).toMatchObject({ classes: ['down', 'flat', 'up'], labelValues: [-1, 0, 1], horizon: 50, labelColumn: 'label_50', alpha: 0.00002 });
      const tr = m.training as { command: string; data: string; symbol: string; split: { train: number; val: number } };
      expect(tr.command).toMatch(/^flowcast train (transformer|gbdt) --data lobster:data\/lobster\/GOOG/);
      expect(tr.symbol).toBe('GOOG');
      expect((m.metrics as { test: { macroF1: number } }).test.macroF1).toBeGreaterThan(0.3);
      expect(m.parity!.maxAbsDiff).toBeLessThanOrEqual(1e-4);
    }
    const t = engine.repository.get('goog-transformer')!.manifest;
    expect(t.input).toMatchObject({ window: 100, layout: 'NTF' });
    expect(t.normalization!.fittedOn).toMatch(/GOOG rows 0\.\.\d+ \(train split\)/);
    expect(t.normalization!.inGraph).toBe(true);
    expect(t.output.temperature).toMatchObject({ samples: 22137, fittedOn: expect.stringMatching(/GOOG rows 103541\.\.125727\)$/) });
    expect(t.output.temperature!.T).toBeGreaterThan(1);
    const g = engine.repository.get('goog-gbdt')!.manifest;
    expect(g.input).toMatchObject({ window: 1, layout: 'NF' });
    expect(g.normalization).toBeNull();
    for (const name of ['goog-gbdt', 'goog-gbdt-lags']) expect(engine.repository.get(name)!.manifest.output.temperature).toBeUndefined();
  });

  it('runner auto: each model runs inline exactly when its measured full batch is within the limit', async () => {
    const auto = await InferenceEngine.open({ dir: 'models', runner: 'auto', batcher: { maxBatchSize: 64 } });
    try {
      for (const st of auto.models()) {
        const m = /^auto: a batch of 64 takes ([\d.]+) ms on this thread \((<=|>) 0\.5 ms\)$/.exec(st.runnerReason ?? '');
        expect(m, `${st.name}: ${st.runnerReason}`).not.toBeNull();
        const inline = Number(m![1]) <= AUTO_INLINE_MAX_MS;
        expect([st.name, st.runner, m![2]]).toEqual([st.name, inline ? 'inline' : 'worker', inline ? '<=' : '>']);
      }
      // Wherever it runs, the answers are the training library's.
      const ref = reference('goog-gbdt');
      const p = await auto.predict('goog-gbdt', 'GOOG', Float32Array.from(ref.samples[0]!.inputs, (v) => (v === null ? NaN : v)));
      ref.samples[0]!.probs.forEach((q, k) => expect(p[k]).toBeCloseTo(q, 4));
    } finally {
      await auto.close();
    }
    expect(engine.models().every((st) => st.runner === 'worker' && st.runnerReason === 'requested')).toBe(true);
  });

  for (const name of SHIPPED) {
    it(`${name}: predictions equal the training library's on the reference inputs`, async () => {
      const ref = reference(name);
      expect(ref.samples.length).toBeGreaterThan(0);
      const spec = engine.inputSpec(name);
      const windows = ref.samples.map((s) => Float32Array.from(s.inputs, (v) => (v === null ? NaN : v)));
      for (const w of windows) expect(w.length).toBe(spec.size);
      const got = await Promise.all(windows.map((w, i) => engine.predict(name, i % 2 ? 'GOOG' : 'AMZN', w)));
      // A stored temperature (output.temperature, flowcast models calibrate) is served on top of the
      // graph: the training library's p becomes softmax(ln p / T).
      const T = engine.repository.get(name)!.manifest.output.temperature?.T ?? 1;
      let max = 0;
      ref.samples.forEach((s, i) => scaled(s.probs, T).forEach((p, k) => { max = Math.max(max, Math.abs(got[i]![k]! - p)); }));
      expect(max).toBeLessThan(1e-4);
    });
  }
});
