/**
 * Trains a gradient-boosted tree model with an installed library and imports it:
 *
 * - XGBoost through python3-xgboost when importable (early stopping on the validation split),
 *   else through the `xgboost` CLI (a fixed number of rounds);
 * - LightGBM through its `lightgbm` CLI when installed (early stopping).
 *
 * The split matrices go to the library as text holding each value's float32 (the precision ONNX
 * Runtime will see), missing values as missing (LibSVM: absent; CSV: nan), class weights
 * (inverse frequency) as `.weight` files. The library also predicts the test rows, so the
 * imported ONNX model is checked against the library's own output.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { logger } from '../../core/log.ts';
import type { Dataset } from '../dataset.ts';

const run = promisify(execFile);
const log = logger('training');

export type GbdtEngine = 'xgboost-python' | 'xgboost-cli' | 'lightgbm-cli';

export interface GbdtParams {
  rounds: number;
  learningRate: number;
  maxDepth: number;
  /** LightGBM leaves (ignored by XGBoost, which grows to maxDepth). */
  numLeaves: number;
  subsample: number;
  colsample: number;
  minChildWeight: number;
  earlyStopping: number;
  seed: number;
  threads: number;
}

export const DEFAULT_GBDT: GbdtParams = {
  rounds: 300,
  learningRate: 0.05,
  maxDepth: 6,
  numLeaves: 31,
  subsample: 0.8,
  colsample: 0.8,
  minChildWeight: 20,
  earlyStopping: 30,
  seed: 1,
  threads: 0,
};

export interface EngineProbe {
  engine: GbdtEngine;
  available: boolean;
  detail: string;
}

const PYTHONS = () => [process.env.FLOWCAST_PYTHON, '/usr/bin/python3', 'python3'].filter(Boolean) as string[];

/** Which engines work here (each probe names what it found or why not). */
export async function probeEngines(): Promise<EngineProbe[]> {
  const out: EngineProbe[] = [];
  let py: EngineProbe = { engine: 'xgboost-python', available: false, detail: 'no python3 with xgboost' };
  for (const p of PYTHONS()) {
    try {
      const r = await run(p, ['-c', 'import xgboost, sys; print(xgboost.__version__)'], { timeout: 30_000 });
      py = { engine: 'xgboost-python', available: true, detail: `${p} (xgboost ${r.stdout.trim()})` };
      break;
    } catch {
      // try the next interpreter
    }
  }
  out.push(py);
  out.push(await probeCli('xgboost-cli', 'xgboost', ['--version'], /XGBoost|xgboost/i));
  out.push(await probeCli('lightgbm-cli', 'lightgbm', ['--version'], /LightGBM|lightgbm/i));
  return out;
}

async function probeCli(engine: GbdtEngine, bin: string, args: string[], ok: RegExp): Promise<EngineProbe> {
  try {
    const r = await run(bin, args, { timeout: 30_000 });
    return { engine, available: true, detail: `${bin}: ${(r.stdout + r.stderr).trim().split('\n')[0] ?? ''}` };
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stdout?: string; stderr?: string };
    if (err.code === 'ENOENT') return { engine, available: false, detail: `${bin} is not on PATH` };
    // Some builds exit non-zero on --version but still identify themselves.
    const text = `${err.stdout ?? ''}${err.stderr ?? ''}`;
    return ok.test(text) ? { engine, available: true, detail: `${bin}: ${text.trim().split('\n')[0]}` } : { engine, available: true, detail: `${bin} found` };
  }
}

export interface GbdtRun {
  engine: GbdtEngine;
  engineDetail: string;
  /** The library's model file contents (XGBoost JSON or LightGBM text). */
  model: string;
  format: 'xgboost-json' | 'lightgbm-text';
  /** The library's probabilities for the test rows (n x 3). */
  testProbs: Float64Array;
  rounds: number;
  log: string;
  seconds: number;
}

/** float32 text of a value: what the library parses is exactly what ONNX Runtime is given. */
function f32(v: number): string {
  return String(Math.fround(v));
}

function writeLibsvm(path: string, ds: Dataset, rows: Int32Array, weights?: number[]): void {
  const lines: string[] = [];
  const wl: string[] = [];
  const F = ds.designWidth;
  const x = new Float64Array(F);
  for (const i of rows) {
    let line = String(ds.y[i]!);
    ds.design(i, x);
    for (let f = 0; f < F; f++) {
      const v = x[f]!;
      if (v === v) line += ` ${f}:${f32(v)}`;
    }
    lines.push(line);
    if (weights) wl.push(String(weights[ds.y[i]!]));
  }
  writeFileSync(path, lines.join('\n') + '\n');
  if (weights) writeFileSync(`${path}.weight`, wl.join('\n') + '\n');
}

