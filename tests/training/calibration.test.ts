/**
 * Calibration measures on inputs whose answers are worked out by hand: the multi-class Brier score,
 * reliability bins and ECE, and temperature scaling recovering the temperature that made a model
 * overconfident.
 */
import { describe, expect, it } from 'vitest';
import { applyTemperature, brierScore, classwiseEce, confidenceBins, expectedCalibrationError, fitTemperature, logLoss, reliability, sampleBrier } from '../../src/training/calibration.ts';
import { calibrateSet } from '../../src/training/calibration-eval.ts';
import { gaussian, mulberry32 } from '../../src/training/random.ts';

function softmaxRows(z: Float64Array, n: number, C: number, scale = 1): Float64Array {
  const p = new Float64Array(n * C);
  for (let i = 0; i < n; i++) {
    let mx = -Infinity, s = 0;
    for (let c = 0; c < C; c++) mx = Math.max(mx, scale * z[i * C + c]!);
    for (let c = 0; c < C; c++) s += p[i * C + c] = Math.exp(scale * z[i * C + c]! - mx);
    for (let c = 0; c < C; c++) p[i * C + c] /= s;
  }
  return p;
}

/** Labels drawn from each row's probabilities. */
function draw(p: Float64Array, n: number, C: number, r: () => number): Int32Array {
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let u = r(), c = 0;
    while (c < C - 1 && (u -= p[i * C + c]!) > 0) c++;
    y[i] = c;
  }
  return y;
}

describe('Brier score', () => {
  // Row terms: (0.3² + 0.2² + 0.1²) = 0.14; (0.1² + 0.7² + 0.6²) = 0.86; (1/9 + 1/9 + 4/9) = 2/3.
  const p = [0.7, 0.2, 0.1, 0.1, 0.3, 0.6, 1 / 3, 1 / 3, 1 / 3];
  const y = [0, 1, 2];

  it('is the mean over rows of the squared distance to the one-hot label (3 rows by hand)', () => {
    const terms = sampleBrier(y, p, 3, 3);
    expect(terms[0]).toBeCloseTo(0.14, 12);
    expect(terms[1]).toBeCloseTo(0.86, 12);
    expect(terms[2]).toBeCloseTo(2 / 3, 12);
    expect(brierScore(y, p, 3, 3)).toBeCloseTo((0.14 + 0.86 + 2 / 3) / 3, 12);
  });

  it('weights rows (a bootstrap replicate) and is 0 for a certain, right forecast', () => {
    // Row 2 twice, row 3 not drawn: (0.14 + 2 x 0.86) / 3.
    expect(brierScore(y, p, 3, 3, [1, 2, 0])).toBeCloseTo((0.14 + 1.72) / 3, 12);
    expect(brierScore([2], [0, 0, 1], 1, 3)).toBe(0);
    expect(brierScore([0], [0, 0, 1], 1, 3)).toBe(2);
  });
});

describe('reliability and ECE', () => {
  // 10 rows at confidence 0.9, 8 right; 10 rows at confidence 0.6, 3 right.
  const n = 20, C = 3;
  const p = new Float64Array(n * C);
  const y = new Int32Array(n);
  for (let i = 0; i < 10; i++) {
    p.set([0.9, 0.05, 0.05], i * C);
    y[i] = i < 8 ? 0 : 1;
  }
  for (let i = 10; i < 20; i++) {
    p.set([0.6, 0.3, 0.1], i * C);
    y[i] = i < 13 ? 0 : 1;
  }

  it('top-label ECE = sum over bins of n_b/n |accuracy - confidence| = (10 x 0.1 + 10 x 0.3) / 20', () => {
    const bins = confidenceBins(y, p, n, C, 10);
    expect(bins[9]).toMatchObject({ count: 10, observed: 0.8 });
    expect(bins[9]!.predicted).toBeCloseTo(0.9, 12);
    expect(bins[6]).toMatchObject({ count: 10, observed: 0.3 });
    expect(bins.filter((b) => b.count > 0)).toHaveLength(2);
    expect(expectedCalibrationError(y, p, n, C, 10)).toBeCloseTo(0.2, 12);
    // The first group counted twice: (20 x 0.1 + 10 x 0.3) / 30.
    const w = Float64Array.from({ length: n }, (_, i) => (i < 10 ? 2 : 1));
    expect(expectedCalibrationError(y, p, n, C, 10, w)).toBeCloseTo(5 / 30, 12);
  });

  it('one-vs-rest bins per class, and classwise ECE from them', () => {
    // Class 1: P = 0.05 for the first group (2 of 10 are class 1) and 0.3 for the second (7 of 10).
    const b1 = reliability(y, p, n, C, 1, 10);
    expect(b1[0]).toMatchObject({ count: 10, observed: 0.2 });
    expect(b1[3]).toMatchObject({ count: 10, observed: 0.7 });
    // Class 0: gaps |0.8 - 0.9| and |0.3 - 0.6|; class 1: |0.2 - 0.05| and |0.7 - 0.3|; class 2: |0 - 0.05|, |0 - 0.1|.
    const want = ((0.1 + 0.3) / 2 + (0.15 + 0.4) / 2 + (0.05 + 0.1) / 2) / 3;
    expect(classwiseEce(y, p, n, C, 10)).toBeCloseTo(want, 12);
    // A probability of exactly 1 falls in the last bin, not past it.
    expect(reliability([0], [1, 0, 0], 1, 3, 0, 10)[9]!.count).toBe(1);
  });
});

