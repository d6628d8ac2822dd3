/**
 * Trains and ships a raw-levels model: the project's transformer (src/training/transformer) with
 * each row's token features = its L levels x 4 channels (SnapshotBatch window units), trained on
 * the labels and chronological splits of the feature Dataset (the ones goog-transformer trains
 * on), exported with the project's ONNX encoder as
 *
 *   levels [N, T, L, 4] -> per-channel normalisation (signed log of sizes, z-score, clip, NaN -> 0)
 *   -> Reshape [N, T, L * 4] -> transformer -> probs [N, 3]
 *
 * and checked like the shipped feature models: ONNX Runtime against TensorFlow.js on held-out
 * windows (fails above PARITY_TOLERANCE), validation and test metrics through ONNX Runtime on the
 * raw windows, a few raw windows with TensorFlow.js's probabilities kept as reference.json.
 */
import * as ort from 'onnxruntime-node';
import { BOOK_CHANNELS, type ModelManifest } from '../../inference/manifest.ts';
import { FEATURE_SPEC_VERSION } from '../../features/columns.ts';
import { buildDataset, DEFAULT_LABEL, type SplitFractions } from '../dataset.ts';
import { loadTrainingData } from '../train-data.ts';
import { trainingInputs } from '../provenance.ts';
import { loadTf, type TfBackendName } from '../tf-backend.ts';
import { DEFAULT_TRANSFORMER, type TransformerConfig } from '../transformer/model.ts';
import { DEFAULT_TRAIN, trainTransformer, type TrainOptions } from '../transformer/train.ts';
import { transformerToOnnx } from '../transformer/export.ts';
import { computeMetrics } from '../evaluate/metrics.ts';
import { CLASS_NAMES, CLASS_VALUES } from '../labels.ts';
import { PARITY_TOLERANCE, spread } from '../ship.ts';
import { writeModelDir, type ManifestDraft, type WrittenModel } from '../model-dir.ts';
import { alignRows, C, LevelsWindows, readBookRings } from './windows.ts';

export interface LevelsTrainOptions {
  /** Source spec (lobster:MSG,OB, ...): the book rows and the labels both come from it. */
  data: string;
  symbol?: string;
  name: string;
  modelsDir: string;
  /** L: levels per side (default 10, the LOBSTER files' depth). */
  levels: number;
  window: number;
  horizon: number;
  alpha: number;
  split: SplitFractions;
  config: Partial<Omit<TransformerConfig, 'window' | 'features'>>;
  train: TrainOptions;
  backend?: TfBackendName;
  command: string;
  version?: string;
  onLog?: (line: string) => void;
}

export const DEFAULT_LEVELS_TRAIN: Omit<LevelsTrainOptions, 'data' | 'name' | 'command'> = {
  modelsDir: 'models',
  levels: 10,
  window: 100,
  horizon: DEFAULT_LABEL.horizon,
  alpha: DEFAULT_LABEL.alpha,
  split: { train: 0.7, val: 0.15 },
  config: {},
  // goog-transformer's optimiser and windows per epoch, at most 8 epochs (it stopped after 9 of 10):
  // a few minutes on tfjs-wasm on a shared 2-core machine, kept small on purpose.
  train: { ...DEFAULT_TRAIN, epochs: 8 },
};

export interface LevelsShipResult extends WrittenModel {
  parity: { maxAbsDiff: number; samples: number };
  metrics: Record<string, unknown>;
}

function summary(y: Int32Array, p: ArrayLike<number>): Record<string, number> {
  const m = computeMetrics(y, p, y.length, 3);
  const r = (v: number) => Math.round(v * 1e4) / 1e4;
  return { samples: y.length, macroF1: r(m.macroF1), accuracy: r(m.accuracy), macroAuc: r(m.macroAuc), logLoss: r(m.logLoss) };
}

