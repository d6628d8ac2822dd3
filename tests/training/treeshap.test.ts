/**
 * TreeSHAP: a two-tree ensemble whose Shapley values are worked out by hand, XGBoost's own
 * pred_contribs on a model trained here (given XGBoost's covers, the numbers must agree), the
 * efficiency property (contributions + expected value = the margin) on every row, and the ONNX
 * reader against ONNX Runtime's margins.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import { coversFromData, expectedValue, fromEnsemble, readOnnxTrees, shapMargins, treeShap, type ShapEnsemble, type ShapTree } from '../../src/training/treeshap.ts';
import { readXgboostJson } from '../../src/training/gbdt/xgboost.ts';
import { ensembleToOnnx } from '../../src/training/gbdt/onnx.ts';
import { predictMargins } from '../../src/training/gbdt/ensemble.ts';
import { mulberry32 } from '../../src/training/random.ts';

/** A tree from (feature, threshold, left, right) per internal node and values at leaves; covers given. */
function tree(nodes: { f?: number; t?: number; l?: number; r?: number; v?: number; c: number }[]): ShapTree {
  const n = nodes.length;
  return {
    feature: Int32Array.from(nodes, (x) => x.f ?? -1),
    threshold: Float64Array.from(nodes, (x) => x.t ?? 0),
    left: Int32Array.from(nodes, (x) => x.l ?? -1),
    right: Int32Array.from(nodes, (x) => x.r ?? -1),
    missingLeft: new Uint8Array(n),
    values: Float64Array.from(nodes, (x) => x.v ?? 0),
    outputs: [0],
    cover: Float64Array.from(nodes, (x) => x.c),
    mode: 'LT',
  };
}

describe('TreeSHAP on a hand-built two-tree ensemble', () => {
  // Tree A: x0 < 0.5 ? 1 (cover 30) : 3 (cover 10).
  // Tree B: x1 < 0.5 ? (x0 < 0.5 ? 2 (cover 5) : 4 (cover 15)) (cover 20) : 0 (cover 20).
  const e: ShapEnsemble = {
    K: 1, nFeatures: 2, base: [0],
    trees: [
      tree([{ f: 0, t: 0.5, l: 1, r: 2, c: 40 }, { v: 1, c: 30 }, { v: 3, c: 10 }]),
      tree([{ f: 1, t: 0.5, l: 1, r: 4, c: 40 }, { f: 0, t: 0.5, l: 2, r: 3, c: 20 }, { v: 2, c: 5 }, { v: 4, c: 15 }, { v: 0, c: 20 }]),
    ],
  };

  it('expected value: A (30 x 1 + 10 x 3) / 40 = 1.5, B 1/2 x (5 x 2 + 15 x 4) / 20 + 1/2 x 0 = 1.75', () => {
    expect(expectedValue(e)[0]).toBeCloseTo(3.25, 12);
  });

  it('Shapley values by hand', () => {
    // x = (1, 0): A gives 3, phi0 = 3 - 1.5 = 1.5. B gives 4 with v({}) = 1.75, v({x0}) = 1/2 x 4 + 1/2 x 0 = 2,
    // v({x1}) = (5 x 2 + 15 x 4) / 20 = 3.5, v({x0, x1}) = 4: phi0 = ((2 - 1.75) + (4 - 3.5)) / 2 = 0.375,
    // phi1 = ((3.5 - 1.75) + (4 - 2)) / 2 = 1.875.
    // x = (0, 1): A gives 1, phi0 = -0.5. B gives 0: v({x0}) = 1/2 x 2 = 1, v({x1}) = 0, v(both) = 0:
    // phi0 = ((1 - 1.75) + 0) / 2 = -0.375, phi1 = ((0 - 1.75) + (0 - 1)) / 2 = -1.375.
    const phi = treeShap(e, [1, 0, 0, 1], 2, 2);
    expect(Array.from(phi.subarray(0, 3))).toEqual([1.875, 1.875, 3.25].map((v) => expect.closeTo(v, 12)));
    expect(Array.from(phi.subarray(3, 6))).toEqual([-0.875, -1.375, 3.25].map((v) => expect.closeTo(v, 12)));
    expect(shapMargins(e, [1, 0])[0]).toBe(7);
    expect(shapMargins(e, [0, 1])[0]).toBe(1);
  });

  it('a feature split on twice along a path (the unwind step) keeps the efficiency property', () => {
    // x0 < 0.5 ? (x0 < 0.25 ? 1 : 2) : (x1 < 0.5 ? 5 : 7), covers 100 = 60 (20 + 40) + 40 (10 + 30).
    const t = tree([{ f: 0, t: 0.5, l: 1, r: 4, c: 100 }, { f: 0, t: 0.25, l: 2, r: 3, c: 60 }, { v: 1, c: 20 }, { v: 2, c: 40 }, { f: 1, t: 0.5, l: 5, r: 6, c: 40 }, { v: 5, c: 10 }, { v: 7, c: 30 }]);
    const one: ShapEnsemble = { K: 1, nFeatures: 2, base: [0.5], trees: [t] };
    const ev = expectedValue(one)[0]!;
    expect(ev).toBeCloseTo(0.5 + (20 * 1 + 40 * 2 + 10 * 5 + 30 * 7) / 100, 12);
    for (const x of [[0.1, 0], [0.3, 1], [0.7, 0], [0.9, 1]]) {
      const phi = treeShap(one, x, 1, 2);
      expect(phi[0]! + phi[1]! + phi[2]!).toBeCloseTo(shapMargins(one, x)[0]!, 12);
    }
    // By hand at x = (0.1, 1): the tree gives 1; v({}) = 3.6 (less the base), v({x0}) = 1, v({x1}) = 0.6 x (20 x 1 + 40 x 2) / 60
    // + 0.4 x 7 = 3.8, v({x0, x1}) = 1: phi0 = ((1 - 3.6) + (1 - 3.8)) / 2 = -2.7, phi1 = ((3.8 - 3.6) + (1 - 1)) / 2 = 0.1.
    const phi = treeShap(one, [0.1, 1], 1, 2);
    expect(phi[0]).toBeCloseTo(-2.7, 12);
    expect(phi[1]).toBeCloseTo(0.1, 12);
  });
});