function writeCsv(path: string, ds: Dataset, rows: Int32Array, columns: string[], weights?: number[]): void {
  const lines = [['label', ...columns].join(',')];
  const wl: string[] = [];
  const F = ds.designWidth;
  const x = new Float64Array(F);
  for (const i of rows) {
    const cells = [String(ds.y[i]!)];
    ds.design(i, x);
    for (let f = 0; f < F; f++) {
      const v = x[f]!;
      cells.push(v === v ? f32(v) : 'nan');
    }
    lines.push(cells.join(','));
    if (weights) wl.push(String(weights[ds.y[i]!]));
  }
  writeFileSync(path, lines.join('\n') + '\n');
  if (weights) writeFileSync(`${path}.weight`, wl.join('\n') + '\n');
}

function readProbs(text: string, n: number, C: number, where: string): Float64Array {
  const vals = text.split(/[\s,]+/).filter(Boolean).map(Number);
  if (vals.length !== n * C) throw new Error(`${where}: ${vals.length} predicted values for ${n} rows x ${C} classes`);
  return Float64Array.from(vals);
}

const PY_TRAIN = `
import json, sys, time, numpy as np, xgboost as xgb
cfg = json.load(open(sys.argv[1]))
d = cfg['dir']
tr = xgb.DMatrix(d + '/train.libsvm?format=libsvm', feature_names=cfg['columns'])
va = xgb.DMatrix(d + '/val.libsvm?format=libsvm', feature_names=cfg['columns'])
te = xgb.DMatrix(d + '/test.libsvm?format=libsvm', feature_names=cfg['columns'])
tr.set_weight(np.loadtxt(d + '/train.libsvm.weight', ndmin=1))
va.set_weight(np.loadtxt(d + '/val.libsvm.weight', ndmin=1))
b = xgb.train(cfg['params'], tr, cfg['rounds'], evals=[(tr, 'train'), (va, 'val')], early_stopping_rounds=cfg['early'] or None, verbose_eval=25)
best = b.best_iteration + 1 if cfg['early'] else cfg['rounds']
b = b[:best]
b.save_model(d + '/model.json')
np.savetxt(d + '/test_pred.txt', b.predict(te).reshape(-1), fmt='%.9g')
print(json.dumps({'rounds': best}))
`;

export interface GbdtTrainInput {
  ds: Dataset;
  columns: string[];
  classWeights: number[];
  params: GbdtParams;
  engine: GbdtEngine;
  engineDetail: string;
  /** Sample rows to fit, stop early on and predict, instead of the dataset's splits (cross-validation folds). */
  splits?: { train: { rows: Int32Array }; val: { rows: Int32Array }; test: { rows: Int32Array } };
}

