/**
 * Issue 17, item 3: baselines on the models' own inputs. A model that IS the logistic regression
 * evaluate fits on its inputs (fitted here the same way, exported to ONNX) ties it to the row:
 * the paired difference is 0 with an interval around 0, so the baseline sees exactly the model's
 * inputs and training rows. The tree baseline runs where a tree library is installed.
 */
import { join } from 'node:path';
import { mkdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GOOG, tempDir } from '../helpers.ts';
import { runFeatures } from '../../src/pipeline/features.ts';
import { CsvFeatureWriter } from '../../src/store/csv.ts';
import { loadFeatures } from '../../src/training/features-file.ts';
import { buildDataset, transformFor } from '../../src/training/dataset.ts';
import { fitLogReg, logRegToOnnx } from '../../src/training/logreg.ts';
import { inverseFrequencyWeights } from '../../src/training/transformer/train.ts';
import { writeModelDir } from '../../src/training/model-dir.ts';
import { evaluate } from '../../src/training/evaluate/evaluate.ts';
import { reportMarkdown } from '../../src/training/evaluate/report.ts';
import { probeEngines } from '../../src/training/gbdt/train.ts';

const t = tempDir('same-inputs');
const csv = join(t.dir, 'goog-head.csv');
const models = join(t.dir, 'models');
const COLUMNS = ['imb_1', 'imb_5', 'ofi_1', 'ofi_h10', 'spread_bps', 'depth_bid'];
const split = { train: 0.7, val: 0.15 };
const hasTrees = (await probeEngines()).some((p) => p.available);

beforeAll(async () => {
  mkdirSync(models);
  await runFeatures(GOOG, { horizons: [50] }, (columns, tb) => {
    const w = new CsvFeatureWriter(csv, columns, tb);
    let rows = 0;
    return {
      write: (b, s) => {
        if (rows < 20_000) w.write(b, s);
        rows += b.n;
      },
      drain: () => w.drain(),
      close: () => w.close(),
    };
  });
  const data = await loadFeatures(csv);
  const ds = buildDataset(data, { columns: COLUMNS, transforms: COLUMNS.map(transformFor), window: 1, horizon: 50, alpha: 0.00002, split });
  const rows = ds.splits.train.rows;
  const lr = fitLogReg(ds.gatherZ(rows), ds.labelsOf(rows), rows.length, ds.F, 3, { classWeights: inverseFrequencyWeights(ds.classCounts(rows)) });
  writeModelDir(models, {
    name: 'lr-twin', version: '1', kind: 'other',
    input: { name: 'features', columns: COLUMNS, window: 1, layout: 'NF', featureSpecVersion: 1, features: { levels: 10, vpinBucket: null, vpinBuckets: 50, barMs: 1000, barWindow: 300 } },
    normalization: ds.normalization,
    output: { name: 'probs', kind: 'probabilities', classes: ['down', 'flat', 'up'], labelValues: [-1, 0, 1], labelColumn: 'label_50', horizon: 50, alpha: 0.00002 },
    training: { data: csv, symbol: 'GOOG', split },
  }, logRegToOnnx(lr, [COLUMNS.length], 'features'));
}, 120_000);
afterAll(() => t.cleanup());

describe('baselines on the models\' own inputs', () => {
  it('a model equal to the same-input regression ties it, paired; the trees are fitted beside it', async () => {
    const r = await evaluate({ models: [join(models, 'lr-twin')], data: [csv], block: 200, replicates: 50, level: 0.95, seed: 7, sameInputBaselines: { logreg: true, gbdt: hasTrees } });
    const s = r.sets[0]!;
    const model = s.systems.find((x) => x.name === 'lr-twin')!;
    const base = s.systems.find((x) => x.name === "logistic regression (the models' 6 inputs)")!;
    expect(base.kind).toBe('baseline');
    expect(Math.abs(model.metrics.macroF1 - base.metrics.macroF1)).toBeLessThan(2e-3);
    const d = model.vsBaselines["logistic regression (the models' 6 inputs)"]!;
    expect(d.macroF1.lo).toBeLessThanOrEqual(0);
    expect(d.macroF1.hi).toBeGreaterThanOrEqual(0);
    expect(d.macroF1.hi - d.macroF1.lo).toBeLessThan(5e-3);
    expect(Math.abs(d.macroAuc.hi) + Math.abs(d.macroAuc.lo)).toBeLessThan(1e-3);
    // Against the OFI-only regression (other inputs) the same model is not tied.
    const ofi = model.vsBaselines['logistic regression (OFI)']!;
    expect(Math.abs(ofi.macroAuc.estimate)).toBeGreaterThan(1e-3);
    const md = reportMarkdown(r);
    expect(md).toMatch(/- \*\*logistic regression \(the models' 6 inputs\)\*\*: multinomial, on the latest row of imb_1, imb_5, ofi_1, ofi_h10, spread_bps, depth_bid/);
    expect(md).toMatch(/\| lr-twin \| logistic regression \(the models' 6 inputs\) \| [+-]0\.00\d \[[+-]0\.00\d, [+-]0\.00\d\] \|/);
    if (hasTrees) {
      const trees = s.systems.find((x) => x.name === "gradient-boosted trees (the models' 6 inputs)")!;
      expect(trees.metrics.macroAuc).toBeGreaterThan(0.5);
      expect(model.vsBaselines["gradient-boosted trees (the models' 6 inputs)"]).toBeDefined();
      expect(md).toMatch(/- \*\*gradient-boosted trees \(the models' 6 inputs\)\*\*: (xgboost|lightgbm)/);
    }
  }, 300_000);
});
