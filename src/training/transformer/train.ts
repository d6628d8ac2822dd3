/**
 * Trains the transformer on a Dataset with TensorFlow.js: Adam, class-weighted cross-entropy
 * (inverse class frequency, so the minority moves count), global-norm gradient clipping, a fresh
 * random subsample of the train windows each epoch (windows overlap heavily, so a subsample loses
 * little and keeps a CPU run within minutes), and the parameters of the epoch with the lowest
 * validation loss kept (early stopping with patience).
 */
import type { Scalar, Tensor } from '@tensorflow/tfjs';
import type { TfBackend } from '../tf-backend.ts';
import type { Dataset } from '../dataset.ts';
import { TfTransformer, initParams, type TransformerConfig, type TransformerParams } from './model.ts';
import { computeMetrics } from '../evaluate/metrics.ts';
import { mulberry32, shuffle } from '../random.ts';

export interface TrainOptions {
  epochs: number;
  batchSize: number;
  lr: number;
  /** Train windows drawn per epoch (all if fewer). */
  samplesPerEpoch: number;
  /** Validation windows scored per epoch (evenly spaced over the split). */
  valSamples: number;
  clipNorm: number;
  patience: number;
  seed: number;
  classWeights: boolean;
  onLog?: (line: string) => void;
}

export const DEFAULT_TRAIN: TrainOptions = {
  epochs: 10,
  batchSize: 64,
  lr: 1e-3,
  samplesPerEpoch: 8192,
  valSamples: 4096,
  clipNorm: 1,
  patience: 3,
  seed: 1,
  classWeights: true,
};

export interface EpochRecord {
  epoch: number;
  trainLoss: number;
  valLoss: number;
  valMacroF1: number;
  valAccuracy: number;
  seconds: number;
}

export interface TrainResult {
  params: TransformerParams;
  model: TfTransformer;
  history: EpochRecord[];
  bestEpoch: number;
  classWeights: number[];
  seconds: number;
  steps: number;
}

/** Inverse-frequency weights normalised to mean 1 over the samples. */
export function inverseFrequencyWeights(counts: number[]): number[] {
  const n = counts.reduce((a, b) => a + b, 0);
  const C = counts.length;
  return counts.map((c) => (c > 0 ? n / (C * c) : 0));
}

/**
 * What training reads: the splits' sample rows, their labels and their normalised windows packed
 * [rows, T, F]. A Dataset of feature rows is one; src/training/levels/windows.ts (raw book levels
 * from SnapshotBatch windows, F = L * 4) is another.
 */
export type TrainingWindows = Pick<Dataset, 'splits' | 'classCounts' | 'gatherZ' | 'labelsOf'>;

export async function trainTransformer(ds: TrainingWindows, config: TransformerConfig, backend: TfBackend, o: TrainOptions): Promise<TrainResult> {
  const { tf } = backend;
  const t0 = performance.now();
  const log = o.onLog ?? (() => undefined);
  const model = new TfTransformer(tf, config, initParams(config, o.seed));
  const vars = [...model.vars.values()];
  const optimizer = tf.train.adam(o.lr);
  const rand = mulberry32(o.seed * 7919 + 1);
  const train = ds.splits.train.rows;
  const counts = ds.classCounts(train, config.classes);
  const cw = o.classWeights ? inverseFrequencyWeights(counts) : counts.map(() => 1);
  const cwTensor = tf.tensor1d(cw);

  // Validation subset: evenly spaced over the split (chronology kept, no sampling noise between epochs).
  const valAll = ds.splits.val.rows;
  const vStep = Math.max(1, Math.floor(valAll.length / o.valSamples));
  const valRows = valAll.filter((_, i) => i % vStep === 0).slice(0, o.valSamples);
  const valX = ds.gatherZ(valRows);
  const valY = ds.labelsOf(valRows);

  const size = config.window * config.features;
  const B = o.batchSize;
  const xBuf = new Float32Array(B * size);
  const history: EpochRecord[] = [];
  let best: { loss: number; params: TransformerParams; epoch: number } | undefined;
  let steps = 0;
  const order = Int32Array.from(train);
  for (let epoch = 1; epoch <= o.epochs; epoch++) {
    const te = performance.now();
    shuffle(order, rand);
    const m = Math.min(o.samplesPerEpoch, order.length);
    let lossSum = 0, lossN = 0;
    for (let s = 0; s + B <= m; s += B) {
      const rows = order.subarray(s, s + B);
      ds.gatherZ(rows, xBuf);
      const labels = ds.labelsOf(rows);
      const loss = tf.tidy(() => {
        const x = tf.tensor3d(xBuf, [B, config.window, config.features]);
        const yIdx = tf.tensor1d(labels, 'int32');
        const y = tf.oneHot(yIdx, config.classes);
        const w = tf.gather(cwTensor, yIdx);
        const { value, grads } = tf.variableGrads(() => tf.losses.softmaxCrossEntropy(y, model.logits(x, true, (o.seed * 1_000_003 + steps * 101) % 2_147_483_647), w) as unknown as Scalar, vars);
        const names = Object.keys(grads);
        const norm = tf.sqrt(tf.addN(names.map((k) => tf.sum(tf.square(grads[k]!)))));
        const scale = tf.minimum(tf.scalar(1), tf.div(tf.scalar(o.clipNorm), tf.add(norm, 1e-12)));
        const clipped: { name: string; tensor: Tensor }[] = names.map((name) => ({ name, tensor: tf.mul(grads[name]!, scale) }));
        optimizer.applyGradients(clipped);
        return value;
      });
      lossSum += (await loss.data())[0]!;
      loss.dispose();
      lossN++;
      steps++;
      if (steps % 50 === 0) log(`  epoch ${epoch} step ${s / B + 1}/${Math.floor(m / B)} loss ${(lossSum / lossN).toFixed(4)} (${((performance.now() - te) / 1000).toFixed(0)} s)`);
    }
    // Validation: class-weighted loss (the training objective) and macro-F1.
    const probs = model.predict(valX, valRows.length);
    let vl = 0, vw = 0;
    for (let i = 0; i < valRows.length; i++) {
      const wi = cw[valY[i]!]!;
      vl -= wi * Math.log(Math.max(probs[i * config.classes + valY[i]!]!, 1e-15));
      vw += wi;
    }
    const vm = computeMetrics(valY, probs, valRows.length, config.classes);
    const rec: EpochRecord = {
      epoch,
      trainLoss: lossSum / Math.max(1, lossN),
      valLoss: vl / Math.max(vw, 1e-12),
      valMacroF1: vm.macroF1,
      valAccuracy: vm.accuracy,
      seconds: (performance.now() - te) / 1000,
    };
    history.push(rec);
    log(`epoch ${epoch}/${o.epochs}: train loss ${rec.trainLoss.toFixed(4)}, val loss ${rec.valLoss.toFixed(4)}, val macro-F1 ${rec.valMacroF1.toFixed(4)}, val accuracy ${rec.valAccuracy.toFixed(4)} (${rec.seconds.toFixed(1)} s)`);
    if (!best || rec.valLoss < best.loss) best = { loss: rec.valLoss, params: model.params(), epoch };
    else if (epoch - best.epoch >= o.patience) {
      log(`early stop: val loss has not improved for ${o.patience} epochs (best epoch ${best.epoch})`);
      break;
    }
  }
  cwTensor.dispose();
  optimizer.dispose();
  if (!best) throw new Error('training ran no epoch (is the train split empty?)');
  model.assign(best.params);
  return { params: best.params, model, history, bestEpoch: best.epoch, classWeights: cw, seconds: (performance.now() - t0) / 1000, steps };
}
