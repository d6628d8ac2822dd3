/**
 * A stored temperature is served (issue 17 item 6): a model whose manifest has output.temperature
 * answers softmax(log p / T) of its ONNX graph's probabilities p, through the server (POST
 * /v1/predict, the batcher the live feed uses too) and through the batch tools' served path
 * (predictRows); the same graph without one answers p unchanged; /v1/models shows T; a temperature
 * <= 0, NaN (null in JSON) or infinite refuses the model with the field and the value.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeLinearModel, tempDir, rng } from '../inference/helpers.ts';
import { testServer } from './helpers.ts';
import type { RunningServer } from '../../src/server/server.ts';
import { InputTransform } from '../../src/inference/normalize.ts';
import { loadServed, predictRows } from '../../src/training/evaluate/evaluate.ts';
import type { Dataset } from '../../src/training/dataset.ts';

const t = tempDir('temperature');
const T = 1.7;
const W = 3;
const COLS = ['imb_1', 'ofi_1', 'spread_bps'];
let server: RunningServer;

/** Rewrites a model's manifest with `temperature` as JSON text (so NaN and Infinity can be written as a file would hold them). */
function setTemperature(name: string, json: string): void {
  const file = join(t.dir, name, 'manifest.json');
  const m = JSON.parse(readFileSync(file, 'utf8')) as { output: Record<string, unknown> };
  m.output.temperature = '@T@';
  writeFileSync(file, JSON.stringify(m, null, 2).replace('"@T@"', json));
}

const BAD: Record<string, { json: string; got: string }> = {
  'bad-zero': { json: `{"T": 0, "fittedOn": "x"}`, got: '0' },
  'bad-negative': { json: `{"T": -1.5, "fittedOn": "x"}`, got: '-1.5' },
  'bad-nan': { json: `{"T": ${JSON.stringify(NaN)}, "fittedOn": "x"}`, got: 'null' },
  'bad-nan-text': { json: `{"T": "NaN", "fittedOn": "x"}`, got: '"NaN"' },
  'bad-infinite': { json: `{"T": 1e999, "fittedOn": "x"}`, got: 'Infinity' },
};

beforeAll(async () => {
  writeLinearModel(t.dir, 'lin', { columns: COLS, window: W, seed: 5 });
  writeLinearModel(t.dir, 'lin-t', { columns: COLS, window: W, seed: 5 });
  setTemperature('lin-t', JSON.stringify({ T, fittedOn: 'a test', samples: 10, nllBefore: 1.1, nllAfter: 1.05 }));
  for (const [name, b] of Object.entries(BAD)) {
    writeLinearModel(t.dir, name, { columns: COLS, window: W, seed: 5 });
    setTemperature(name, b.json);
  }
  server = await testServer(() => {}, { models: t.dir }, { plugins: true });
});
afterAll(async () => {
  await server?.close();
  t.cleanup();
});

const post = async (body: unknown): Promise<number[][]> => {
  const res = await fetch(`http://127.0.0.1:${server.port}/v1/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  expect(res.status).toBe(200);
  return ((await res.json()) as { probs: number[][] }).probs;
};

/** The graph's own probabilities, from onnxruntime-node directly: the manifest's transform, then the session. */
async function onnxProbs(windows: number[][]): Promise<Float32Array> {
  const dir = join(t.dir, 'lin');
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
  const tr = new InputTransform(manifest);
  const x = new Float32Array(windows.length * tr.size);
  windows.forEach((w, i) => tr.write(w, x, i * tr.size));
  const s = await ort.InferenceSession.create(join(dir, 'model.onnx'));
  try {
    const out = await s.run({ features: new ort.Tensor('float32', x, [windows.length, W, COLS.length]) });
    return out['probs']!.data as Float32Array;
  } finally {
    await s.release();
  }
}

/** softmax(log p / T) of one row, in float64. */
function scaled(p: ArrayLike<number>, temp: number): number[] {
  const z = Array.from(p, (v) => Math.log(v) / temp);
  const m = Math.max(...z);
  const e = z.map((v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

const windows = (() => {
  const r = rng(11);
  // Wide inputs, so some rows are confident: a temperature moves those most.
  return Array.from({ length: 40 }, () => Array.from({ length: W * COLS.length }, () => (r() - 0.5) * 30));
})();

describe('a stored temperature', () => {
  it('is served: softmax(log p_onnx / T) with one, p_onnx unchanged without', async () => {
    const p = await onnxProbs(windows);
    const plain = await post({ model: 'lin', windows });
    const hot = await post({ model: 'lin-t', windows });
    let moved = 0;
    for (let i = 0; i < windows.length; i++) {
      const row = p.subarray(i * 3, i * 3 + 3);
      // Without a temperature the served floats are the graph's, bit for bit.
      expect(plain[i]).toEqual(Array.from(row));
      const want = scaled(row, T);
      hot[i]!.forEach((v, k) => expect(Math.abs(v - want[k]!)).toBeLessThan(1e-6));
      moved = Math.max(moved, ...hot[i]!.map((v, k) => Math.abs(v - row[k]!)));
      // Scaling never changes the most likely class.
      expect(hot[i]!.indexOf(Math.max(...hot[i]!))).toBe(Array.from(row).indexOf(Math.max(...row)));
    }
    expect(moved).toBeGreaterThan(0.01);
  });

  it('is what the batch tools score too (predictRows: served by default, the graph with raw)', async () => {
    const m = await loadServed(join(t.dir, 'lin-t'));
    try {
      expect(m.temperature).toBe(T);
      const ds = { windowRaw: (r: number) => Float64Array.from(windows[r]!) } as unknown as Dataset;
      const rows = Int32Array.from(windows.keys());
      const served = await predictRows(m, ds, rows, 7);
      const raw = await predictRows(m, ds, rows, 7, { raw: true });
      expect(raw).toEqual(await onnxProbs(windows));
      for (let i = 0; i < windows.length; i++) {
        const want = scaled(raw.subarray(i * 3, i * 3 + 3), T);
        for (let k = 0; k < 3; k++) expect(Math.abs(served[i * 3 + k]! - want[k]!)).toBeLessThan(1e-6);
      }
    } finally {
      await m.retire();
    }
  });

  it('shows in /v1/models; a bad one refuses the model and says why', async () => {
    const res = (await (await fetch(`http://127.0.0.1:${server.port}/v1/models`)).json()) as { models: { name: string; state: string; error?: string; output?: { temperature?: { T: number; fittedOn: string } } }[] };
    const by = Object.fromEntries(res.models.map((m) => [m.name, m]));
    expect(by['lin-t']).toMatchObject({ state: 'ready', output: { temperature: { T, fittedOn: 'a test', samples: 10 } } });
    expect(by['lin']!.state).toBe('ready');
    expect(by['lin']!.output).not.toHaveProperty('temperature');
    for (const [name, b] of Object.entries(BAD)) {
      expect(by[name]!.state, name).toBe('refused');
      expect(by[name]!.error).toBe(`${join(t.dir, name, 'manifest.json')}: output.temperature.T must be a finite number > 0 (the engine serves softmax(log p / T)), got ${b.got}`);
    }
  });
});
