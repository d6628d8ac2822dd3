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
 * Which rows: data is compared with each model's training data by content (src/training/provenance.ts:
 * input checksums, symbol, time span), never by how its path is spelled. On the training data itself
 * only the model's chronological test split is scored; on other data every row with a full window
 * and a label, less the rows inside a model's training span (a features file of the same day, a
 * copy of the files). Those rows are left out and counted in the report, or scored and flagged with
 * includeTrainingRows. Source specs are computed with each model's feature parameters (its V).
 */
import { basename, resolve } from 'node:path';
import { ServedModel } from '../../inference/model.ts';
import { defaultSessionSettings } from '../../inference/providers.ts';
import { batcherSettings } from '../../inference/batcher.ts';
import { ModelMetrics } from '../../inference/metrics.ts';
import { FEATURE_COLUMNS, FEATURE_SPEC_VERSION } from '../../features/columns.ts';
import type { ModelManifest } from '../../inference/manifest.ts';
import { DEFAULT_GBDT, probeEngines, trainGbdt, type GbdtEngine } from '../gbdt/train.ts';
import { readXgboostJson } from '../gbdt/xgboost.ts';
import { readLightgbmText } from '../gbdt/lightgbm.ts';
import { marginsToOutput, predictMargins } from '../gbdt/ensemble.ts';
import { buildDataset, OFI_INPUTS, pickSymbol, transformFor, type Dataset, type SplitFractions } from '../dataset.ts';
import { isSourceSpec, loadFeatures, type FeatureData, type LoadOptions } from '../features-file.ts';
import { describeInputs, manifestInputs, trainingInputs, trainingOverlap, type TrainingInputs } from '../provenance.ts';
import { featureDependencies } from '../../inference/manifest.ts';
import { fitLogReg, predictLogReg } from '../logreg.ts';
import { inverseFrequencyWeights } from '../transformer/train.ts';
import { AucOrder, argmax, computeMetrics, sampleLoss, type Metrics } from './metrics.ts';
import { blockBootstrap, type Interval } from './bootstrap.ts';
import { CLASS_NAMES } from '../labels.ts';
import { fitTemperature } from '../calibration.ts';
import { calibrateSet, type SetCalibration } from '../calibration-eval.ts';
import { permutationImportance, type ImportanceResult } from '../importance.ts';
import { servedPredictor, shapForServed, type ShapSummary } from '../importance-eval.ts';
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
  /**
   * Baselines fitted on the models' own inputs (the latest row of their input columns): a logistic
   * regression and gradient-boosted trees (XGBoost or LightGBM, where installed). Default both.
   */
  sameInputBaselines?: { logreg: boolean; gbdt: boolean };
  /** Score rows that overlap a model's training data too (flagged in the report); default: left out. */
  includeTrainingRows?: boolean;
  /** Calibration section (Brier, reliability, ECE, temperature fitted on each model's validation split); default on. */
  calibration?: { bins: number } | false;
  /**
   * Feature importance (permutation, and TreeSHAP for tree models) on the data sets that are the
   * models' test split ('test'), on every data set ('all'), or none; default 'test' with 5 repeats.
   */
  importance?: { on: 'test' | 'all' | 'none'; repeats: number; shapRows: number };
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
  /** A model's paired differences against each model evaluated after it: this model minus that one. */
  vsModels?: Record<string, { macroF1: Interval; macroAuc: Interval }>;
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
  /** Per model: whether and how this data overlaps its training data, and how many rows. */
  overlap: { model: string; match: 'content' | 'time' | 'none'; detail: string; rows: number }[];
  /** Overlapping rows were scored (--include-training-rows). */
  includesTraining: boolean;
  calibration?: SetCalibration;
  /** Permutation importance per model. */
  importance?: { model: string; result: ImportanceResult }[];
  shap?: ShapSummary[];
}

