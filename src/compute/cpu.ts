/**
 * The `cpu` backend: the kernel functions of kernels/ (DENSE_KERNELS, in order) called as ordinary
 * JavaScript, one call per output cell, in float64 arithmetic on the float32 tensors. No gpu.js
 * involved, so it always works; it is the float64 reading of the kernels' definition (the parity
 * tests compare it with the streaming FeatureEngine to separate definition errors from float32
 * rounding).
 */
import { DENSE_KERNELS, DENSE_HISTORY, shapeConstants, type DenseConstants, type KernelInput } from '../../kernels/dense.ts';
import type { SnapshotBatch } from '../snapshots/batch.ts';
import { FIXED_COLUMN_LEVELS } from '../model/depth.ts';
import type { DenseBackend } from './backend.ts';
import type { DenseRaw } from './dense.ts';

type Runner = (this: unknown, ...args: (Float32Array | Float64Array)[]) => number;

export function denseConstants(batch: SnapshotBatch, levels: number): DenseConstants {
  if (batch.H < DENSE_HISTORY) throw new RangeError(`the kernel columns need ${DENSE_HISTORY} history rows per window, batch has ${batch.H}`);
  if (levels > batch.levels) throw new RangeError(`--levels ${levels} exceeds the batch's ${batch.levels} levels`);
  if (batch.levels < FIXED_COLUMN_LEVELS) {
    throw new RangeError(`the batch needs at least ${FIXED_COLUMN_LEVELS} levels (imb_10), has ${batch.levels}: size it with resolveDepth(levels).tensorLevels`);
  }
  return shapeConstants(batch.B, batch.H, batch.T, batch.levels, levels);
}

/** The batch's tensors by the names kernel definitions use for them. */
export function batchInputs(batch: SnapshotBatch): Record<'book' | 'trades' | 'refs', Float32Array> {
  return { book: batch.book, trades: batch.tradeLots, refs: batch.refUnits32 };
}

export class CpuBackend implements DenseBackend {
  readonly name = 'cpu';
  readonly library = 'JavaScript float64 (kernels/dense.ts called directly)';
  readonly precision = 'float64';
  readonly sync = true;
  /** Output of each kernel, reused while the shape stays. */
  private readonly outputs = new Map<string, Float64Array>();

  computeSync(batch: SnapshotBatch, levels: number): DenseRaw {
    const constants = denseConstants(batch, levels);
    const thread = { x: 0, y: 0, z: 0 };
    const ctx = { thread, constants, output: { x: 0, y: 0, z: 0 } };
    const values: Partial<Record<KernelInput, Float32Array | Float64Array>> = batchInputs(batch);
    let last!: Float64Array;
    for (const k of DENSE_KERNELS) {
      const cells = k.output(constants);
      let out = this.outputs.get(k.name);
      // The last kernel's output is handed to the caller: a fresh array, as gpu.js returns.
      if (!out || out.length !== cells || k === DENSE_KERNELS.at(-1)) this.outputs.set(k.name, (out = new Float64Array(cells)));
      const args = k.args.map((a) => values[a]!);
      const fn = k.fn as unknown as Runner;
      for (let x = 0; x < cells; x++) {
        thread.x = x;
        out[x] = fn.apply(ctx, args);
      }
      values[k.name as KernelInput] = out;
      last = out;
    }
    return { data: last, N: constants.N };
  }

  async compute(batch: SnapshotBatch, levels: number): Promise<DenseRaw> {
    return this.computeSync(batch, levels);
  }

  async dispose(): Promise<void> {}
}
