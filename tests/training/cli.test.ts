/**
 * The model commands end to end through the real CLI on real GOOG features (the first ~25k rows):
 * train a tiny transformer (parity-checked, written atomically, loadable by the server code), import
 * tree models, validate the repository, evaluate against the baselines with a report, and train a
 * tree model where XGBoost is installed.
 */
import { cpSync, existsSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flowcast } from '../cli/run-cli.ts';
import { GOOG } from '../helpers.ts';
import { runFeatures } from '../../src/pipeline/features.ts';
import { CsvFeatureWriter } from '../../src/store/csv.ts';
import { tempDir } from '../inference/helpers.ts';
import { parseManifest } from '../../src/inference/manifest.ts';

const t = tempDir('cli-models');
const models = join(t.dir, 'models');
const csv = join(t.dir, 'goog-head.csv');

async function xgboostAvailable(): Promise<boolean> {
  for (const py of ['/usr/bin/python3', 'python3']) {
    try {
      await promisify(execFile)(py, ['-c', 'import xgboost']);
      return true;
    } catch {
      // next
    }
  }
  return false;
}
const hasXgboost = await xgboostAvailable();

beforeAll(async () => {
  mkdirSync(models);
  await runFeatures(GOOG, { horizons: [50] }, (columns, tb) => {
    const w = new CsvFeatureWriter(csv, columns, tb);
    let rows = 0;
    return {
      write: (b, s) => {
        if (rows < 24_000) w.write(b, s);
        rows += b.n;
      },
      drain: () => w.drain(),
      close: () => w.close(),
    };
  });
});
afterAll(() => t.cleanup());