export interface EvaluationResult {
  created: string;
  models: { name: string; dir: string; manifest: ModelManifest }[];
  baselineTraining: { data: string; symbol: string; rows: [number, number]; samples: number; classCounts: number[] };
  /** The baselines on the models' own inputs, each in a line: what it is and how it was fitted. */
  sameInputBaselines: { name: string; detail: string }[];
  bootstrap: { block: number; replicates: number; level: number };
  sets: EvaluationSet[];
  notes: string[];
}

/** A baseline fitted on a model's own input columns; predicts sample rows of any dataset of the same data. */
interface SameInputBaseline {
  name: string;
  columns: string[];
  predict(ds: Dataset, rows: Int32Array): Float64Array;
}

interface TrainingInfo {
  data?: string;
  symbol?: string;
  split?: SplitFractions;
  /** Segmented training data (several inputs, symbols or days): its inputs and filter, reloaded as training read them. */
  segmented?: { inputs: string[]; where?: string };
}

function trainingInfo(m: ModelManifest): TrainingInfo {
  const t = (m.training ?? {}) as Record<string, unknown>;
  const raw = t.data as string | string[] | undefined;
  const data = Array.isArray(raw) ? raw.join(' + ') : raw;
  const where = t.where as string | undefined;
  const segmented = manifestInputs(t)?.segments && raw !== undefined ? { inputs: Array.isArray(raw) ? raw : [raw], ...(where !== undefined ? { where } : {}) } : undefined;
  return { data: data !== undefined && where !== undefined ? filteredSource(data, where) : data, symbol: t.symbol as string | undefined, split: t.split as SplitFractions | undefined, ...(segmented ? { segmented } : {}) };
}

/** A segmented model's training data, read again as training read it (its inputs, symbols, filter and V per symbol). */
async function segmentedTrainingData(m: ModelManifest, info: TrainingInfo, horizon: number, alpha: number): Promise<FeatureData> {
  const { loadTrainingSet } = await import('../train-data.ts');
  const p = m.input.features;
  const t = await loadTrainingSet(info.segmented!.inputs, {
    horizon, alpha, split: info.split ?? { train: 0.7, val: 0.15 },
    ...(info.symbol ? { symbols: info.symbol.split(',') } : {}),
    ...(info.segmented!.where !== undefined ? { where: info.segmented!.where } : {}),
    ...(p ? { levels: p.levels, vpinBuckets: p.vpinBuckets, barMs: p.barMs, barWindow: p.barWindow, ...(p.vpinBucket ? { vpinBucket: p.vpinBucket } : {}) } : {}),
  });
  return t.data;
}

/**
 * A dataset directory read through a row filter, as one source string: `DIR (where COND)` (what
 * manifests before training.where wrote as training.data, so those still read the same rows).
 */
export function filteredSource(dir: string, where: string): string {
  return `${dir} (where ${where})`;
}

