/**
 * What every compute backend returns for a SnapshotBatch (the kernels' raw, column-major output),
 * and the one place that turns it into spec values: relative mids back to absolute prices
 * (float64), and the `flags` column into the spec's NaNs.
 */
import { DENSE_COLUMNS } from '../features/columns.ts';
import {
  KERNEL_COLUMNS, FLAG_TWO_SIDED, FLAG_PREV_TWO_SIDED, FLAG_BID_2_LEVELS, FLAG_ASK_2_LEVELS,
} from '../../kernels/dense.ts';
import type { SnapshotBatch } from '../snapshots/batch.ts';

export { DENSE_COLUMNS };
export type DenseColumn = (typeof DENSE_COLUMNS)[number];

if (DENSE_COLUMNS.some((c, i) => KERNEL_COLUMNS[i] !== c) || KERNEL_COLUMNS.length !== DENSE_COLUMNS.length + 1) {
  throw new Error('kernels/dense.ts KERNEL_COLUMNS must be DENSE_COLUMNS followed by flags');
}

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
const UNIT: Record<DenseColumn, Unit> = {
  mid: Unit.Price, spread: Unit.PriceDiff, spread_bps: Unit.None, wmid: Unit.Price,
  imb_1: Unit.None, imb_5: Unit.None, imb_10: Unit.None, depth_bid: Unit.Size, depth_ask: Unit.Size,
  slope_bid: Unit.SizePerPrice, slope_ask: Unit.SizePerPrice,
  ofi_1: Unit.Size, ofi_2: Unit.Size, ofi_3: Unit.Size, ofi_4: Unit.Size, ofi_5: Unit.Size,
  ret_1: Unit.None, ofi_h10: Unit.Size, ofi_h25: Unit.Size, ofi_h50: Unit.Size,
};
const UNITS = DENSE_COLUMNS.map((c) => UNIT[c]);

const SLOPE_BID = DENSE_COLUMNS.indexOf('slope_bid');
const SLOPE_ASK = DENSE_COLUMNS.indexOf('slope_ask');
const RET = DENSE_COLUMNS.indexOf('ret_1');
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