export async function trainGbdt(inp: GbdtTrainInput): Promise<GbdtRun> {
  const { ds, params: p, columns } = inp;
  const dir = mkdtempSync(join(tmpdir(), 'flowcast-gbdt-'));
  const t0 = performance.now();
  try {
    const { train, val, test } = inp.splits ?? ds.splits;
    const C = 3;
    if (inp.engine === 'lightgbm-cli') {
      writeCsv(join(dir, 'train.csv'), ds, train.rows, columns, inp.classWeights);
      writeCsv(join(dir, 'val.csv'), ds, val.rows, columns, inp.classWeights);
      writeCsv(join(dir, 'test.csv'), ds, test.rows, columns);
      const conf = [
        'task = train', 'objective = multiclass', `num_class = ${C}`, 'header = true', 'label_column = 0',
        `data = ${join(dir, 'train.csv')}`, `valid = ${join(dir, 'val.csv')}`,
        `num_iterations = ${p.rounds}`, `learning_rate = ${p.learningRate}`, `num_leaves = ${p.numLeaves}`, `max_depth = ${p.maxDepth}`,
        `bagging_fraction = ${p.subsample}`, 'bagging_freq = 1', `feature_fraction = ${p.colsample}`, `min_sum_hessian_in_leaf = ${p.minChildWeight / 10}`,
        `early_stopping_round = ${p.earlyStopping}`, `seed = ${p.seed}`, 'zero_as_missing = false', 'use_missing = true',
        ...(p.threads ? [`num_threads = ${p.threads}`] : []), `output_model = ${join(dir, 'model.txt')}`, 'verbosity = 1',
      ].join('\n');
      writeFileSync(join(dir, 'train.conf'), conf + '\n');
      const tr = await run('lightgbm', [`config=${join(dir, 'train.conf')}`], { maxBuffer: 64 << 20 });
      await run('lightgbm', ['task=predict', `data=${join(dir, 'test.csv')}`, 'header=true', 'label_column=0', `input_model=${join(dir, 'model.txt')}`, `output_result=${join(dir, 'pred.txt')}`], { maxBuffer: 64 << 20 });
      const model = readFileSync(join(dir, 'model.txt'), 'utf8');
      const trees = (model.match(/^Tree=/gm) ?? []).length;
      return {
        engine: inp.engine, engineDetail: inp.engineDetail, model, format: 'lightgbm-text',
        testProbs: readProbs(readFileSync(join(dir, 'pred.txt'), 'utf8'), test.rows.length, C, 'lightgbm predictions'),
        rounds: trees / C, log: tr.stdout + tr.stderr, seconds: (performance.now() - t0) / 1000,
      };
    }

    writeLibsvm(join(dir, 'train.libsvm'), ds, train.rows, inp.classWeights);
    writeLibsvm(join(dir, 'val.libsvm'), ds, val.rows, inp.classWeights);
    writeLibsvm(join(dir, 'test.libsvm'), ds, test.rows);
    const xgbParams: Record<string, string | number> = {
      objective: 'multi:softprob', num_class: C, eta: p.learningRate, max_depth: p.maxDepth, subsample: p.subsample,
      colsample_bytree: p.colsample, min_child_weight: p.minChildWeight, tree_method: 'hist', eval_metric: 'mlogloss', seed: p.seed,
      ...(p.threads ? { nthread: p.threads } : {}),
    };
    if (inp.engine === 'xgboost-python') {
      const python = inp.engineDetail.split(' ')[0]!;
      writeFileSync(join(dir, 'train.py'), PY_TRAIN);
      writeFileSync(join(dir, 'cfg.json'), JSON.stringify({ dir, columns, params: xgbParams, rounds: p.rounds, early: p.earlyStopping }));
      const r = await run(python, [join(dir, 'train.py'), join(dir, 'cfg.json')], { maxBuffer: 64 << 20 });
      const last = r.stdout.trim().split('\n').pop() ?? '{}';
      const rounds = (JSON.parse(last) as { rounds: number }).rounds;
      return {
        engine: inp.engine, engineDetail: inp.engineDetail, model: readFileSync(join(dir, 'model.json'), 'utf8'), format: 'xgboost-json',
        testProbs: readProbs(readFileSync(join(dir, 'test_pred.txt'), 'utf8'), test.rows.length, C, 'xgboost predictions'),
        rounds, log: r.stdout + r.stderr, seconds: (performance.now() - t0) / 1000,
      };
    }
    // The CLI has no early stopping: it runs the given number of rounds.
    const conf = [
      'booster = gbtree', ...Object.entries(xgbParams).map(([k, v]) => `${k} = ${v}`), `num_round = ${p.rounds}`,
      `data = "${join(dir, 'train.libsvm')}?format=libsvm"`, `eval[val] = "${join(dir, 'val.libsvm')}?format=libsvm"`,
      `model_out = "${join(dir, 'model.json')}"`,
    ].join('\n');
    writeFileSync(join(dir, 'train.conf'), conf + '\n');
    const tr = await run('xgboost', [join(dir, 'train.conf')], { maxBuffer: 64 << 20 });
    await run('xgboost', [join(dir, 'train.conf'), 'task=pred', `model_in=${join(dir, 'model.json')}`, `test:data=${join(dir, 'test.libsvm')}?format=libsvm`, `name_pred=${join(dir, 'pred.txt')}`], { maxBuffer: 64 << 20 });
    return {
      engine: inp.engine, engineDetail: inp.engineDetail, model: readFileSync(join(dir, 'model.json'), 'utf8'), format: 'xgboost-json',
      testProbs: readProbs(readFileSync(join(dir, 'pred.txt'), 'utf8'), test.rows.length, C, 'xgboost predictions'),
      rounds: p.rounds, log: tr.stdout + tr.stderr, seconds: (performance.now() - t0) / 1000,
    };
  } catch (e) {
    const err = e as Error & { stderr?: string };
    throw new Error(`${inp.engine} training failed: ${err.message}${err.stderr ? `\n${err.stderr.slice(-2000)}` : ''}`);
  } finally {
    if (process.env.FLOWCAST_KEEP_TMP) log.info('kept training files', { dir });
    else rmSync(dir, { recursive: true, force: true });
  }
}
