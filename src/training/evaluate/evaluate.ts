/**
 * Evaluation of served models against baselines on labelled feature data, with block-bootstrap
 * confidence intervals (time-dependent samples) and paired intervals for the differences.
 *
 * Models run exactly as served: the model directory is loaded and validated by the inference
 * code, raw windows go through the manifest's normalisation and ONNX Runtime. Baselines are fitted
 * on the model's own training rows (the train split of its training data): the majority class (its
 * training frequencies as probabilities) and a multinomial logistic regression on the OFI columns
 * of the latest row (signed-log, z-scored on train, class-weighted like the models).
 *
 * Which rows: on the model's training data (same source and symbol), only its chronological test
 * split; on any other data (another day or symbol), every row with a full window and a label.
 */
import { basename, resolve } from 'node:path';
import { ServedModel } from '../../inference/model.ts';
import { defaultSessionSettings } from '../../inference/providers.ts';
import { batcherSettings } from '../../inference/batcher.ts';
import { ModelMetrics } from '../../inference/metrics.ts';
import { FEATURE_COLUMNS, FEATURE_SPEC_VERSION } from '../../features/columns.ts';
import type { ModelManifest } from '../../inference/manifest.ts';
import { buildDataset, OFI_INPUTS, pickSymbol, type Dataset, type SplitFractions } from '../dataset.ts';
import { loadFeatures, type FeatureData } from '../features-file.ts';
import { fitLogReg, predictLogReg } from '../logreg.ts';
import { inverseFrequencyWeights } from '../transformer/train.ts';
import { AucOrder, argmax, computeMetrics, sampleLoss, type Metrics } from './metrics.ts';
import { blockBootstrap, type Interval } from './bootstrap.ts';
import { CLASS_NAMES } from '../labels.ts';
import { DEFAULT_LABEL } from '../dataset.ts';

export interface EvaluateOptions {
  models: string[];
  data: string[];
  /** Training data for the baselines (default: the manifest's training.data). */
  trainData?: string;
  block: number;
  replicates: number;
  level: number;
  seed: number;
  onLog?: (line: string) => void;
}

export const DEFAULT_EVALUATE = { block: 500, replicates: 300, level: 0.95, seed: 7 };

export interface SystemResult {
  name: string;
  kind: 'model' | 'baseline';
  metrics: Metrics;
  ci: {
    macroF1: Interval;
    accuracy: Interval;
    macroAuc: Interval;
    precision: Interval[];
    recall: Interval[];
  };
  /** Paired differences against each baseline: this system minus the baseline. */
  vsBaselines: Record<string, { macroF1: Interval; macroAuc: Interval }>;
  /** ROC points per class (false positive rate, true positive rate), at most ~200 each. */
  roc: { fpr: number[]; tpr: number[] }[];
}

export interface EvaluationSet {
  data: string;
  symbol: string;
  rows: string;
  samples: number;
  classCounts: number[];
  horizon: number;
  systems: SystemResult[];
}

export interface EvaluationResult {
  created: string;
  models: { name: string; dir: string; manifest: ModelManifest }[];
  baselineTraining: { data: string; symbol: string; rows: [number, number]; samples: number; classCounts: number[] };
  bootstrap: { block: number; replicates: number; level: number };
  sets: EvaluationSet[];
  notes: string[];
}

interface TrainingInfo {
  data?: string;
  symbol?: string;
  split?: SplitFractions;
}

function trainingInfo(m: ModelManifest): TrainingInfo {
  const t = (m.training ?? {}) as Record<string, unknown>;
  return { data: t.data as string | undefined, symbol: t.symbol as string | undefined, split: t.split as SplitFractions | undefined };
}

export async function loadServed(dir: string): Promise<ServedModel> {
  const abs = resolve(dir);
  return ServedModel.load(basename(abs), abs, {
    session: defaultSessionSettings(),
    batcher: batcherSettings(),
    featureColumns: FEATURE_COLUMNS,
    featureSpecVersion: FEATURE_SPEC_VERSION,
    metrics: new ModelMetrics(),
    runner: 'inline',
  });
}

