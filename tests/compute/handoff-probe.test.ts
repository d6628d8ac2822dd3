/**
 * Hand-off of a batch to TensorFlow.js, the environment probe (gpu.js modes, ONNX Runtime
 * providers) and the WGSL the WebGPU mode would compile, all without a GPU.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { loadTf, toTfTensors } from '../../src/compute/tf.ts';
import { SnapshotBatch } from '../../src/snapshots/batch.ts';
import { SnapshotRing } from '../../src/snapshots/ring.ts';
import { GpuJsBackend, denseKernelsWgsl } from '../../src/compute/gpujs.ts';
import { DENSE_KERNELS } from '../../kernels/dense.ts';
import { DENSE_COLUMNS, denseColumns } from '../../src/compute/dense.ts';
import { probeExecutionProviders, squareModel } from '../../src/compute/onnx-probe.ts';
import { probeComputeEnvironment } from '../../src/compute/probe.ts';
import type { BookRow } from '../../src/model/row.ts';
import { realRows, GOOG, USDM } from './real-rows.ts';

let goog: BookRow[];
let usdm: BookRow[];

beforeAll(async () => {
  [goog, usdm] = await Promise.all([realRows(GOOG, 600), realRows(USDM, 600)]);
});

describe('TensorFlow.js hand-off', () => {
  it('loads the best TensorFlow.js present and says which (here: no tfjs-node-gpu, so wasm or cpu)', async () => {
    const rt = await loadTf();
    expect(rt.tf.getBackend()).toBe(rt.backend);
    if (rt.package !== '@tensorflow/tfjs-node-gpu') expect(Object.keys(rt.skipped)).toContain('@tensorflow/tfjs-node-gpu');
  });

  it('hands over the windows in use: book from row H on, trade aggregates, scales, and the kernels\' features', async () => {
    const { tf } = await loadTf();
    const batch = new SnapshotBatch({ windows: 4, rows: 100, levels: 10 });
    for (const rows of [goog, usdm, goog.slice(0, 300)]) {
      const ring = new SnapshotRing(rows[0]!.symbol, batch.n, 600, 10);
      for (const r of rows) ring.push(r);
      batch.add(ring);
    }
    const be = await GpuJsBackend.create('webasm');
    const raw = be.computeSync(batch, 10);
    await be.dispose();
    const t = toTfTensors(tf, batch, { raw, levels: 10 });
    try {
      expect(t.book.shape).toEqual([3, 100, 10, 4]);
      expect(t.trades.shape).toEqual([3, 100, 4]);
      expect(t.scales.shape).toEqual([3, 3]);
      expect(t.features!.shape).toEqual([3, 100, DENSE_COLUMNS.length]);
      const book = await t.book.data();
      for (let b = 0; b < 3; b++) {
        for (let i = 0; i < 100 * 40; i += 37) expect(book[b * 4000 + i]).toBe(batch.book[(b * batch.W + batch.H) * 40 + i]);
      }
      const feats = (await t.features!.array()) as number[][][];
      const cols = denseColumns(batch, raw, 10);
      for (let b = 0; b < 3; b++) {
        for (let r = 0; r < 100; r += 9) {
          for (let c = 0; c < DENSE_COLUMNS.length; c++) {
            const want = Math.fround(cols[c]![b * 100 + r]!);
            if (Number.isNaN(want)) expect(feats[b]![r]![c]).toBeNaN();
            else expect(feats[b]![r]![c]).toBe(want);
          }
        }
      }
      expect(Array.from(await t.scales.data()).slice(0, 3)).toEqual([Math.fround(batch.refs[0]!), 100, 1]);
    } finally {
      tf.dispose([t.book, t.trades, t.scales, t.features!]);
    }
  });
});

describe('environment probe', () => {
  it('ONNX Runtime: the in-memory model runs on the CPU provider; the others are listed (gpu-check runs them)', async () => {
    expect(squareModel().length).toBeGreaterThan(40);
    const r = await probeExecutionProviders(['cpu']);
    if ('error' in r) throw new Error(r.error);
    expect(r.providers.find((p) => p.name === 'cpu')).toMatchObject({ live: true, bundled: true, detail: 'session created and ran' });
    // onnxruntime-node 1.30 for linux-x64 lists the CUDA provider, installed separately.
    expect(r.providers.find((p) => p.name === 'cuda')).toMatchObject({ bundled: false, live: false, detail: 'not probed' });
  });

  it('gpu.js: each mode is live (and agrees with float64) or says why not', async () => {
    const env = await probeComputeEnvironment({ tfjs: false, onnx: false });
    const byMode = Object.fromEntries(env.gpujs.modes.map((m) => [m.mode, m]));
    for (const mode of ['cpu', 'webasm']) {
      expect(byMode[mode]).toMatchObject({ available: true, executed: mode });
      expect(byMode[mode]!.maxRelDiff).toBeLessThan(1e-5);
    }
    expect(byMode.webgl).toMatchObject({ available: false, detail: 'webgl exists only in browsers' });
    for (const m of env.gpujs.modes) if (!m.available) expect(m.detail).not.toBe('');
  });

  it('the kernels translate to WGSL compute shaders (what gpujs:webgpu compiles), with the shape compiled in', () => {
    const batch = new SnapshotBatch({ windows: 2, rows: 100, levels: 10 });
    const w = denseKernelsWgsl(batch, 10);
    expect(Object.keys(w)).toEqual(DENSE_KERNELS.map((k) => k.name));
    for (const src of Object.values(w)) expect(src).toMatch(/@compute @workgroup_size\(\d+, 1, 1\)/);
    for (const k of ['rowSeries', 'denseFeatures']) expect(w[k]).toMatch(/var<storage, read> user_book : array<f32>/);
    expect(w.rowSeries).toContain('var<storage, read> user_trades : array<f32>');
    expect(w.blockScan).toContain('var<storage, read> user_series : array<f32>');
    expect(w.denseFeatures).toContain('var<storage, read> user_scan : array<f32>');
    expect(w.denseFeatures).toContain(`var user_N : f32 = ${batch.outputRows}.0;`);
  });
});
