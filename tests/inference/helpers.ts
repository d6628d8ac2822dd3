/** Small real models for inference tests: softmax-linear ONNX graphs with manifests, in temp dirs. */
import { logRegToOnnx, predictLogReg, type LogRegModel } from '../../src/training/logreg.ts';
import { writeModelDir, type ManifestDraft } from '../../src/training/model-dir.ts';
import { InputTransform } from '../../src/inference/normalize.ts';
import type { FeatureParams, ModelManifest } from '../../src/inference/manifest.ts';
import { mulberry32 } from '../../src/training/random.ts';

export const CLASSES = ['down', 'flat', 'up'];

export { tempDir } from '../helpers.ts';

/** Deterministic pseudo-random numbers. */
export const rng = mulberry32;

export interface TestModel {
  manifest: ModelManifest;
  lr: LogRegModel;
  /** Expected probabilities for one raw window (the same normalisation, in float64). */
  expect(raw: ArrayLike<number>): Float64Array;
}

export function writeLinearModel(root: string, name: string, o: { columns?: string[]; window?: number; seed?: number; version?: string; normalize?: boolean; inGraph?: boolean; features?: FeatureParams } = {}): TestModel {
  const columns = o.columns ?? ['imb_1', 'ofi_1', 'spread_bps'];
  const T = o.window ?? 4;
  const F = columns.length;
  const d = T * F;
  const r = rng(o.seed ?? 1);
  const lr: LogRegModel = { W: Float64Array.from({ length: d * 3 }, () => r() * 2 - 1), b: Float64Array.from([0.1, -0.2, 0.05]), d, C: 3, iterations: 0, loss: 0 };
  const draft: ManifestDraft = {
    name,
    version: o.version ?? '1',
    kind: 'other',
    input: { name: 'features', columns, window: T, layout: T === 1 ? 'NF' : 'NTF', featureSpecVersion: 1, ...(o.features ? { features: o.features } : {}) },
    normalization: o.normalize === false ? null : {
      method: 'zscore',
      fittedOn: 'test',
      columns: columns.map((c, i) => ({ name: c, transform: i === 1 ? 'slog1p' : 'none', mean: 0.1 * i, std: 1 + i })),
      clip: 3,
      nanValue: 0,
      ...(o.inGraph ? { inGraph: true } : {}),
    },
    output: { name: 'probs', kind: 'probabilities', classes: CLASSES, labelValues: [-1, 0, 1], horizon: 10 },
  };
  const { manifest } = writeModelDir(root, draft, logRegToOnnx(lr, T === 1 ? [F] : [T, F], 'features', o.inGraph ? draft.normalization : null));
  // Expected values always normalise in JavaScript (float64), whichever side the model does it on.
  const transform = new InputTransform({ ...manifest, normalization: manifest.normalization ? { ...manifest.normalization, inGraph: false } : null });
  return {
    manifest,
    lr,
    expect(raw) {
      const x = new Float32Array(d);
      transform.write(raw, x, 0);
      return predictLogReg(lr, x, 1);
    },
  };
}

export function randomWindow(size: number, r: () => number): Float32Array {
  return Float32Array.from({ length: size }, () => (r() - 0.5) * 20);
}
