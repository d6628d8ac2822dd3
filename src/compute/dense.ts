/**
 * What every compute backend returns for a SnapshotBatch (the kernels' raw, column-major output),
 * and the one place that turns it into spec values: relative mids back to absolute prices
 * (float64), and the `flags` column into the spec's NaNs.
 */
import { DENSE_COLUMNS, columnSpec, type ColumnUnit, type DenseColumn } from '../features/columns.ts';
import {
  KERNEL_COLUMNS, FLAG_TWO_SIDED, FLAG_PREV_TWO_SIDED, FLAG_BID_2_LEVELS, FLAG_ASK_2_LEVELS,
} from '../../kernels/dense.ts';
import type { SnapshotBatch } from '../snapshots/batch.ts';

export { DENSE_COLUMNS, type DenseColumn };

const NC = KERNEL_COLUMNS.length;
const FLAGS = NC - 1;

/** How a column's kernel value (window units) becomes a spec value. */
const enum Unit {
  /** Dimensionless: as is. */
  None,
  /** A price level: ref + v / priceScale. */
  Price,
  /** A price difference: v / priceScale. */
  PriceDiff,
  /** A size: v / sizeScale. */
  Size,
  /** Size per price: v * priceScale / sizeScale. */
  SizePerPrice,
}
/** By the registry's unit of each column; a unit not here has no scaling rule yet, so no kernel may compute it. */
const SCALE: Partial<Record<ColumnUnit, Unit>> = {
  price: Unit.Price, priceDiff: Unit.PriceDiff, size: Unit.Size, sizePerPrice: Unit.SizePerPrice,
  bps: Unit.None, imbalance: Unit.None, fraction: Unit.None, logReturn: Unit.None,
};
const UNITS = DENSE_COLUMNS.map((c) => {
  const unit = columnSpec(c)!.unit;
  const u = SCALE[unit];
  if (u === undefined) throw new Error(`src/compute/dense.ts: no host scaling for kernel column ${c} (unit ${unit})`);
  return u;
});

const SLOPE_BID = DENSE_COLUMNS.indexOf('slope_bid');
const SLOPE_ASK = DENSE_COLUMNS.indexOf('slope_ask');
const RET = DENSE_COLUMNS.indexOf('ret_1');
/** The kernel writes -1 where no return in its window is defined. */
const RV = DENSE_COLUMNS.indexOf('rv_h100');
/** Columns undefined when level 1 is not two-sided. */
const NEED_TWO_SIDED = ['mid', 'spread', 'spread_bps', 'wmid'].map((c) => DENSE_COLUMNS.indexOf(c as DenseColumn));

/** Raw kernel output for a batch: KERNEL_COLUMNS x (B * T), column-major. */
export interface DenseRaw {
  data: Float32Array | Float64Array;
  /** Output rows (B * T of the batch it was computed for). */
  N: number;
}

/** Allocates raw output for a batch. */
export function rawFor(batch: SnapshotBatch, precision: 'float32' | 'float64'): DenseRaw {
  const N = batch.outputRows;
  return { data: precision === 'float32' ? new Float32Array(NC * N) : new Float64Array(NC * N), N };
}

/**
 * Writes output rows [from, to) of window b as spec values into `out` (one array per
 * DENSE_COLUMNS entry) starting at `at`. `levels` is L (slopes are 0 with fewer than 2 levels).
 */
export function writeDense(
  batch: SnapshotBatch, raw: DenseRaw, b: number, from: number, to: number,
  out: readonly Float64Array[], at: number, levels: number,
): void {
  const N = raw.N;
  const d = raw.data;
  const ref = batch.refs[b]!;
  const ps = batch.priceScale[b]!, ss = batch.sizeScale[b]!;
  const i0 = b * batch.T;
  for (let c = 0; c < DENSE_COLUMNS.length; c++) {
    const col = out[c]!;
    const s = c * N + i0;
    const u = UNITS[c]!;
    if (u === Unit.None) {
      for (let t = from, j = at; t < to; t++, j++) col[j] = d[s + t]!;
    } else if (u === Unit.Price) {
      for (let t = from, j = at; t < to; t++, j++) col[j] = ref + d[s + t]! / ps;
    } else if (u === Unit.SizePerPrice) {
      const f = ps / ss;
      for (let t = from, j = at; t < to; t++, j++) col[j] = d[s + t]! * f;
    } else {
      // Divide by the power of ten (not multiply by its inverse): whole-unit results stay exact.
      const div = u === Unit.PriceDiff ? ps : ss;
      for (let t = from, j = at; t < to; t++, j++) col[j] = d[s + t]! / div;
    }
  }
  const rv = out[RV]!;
  for (let j = at, e = at + to - from; j < e; j++) if (rv[j]! < 0) rv[j] = NaN;
  const fl = FLAGS * N + i0;
  for (let t = from, j = at; t < to; t++, j++) {
    const f = d[fl + t]!;
    if ((f & FLAG_TWO_SIDED) === 0) {
      for (const c of NEED_TWO_SIDED) out[c]![j] = NaN;
      if (levels >= 2) {
        if ((f & FLAG_BID_2_LEVELS) !== 0) out[SLOPE_BID]![j] = NaN;
        if ((f & FLAG_ASK_2_LEVELS) !== 0) out[SLOPE_ASK]![j] = NaN;
      }
    }
    if ((f & FLAG_TWO_SIDED) === 0 || (f & FLAG_PREV_TWO_SIDED) === 0) out[RET]![j] = NaN;
  }
}

/** Spec values of every output row of the batch's windows in use: n * T rows per column. */
export function denseColumns(batch: SnapshotBatch, raw: DenseRaw, levels: number): Float64Array[] {
  const n = batch.n * batch.T;
  const out = DENSE_COLUMNS.map(() => new Float64Array(n));
  for (let b = 0; b < batch.n; b++) writeDense(batch, raw, b, 0, batch.T, out, b * batch.T, levels);
  return out;
}
