/**
 * Permutation importance: a feature the label depends on ranks above a noise feature, the noise
 * feature's interval covers 0, the permuted windows swap exactly one column, and the fast weighted
 * macro-F1 the bootstrap uses equals computeMetrics'.
 */
import { describe, expect, it } from 'vitest';
import { macroF1Of, permutationImportance, permutedWindow, type Permutation } from '../../src/training/importance.ts';
import { computeMetrics } from '../../src/training/evaluate/metrics.ts';
import { gaussian, mulberry32 } from '../../src/training/random.ts';

describe('permutation importance', () => {
  // Label from x0 (signal) through thresholds, with noise; x1 is pure noise; the "model" is the
  // true conditional probability given x0, as a trained model would approximate it.
  const r = mulberry32(21);
  const n = 3000, F = 2, C = 3;
  const X = Float64Array.from({ length: n * F }, () => gaussian(r));
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const s = X[i * F]! + 0.5 * gaussian(r);
    y[i] = s < -0.5 ? 0 : s < 0.5 ? 1 : 2;
  }
  const model = (x0: number, x1: number): number[] => {
    // Logits linear in x0; x1 enters with a tiny weight so the model does read it.
    const z = [-2 * x0, 0, 2 * x0].map((v) => v + 0.001 * x1);
    const m = Math.max(...z);
    const e = z.map((v) => Math.exp(v - m));
    const s = e.reduce((a, b) => a + b, 0);
    return e.map((v) => v / s);
  };
  let calls = 0;
  const predict = async (perm: Permutation | null): Promise<Float64Array> => {
    calls++;
    const p = new Float64Array(n * C);
    const w = new Float64Array(F);
    for (let j = 0; j < n; j++) {
      permutedWindow((i) => X.subarray(i * F, (i + 1) * F), j, F, perm, w);
      p.set(model(w[0]!, w[1]!), j * C);
    }
    return p;
  };

  it('ranks the feature the label depends on above the noise feature', async () => {
    calls = 0;
    const res = await permutationImportance({ y, n, C, features: ['signal', 'noise'], predict, repeats: 3, seed: 1, bootstrap: { block: 100, replicates: 200, level: 0.95, seed: 2 } });
    expect(calls).toBe(1 + 2 * 3);
    expect(res.features.map((f) => f.feature)).toEqual(['signal', 'noise']);
    const [sig, noise] = res.features;
    expect(sig!.macroF1Drop.lo).toBeGreaterThan(0.2);
    expect(sig!.logLossIncrease.lo).toBeGreaterThan(0.3);
    expect(noise!.macroF1Drop.lo).toBeLessThanOrEqual(0);
    expect(noise!.macroF1Drop.hi).toBeGreaterThanOrEqual(0);
    expect(Math.abs(noise!.logLossIncrease.estimate)).toBeLessThan(0.001);
    expect(res.base.macroF1).toBeCloseTo(computeMetrics(y, await predict(null), n, C).macroF1, 12);
    expect(sig!.sd.macroF1Drop).toBeGreaterThan(0);
  });

  it('refuses zero repeats', async () => {
    await expect(permutationImportance({ y, n, C, features: ['a'], predict, repeats: 0, seed: 1, bootstrap: { block: 10, replicates: 10, level: 0.95, seed: 1 } })).rejects.toThrow(/repeats must be at least 1/);
  });
});

describe('permutedWindow', () => {
  it('takes one column (all T rows) from the other sample and keeps the rest', () => {
    // Two samples, T = 2 rows x F = 3 columns each.
    const w = [Float64Array.of(1, 2, 3, 4, 5, 6), Float64Array.of(10, 20, 30, 40, 50, 60)];
    const out = new Float64Array(6);
    expect(Array.from(permutedWindow((j) => w[j]!, 0, 3, { feature: 1, order: Int32Array.of(1, 0) }, out))).toEqual([1, 20, 3, 4, 50, 6]);
    expect(Array.from(permutedWindow((j) => w[j]!, 1, 3, null, out))).toEqual([10, 20, 30, 40, 50, 60]);
  });
});

describe('macroF1Of', () => {
  it('equals computeMetrics under weights', () => {
    const r = mulberry32(4);
    const n = 500, C = 3;
    const y = Int32Array.from({ length: n }, () => Math.floor(r() * C));
    const p = Float64Array.from({ length: n * C }, () => r());
    const pred = Int32Array.from({ length: n }, (_, i) => [0, 1, 2].reduce((b, c) => (p[i * C + c]! > p[i * C + b]! ? c : b), 0));
    const w = Float64Array.from({ length: n }, () => Math.floor(r() * 3));
    expect(macroF1Of(y, pred, C, w)).toBeCloseTo(computeMetrics(y, p, n, C, { weights: w }).macroF1, 12);
    expect(macroF1Of(y, pred, C)).toBeCloseTo(computeMetrics(y, p, n, C).macroF1, 12);
  });
});
