/**
 * The transformer's ONNX export equals its TensorFlow.js forward pass (within 1e-5 here; the
 * training command refuses to ship above 1e-4) for every pooling and patch setting, and training
 * learns: on a synthetic task whose label is in the window, the loss falls well below chance.
 */
import { describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import { loadTf } from '../../src/training/tf-backend.ts';
import { TfTransformer, initParams, DEFAULT_TRANSFORMER, type TransformerConfig } from '../../src/training/transformer/model.ts';
import { transformerToOnnx } from '../../src/training/transformer/export.ts';
import { decodeModel } from '../../src/inference/onnx/proto.ts';
import { mulberry32 } from '../../src/training/random.ts';
import { InputTransform } from '../../src/inference/normalize.ts';
import { rowManifest } from '../../src/training/dataset.ts';
import type { Normalization } from '../../src/inference/manifest.ts';

const small = (o: Partial<TransformerConfig>): TransformerConfig => ({ ...DEFAULT_TRANSFORMER, window: 12, features: 5, patch: 3, dModel: 8, heads: 2, layers: 2, ffn: 16, ...o });

describe('transformer', () => {
  for (const o of [{ patch: 1, pool: 'mean' }, { patch: 3, pool: 'last' }, { patch: 4, pool: 'mean', layers: 1 }, { patch: 2, layers: 0, pool: 'last' }] as const) {
    it(`ONNX Runtime equals TensorFlow.js: patch ${o.patch}, pool ${o.pool}, ${'layers' in o ? o.layers : 2} layers`, async () => {
      const { tf } = await loadTf();
      const cfg = small(o);
      const m = new TfTransformer(tf, cfg, initParams(cfg, 11));
      const n = 33;
      const r = mulberry32(4);
      const x = Float32Array.from({ length: n * cfg.window * cfg.features }, () => (r() - 0.5) * 6);
      const want = m.predict(x, n, 16);
      const bytes = transformerToOnnx(cfg, m.params());
      const s = await ort.InferenceSession.create(bytes);
      const got = (await s.run({ features: new ort.Tensor('float32', x, [n, cfg.window, cfg.features]) })).probs!.data as Float32Array;
      let max = 0;
      for (let i = 0; i < want.length; i++) max = Math.max(max, Math.abs(got[i]! - want[i]!));
      expect(max).toBeLessThan(1e-5);
      const ops = new Set(decodeModel(bytes).graph.nodes.map((nd) => nd.opType));
      expect(ops.has('LayerNormalization')).toBe(true);
      if (cfg.layers > 0) expect(ops.has('Softmax') && ops.has('Transpose')).toBe(true);
      await s.release();
      m.dispose();
    });
  }

  it('with the normalisation in the graph, ONNX Runtime on raw inputs equals TensorFlow.js on inputs normalised in JavaScript', async () => {
    const { tf } = await loadTf();
    const cfg = small({ patch: 2 });
    const m = new TfTransformer(tf, cfg, initParams(cfg, 5));
    const columns = ['imb_1', 'ofi_1', 'depth_bid', 'ret_1', 'vpin'];
    const normalization: Normalization = {
      method: 'zscore', fittedOn: 'test', clip: 4, nanValue: 0, inGraph: true,
      columns: columns.map((name, i) => ({ name, transform: i === 1 || i === 2 ? 'slog1p' : 'none', mean: 0.3 * i, std: 0.5 + i })),
    };
    const n = 20;
    const size = cfg.window * cfg.features;
    const r = mulberry32(8);
    const raw = Float32Array.from({ length: n * size }, (_, i) => (i % 37 === 0 ? NaN : (r() - 0.5) * (i % 5 === 2 ? 5000 : 8)));
    const manifest = rowManifest(columns, normalization);
    const t = new InputTransform({ ...manifest, input: { ...manifest.input, window: cfg.window, layout: 'NTF' } });
    expect(t.copiesRaw).toBe(false); // rowManifest always normalises in JavaScript
    const z = new Float32Array(n * size);
    for (let i = 0; i < n; i++) t.write(raw.subarray(i * size, (i + 1) * size), z, i * size);
    const want = m.predict(z, n);
    const s = await ort.InferenceSession.create(transformerToOnnx(cfg, m.params(), { normalization }));
    const got = (await s.run({ features: new ort.Tensor('float32', raw, [n, cfg.window, cfg.features]) })).probs!.data as Float32Array;
    let max = 0;
    for (let i = 0; i < want.length; i++) max = Math.max(max, Math.abs(got[i]! - want[i]!));
    expect(max).toBeLessThan(1e-5);
    await s.release();
    m.dispose();
  });

  it('learns a signal placed in the window (loss well below chance)', async () => {
    const { tf } = await loadTf();
    const cfg = small({ dropout: 0 });
    const m = new TfTransformer(tf, cfg, initParams(cfg, 2));
    const r = mulberry32(9);
    const n = 256;
    const size = cfg.window * cfg.features;
    const x = Float32Array.from({ length: n * size }, () => r() - 0.5);
    const y = Int32Array.from({ length: n }, (_, i) => i % 3);
    // The class shows up as the sign pattern of feature 2 in the newest row.
    for (let i = 0; i < n; i++) x[i * size + (cfg.window - 1) * cfg.features + 2] = y[i]! - 1;
    const opt = tf.train.adam(0.01);
    const xt = tf.tensor3d(x, [n, cfg.window, cfg.features]);
    const yt = tf.oneHot(tf.tensor1d(y, 'int32'), 3);
    let loss = NaN;
    for (let step = 0; step < 60; step++) {
      const l = opt.minimize(() => tf.losses.softmaxCrossEntropy(yt, m.logits(xt, true)) as import('@tensorflow/tfjs').Scalar, true)!;
      loss = l.dataSync()[0]!;
      l.dispose();
    }
    expect(loss).toBeLessThan(0.3 * Math.log(3));
    xt.dispose();
    yt.dispose();
    m.dispose();
  });

  it('refuses inconsistent configurations with the reason', () => {
    expect(() => initParams(small({ window: 10, patch: 3 }), 1)).toThrow(/window 10 is not a multiple of patch 3/);
    expect(() => initParams(small({ dModel: 10, heads: 4 }), 1)).toThrow(/d_model 10 is not a multiple of heads 4/);
  });
});