/** Probabilities of a served model for sample rows of a dataset built with its inputs. */
export async function predictRows(m: ServedModel, ds: Dataset, rows: Int32Array, batch = 512): Promise<Float32Array> {
  const C = m.manifest.output.classes.length;
  const size = m.transform.size;
  const out = new Float32Array(rows.length * C);
  const buf = new Float32Array(batch * size);
  for (let s = 0; s < rows.length; s += batch) {
    const b = Math.min(batch, rows.length - s);
    for (let j = 0; j < b; j++) m.transform.write(ds.windowRaw(rows[s + j]!), buf, j * size);
    out.set(await m.runner.run(buf.subarray(0, b * size), b), s * C);
  }
  return out;
}

function datasetFor(m: ModelManifest, data: FeatureData, symbol: string, split: SplitFractions): Dataset {
  return buildDataset(data, {
    columns: m.input.columns,
    window: m.input.window,
    horizon: m.output.horizon ?? DEFAULT_LABEL.horizon,
    alpha: m.output.alpha ?? DEFAULT_LABEL.alpha,
    split,
    symbol,
    normalization: m.normalization,
  });
}

function rocPoints(order: AucOrder, y: ArrayLike<number>, c: number): { fpr: number[]; tpr: number[] } {
  const idx = order.order[c]!;
  let P = 0, N = 0;
  for (let i = 0; i < idx.length; i++) (y[idx[i]!] === c ? P++ : N++);
  const fpr = [0], tpr = [0];
  let tp = 0, fp = 0;
  const every = Math.max(1, Math.floor(idx.length / 200));
  for (let i = 0; i < idx.length; i++) {
    if (y[idx[i]!] === c) tp++;
    else fp++;
    if (i % every === 0 || i === idx.length - 1) {
      fpr.push(N ? fp / N : 0);
      tpr.push(P ? tp / P : 0);
    }
  }
  return { fpr, tpr };
}