describe('flowcast train / models / evaluate', () => {
  it('trains a small transformer, checks ONNX Runtime against tfjs, and writes a servable model', async () => {
    const r = await flowcast(['train', 'transformer', '--data', csv, '--models', models, '--name', 'tiny', '--window', '20', '--patch', '4',
      '--d-model', '8', '--heads', '2', '--layers', '1', '--ffn', '16', '--epochs', '2', '--samples-per-epoch', '512', '--val-samples', '256', '--version', 't1']);
    expect(r.stderr).toMatch(/parity: ONNX Runtime vs TensorFlow\.js (wasm|cpu|tensorflow)/);
    expect(r.code).toBe(0);
    const dir = join(models, 'tiny');
    const m = parseManifest(JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')), 'manifest');
    expect(m.input).toMatchObject({ window: 20, layout: 'NTF' });
    expect(m.input.columns.length).toBe(22);
    expect(m.output).toMatchObject({ classes: ['down', 'flat', 'up'], horizon: 50, labelColumn: 'label_50' });
    expect(m.parity!.maxAbsDiff).toBeLessThanOrEqual(1e-4);
    expect(m.normalization!.fittedOn).toMatch(/train split/);
    expect((m.metrics as { test: { samples: number } }).test.samples).toBeGreaterThan(1000);
    expect((m.training as { command: string }).command).toMatch(/^flowcast train transformer --data /);
    expect(existsSync(join(dir, 'reference.json'))).toBe(true);
    expect(existsSync(join(models, 'tiny.tmp'))).toBe(false);
  });

  it('imports XGBoost and LightGBM models and refuses a model that does not fit the feature set', async () => {
    const x = await flowcast(['models', 'import', 'xgboost', 'tests/training/fixtures/xgb-softprob.json', '--models', models, '--name', 'xgb', '--vpin-bucket', 'GOOG=760', '--levels', '5']);
    expect(x.code).toBe(0);
    const xm = parseManifest(JSON.parse(readFileSync(join(models, 'xgb', 'manifest.json'), 'utf8')), 'manifest');
    expect(xm.input.features).toMatchObject({ levels: 5, vpinBucket: { GOOG: 760 }, vpinBuckets: 50, barMs: 1000, barWindow: 300 });
    expect(x.stdout).toMatch(/xgb: 36 trees .* 13 inputs -> down\/flat\/up; ONNX Runtime vs reference evaluator max \|Δp\| [0-9.e-]+ on 512 split-probing inputs/);
    const l = await flowcast(['models', 'import', 'lightgbm', 'tests/training/fixtures/lgb-multiclass.txt', '--models', models, '--name', 'lgb']);
    expect(l.code).toBe(0);
    const bad = await flowcast(['models', 'import', 'lightgbm', 'tests/training/fixtures/lgb-multiclass.txt', '--models', models, '--columns', Array.from({ length: 13 }, (_, i) => `f${i}`).join(',')]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/lgb-multiclass\.txt: feature "f0", "f1".* are not feature-spec columns; map the model's features with --columns/);
    const v = await flowcast(['models', 'validate', '--models', models]);
    expect(v.code).toBe(0);
    expect(v.stdout).toMatch(/tiny {2}ready {2}transformer vt1 {2}22 columns x 20 rows -> down\/flat\/up \(horizon 50\) {2}on cpu/);
    expect(v.stdout).toMatch(/xgb {2}ready {2}gbdt/);
    const d = await flowcast(['models', 'describe', 'xgb', '--models', models]);
    expect(d.stdout).toMatch(/graph: 2 nodes \(TreeEnsembleRegressor 1, Softmax 1\)/);
    expect(d.stdout).toMatch(/opsets ai\.onnx 17, ai\.onnx\.ml 3/);
  });

  it('validate fails when a model is refused, naming the cause', async () => {
    const other = join(t.dir, 'broken-models');
    mkdirSync(join(other, 'broken'), { recursive: true });
    writeFileSync(join(other, 'broken', 'manifest.json'), '{}');
    const v = await flowcast(['models', 'validate', '--models', other]);
    expect(v.code).toBe(1);
    expect(v.stdout).toMatch(/broken {2}REFUSED {2}.*broken\/manifest\.json: schema must be "flowcast\.model\/v1", got undefined/);
  });

  it('evaluates models against the baselines with intervals, as markdown and HTML', async () => {
    const report = join(t.dir, 'EVAL.md');
    // A section another script keeps in the report between its markers survives the rewrite.
    const kept = '<!-- other tool: begin -->\nkept text\n<!-- other tool: end -->';
    writeFileSync(report, `# old report\n\n${kept}\n`);
    const r = await flowcast(['evaluate', 'tiny', '--models', models, '--data', csv, '--baselines', 'logreg', '--replicates', '20', '--block', '200', '--report', report]);
    expect(r.code).toBe(0);
    const md = readFileSync(report, 'utf8');
    expect(md).toMatch(/## GOOG: .*goog-head\.csv/);
    expect(md).toMatch(/test split \(rows \d+\.\.\d+, the model's training data\)/);
    expect(md).toMatch(/\| \*\*tiny\*\* \| 0\.\d{3} \[0\.\d{3}, 0\.\d{3}\] \|/);
    expect(md).toMatch(/\| logistic regression \(OFI\) \|/);
    expect(md).toMatch(/\| majority class \| 0\.\d{3} .* \| 0\.500 \[0\.500, 0\.500\] \|/);
    expect(md).toMatch(/\| tiny \| logistic regression \(OFI\) \| [+-]0\.\d{3} \[[+-]0\.\d{3}, [+-]0\.\d{3}\] \|/);
    expect(md).toMatch(/\| tiny \| logistic regression \(the models' 22 inputs\) \| [+-]0\.\d{3} \[[+-]0\.\d{3}, [+-]0\.\d{3}\] \|/);
    // Calibration (temperature fitted on the validation split) and importance on the test split.
    expect(md).toMatch(/### Calibration: GOOG[\s\S]*\| \*\*tiny\*\* \| 0\.\d{4} \[0\.\d{4}, 0\.\d{4}\] \| [+-]0\.\d{4} \[/);
    expect(md).toMatch(/\| tiny \| \d+\.\d{3} \| the validation split of its training data/);
    expect(md).toMatch(/### Feature importance: GOOG[\s\S]*tiny \(unpermuted: macro-F1 0\.\d{3}/);
    expect(md).toContain(kept);
    expect(md).not.toContain('# old report');
    // Two models: their paired difference; a copy of a model differs from it by exactly nothing.
    cpSync(join(models, 'tiny'), join(models, 'tiny-copy'), { recursive: true });
    const mf = join(models, 'tiny-copy', 'manifest.json');
    writeFileSync(mf, JSON.stringify({ ...JSON.parse(readFileSync(mf, 'utf8')), name: 'tiny-copy' }));
    const two = await flowcast(['evaluate', 'tiny', 'tiny-copy', '--models', models, '--data', csv, '--baselines', 'none', '--calibration-bins', '0', '--importance', 'none', '--replicates', '20', '--block', '200']);
    expect(two.code, two.stderr).toBe(0);
    expect(two.stdout).toContain('Differences between the models (first minus second, paired):');
    expect(two.stdout).toMatch(/\| tiny \| tiny-copy \| [+]?0\.000 \[[+-]?0\.000, [+]?0\.000\] \| [+]?0\.000 \[[+-]?0\.000, [+]?0\.000\] \| no clear difference \|/);
    rmSync(join(models, 'tiny-copy'), { recursive: true });
    const html = readFileSync(report.replace(/\.md$/, '.html'), 'utf8');
    expect(html).toMatch(/<svg [^>]*aria-label="macro-F1"/);
    expect(html).toMatch(/aria-label="Reliability: tiny/);
    expect(html).toMatch(/ROC: up vs rest/);
    expect(html).not.toMatch(/<script|https?:\/\/(?!www\.w3)/);
  }, 180_000);

  it.skipIf(!hasXgboost)('trains a tree model with XGBoost and ships it with parity against XGBoost itself', async () => {
    const r = await flowcast(['train', 'gbdt', '--data', csv, '--models', models, '--name', 'trees', '--rounds', '8', '--early-stopping', '0']);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/engine: xgboost-python|engine: xgboost-cli/);
    const m = parseManifest(JSON.parse(readFileSync(join(models, 'trees', 'manifest.json'), 'utf8')), 'manifest');
    expect(m.parity!.maxAbsDiff).toBeLessThan(1e-5);
    expect(m.parity!.reference).toMatch(/xgboost/);
    expect(m.normalization).toBeNull();
  });
});
