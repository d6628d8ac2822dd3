/**
 * Train -> export -> verify -> write the model directory, for the transformer and the tree model.
 * Both end the same way: the exported ONNX file is scored by ONNX Runtime through the serving
 * transform on the validation and test splits (metrics in the manifest), checked against the
 * training library's own output on held-out windows (parity in the manifest; the command fails
 * above tolerance), and a few raw test inputs with the library's outputs are kept as
 * `reference.json` so a test can check the shipped model without retraining.
 */
import * as ort from 'onnxruntime-node';
import { InputTransform } from '../inference/normalize.ts';
import { FEATURE_SPEC_VERSION } from '../features/columns.ts';
import type { FeatureParams, ModelManifest } from '../inference/manifest.ts';
import { segmentedTrainingInputs, trainingInputs, type DataInputs } from './provenance.ts';
import { writeModelDir, type ManifestDraft, type WrittenModel } from './model-dir.ts';
import type { Dataset } from './dataset.ts';
import { computeMetrics } from './evaluate/metrics.ts';
import { CLASS_NAMES, CLASS_VALUES } from './labels.ts';
import type { TfBackend } from './tf-backend.ts';
import { trainTransformer, inverseFrequencyWeights, type TrainOptions } from './transformer/train.ts';
import type { TransformerConfig } from './transformer/model.ts';
import { transformerToOnnx } from './transformer/export.ts';
import { trainGbdt, type GbdtEngine, type GbdtParams } from './gbdt/train.ts';
import { readXgboostJson } from './gbdt/xgboost.ts';
import { readLightgbmText } from './gbdt/lightgbm.ts';
import { ensembleToOnnx } from './gbdt/onnx.ts';

export const PARITY_TOLERANCE = 1e-4;

export interface ShipContext {
  name: string;
  modelsDir: string;
  version: string;
  command: string;
  dataSource: string;
  /** The dataset directory's row filter the data was read with (manifest training.where). */
  where?: string;
  description?: string;
  /** The parameters the features were computed with (manifest input.features). */
  featureParams?: FeatureParams;
  /** The training data by content (manifest training.inputs, with the splits' rows and times). */
  inputs?: DataInputs;
  /** Segmented training data: the inputs as given (manifest training.data, a list) and each segment's inputs by content. */
  dataSources?: string[];
  segmentInputs?: DataInputs[];
  /** Cross-validation scores made before shipping (manifest metrics.cv). */
  cv?: Record<string, unknown>;
  onLog: (line: string) => void;
}

function inputSpec(ctx: ShipContext, ds: Dataset, name: string, window: number, layout: 'NTF' | 'NF'): ModelManifest['input'] {
  return { name, columns: ds.opts.columns, window, layout, featureSpecVersion: FEATURE_SPEC_VERSION, ...(ctx.featureParams ? { features: ctx.featureParams } : {}) };
}

export interface ShipResult extends WrittenModel {
  parity: { maxAbsDiff: number; samples: number };
  metrics: Record<string, unknown>;
}

/** Evenly spaced rows of a split (chronology kept). */
export function spread(rows: Int32Array, max: number): Int32Array {
  if (rows.length <= max) return rows;
  const step = rows.length / max;
  return Int32Array.from({ length: max }, (_, i) => rows[Math.floor(i * step)]!);
}

/** Scores sample rows through ONNX Runtime exactly as served: raw window -> manifest transform -> session. */
async function scoreOnnx(session: ort.InferenceSession, manifest: ModelManifest, ds: Dataset, rows: Int32Array): Promise<Float32Array> {
  const t = new InputTransform(manifest);
  const C = manifest.output.classes.length;
  const dims = manifest.input.layout === 'NTF' ? [manifest.input.window, manifest.input.columns.length] : [manifest.input.columns.length];
  const out = new Float32Array(rows.length * C);
  const B = 512;
  const buf = new Float32Array(B * t.size);
  for (let s = 0; s < rows.length; s += B) {
    const b = Math.min(B, rows.length - s);
    for (let j = 0; j < b; j++) t.write(ds.windowRaw(rows[s + j]!), buf, j * t.size);
    const r = await session.run({ [manifest.input.name]: new ort.Tensor('float32', buf.subarray(0, b * t.size), [b, ...dims]) });
    out.set(r[manifest.output.name]!.data as Float32Array, s * C);
  }
  return out;
}

function summary(y: Int32Array, p: ArrayLike<number>): Record<string, number> {
  const m = computeMetrics(y, p, y.length, 3);
  const r = (v: number) => Math.round(v * 1e4) / 1e4;
  return { samples: y.length, macroF1: r(m.macroF1), accuracy: r(m.accuracy), macroAuc: r(m.macroAuc), logLoss: r(m.logLoss) };
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  return d;
}