export async function evaluate(o: EvaluateOptions): Promise<EvaluationResult> {
  const log = o.onLog ?? (() => undefined);
  const models = await Promise.all(o.models.map((d) => loadServed(d)));
  try {
    const first = models[0]!.manifest;
    const horizon = first.output.horizon ?? DEFAULT_LABEL.horizon;
    for (const m of models) {
      if ((m.manifest.output.horizon ?? DEFAULT_LABEL.horizon) !== horizon) throw new Error(`models disagree on the label horizon (${m.name}: ${m.manifest.output.horizon}, ${models[0]!.name}: ${horizon}); evaluate them separately`);
    }
    const info = trainingInfo(first);
    const split = info.split ?? { train: 0.7, val: 0.15 };
    const trainSource = o.trainData ?? info.data;
    if (!trainSource) throw new Error(`${models[0]!.name}: the manifest has no training.data; pass --train-data for the baselines`);
    log(`baselines: fitting on the train split of ${trainSource}`);
    const alpha = first.output.alpha ?? DEFAULT_LABEL.alpha;
    const load = (src: string) => loadFeatures(src, { horizons: [horizon], alpha });
    const trainData = await load(trainSource);
    const trainSymbol = pickSymbol(trainData, info.symbol);
    const baseTrain = buildDataset(trainData, { columns: OFI_INPUTS.map((c) => c.name), transforms: OFI_INPUTS.map((c) => c.transform), window: 1, horizon, alpha, split, symbol: trainSymbol });
    const tr = baseTrain.splits.train.rows;
    const counts = baseTrain.classCounts(tr);
    const lr = fitLogReg(baseTrain.gatherZ(tr), baseTrain.labelsOf(tr), tr.length, baseTrain.F, 3, { classWeights: inverseFrequencyWeights(counts) });
    const freq = counts.map((c) => c / tr.length);
    const majority = freq.indexOf(Math.max(...freq));
    log(`baselines: majority class "${CLASS_NAMES[majority]}" (${(freq[majority]! * 100).toFixed(1)}% of train), logistic regression on ${OFI_INPUTS.length} OFI columns (${lr.iterations} L-BFGS iterations)`);

    const sets: EvaluationSet[] = [];
    for (const source of o.data) {
      const data = source === trainSource ? trainData : await load(source);
      for (const symbol of data.symbols) {
        const sameAsTraining = source === trainSource && symbol === trainSymbol;
        const dsModels = models.map((m) => datasetFor(m.manifest, data, symbol, split));
        // Rows every model can score: full windows for the longest window, with a label.
        const T = Math.max(...models.map((m) => m.manifest.input.window));
        const ref = dsModels[models.findIndex((m) => m.manifest.input.window === T)]!;
        const rows = sameAsTraining ? ref.splits.test.rows : allRows(ref);
        const y = ref.labelsOf(rows);
        const n = rows.length;
        if (n === 0) throw new Error(`${source} ${symbol}: no rows with a full window and a label`);
        const rowsLabel = sameAsTraining ? `test split (rows ${ref.splits.test.from}..${ref.splits.test.to - 1}, the model's training data)` : `all rows (${ref.n})`;
        log(`${source} ${symbol}: ${n} samples, ${rowsLabel}`);

        const probs: { name: string; kind: 'model' | 'baseline'; p: ArrayLike<number> }[] = [];
        for (let k = 0; k < models.length; k++) {
          const t0 = performance.now();
          probs.push({ name: models[k]!.name, kind: 'model', p: await predictRows(models[k]!, dsModels[k]!, rows) });
          log(`  ${models[k]!.name}: scored in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
        }
        const baseDs = buildDataset(data, { columns: baseTrain.opts.columns, window: 1, horizon, alpha, split, symbol, normalization: baseTrain.normalization });
        probs.push({ name: 'logistic regression (OFI)', kind: 'baseline', p: predictLogReg(lr, baseDs.gatherZ(rows), n) });
        const maj = new Float64Array(n * 3);
        for (let i = 0; i < n; i++) maj.set(freq, i * 3);
        probs.push({ name: 'majority class', kind: 'baseline', p: maj });

        const orders = probs.map((s) => new AucOrder(s.p, n, 3));
        const preds = probs.map((s) => argmax(s.p, n, 3));
        const losses = probs.map((s) => sampleLoss(y, s.p, n, 3));
        const baselines = probs.map((s, i) => [s, i] as const).filter(([s]) => s.kind === 'baseline');
        const perSystem = 9;
        const stat = (w: Float64Array): number[] => {
          const ms = probs.map((s, i) => computeMetrics(y, s.p, n, 3, { weights: w, order: orders[i], pred: preds[i], loss: losses[i] }));
          const out: number[] = [];
          for (const m of ms) out.push(m.macroF1, m.accuracy, m.macroAuc, ...m.perClass.map((c) => c.precision), ...m.perClass.map((c) => c.recall));
          for (const m of ms) for (const [, b] of baselines) out.push(m.macroF1 - ms[b]!.macroF1, m.macroAuc - ms[b]!.macroAuc);
          return out;
        };
        const t0 = performance.now();
        const ci = blockBootstrap(n, stat, { block: o.block, replicates: o.replicates, level: o.level, seed: o.seed });
        log(`  bootstrap: ${o.replicates} replicates of ${Math.ceil(n / o.block)} blocks in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
        const base = probs.length * perSystem;
        const systems: SystemResult[] = probs.map((s, i) => {
          const c = ci.slice(i * perSystem, (i + 1) * perSystem);
          const vs: SystemResult['vsBaselines'] = {};
          baselines.forEach(([b], j) => {
            const at = base + (i * baselines.length + j) * 2;
            if (b !== s) vs[b.name] = { macroF1: ci[at]!, macroAuc: ci[at + 1]! };
          });
          return {
            name: s.name,
            kind: s.kind,
            metrics: computeMetrics(y, s.p, n, 3, { order: orders[i], pred: preds[i], loss: losses[i] }),
            ci: { macroF1: c[0]!, accuracy: c[1]!, macroAuc: c[2]!, precision: c.slice(3, 6), recall: c.slice(6, 9) },
            vsBaselines: vs,
            roc: [0, 1, 2].map((k) => rocPoints(orders[i]!, y, k)),
          };
        });
        sets.push({ data: source, symbol, rows: rowsLabel, samples: n, classCounts: [0, 1, 2].map((k) => y.filter((v) => v === k).length), horizon, systems });
      }
    }
    return {
      created: new Date().toISOString(),
      models: models.map((m) => ({ name: m.name, dir: m.dir, manifest: m.manifest })),
      baselineTraining: { data: trainSource, symbol: trainSymbol, rows: [baseTrain.splits.train.from, baseTrain.splits.train.to], samples: tr.length, classCounts: counts },
      bootstrap: { block: o.block, replicates: o.replicates, level: o.level },
      sets,
      notes: [],
    };
  } finally {
    await Promise.all(models.map((m) => m.retire()));
  }
}

function allRows(ds: Dataset): Int32Array {
  const out: number[] = [];
  for (let i = ds.T - 1; i < ds.n; i++) if (ds.y[i]! >= 0) out.push(i);
  return Int32Array.from(out);
}