const PY = [process.env.FLOWCAST_PYTHON, '/usr/bin/python3', 'python3'].filter(Boolean).find((p) => spawnSync(p!, ['-c', 'import xgboost'], { stdio: 'ignore' }).status === 0);

describe.skipIf(!PY)('TreeSHAP against XGBoost pred_contribs', () => {
  const dir = mkdtempSync(join(tmpdir(), 'treeshap-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  // Three classes from two informative features and a noise one, 8% missing values, depth-4 trees.
  const script = `
import json, sys, numpy as np, xgboost as xgb
r = np.random.default_rng(3)
n, F = 600, 4
X = r.normal(size=(n, F)).astype(np.float32)
s = X[:, 0] + 0.5 * X[:, 1] * X[:, 2] + 0.3 * r.normal(size=n)
y = np.digitize(s, [-0.5, 0.5])
X[r.random(size=(n, F)) < 0.08] = np.nan
d = xgb.DMatrix(X, label=y, missing=np.nan)
b = xgb.train({'objective': 'multi:softprob', 'num_class': 3, 'max_depth': 4, 'eta': 0.3, 'subsample': 0.8, 'min_child_weight': 2, 'seed': 1}, d, 12)
b.save_model(sys.argv[1] + '/m.json')
c = b.predict(d, pred_contribs=True)
m = b.predict(d, output_margin=True)
json.dump({'X': [[None if np.isnan(v) else float(v) for v in row] for row in X], 'contribs': c.tolist(), 'margins': m.tolist()}, open(sys.argv[1] + '/ref.json', 'w'))
`;

  it('equals pred_contribs given XGBoost covers (sum_hessian), and sums to the margin', () => {
    execFileSync(PY!, ['-c', script, dir], { stdio: 'pipe' });
    const text = readFileSync(join(dir, 'm.json'), 'utf8');
    const ref = JSON.parse(readFileSync(join(dir, 'ref.json'), 'utf8')) as { X: (number | null)[][]; contribs: number[][][]; margins: number[][] };
    const doc = JSON.parse(text) as { learner: { gradient_booster: { model: { trees: { sum_hessian: number[] }[] } } } };
    const covers = doc.learner.gradient_booster.model.trees.map((t) => t.sum_hessian);
    const e = fromEnsemble(readXgboostJson(text, 'm.json'), covers);
    const n = ref.X.length, F = 4, K = 3;
    const X = Float64Array.from(ref.X.flat(), (v) => (v === null ? NaN : v));
    const phi = treeShap(e, X, n, F);
    let maxDiff = 0, maxSum = 0;
    for (let r = 0; r < n; r++) {
      for (let k = 0; k < K; k++) {
        let s = 0;
        for (let f = 0; f <= F; f++) {
          const v = phi[(r * (F + 1) + f) * K + k]!;
          s += v;
          // XGBoost lays contributions out [row][class][feature + bias], in float32.
          maxDiff = Math.max(maxDiff, Math.abs(v - ref.contribs[r]![k]![f]!));
        }
        maxSum = Math.max(maxSum, Math.abs(s - ref.margins[r]![k]!));
      }
    }
    expect(maxDiff).toBeLessThan(1e-5);
    // Not vacuous: the contributions are far from 0 and from each other.
    expect(Math.max(...ref.contribs.flat(2).map(Math.abs))).toBeGreaterThan(0.1);
    expect(maxSum).toBeLessThan(1e-5);
  });

  it('through ONNX: the served graph read back gives ONNX Runtime margins, and covers from data keep the property', async () => {
    const text = readFileSync(join(dir, 'm.json'), 'utf8');
    const ref = JSON.parse(readFileSync(join(dir, 'ref.json'), 'utf8')) as { X: (number | null)[][] };
    const ens = readXgboostJson(text, 'm.json');
    const onnx = ensembleToOnnx(ens);
    const e = readOnnxTrees(onnx.bytes);
    expect(e.op).toBe('TreeEnsembleRegressor');
    expect(e.K).toBe(3);
    expect(e.trees).toHaveLength(ens.trees.length);
    const n = ref.X.length, F = 4, K = 3;
    const X = Float32Array.from(ref.X.flat(), (v) => (v === null ? NaN : v));
    const s = await ort.InferenceSession.create(onnx.bytes);
    const out = await s.run({ features: new ort.Tensor('float32', X, [n, F]) }, ['margins']);
    const margins = out.margins!.data as Float32Array;
    coversFromData(e, X, n, F);
    const phi = treeShap(e, X, n, F);
    let maxOrt = 0, maxSum = 0;
    for (let r = 0; r < n; r++) {
      const m = shapMargins(e, X.subarray(r * F, (r + 1) * F));
      const lib = predictMargins(ens, X.subarray(r * F, (r + 1) * F));
      for (let k = 0; k < K; k++) {
        maxOrt = Math.max(maxOrt, Math.abs(m[k]! - margins[r * K + k]!), Math.abs(m[k]! - lib[k]!));
        let sum = 0;
        for (let f = 0; f <= F; f++) sum += phi[(r * (F + 1) + f) * K + k]!;
        maxSum = Math.max(maxSum, Math.abs(sum - m[k]!));
      }
    }
    expect(maxOrt).toBeLessThan(1e-5);
    expect(maxSum).toBeLessThan(1e-9);
    // Covers from data: each root holds every row (plus the leaf floors).
    expect(e.trees[0]!.cover[0]).toBeGreaterThanOrEqual(n);
    await s.release();
  });
});

describe('readOnnxTrees', () => {
  it('reads the shipped goog-gbdt graph: its margins and probabilities equal ONNX Runtime on inputs probing every split', async () => {
    const bytes = readFileSync('models/goog-gbdt/model.onnx');
    const e = readOnnxTrees(bytes, 'models/goog-gbdt/model.onnx');
    // As many trees as training wrote (rounds x classes).
    expect(e.trees).toHaveLength((JSON.parse(readFileSync('models/goog-gbdt/manifest.json', 'utf8')) as { training: { trees: number } }).training.trees);
    expect(e.K).toBe(3);
    const F = e.nFeatures;
    expect(F).toBe(22);
    // Each value a split threshold of that feature, one float32 step either side of it, or NaN.
    const th: number[][] = Array.from({ length: F }, () => []);
    for (const t of e.trees) for (let i = 0; i < t.feature.length; i++) if (t.feature[i]! >= 0) th[t.feature[i]!]!.push(t.threshold[i]!);
    const r = mulberry32(9);
    const n = 400;
    const X = new Float32Array(n * F);
    const f32 = new Float32Array(1), u32 = new Uint32Array(f32.buffer);
    for (let i = 0; i < n * F; i++) {
      const list = th[i % F]!;
      const u = r();
      if (u < 0.05 || !list.length) X[i] = NaN;
      else {
        f32[0] = list[Math.floor(r() * list.length)]!;
        if (u < 0.35 && f32[0] !== 0) u32[0]! += u < 0.2 ? 1 : -1;
        X[i] = f32[0]!;
      }
    }
    const s = await ort.InferenceSession.create(bytes);
    const out = await s.run({ features: new ort.Tensor('float32', X, [n, F]) }, ['margins', 'probs']);
    const margins = out.margins!.data as Float32Array, probs = out.probs!.data as Float32Array;
    coversFromData(e, X, n, F);
    const phi = treeShap(e, X, n, F);
    let maxM = 0, maxP = 0, maxSum = 0;
    for (let i = 0; i < n; i++) {
      const m = shapMargins(e, X.subarray(i * F, (i + 1) * F));
      const mx = Math.max(...m);
      const z = m.reduce((a, v) => a + Math.exp(v - mx), 0);
      for (let k = 0; k < 3; k++) {
        maxM = Math.max(maxM, Math.abs(m[k]! - margins[i * 3 + k]!));
        maxP = Math.max(maxP, Math.abs(Math.exp(m[k]! - mx) / z - probs[i * 3 + k]!));
        let sum = 0;
        for (let f = 0; f <= F; f++) sum += phi[(i * (F + 1) + f) * 3 + k]!;
        maxSum = Math.max(maxSum, Math.abs(sum - m[k]!));
      }
    }
    expect(maxM).toBeLessThan(1e-5);
    expect(maxP).toBeLessThan(1e-6);
    expect(maxSum).toBeLessThan(1e-9);
    await s.release();
  });

  it('refuses a graph without a tree ensemble, naming the file', () => {
    expect(() => readOnnxTrees(new Uint8Array([0x3a, 0x00]), 'x.onnx')).toThrow(/x\.onnx: TreeSHAP needs exactly one/);
  });
});