function splitSource(src: string): { path: string; where?: string } {
  const m = /^(.*) \(where (.+)\)$/s.exec(src);
  return m ? { path: m[1]!, where: m[2]! } : { path: src };
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

/**
 * Probabilities of a served model for sample rows of a dataset built with its inputs: as served
 * (its manifest's temperature applied, if any), or with `raw` the graph's own.
 */
export async function predictRows(m: ServedModel, ds: Dataset, rows: Int32Array, batch = 512, o: { raw?: boolean } = {}): Promise<Float32Array> {
  const C = m.manifest.output.classes.length;
  const size = m.transform.size;
  const out = new Float32Array(rows.length * C);
  const buf = new Float32Array(batch * size);
  for (let s = 0; s < rows.length; s += batch) {
    const b = Math.min(batch, rows.length - s);
    for (let j = 0; j < b; j++) m.transform.write(ds.windowRaw(rows[s + j]!), buf, j * size);
    out.set(await (o.raw ? m.runner.run(buf.subarray(0, b * size), b) : m.run(buf.subarray(0, b * size), b)), s * C);
  }
  return out;
}

/** A model's dataset (its columns, window, label and normalisation) over loaded feature data. */
export function datasetFor(m: ModelManifest, data: FeatureData, symbol: string, split: SplitFractions): Dataset {
  return buildDataset(data, {
    columns: m.input.columns,
    window: m.input.window,
    horizon: m.output.horizon ?? DEFAULT_LABEL.horizon,
    ...(m.output.horizonMs !== undefined ? { horizonMs: m.output.horizonMs } : {}),
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

/** Load options for data a model is scored on: the feature parameters it was trained with. */
function loadOptionsFor(m: ModelManifest, horizon: number, alpha: number): LoadOptions {
  const p = m.input.features;
  return { horizons: [horizon], alpha, ...(p ? { levels: p.levels, vpinBuckets: p.vpinBuckets, barMs: p.barMs, barWindow: p.barWindow } : {}) };
}

/**
 * Feature data for a model: loaded with the feature parameters it was trained with, and a source
 * spec recomputed with the model's V where auto sizing gives another. `load` may cache.
 */
export async function modelFeatureData(src: string, m: ModelManifest, horizon: number, alpha: number, load: (src: string, lo: LoadOptions) => Promise<FeatureData> = loadSplit): Promise<FeatureData> {
  const lo = loadOptionsFor(m, horizon, alpha);
  const d = await load(src, lo);
  const want = m.input.features?.vpinBucket;
  if (!isSourceSpec(src) || !want || !featureDependencies(m.input.columns).vpin.length) return d;
  const have = d.params?.vpinBucket ?? {};
  if (d.symbols.every((s) => want[s] === undefined || want[s] === have[s])) return d;
  return load(src, { ...lo, symbols: [...d.symbols], vpinBucket: Object.fromEntries(d.symbols.map((s) => [s, want[s] ?? have[s]!])) });
}

/** loadFeatures of a source string, a dataset directory's `DIR (where COND)` included. */
async function loadSplit(src: string, lo: LoadOptions): Promise<FeatureData> {
  const { path, where } = splitSource(src);
  // Several days of a symbol in a dataset directory: one segment each (no label reads the next day).
  const { segmentPartitions } = await import('../segments.ts');
  return segmentPartitions(await loadFeatures(path, where !== undefined ? { ...lo, where } : lo));
}

/** Where features a model reads were computed with other parameters than it was trained with: one line each. */
function paramMismatches(m: ModelManifest, data: FeatureData, symbol: string): string[] {
  const p = m.input.features;
  if (!p) return [];
  const dep = featureDependencies(m.input.columns);
  const d = data.params;
  const out: string[] = [];
  if (!d) {
    if (dep.levels.length || dep.vpin.length || dep.bars.length) out.push(`${data.source} records no feature parameters, so ${[...dep.levels, ...dep.vpin, ...dep.bars].join(', ')} may not be computed as ${m.name} was trained`);
    return out;
  }
  if (dep.levels.length && d.levels !== p.levels) out.push(`levels ${d.levels}, ${m.name} was trained with ${p.levels}`);
  if (dep.bars.length && (d.barMs !== p.barMs || d.barWindow !== p.barWindow)) out.push(`bars ${d.barMs} ms x ${d.barWindow}, ${m.name} was trained with ${p.barMs} ms x ${p.barWindow}`);
  if (dep.vpin.length) {
    if (d.vpinBuckets !== p.vpinBuckets) out.push(`VPIN window ${d.vpinBuckets}, ${m.name} was trained with ${p.vpinBuckets}`);
    const want = p.vpinBucket?.[symbol];
    const have = d.vpinBucket?.[symbol];
    if (want !== undefined && have !== want) out.push(`${symbol} VPIN bucket ${have ?? 'not recorded'}, ${m.name} was trained with ${want}`);
  }
  return out;
}

export async function evaluate(o: EvaluateOptions): Promise<EvaluationResult> {
  const log = o.onLog ?? (() => undefined);
  const models = await Promise.all(o.models.map((d) => loadServed(d)));
  try {
    const first = models[0]!.manifest;
    const horizon = first.output.horizon ?? DEFAULT_LABEL.horizon;
    // A time horizon (ms) where the first model has one: every dataset below labels by it.
    const hMs = first.output.horizonMs !== undefined ? { horizonMs: first.output.horizonMs } : {};
    const horizonOf = (o: ModelManifest['output']): string => (o.horizonMs !== undefined ? `${o.horizonMs} ms` : `${o.horizon ?? DEFAULT_LABEL.horizon} rows`);
    for (const m of models) {
      if (horizonOf(m.manifest.output) !== horizonOf(first.output)) throw new Error(`models disagree on the label horizon (${m.name}: ${horizonOf(m.manifest.output)}, ${models[0]!.name}: ${horizonOf(first.output)}); evaluate them separately`);
    }
    const info = trainingInfo(first);
    const split = info.split ?? { train: 0.7, val: 0.15 };
    const trainSource = o.trainData ?? info.data;
    if (!trainSource) throw new Error(`${models[0]!.name}: the manifest has no training.data; pass --train-data for the baselines`);
    log(`baselines: fitting on the train split of ${trainSource}`);
    const alpha = first.output.alpha ?? DEFAULT_LABEL.alpha;
    const notes: string[] = [];

    // Feature data by source and load options: models trained with other parameters get their own.
    const cache = new Map<string, Promise<FeatureData>>();
    const load = (src: string, lo: LoadOptions): Promise<FeatureData> => {
      const key = `${src}\n${JSON.stringify(lo)}`;
      let p = cache.get(key);
      if (!p) cache.set(key, (p = loadSplit(src, lo)));
      return p;
    };
    /** The data a model is scored on: for a source spec, recomputed with the model's V where auto sizing gave another. */
    const dataFor = (src: string, m: ModelManifest): Promise<FeatureData> => modelFeatureData(src, m, horizon, alpha, load);

    const trainData = !o.trainData && info.segmented ? await segmentedTrainingData(first, info, horizon, alpha) : await dataFor(trainSource, first);
    const trainSymbol = pickSymbol(trainData, info.symbol);
    const baseTrain = buildDataset(trainData, { columns: OFI_INPUTS.map((c) => c.name), transforms: OFI_INPUTS.map((c) => c.transform), window: 1, horizon, ...hMs, alpha, split, symbol: trainSymbol });
    const tr = baseTrain.splits.train.rows;
    const counts = baseTrain.classCounts(tr);
    const lr = fitLogReg(baseTrain.gatherZ(tr), baseTrain.labelsOf(tr), tr.length, baseTrain.F, 3, { classWeights: inverseFrequencyWeights(counts) });
    const freq = counts.map((c) => c / tr.length);
    const majority = freq.indexOf(Math.max(...freq));
    log(`baselines: majority class "${CLASS_NAMES[majority]}" (${(freq[majority]! * 100).toFixed(1)}% of train), logistic regression on ${OFI_INPUTS.length} OFI columns (${lr.iterations} L-BFGS iterations)`);

    // Baselines on the models' own inputs (the latest row), one per distinct input list: does the
    // model beat a linear model and a tree model given exactly what it reads?
    const want = o.sameInputBaselines ?? { logreg: true, gbdt: true };
    const inputSets = new Map<string, string[]>();
    for (const m of models) inputSets.set(m.manifest.input.columns.join(','), m.manifest.input.columns);
    const label = (cols: string[]) => (inputSets.size === 1 ? `the models' ${cols.length} inputs` : `${models.find((m) => m.manifest.input.columns.join(',') === cols.join(','))!.name}'s ${cols.length} inputs`);
    const same: SameInputBaseline[] = [];
    const sameInfo: { name: string; detail: string }[] = [];
    let engine: { engine: GbdtEngine; detail: string } | undefined;
    if (want.gbdt) {
      const probes = await probeEngines();
      const pick = ['xgboost-python', 'xgboost-cli', 'lightgbm-cli'].map((e) => probes.find((p) => p.engine === e && p.available)).find(Boolean);
      if (pick) engine = { engine: pick.engine, detail: pick.detail };
      else notes.push(`no gradient-boosted trees baseline: no tree library here (${probes.map((p) => `${p.engine}: ${p.detail}`).join('; ')})`);
    }
    for (const cols of inputSets.values()) {
      const transforms = cols.map(transformFor);
      if (want.logreg) {
        const d = buildDataset(trainData, { columns: cols, transforms, window: 1, horizon, ...hMs, alpha, split, symbol: trainSymbol });
        const rows = d.splits.train.rows;
        const t0 = performance.now();
        const model = fitLogReg(d.gatherZ(rows), d.labelsOf(rows), rows.length, d.F, 3, { classWeights: inverseFrequencyWeights(d.classCounts(rows)) });
        const name = `logistic regression (${label(cols)})`;
        same.push({ name, columns: cols, predict: (ev, r) => predictLogReg(model, buildDataset(ev.data, { ...ev.opts, columns: cols, transforms, window: 1, normalization: d.normalization }).gatherZ(r), r.length) });
        sameInfo.push({ name, detail: `multinomial, on the latest row of ${cols.join(', ')} (the registry's signed log where it applies, z-scored on train, class-weighted; ${model.iterations} L-BFGS iterations)` });
        log(`baselines: ${name} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      }
      if (engine) {
        const d = buildDataset(trainData, { columns: cols, window: 1, horizon, ...hMs, alpha, split, symbol: trainSymbol, normalization: null });
        const t0 = performance.now();
        const params = { ...DEFAULT_GBDT, seed: o.seed };
        const run = await trainGbdt({ ds: d, columns: cols, classWeights: inverseFrequencyWeights(d.classCounts(d.splits.train.rows)), params, engine: engine.engine, engineDetail: engine.detail });
        const ens = run.format === 'xgboost-json' ? readXgboostJson(run.model, `${engine.engine} baseline`) : readLightgbmText(run.model, `${engine.engine} baseline`);
        const name = `gradient-boosted trees (${label(cols)})`;
        same.push({
          name, columns: cols, predict: (ev, r) => {
            const x = buildDataset(ev.data, { ...ev.opts, columns: cols, window: 1, normalization: null });
            const out = new Float64Array(r.length * 3);
            for (let j = 0; j < r.length; j++) out.set(marginsToOutput(ens, predictMargins(ens, x.windowRaw(r[j]!))), j * 3);
            return out;
          },
        });
        sameInfo.push({ name, detail: `${engine.engine} (${engine.detail}), ${run.rounds} rounds (${ens.trees.length} trees) at learning rate ${params.learningRate}, depth ${params.maxDepth}, early stopping on the validation split, class-weighted; on the latest row of the same columns, raw (trees need no scaling)` });
        log(`baselines: ${name}: ${run.rounds} rounds in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      }
    }

    // What each model was trained on, by content: from its manifest, or (older manifests) from its training data as found now.
    const footprints: TrainingInputs[] = [];
    for (const m of models) {
      let fp = manifestInputs(m.manifest.training);
      if (!fp) {
        const t = trainingInfo(m.manifest);
        const src = t.data ?? trainSource;
        const d = await dataFor(src, m.manifest);
        const sym = pickSymbol(d, t.symbol);
        const ds = buildDataset(d, { columns: OFI_INPUTS.map((c) => c.name), window: 1, horizon, ...hMs, alpha, split: t.split ?? split, symbol: sym, normalization: null });
        fp = trainingInputs(await describeInputs(src, d), d, sym, ds.ts, ds.splits.train.to, ds.splits.val.to);
        notes.push(`${m.name}'s manifest records no training.inputs: its training data was identified from training.data (${src}) as read now`);
      }
      footprints.push(fp);
    }

    // Temperatures on each model's own validation split (never the scored rows), and its training
    // dataset (TreeSHAP counts its covers on the train split).
    const own = new Map<string, Dataset>();
    const temps = new Map<string, { T: number; fittedOn: string; samples: number; nllBefore: number; nllAfter: number }>();
    if (o.calibration !== false || (o.importance?.on ?? 'test') !== 'none') {
      for (const m of models) {
        const t = trainingInfo(m.manifest);
        const src = t.data ?? trainSource;
        const d = t.segmented ? await segmentedTrainingData(m.manifest, t, horizon, alpha) : await dataFor(src, m.manifest);
        const sym = pickSymbol(d, t.symbol);
        const ds = datasetFor(m.manifest, d, sym, t.split ?? split);
        own.set(m.name, ds);
        if (o.calibration === false) continue;
        const vr = ds.splits.val.rows;
        if (!vr.length) {
          notes.push(`${m.name}: no validation samples in ${src} ${sym}, no temperature fitted`);
          continue;
        }
        const fit = fitTemperature(ds.labelsOf(vr), await predictRows(m, ds, vr), vr.length, m.manifest.output.classes.length);
        temps.set(m.name, { T: fit.T, fittedOn: `the validation split of its training data (${sym} rows ${ds.splits.val.from}..${ds.splits.val.to - 1})`, samples: vr.length, nllBefore: fit.nllBefore, nllAfter: fit.nllAfter });
        log(`calibration: ${m.name}: temperature ${fit.T.toFixed(3)} on ${vr.length} validation samples (NLL ${fit.nllBefore.toFixed(4)} -> ${fit.nllAfter.toFixed(4)})`);
      }
    }

    const sets: EvaluationSet[] = [];
    for (const source of o.data) {
      const variants = await Promise.all(models.map((m) => dataFor(source, m.manifest)));
      const data = variants[0]!;
      const inputs = await describeInputs(source, data);
      for (const symbol of data.symbols) {
        const dsModels = models.map((m, k) => datasetFor(m.manifest, variants[k]!, symbol, split));
        for (let k = 0; k < models.length; k++) {
          const bad = paramMismatches(models[k]!.manifest, variants[k]!, symbol);
          if (bad.length) notes.push(`${source} ${symbol}: computed with ${bad.join('; ')}`);
        }
        // Rows every model can score: full windows for the longest window, with a label.
        const T = Math.max(...models.map((m) => m.manifest.input.window));
        const ref = dsModels[models.findIndex((m) => m.manifest.input.window === T)]!;
        const overlaps = models.map((m, k) => ({ model: m.name, ...trainingOverlap(footprints[k]!, inputs, variants[k]!, symbol, dsModels[k]!.ts, horizon) }));
        const union = new Uint8Array(ref.n);
        for (const ov of overlaps) for (let i = 0; i < ref.n; i++) union[i] |= ov.mask[i]!;
        const overlapping = union.reduce((a, v) => a + v, 0);
        const candidates = allRows(ref);
        const rows = o.includeTrainingRows ? candidates : candidates.filter((i) => !union[i]);
        const hit = overlaps.filter((x) => x.match !== 'none');
        for (const x of hit) log(`${source} ${symbol}: overlaps ${x.model}'s training data by ${x.match}: ${x.detail}`);
        let rowsLabel: string;
        const testFromOf = (x: (typeof hit)[number]): number => x.testFrom ?? footprints[models.findIndex((m) => m.name === x.model)]!.seen.rows[1];
        const testFrom = hit.length && hit.every((x) => x.match === 'content') ? testFromOf(hit[0]!) : -1;
        if (o.includeTrainingRows && overlapping) rowsLabel = `ALL rows (${ref.n}), INCLUDING ${overlapping} rows of the models' training data (--include-training-rows): not a held-out evaluation`;
        else if (testFrom >= 0 && hit.every((x) => testFromOf(x) === testFrom)) rowsLabel = `test split (rows ${testFrom}..${ref.n - 1}, the model's training data)`;
        else if (overlapping) rowsLabel = `rows outside the models' training data (${ref.n - overlapping} of ${ref.n}; ${overlapping} overlapping rows left out)`;
        else rowsLabel = `all rows (${ref.n})`;
        const n = rows.length;
        const overlapInfo = overlaps.map(({ model, match, detail, count }) => ({ model, match, detail, rows: count }));
        if (n === 0) {
          const why = overlapping ? `every row with a full window and a label overlaps the training data (${hit.map((x) => `${x.model}: ${x.detail}`).join('; ')})` : 'no rows with a full window and a label';
          notes.push(`${source} ${symbol}: not scored: ${why}`);
          log(`${source} ${symbol}: not scored: ${why}`);
          continue;
        }
        const y = ref.labelsOf(rows);
        log(`${source} ${symbol}: ${n} samples, ${rowsLabel}`);
        const probs: { name: string; kind: 'model' | 'baseline'; p: ArrayLike<number> }[] = [];
        for (let k = 0; k < models.length; k++) {
          const t0 = performance.now();
          probs.push({ name: models[k]!.name, kind: 'model', p: await predictRows(models[k]!, dsModels[k]!, rows) });
          log(`  ${models[k]!.name}: scored in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
        }
        for (const b of same) {
          const t0 = performance.now();
          probs.push({ name: b.name, kind: 'baseline', p: b.predict(ref, rows) });
          log(`  ${b.name}: scored in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
        }
        const baseDs = buildDataset(data, { columns: baseTrain.opts.columns, window: 1, horizon, ...hMs, alpha, split, symbol, normalization: baseTrain.normalization });
        probs.push({ name: 'logistic regression (OFI)', kind: 'baseline', p: predictLogReg(lr, baseDs.gatherZ(rows), n) });
        const maj = new Float64Array(n * 3);
        for (let i = 0; i < n; i++) maj.set(freq, i * 3);
        probs.push({ name: 'majority class', kind: 'baseline', p: maj });

        const orders = probs.map((s) => new AucOrder(s.p, n, 3));
        const preds = probs.map((s) => argmax(s.p, n, 3));
        const losses = probs.map((s) => sampleLoss(y, s.p, n, 3));
        const baselines = probs.map((s, i) => [s, i] as const).filter(([s]) => s.kind === 'baseline');
        const perSystem = 9;
        const modelIdx = probs.map((s, i) => [s, i] as const).filter(([s]) => s.kind === 'model').map(([, i]) => i);
        const modelPairs = modelIdx.flatMap((a, k) => modelIdx.slice(k + 1).map((b) => [a, b] as const));
        const stat = (w: Float64Array): number[] => {
          const ms = probs.map((s, i) => computeMetrics(y, s.p, n, 3, { weights: w, order: orders[i], pred: preds[i], loss: losses[i] }));
          const out: number[] = [];
          for (const m of ms) out.push(m.macroF1, m.accuracy, m.macroAuc, ...m.perClass.map((c) => c.precision), ...m.perClass.map((c) => c.recall));
          for (const m of ms) for (const [, b] of baselines) out.push(m.macroF1 - ms[b]!.macroF1, m.macroAuc - ms[b]!.macroAuc);
          // Model against model, on the same resampled rows (which of two models is better, with confidence).
          for (const [a, b] of modelPairs) out.push(ms[a]!.macroF1 - ms[b]!.macroF1, ms[a]!.macroAuc - ms[b]!.macroAuc);
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
          const pairsAt = base + probs.length * baselines.length * 2;
          const vsModels: NonNullable<SystemResult['vsModels']> = {};
          modelPairs.forEach(([a, b], j) => {
            if (a === i) vsModels[probs[b]!.name] = { macroF1: ci[pairsAt + j * 2]!, macroAuc: ci[pairsAt + j * 2 + 1]! };
          });
          return {
            name: s.name,
            kind: s.kind,
            ...(Object.keys(vsModels).length ? { vsModels } : {}),
            metrics: computeMetrics(y, s.p, n, 3, { order: orders[i], pred: preds[i], loss: losses[i] }),
            ci: { macroF1: c[0]!, accuracy: c[1]!, macroAuc: c[2]!, precision: c.slice(3, 6), recall: c.slice(6, 9) },
            vsBaselines: vs,
            roc: [0, 1, 2].map((k) => rocPoints(orders[i]!, y, k)),
          };
        });
        const bs = { block: o.block, replicates: o.replicates, level: o.level, seed: o.seed };
        const calibration = o.calibration === false ? undefined : calibrateSet({ y, n, C: 3, systems: probs, reference: 'majority class', temperatures: temps, bins: o.calibration?.bins ?? 10, bootstrap: bs });
        const imp = o.importance ?? { on: 'test', repeats: 5, shapRows: 5000 };
        let importance: EvaluationSet['importance'], shap: ShapSummary[] | undefined;
        if (imp.on === 'all' || (imp.on === 'test' && testFrom >= 0 && !o.includeTrainingRows)) {
          importance = [];
          shap = [];
          for (let k = 0; k < models.length; k++) {
            const m = models[k]!;
            const t0 = performance.now();
            const result = await permutationImportance({ y, n, C: 3, features: m.manifest.input.columns, predict: servedPredictor(m, dsModels[k]!, rows), repeats: imp.repeats, seed: o.seed + k, bootstrap: bs, onLog: log });
            importance.push({ model: m.name, result });
            log(`  ${m.name}: permutation importance (${m.manifest.input.columns.length} columns x ${imp.repeats}) in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
            const tr = own.get(m.name);
            if (!tr) continue;
            try {
              const t1 = performance.now();
              const sh = shapForServed(m, dsModels[k]!, rows, probs[k]!.p, tr, tr.splits.train.rows, `${tr.splits.train.rows.length} train-split samples of ${tr.data.source} ${tr.symbol}`, imp.shapRows);
              if (sh) {
                shap.push(sh);
                log(`  ${m.name}: TreeSHAP on ${sh.samples} rows in ${((performance.now() - t1) / 1000).toFixed(1)} s (efficiency error ${sh.maxEfficiencyError.toExponential(1)})`);
              }
            } catch (e) {
              notes.push(`${m.name}: no TreeSHAP: ${(e as Error).message}`);
            }
          }
        }
        sets.push({ data: source, symbol, rows: rowsLabel, samples: n, classCounts: [0, 1, 2].map((k) => y.filter((v) => v === k).length), horizon, systems, overlap: overlapInfo, includesTraining: Boolean(o.includeTrainingRows && overlapping), calibration, importance, shap });
      }
    }
    return {
      created: new Date().toISOString(),
      models: models.map((m) => ({ name: m.name, dir: m.dir, manifest: m.manifest })),
      sameInputBaselines: sameInfo,
      baselineTraining: { data: trainSource, symbol: trainSymbol, rows: [baseTrain.splits.train.from, baseTrain.splits.train.to], samples: tr.length, classCounts: counts },
      bootstrap: { block: o.block, replicates: o.replicates, level: o.level },
      sets,
      notes,
    };
  } finally {
    await Promise.all(models.map((m) => m.retire()));
  }
}

function allRows(ds: Dataset): Int32Array {
  const out: number[] = [];
  for (let i = ds.T - 1; i < ds.n; i++) if (ds.y[i]! >= 0 && ds.hasWindow(i)) out.push(i);
  return Int32Array.from(out);
}