async function finish(ctx: ShipContext, draft: ManifestDraft, onnx: Uint8Array, ds: Dataset, reference: { rows: Int32Array; probs: ArrayLike<number>; library: string }): Promise<ShipResult> {
  const manifest = { schema: 'flowcast.model/v1', ...draft, onnx: { file: 'model.onnx' } } as ModelManifest;
  const session = await ort.InferenceSession.create(onnx);
  try {
    const parityProbs = await scoreOnnx(session, manifest, ds, reference.rows);
    const diff = maxAbsDiff(parityProbs, reference.probs);
    ctx.onLog(`parity: ONNX Runtime vs ${reference.library} on ${reference.rows.length} held-out samples: max |Δp| = ${diff.toExponential(2)} (tolerance ${PARITY_TOLERANCE})`);
    if (!(diff <= PARITY_TOLERANCE)) throw new Error(`the exported ONNX model disagrees with ${reference.library}: max |Δp| ${diff} > ${PARITY_TOLERANCE}; not written`);
    const metrics: Record<string, unknown> = {};
    for (const split of ['val', 'test'] as const) {
      const rows = ds.splits[split].rows;
      if (rows.length === 0) continue;
      const t0 = performance.now();
      const p = await scoreOnnx(session, manifest, ds, rows);
      metrics[split === 'val' ? 'validation' : 'test'] = { ...summary(ds.labelsOf(rows), p), rows: [ds.splits[split].from, ds.splits[split].to], note: 'ONNX Runtime, serving transform' };
      ctx.onLog(`${split}: ${JSON.stringify(metrics[split === 'val' ? 'validation' : 'test'])} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
    }
    draft.metrics = { ...(draft.metrics ?? {}), ...metrics, ...(ctx.cv ? { cv: ctx.cv } : {}) };
    draft.parity = { reference: reference.library, samples: reference.rows.length, maxAbsDiff: diff, tolerance: PARITY_TOLERANCE };
    // A few raw inputs and the library's outputs, for tests of the shipped model.
    const keep = spread(reference.rows, draft.kind === 'transformer' ? 3 : 16);
    const C = manifest.output.classes.length;
    const refJson = {
      note: `raw inputs (input.columns x input.window, row-major, oldest row first; null = NaN) and ${reference.library}'s probabilities`,
      library: reference.library,
      samples: Array.from(keep, (row) => {
        const j = reference.rows.indexOf(row);
        return { row, inputs: Array.from(ds.windowRaw(row), (v) => (Number.isNaN(v) ? null : v)), probs: Array.from({ length: C }, (_, k) => reference.probs[j * C + k]!) };
      }),
    };
    const written = writeModelDir(ctx.modelsDir, draft, onnx, { 'reference.json': JSON.stringify(refJson) + '\n' });
    ctx.onLog(`wrote ${written.dir} (model.onnx ${(onnx.length / 1024).toFixed(0)} KiB, manifest.json, reference.json)`);
    return { ...written, parity: { maxAbsDiff: diff, samples: reference.rows.length }, metrics };
  } finally {
    await session.release();
  }
}

function outputSpec(ds: Dataset): ModelManifest['output'] {
  return { name: 'probs', kind: 'probabilities', classes: [...CLASS_NAMES], labelValues: [...CLASS_VALUES], labelColumn: ds.labelColumn, ...(ds.opts.horizonMs !== undefined ? { horizonMs: ds.opts.horizonMs } : { horizon: ds.opts.horizon }), alpha: ds.opts.alpha };
}

function trainingBlock(ctx: ShipContext, ds: Dataset, extra: Record<string, unknown>): Record<string, unknown> {
  return {
    command: ctx.command,
    data: ctx.dataSources ?? ctx.dataSource,
    ...(ctx.where !== undefined ? { where: ctx.where } : {}),
    symbol: ds.symbol,
    split: ds.opts.split,
    ...(ds.cuts ? { splitBy: 'time over every segment (first validation and test times in inputs.splits)' } : {}),
    dataset: ds.describe(),
    ...(ctx.inputs
      ? { inputs: ds.segments && ctx.segmentInputs ? segmentedTrainingInputs(ctx.inputs, ctx.segmentInputs, ds) : trainingInputs(ctx.inputs, ds.data, ds.symbol, ds.ts, ds.splits.train.to, ds.splits.val.to) }
      : {}),
    started: new Date().toISOString(),
    ...extra,
  };
}

export async function shipTransformer(ctx: ShipContext, ds: Dataset, config: TransformerConfig, backend: TfBackend, train: TrainOptions): Promise<ShipResult> {
  ctx.onLog(`training transformer on ${ds.symbol}: ${ds.splits.train.rows.length} train windows (${train.samplesPerEpoch} per epoch), backend ${backend.name}`);
  const r = await trainTransformer(ds, config, backend, { ...train, onLog: ctx.onLog });
  try {
    // Normalisation runs inside the graph (vectorised in ONNX Runtime); the engine copies raw values.
    const normalization = ds.normalization ? { ...ds.normalization, inGraph: true } : null;
    const onnx = transformerToOnnx(config, r.params, { normalization, metadata: { 'flowcast.model': ctx.name, 'flowcast.version': ctx.version } });
    const held = spread(ds.splits.test.rows.length ? ds.splits.test.rows : ds.splits.val.rows, 512);
    const tfProbs = r.model.predict(ds.gatherZ(held), held.length);
    const draft: ManifestDraft = {
      name: ctx.name,
      version: ctx.version,
      kind: 'transformer',
      description: ctx.description ?? `transformer encoder over the last ${config.window} rows (${config.window / config.patch} tokens of ${config.patch} rows, d_model ${config.dModel}, ${config.heads} heads, ${config.layers} layers)`,
      input: inputSpec(ctx, ds, 'features', config.window, 'NTF'),
      normalization,
      output: outputSpec(ds),
      training: trainingBlock(ctx, ds, {
        library: `TensorFlow.js (${backend.name})`,
        backendReasons: backend.reasons,
        config,
        optimizer: { name: 'adam', lr: train.lr, batchSize: train.batchSize, clipNorm: train.clipNorm, epochs: train.epochs, samplesPerEpoch: train.samplesPerEpoch, patience: train.patience, seed: train.seed },
        classWeights: r.classWeights,
        history: r.history,
        bestEpoch: r.bestEpoch,
        steps: r.steps,
        seconds: Math.round(r.seconds * 10) / 10,
      }),
    };
    return await finish(ctx, draft, onnx, ds, { rows: held, probs: tfProbs, library: `TensorFlow.js ${backend.name} (the trained model)` });
  } finally {
    r.model.dispose();
  }
}

export async function shipGbdt(ctx: ShipContext, ds: Dataset, engine: GbdtEngine, engineDetail: string, params: GbdtParams): Promise<ShipResult> {
  const counts = ds.classCounts(ds.splits.train.rows);
  const classWeights = inverseFrequencyWeights(counts);
  ctx.onLog(`training trees with ${engine} (${engineDetail}) on ${ds.symbol}: ${ds.splits.train.rows.length} train rows, ${ds.splits.val.rows.length} validation rows`);
  const run = await trainGbdt({ ds, columns: ds.designNames(), classWeights, params, engine, engineDetail });
  ctx.onLog(`${engine}: ${run.rounds} rounds in ${run.seconds.toFixed(1)} s`);
  const ens = run.format === 'xgboost-json' ? readXgboostJson(run.model, `${engine} model`) : readLightgbmText(run.model, `${engine} model`);
  ens.nFeatures = Math.max(ens.nFeatures, ds.designWidth);
  const lagged = ds.lagSteps.length > 1;
  const onnx = ensembleToOnnx(ens, {
    metadata: { 'flowcast.model': ctx.name, 'flowcast.version': ctx.version },
    ...(lagged ? { lags: { window: ds.T, columns: ds.F, pick: ds.designPick() } } : {}),
  });
  const draft: ManifestDraft = {
    name: ctx.name,
    version: ctx.version,
    kind: 'gbdt',
    description: ctx.description ?? `gradient-boosted trees (${ens.source}, ${ens.trees.length} trees) on the latest row${lagged ? ` and ${ds.opts.lagColumns ? ds.opts.lagColumns.join(', ') : 'its columns'} ${ds.lagSteps.slice(1).join(', ')} rows before it` : ''}`,
    input: lagged ? { ...inputSpec(ctx, ds, onnx.inputName, ds.T, 'NTF'), lags: ds.lagSteps.slice(1), ...(ds.opts.lagColumns ? { lagColumns: ds.opts.lagColumns } : {}) } : inputSpec(ctx, ds, onnx.inputName, 1, 'NF'),
    normalization: null,
    output: outputSpec(ds),
    training: trainingBlock(ctx, ds, {
      library: engineDetail,
      engine,
      params,
      rounds: run.rounds,
      trees: ens.trees.length,
      objective: ens.objective,
      classWeights,
      seconds: Math.round(run.seconds * 10) / 10,
    }),
  };
  const test = ds.splits.test.rows;
  return finish(ctx, draft, onnx.bytes, ds, { rows: test, probs: run.testProbs, library: `${engine} (${engineDetail}) predict` });
}