/** ONNX Runtime on raw SnapshotBatch windows, as the engine serves them. */
export async function scoreLevelsOnnx(session: ort.InferenceSession, inputName: string, w: LevelsWindows, rows: Int32Array): Promise<Float32Array> {
  const out = new Float32Array(rows.length * 3);
  const B = w.batch.B;
  for (let s = 0; s < rows.length; s += B) {
    const part = Array.from(rows.subarray(s, Math.min(rows.length, s + B)));
    const raw = w.raw(part);
    const r = await session.run({ [inputName]: new ort.Tensor('float32', raw, [part.length, w.T, w.L, C]) });
    out.set(r.probs!.data as Float32Array, s * 3);
  }
  return out;
}

export async function trainLevels(o: LevelsTrainOptions): Promise<LevelsShipResult> {
  const log = o.onLog ?? (() => undefined);
  const t0 = performance.now();
  // The labels and splits: the feature data of the same source (its label column, its rows).
  const td = await loadTrainingData(o.data, { horizon: o.horizon, alpha: o.alpha, split: o.split, ...(o.symbol ? { symbol: o.symbol } : {}), onLog: log });
  // One column is enough: only the labels, times and splits of this Dataset are used.
  const ds = buildDataset(td.data, { columns: ['mid'], window: o.window, horizon: o.horizon, alpha: o.alpha, split: o.split, symbol: td.symbol });
  const rings = await readBookRings(o.data, { levels: o.levels, symbols: [td.symbol] });
  const ring = rings.get(td.symbol);
  if (!ring) throw new Error(`${o.data}: no book rows for ${td.symbol}`);
  alignRows(ring, ds);
  log(`${td.symbol}: ${ring.count} book rows in SnapshotRings, one per feature row; ticks of 1/${10 ** ring.priceDecimals}, lots of 1/${10 ** ring.sizeDecimals} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);

  const w = new LevelsWindows(ring, ds, o.levels);
  const normalization = w.fitNormalization();
  w.useNormalization(normalization);
  const config: TransformerConfig = { ...DEFAULT_TRANSFORMER, ...o.config, window: o.window, features: o.levels * C };
  const backend = await loadTf(o.backend);
  log(`training a transformer on raw levels [N, ${o.window}, ${o.levels}, 4] of ${td.symbol}: ${ds.splits.train.rows.length} train windows (${o.train.samplesPerEpoch} per epoch), backend ${backend.name}`);
  const r = await trainTransformer(w, config, backend, { ...o.train, onLog: log });
  try {
    const version = o.version ?? new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
    const inGraph = { ...normalization, inGraph: true };
    const onnx = transformerToOnnx(config, r.params, {
      inputName: 'levels',
      normalization: inGraph,
      bookLevels: { levels: o.levels, channels: C },
      metadata: { 'flowcast.model': o.name, 'flowcast.version': version },
    });
    const held = spread(ds.splits.test.rows.length ? ds.splits.test.rows : ds.splits.val.rows, 512);
    const tfProbs = r.model.predict(w.gatherZ(held), held.length);
    const session = await ort.InferenceSession.create(onnx);
    let diff = 0;
    const metrics: Record<string, unknown> = {};
    try {
      const onnxProbs = await scoreLevelsOnnx(session, 'levels', w, held);
      for (let i = 0; i < onnxProbs.length; i++) diff = Math.max(diff, Math.abs(onnxProbs[i]! - tfProbs[i]!));
      log(`parity: ONNX Runtime (raw [N, T, L, 4] windows, normalisation in the graph) vs TensorFlow.js on ${held.length} held-out windows: max |Δp| = ${diff.toExponential(2)} (tolerance ${PARITY_TOLERANCE})`);
      if (!(diff <= PARITY_TOLERANCE)) throw new Error(`the exported ONNX model disagrees with TensorFlow.js: max |Δp| ${diff} > ${PARITY_TOLERANCE}; not written`);
      for (const split of ['val', 'test'] as const) {
        const rows = ds.splits[split].rows;
        if (rows.length === 0) continue;
        const p = await scoreLevelsOnnx(session, 'levels', w, rows);
        const key = split === 'val' ? 'validation' : 'test';
        metrics[key] = { ...summary(ds.labelsOf(rows), p), rows: [ds.splits[split].from, ds.splits[split].to], note: 'ONNX Runtime on SnapshotBatch windows' };
        log(`${split}: ${JSON.stringify(metrics[key])}`);
      }
    } finally {
      await session.release();
    }
    const input: ModelManifest['input'] = {
      name: 'levels',
      columns: [...BOOK_CHANNELS],
      window: o.window,
      layout: 'NTLC',
      book: w.bookInput(),
      featureSpecVersion: FEATURE_SPEC_VERSION,
    };
    const draft: ManifestDraft = {
      name: o.name,
      version,
      kind: 'transformer',
      description: `transformer encoder over raw book levels: the last ${o.window} rows x ${o.levels} levels x 4 channels (ticks from the window's reference, lots; SnapshotBatch units), each row's ${o.levels * C} values one token row (${o.window / config.patch} tokens of ${config.patch} rows, d_model ${config.dModel}, ${config.heads} heads, ${config.layers} layers)`,
      input,
      normalization: inGraph,
      output: { name: 'probs', kind: 'probabilities', classes: [...CLASS_NAMES], labelValues: [...CLASS_VALUES], labelColumn: ds.labelColumn, horizon: o.horizon, alpha: o.alpha },
      training: {
        command: o.command,
        data: o.data,
        symbol: td.symbol,
        split: o.split,
        dataset: ds.describe(),
        inputs: trainingInputs(td.inputs, td.data, td.symbol, ds.ts, ds.splits.train.to, ds.splits.val.to),
        inputPipeline: `SnapshotRings fed by the BookBuilder's rows -> SnapshotBatch {windows: ${w.batch.B}, rows: ${o.window}, history: 0, levels: ${o.levels}}.add(ring, row) -> book [B, ${o.window}, ${o.levels}, 4] -> per-channel normalisation -> TensorFlow.js (src/training/levels/windows.ts)`,
        labels: 'the feature data\'s label column and chronological splits (the same rows and labels as goog-transformer)',
        started: new Date(Date.now() - (performance.now() - t0)).toISOString(),
        library: `TensorFlow.js (${backend.name})`,
        backendReasons: backend.reasons,
        config,
        optimizer: { name: 'adam', lr: o.train.lr, batchSize: o.train.batchSize, clipNorm: o.train.clipNorm, epochs: o.train.epochs, samplesPerEpoch: o.train.samplesPerEpoch, patience: o.train.patience, seed: o.train.seed },
        classWeights: r.classWeights,
        history: r.history,
        bestEpoch: r.bestEpoch,
        steps: r.steps,
        seconds: Math.round(r.seconds * 10) / 10,
      },
      metrics,
      parity: { reference: `TensorFlow.js ${backend.name} (the trained model)`, samples: held.length, maxAbsDiff: diff, tolerance: PARITY_TOLERANCE },
    };
    // Raw windows exactly as SnapshotBatch assembled them, and TensorFlow.js's probabilities.
    const keep = spread(held, 3);
    const refJson = {
      note: 'raw inputs: SnapshotBatch.book windows [T, L, 4] (ticks from the window reference, lots), row-major, oldest row first; and TensorFlow.js\'s probabilities',
      library: `TensorFlow.js ${backend.name} (the trained model)`,
      samples: Array.from(keep, (row) => {
        const j = held.indexOf(row);
        return { row, inputs: Array.from(w.raw([row])), probs: Array.from({ length: 3 }, (_, k) => tfProbs[j * 3 + k]!) };
      }),
    };
    const written = writeModelDir(o.modelsDir, draft, onnx, { 'reference.json': JSON.stringify(refJson) + '\n' });
    log(`wrote ${written.dir} (model.onnx ${(onnx.length / 1024).toFixed(0)} KiB, manifest.json, reference.json) in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
    return { ...written, parity: { maxAbsDiff: diff, samples: held.length }, metrics };
  } finally {
    r.model.dispose();
  }
}
