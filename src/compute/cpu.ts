/**
 * The `cpu` backend: the kernel functions of kernels/dense.ts called as ordinary JavaScript, one
 * call per output cell, in float64 arithmetic on the float32 tensor. No gpu.js involved, so it
 * always works; it is the float64 reading of the kernels' definition (the parity tests compare it
 * with the streaming FeatureEngine to separate definition errors from float32 rounding).
 */
import { ofiLevel1, denseFeatures, KERNEL_COLUMNS, DENSE_HISTORY, type DenseConstants } from '../../kernels/dense.ts';
import type { SnapshotBatch } from '../snapshots/batch.ts';
import { FIXED_COLUMN_LEVELS } from '../model/depth.ts';
import type { DenseBackend } from './backend.ts';
import { rawFor, type DenseRaw } from './dense.ts';

type Runner = (this: unknown, ...args: (Float32Array | Float64Array)[]) => number;

export function denseConstants(batch: SnapshotBatch, levels: number): DenseConstants {
  if (batch.H < DENSE_HISTORY) throw new RangeError(`dense features need ${DENSE_HISTORY} history rows per window, batch has ${batch.H}`);
  if (levels > batch.levels) throw new RangeError(`--levels ${levels} exceeds the batch's ${batch.levels} levels`);
  if (batch.levels < FIXED_COLUMN_LEVELS) {
    throw new RangeError(`the batch needs at least ${FIXED_COLUMN_LEVELS} levels (imb_10), has ${batch.levels}: size it with resolveDepth(levels).tensorLevels`);
  }
  return { W: batch.W, H: batch.H, T: batch.T, LT: batch.levels, LD: levels, N: batch.outputRows };
}

export class CpuBackend implements DenseBackend {
  readonly name = 'cpu';
  readonly library = 'JavaScript float64 (kernels/dense.ts called directly)';
  readonly precision = 'float64';
  readonly sync = true;
  private ofi = new Float64Array(0);

  computeSync(batch: SnapshotBatch, levels: number): DenseRaw {
    const constants = denseConstants(batch, levels);
    const thread = { x: 0, y: 0, z: 0 };
    const ctx = { thread, constants, output: { x: 0, y: 0, z: 0 } };
    const rows = batch.B * batch.W;
    if (this.ofi.length !== rows) this.ofi = new Float64Array(rows);
    const ofi = this.ofi;
    const f1 = ofiLevel1 as unknown as Runner;
    for (let x = 0; x < rows; x++) {
      thread.x = x;
      ofi[x] = f1.call(ctx, batch.book);
    }
    const raw = rawFor(batch, 'float64');
    const d = raw.data;
    const f2 = denseFeatures as unknown as Runner;
    const cells = KERNEL_COLUMNS.length * raw.N;
    for (let x = 0; x < cells; x++) {
      thread.x = x;
      d[x] = f2.call(ctx, batch.book, ofi, batch.refUnits);
    }
    return raw;
  }

  async compute(batch: SnapshotBatch, levels: number): Promise<DenseRaw> {
    return this.computeSync(batch, levels);
  }

  async dispose(): Promise<void> {}
}
