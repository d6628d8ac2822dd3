/**
 * XGBoost JSON and LightGBM text models -> ONNX TreeEnsemble: ONNX Runtime's predictions must equal
 * the source library's on fixed inputs (held-out GOOG feature rows, NaN rows, values exactly on
 * split thresholds and their float32 neighbours). References: scripts/fixtures/gbdt_reference.py
 * (XGBoost's own Booster.predict; for LightGBM, which is not installed here, an independent float64
 * evaluator of LightGBM's documented decision rule).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import { readXgboostJson } from '../../src/training/gbdt/xgboost.ts';
import { readLightgbmText } from '../../src/training/gbdt/lightgbm.ts';
import { ensembleToOnnx, float32Threshold } from '../../src/training/gbdt/onnx.ts';
import { predictMargins, marginsToOutput, type TreeEnsemble } from '../../src/training/gbdt/ensemble.ts';

interface Fixture { model: string; columns: string[]; inputs: (number | null)[][]; probs: number[][]; margins: number[][] }
const ref = JSON.parse(readFileSync('tests/training/fixtures/gbdt-reference.json', 'utf8')) as Record<string, Fixture>;

function load(name: string): { fx: Fixture; ens: TreeEnsemble } {
  const fx = ref[name]!;
  const text = readFileSync(fx.model, 'utf8');
  const ens = fx.model.endsWith('.json') ? readXgboostJson(text, fx.model) : readLightgbmText(text, fx.model);
  return { fx, ens };
}

async function onnxPredict(ens: TreeEnsemble, inputs: (number | null)[][]) {
  const onnx = ensembleToOnnx(ens);
  const s = await ort.InferenceSession.create(onnx.bytes);
  const x = new Float32Array(inputs.flat().map((v) => (v === null ? NaN : v)));
  const out = await s.run({ [onnx.inputName]: new ort.Tensor('float32', x, [inputs.length, ens.nFeatures]) });
  await s.release();
  return { probs: out[onnx.outputName]!.data as Float32Array, margins: out.margins!.data as Float32Array, width: onnx.outputWidth };
}

describe('tree model import', () => {
  for (const name of ['xgb_softprob', 'xgb_binary_dart', 'lgb_multiclass', 'lgb_binary_rf']) {
    it(`ONNX Runtime equals the source library: ${name}`, async () => {
      const { fx, ens } = load(name);
      expect(ens.featureNames).toEqual(fx.columns);
      const { probs, margins, width } = await onnxPredict(ens, fx.inputs);
      expect(width).toBe(fx.probs[0]!.length);
      let maxP = 0, maxM = 0;
      fx.probs.forEach((row, i) => row.forEach((p, k) => { maxP = Math.max(maxP, Math.abs(probs[i * width + k]! - p)); }));
      const nt = fx.margins[0]!.length;
      fx.margins.forEach((row, i) => row.forEach((m, k) => { maxM = Math.max(maxM, Math.abs(margins[i * nt + k]! - m) / Math.max(1, Math.abs(m))); }));
      // float32 accumulation of leaf values vs the libraries' float32 (XGBoost) or float64 (LightGBM) sums.
      expect(maxP).toBeLessThan(2e-6);
      expect(maxM).toBeLessThan(2e-6);
    });

    it(`the reference evaluator agrees with the source library: ${name}`, () => {
      const { fx, ens } = load(name);
      fx.inputs.forEach((row, i) => {
        const out = marginsToOutput(ens, predictMargins(ens, row.map((v) => (v === null ? NaN : v))));
        fx.probs[i]!.forEach((p, k) => expect(Math.abs(out[k]! - p)).toBeLessThan(2e-6));
      });
    });
  }

  it('reads the objective, base score and structure', () => {
    const { ens: soft } = load('xgb_softprob');
    expect([soft.link, soft.nTargets, soft.cmp, soft.baseMargin]).toEqual(['softmax', 3, 'LT', [0.5, 0.5, 0.5]]);
    const { ens: dart } = load('xgb_binary_dart');
    expect(dart.link).toBe('sigmoid');
    expect(dart.baseMargin[0]).toBeCloseTo(Math.log(0.3 / 0.7), 12);
    expect(dart.trees.some((t) => t.weight !== 1)).toBe(true);
    const { ens: rf } = load('lgb_binary_rf');
    expect([rf.link, rf.sigmoidScale, rf.average, rf.cmp]).toEqual(['sigmoid', 1.5, true, 'LEQ']);
  });

  it('maps double thresholds onto float32 without changing a decision', () => {
    const t = 0.30000000000000004; // rounds up to 0.3000000119 in float32
    const le = float32Threshold(t, 'LEQ');
    expect(Math.fround(le)).toBe(le);
    expect(le).toBeLessThanOrEqual(t);
    expect(Math.fround(0.3) <= t).toBe(Math.fround(0.3) <= le);
    const lt = float32Threshold(0.1, 'LT'); // 0.1 rounds down to 0.0999999940
    expect(lt).toBeGreaterThanOrEqual(0.1);
    expect(Math.fround(0.1) < 0.1).toBe(Math.fround(0.1) < lt);
    expect(float32Threshold(0.5, 'LEQ')).toBe(0.5);
  });

  it('refuses what ONNX trees cannot express, naming the node', () => {
    const lgb = readFileSync(ref.lgb_multiclass!.model, 'utf8');
    const categorical = lgb.replace(/^decision_type=(\d+)/m, 'decision_type=1');
    expect(() => readLightgbmText(categorical, 'm.txt')).toThrow(/m\.txt: Tree=0 \(line \d+\): node 0 is a categorical split/);
    // Zero-as-missing whose default side disagrees with where zero compares.
    const zero = lgb.replace(/^threshold=(\S+)/m, 'threshold=0.5').replace(/^decision_type=(\d+)/m, 'decision_type=4');
    expect(() => readLightgbmText(zero, 'm.txt')).toThrow(/node 0 treats zero as missing .* default side right and threshold 0.5/);
    expect(() => readLightgbmText(lgb.replace('objective=multiclass num_class:3', 'objective=poisson'), 'm.txt')).toThrow(/objective "poisson" is not supported/);
    expect(() => readLightgbmText('not a model', 'x.txt')).toThrow(/x\.txt:1: expected "tree"/);
    const xj = JSON.parse(readFileSync(ref.xgb_softprob!.model, 'utf8'));
    xj.learner.gradient_booster.model.trees[3].split_type[0] = 1;
    expect(() => readXgboostJson(JSON.stringify(xj), 'x.json')).toThrow(/x\.json: tree 3 node 0: categorical splits are not supported/);
    xj.learner.gradient_booster.model.trees[3].split_type[0] = 0;
    xj.learner.gradient_booster.model.trees[2].right_children[0] = 1;
    expect(() => readXgboostJson(JSON.stringify(xj), 'x.json')).toThrow(/x\.json: tree 2 node 1 is reached twice/);
    expect(() => readXgboostJson('{"learner": {}}', 'x.json')).toThrow(/x\.json: learner: missing "learner_model_param"/);
  });
});