describe('temperature scaling', () => {
  it('recovers the temperature that made the logits overconfident', () => {
    const r = mulberry32(11);
    const n = 20000, C = 3;
    const z = Float64Array.from({ length: n * C }, () => 1.2 * gaussian(r));
    const truth = softmaxRows(z, n, C);
    const y = draw(truth, n, C, r);
    for (const T of [2, 0.5]) {
      // A model reporting softmax(z / (1/T)) = softmax(T z): overconfident for T > 1, timid below.
      const p = softmaxRows(z, n, C, T);
      const fit = fitTemperature(y, p, n, C);
      expect(Math.abs(fit.T - T) / T).toBeLessThan(0.05);
      expect(fit.nllAfter).toBeLessThan(fit.nllBefore);
      expect(fit.nllBefore).toBeCloseTo(logLoss(y, p, n, C), 9);
      // Scaling with the fitted T gives back (nearly) the true probabilities.
      const back = applyTemperature(p, n, C, fit.T);
      let max = 0;
      for (let i = 0; i < n * C; i++) max = Math.max(max, Math.abs(back[i]! - truth[i]!));
      expect(max).toBeLessThan(0.03);
    }
  });

  it('leaves calibrated probabilities alone (T near 1) and never changes the argmax', () => {
    const r = mulberry32(5);
    const n = 20000, C = 3;
    const z = Float64Array.from({ length: n * C }, () => gaussian(r));
    const p = softmaxRows(z, n, C);
    const y = draw(p, n, C, r);
    const fit = fitTemperature(y, p, n, C);
    expect(Math.abs(fit.T - 1)).toBeLessThan(0.05);
    const q = applyTemperature(p, n, C, 3);
    for (let i = 0; i < n; i++) {
      const a = [0, 1, 2].reduce((b, c) => (p[i * C + c]! > p[i * C + b]! ? c : b), 0);
      const b = [0, 1, 2].reduce((b, c) => (q[i * C + c]! > q[i * C + b]! ? c : b), 0);
      expect(b).toBe(a);
    }
    expect(() => applyTemperature(p, n, C, 0)).toThrow(/positive/);
  });
});

describe('calibrateSet', () => {
  it('Brier of every system with a paired interval against the class frequencies, and a temperature applied to a model', () => {
    const r = mulberry32(3);
    const n = 4000, C = 3;
    const z = Float64Array.from({ length: n * C }, () => 1.5 * gaussian(r));
    const truth = softmaxRows(z, n, C);
    const y = draw(truth, n, C, r);
    const over = softmaxRows(z, n, C, 2.5);
    const freq = new Float64Array(n * C);
    const counts = [0, 0, 0];
    for (const v of y) counts[v]!++;
    for (let i = 0; i < n; i++) for (let c = 0; c < C; c++) freq[i * C + c] = counts[c]! / n;
    const res = calibrateSet({
      y, n, C, reference: 'frequencies', bins: 10,
      systems: [{ name: 'over', kind: 'model', p: over }, { name: 'truth', kind: 'baseline', p: truth }, { name: 'frequencies', kind: 'baseline', p: freq }],
      temperatures: new Map([['over', { T: 2.5, fittedOn: 'test', samples: n, nllBefore: NaN, nllAfter: NaN }]]),
      bootstrap: { block: 50, replicates: 100, level: 0.95, seed: 1 },
    });
    const [o, t, f] = res.systems;
    expect(f!.brierVsFrequencies).toBeUndefined();
    expect(t!.brierVsFrequencies!.hi).toBeLessThan(0);
    expect(t!.brier.estimate).toBeCloseTo(brierScore(y, truth, n, C), 12);
    expect(o!.ece).toBeGreaterThan(t!.ece);
    const temp = res.models[0]!.temperature!;
    // Scaling the overconfident model by its own T gives the true probabilities: better on every measure.
    expect(temp.brier).toBeCloseTo(t!.brier.estimate, 9);
    expect(temp.dLogLoss.hi).toBeLessThan(0);
    expect(temp.dBrier.hi).toBeLessThan(0);
    expect(temp.ece).toBeLessThan(o!.ece);
    expect(res.models[0]!.reliability).toHaveLength(3);
    expect(res.models[0]!.reliability[0]!.reduce((s, b) => s + b.count, 0)).toBe(n);
    expect(() => calibrateSet({ y, n, C, reference: 'nope', systems: [], bootstrap: { block: 50, replicates: 10, level: 0.95, seed: 1 } })).toThrow(/no system named "nope"/);
  });
});
