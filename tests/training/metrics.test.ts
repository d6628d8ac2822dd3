/**
 * Evaluation metrics and the logistic-regression baseline against scikit-learn
 * (scripts/fixtures/metrics_reference.py), and the block bootstrap's behaviour on dependent data.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import { AucOrder, argmax, computeMetrics, sampleLoss } from '../../src/training/evaluate/metrics.ts';
import { blockBootstrap } from '../../src/training/evaluate/bootstrap.ts';
import { fitLogReg, logRegToOnnx, predictLogReg } from '../../src/training/logreg.ts';
import { mulberry32 } from '../../src/training/random.ts';

interface Ref {
  confusion: number[][]; precision: number[]; recall: number[]; f1: number[]; macroF1: number; auc: number[]; logLoss: number;
}
const fx = JSON.parse(readFileSync('tests/training/fixtures/metrics-reference.json', 'utf8')) as {
  y: number[]; probs: number[]; weights: number[]; unweighted: Ref; weighted: Ref;
  logreg: { X: number[]; y: number[]; n: number; d: number; C: number; probs: number[] };
};

describe('evaluation metrics', () => {
  for (const mode of ['unweighted', 'weighted'] as const) {
    it(`equal scikit-learn's (${mode})`, () => {
      const ref = fx[mode];
      const m = computeMetrics(fx.y, fx.probs, fx.y.length, 3, { weights: mode === 'weighted' ? fx.weights : undefined });
      expect(m.confusion).toEqual(ref.confusion);
      m.perClass.forEach((c, k) => {
        expect(c.precision).toBeCloseTo(ref.precision[k]!, 12);
        expect(c.recall).toBeCloseTo(ref.recall[k]!, 12);
        expect(c.f1).toBeCloseTo(ref.f1[k]!, 12);
        expect(c.auc).toBeCloseTo(ref.auc[k]!, 12);
      });
      expect(m.macroF1).toBeCloseTo(ref.macroF1, 12);
      expect(m.logLoss).toBeCloseTo(ref.logLoss, 10);
      // What the bootstrap precomputes once (AUC order, argmax, per-sample loss) changes nothing.
      const n = fx.y.length;
      const reused = computeMetrics(fx.y, fx.probs, n, 3, {
        weights: mode === 'weighted' ? fx.weights : undefined,
        order: new AucOrder(fx.probs, n, 3), pred: argmax(fx.probs, n, 3), loss: sampleLoss(fx.y, fx.probs, n, 3),
      });
      expect(reused).toEqual(m);
    });
  }
});

describe('logistic regression', () => {
  it("reaches scikit-learn's multinomial L2 solution", () => {
    const { X, y, n, d, C, probs } = fx.logreg;
    const m = fitLogReg(Float64Array.from(X), y, n, d, 3, { l2: 1 / (C * n), maxIter: 500, tol: 1e-12 });
    const p = predictLogReg(m, X, n);
    let max = 0;
    for (let i = 0; i < p.length; i++) max = Math.max(max, Math.abs(p[i]! - probs[i]!));
    expect(max).toBeLessThan(1e-4);
  });

  it('exports to ONNX with the same probabilities', async () => {
    const { X, y, n, d } = fx.logreg;
    const m = fitLogReg(Float64Array.from(X), y, n, d, 3);
    const s = await ort.InferenceSession.create(logRegToOnnx(m, [d]));
    const out = (await s.run({ features: new ort.Tensor('float32', Float32Array.from(X), [n, d]) })).probs!.data as Float32Array;
    const want = predictLogReg(m, Float32Array.from(X), n);
    for (let i = 0; i < want.length; i++) expect(Math.abs(out[i]! - want[i]!)).toBeLessThan(1e-5);
    await s.release();
  });
});

describe('block bootstrap', () => {
  // Correct/incorrect outcomes, in runs of 200 identical samples (strong time dependence).
  const n = 20_000;
  const r = mulberry32(5);
  const runs = new Float64Array(n);
  for (let i = 0; i < n; i += 200) runs.fill(r() < 0.5 ? 1 : 0, i, i + 200);
  const mean = (w: Float64Array) => {
    let s = 0, c = 0;
    for (let i = 0; i < n; i++) {
      s += w[i]! * runs[i]!;
      c += w[i]!;
    }
    return [s / c];
  };

  it('widens the interval when samples depend on each other, as blocks must', () => {
    const iid = blockBootstrap(n, mean, { block: 1, replicates: 200, level: 0.95, seed: 1 })[0]!;
    const blocked = blockBootstrap(n, mean, { block: 1000, replicates: 200, level: 0.95, seed: 1 })[0]!;
    const wIid = iid.hi - iid.lo, wBlocked = blocked.hi - blocked.lo;
    // Theory: 100 independent runs -> sd 0.05 -> 95% width ~0.196; single-sample resampling sees ~0.014.
    expect(wIid).toBeLessThan(0.03);
    expect(wBlocked).toBeGreaterThan(0.12);
    expect(wBlocked).toBeLessThan(0.3);
    expect(blocked.lo).toBeLessThanOrEqual(blocked.estimate);
    expect(blocked.hi).toBeGreaterThanOrEqual(blocked.estimate);
  });

  it('is reproducible for a seed and covers every sample once per replicate on average', () => {
    const a = blockBootstrap(n, mean, { block: 500, replicates: 50, level: 0.9, seed: 3 });
    const b = blockBootstrap(n, mean, { block: 500, replicates: 50, level: 0.9, seed: 3 });
    expect(a).toEqual(b);
    let total = -1;
    blockBootstrap(n, (w) => {
      total = w.reduce((s, v) => s + v, 0);
      return [0];
    }, { block: 700, replicates: 1, level: 0.9, seed: 1 });
    expect(total).toBe(n);
  });
});
