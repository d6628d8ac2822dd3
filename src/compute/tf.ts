/**
 * Hand-off of a SnapshotBatch (and the dense features the kernels computed for it) to
 * TensorFlow.js models, as tensors of the best TensorFlow.js backend present:
 *
 *   @tensorflow/tfjs-node-gpu   backend "tensorflow" on CUDA (installed in Dockerfile.cuda only)
 *   @tensorflow/tfjs-node       backend "tensorflow" on the CPU (if someone installed it)
 *   @tensorflow/tfjs + wasm     backend "wasm" (the project's default dependency)
 *   @tensorflow/tfjs            backend "cpu" (pure JavaScript, the last resort)
 *
 * TensorFlow.js is not a feature path (it is ~100x slower than the kernels here on the CPU):
 * features come from kernels/dense.ts, and this module only moves their result and the book
 * tensor into TensorFlow's memory (GPU memory with tfjs-node-gpu) for models, once per batch.
 */
import type * as TF from '@tensorflow/tfjs';
import { CHANNELS, TRADE_CHANNELS } from '../snapshots/ring.ts';
import type { SnapshotBatch } from '../snapshots/batch.ts';
import { DENSE_COLUMNS, denseColumns, type DenseRaw } from './dense.ts';
import { logger } from '../core/log.ts';
import { errorLine } from './backend.ts';

const log = logger('compute');

export type Tf = typeof TF;

export interface TfRuntime {
  tf: Tf;
  /** The package that provides it. */
  package: string;
  /** tf.getBackend(): tensorflow, wasm or cpu. */
  backend: string;
  /** What was tried before it and why it was not used. */
  skipped: Record<string, string>;
}

let runtime: Promise<TfRuntime> | undefined;

/** Loads the best TensorFlow.js present (once per process) and logs which it is. */
export function loadTf(): Promise<TfRuntime> {
  runtime ??= load();
  return runtime;
}

async function load(): Promise<TfRuntime> {
  const skipped: Record<string, string> = {};
  for (const pkg of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    try {
      const tf = (await import(/* @vite-ignore */ pkg)) as Tf;
      await tf.ready();
      return done({ tf, package: pkg, backend: tf.getBackend(), skipped });
    } catch (e) {
      skipped[pkg] = errorLine(e);
    }
  }
  const tf = await import('@tensorflow/tfjs');
  try {
    await import('@tensorflow/tfjs-backend-wasm');
    if (await tf.setBackend('wasm')) {
      await tf.ready();
      return done({ tf, package: '@tensorflow/tfjs + @tensorflow/tfjs-backend-wasm', backend: tf.getBackend(), skipped });
    }
    skipped['@tensorflow/tfjs-backend-wasm'] = 'setBackend("wasm") failed';
  } catch (e) {
    skipped['@tensorflow/tfjs-backend-wasm'] = errorLine(e);
  }
  await tf.setBackend('cpu');
  return done({ tf, package: '@tensorflow/tfjs', backend: tf.getBackend(), skipped });
}

function done(r: TfRuntime): TfRuntime {
  const level = r.package === '@tensorflow/tfjs-node-gpu' ? 'info' : 'warn';
  log[level]('TensorFlow.js backend', { package: r.package, backend: r.backend, notUsed: r.skipped });
  return r;
}

export interface BatchTensors {
  /** [n, T, LT, 4] book in window units (from row H on; all W rows with `withHistory`). */
  book: TF.Tensor4D;
  /** [n, T, 4] trade aggregates (trade_vol, trade_signed_vol, trade_count, trade_notional). */
  trades: TF.Tensor3D;
  /** [n, T, DENSE_COLUMNS.length] spec values of the dense features (NaN where undefined), when given. */
  features?: TF.Tensor3D;
  /** [n, 3]: refs, priceScale, sizeScale of each window (to turn book values back into prices and sizes). */
  scales: TF.Tensor2D;
}

/**
 * The batch's windows in use as tensors of `tf` (from loadTf), for a model. One host-to-device
 * copy per tensor; the caller disposes them (or wraps the call in tf.tidy).
 */
export function toTfTensors(
  tf: Tf, batch: SnapshotBatch, dense?: { raw: DenseRaw; levels: number }, opts: { withHistory?: boolean } = {},
): BatchTensors {
  const n = batch.n;
  const from = opts.withHistory ? 0 : batch.H;
  const rows = batch.W - from;
  const L = batch.levels;
  return tf.tidy((): TF.TensorContainerObject => {
    const book = tf.tensor4d(batch.book, [batch.B, batch.W, L, CHANNELS]).slice([0, from, 0, 0], [n, rows, L, CHANNELS]);
    const nt = TRADE_CHANNELS.length;
    const trades = tf.tensor3d(batch.trades, [batch.B, batch.W, nt]).slice([0, from, 0], [n, rows, nt]);
    const s = new Float32Array(n * 3);
    for (let b = 0; b < n; b++) {
      s[b * 3] = batch.refs[b]!;
      s[b * 3 + 1] = batch.priceScale[b]!;
      s[b * 3 + 2] = batch.sizeScale[b]!;
    }
    const scales = tf.tensor2d(s, [n, 3]);
    let features: TF.Tensor3D | undefined;
    if (dense) {
      const cols = denseColumns(batch, dense.raw, dense.levels);
      const flat = new Float32Array(DENSE_COLUMNS.length * n * batch.T);
      for (let c = 0; c < cols.length; c++) flat.set(cols[c]!, c * n * batch.T);
      features = tf.tensor2d(flat, [DENSE_COLUMNS.length, n * batch.T]).transpose().reshape([n, batch.T, DENSE_COLUMNS.length]) as TF.Tensor3D;
    }
    return { book, trades, scales, ...(features ? { features } : {}) };
  }) as unknown as BatchTensors;
}

