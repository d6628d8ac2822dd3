/**
 * Parity of compute backends with the float64 reference: a source is replayed once through the
 * BookBuilder into the streaming FeatureEngine (the spec's reference) and into one DenseStream per
 * backend; the dense columns are then compared row by row, column by column, under the tolerances
 * below. Used by the test suite (backends CI can run) and by scripts/gpu-check (all backends live
 * on a GPU box).
 */
import type { LiveDense } from './live-dense.ts';
import { openSource } from '../sources/spec.ts';
import { bookBuilder } from '../pipeline/book.ts';
import type { BookRow, RowSink } from '../model/row.ts';
import { FeatureEngine } from '../features/engine.ts';
import { featureOptions } from '../features/options.ts';
import { DEFAULT_DEPTH, type Depth } from '../model/depth.ts';
import { DENSE_INDEX, columnSpec, type FeatureBlock } from '../features/columns.ts';
import type { DenseBackend } from './backend.ts';
import { DENSE_COLUMNS, type DenseColumn } from './dense.ts';
import { DenseStream } from './stream.ts';

/**
 * |backend - reference| <= atol + rtol * |reference|. rtol is the spec's float32 tolerance, 1e-5,
 * for every column: in window units (whole ticks and lots, src/snapshots/batch.ts) float32 sums
 * and differences are exact, and only divisions, the log, the square root and the slope regression
 * round, each by ~6e-8 relative (docs/compute.md has the measured errors per column and source).
 * atol is non-zero only where the float64 reference sums decimal sizes, and only for the
 * reference's sake: 5.123 - 5.122 + ... leaves ~1e-14 where the exact answer is 0, which no
 * relative tolerance accepts. For the OFI columns it is 1e-12 times the row's level-1..5 sizes
 * (`scale: 'sizes'`), for trade_vol and trade_signed_vol 1e-12 times the row's traded size
 * (`scale: 'trades'`), and for tfi_h50, a ratio in [-1, 1], 1e-12 as is.
 */
export interface Tolerance {
  rtol: number;
  atol: number;
  scale?: 'sizes' | 'trades';
}

function tolerances(rtol: number): Record<DenseColumn, Tolerance> {
  return Object.fromEntries(DENSE_COLUMNS.map((c) => {
    const spec = columnSpec(c)!;
    if (spec.family === 'ofi') return [c, { rtol, atol: 1e-12, scale: 'sizes' as const }];
    if (spec.family === 'flow') return [c, spec.unit === 'size' ? { rtol, atol: 1e-12, scale: 'trades' as const } : { rtol, atol: 1e-12 }];
    return [c, { rtol, atol: 0 }];
  })) as Record<DenseColumn, Tolerance>;
}

/** float32 backends (every gpu.js mode). */
export const FLOAT32_TOLERANCE = tolerances(1e-5);
/** The float64 `cpu` backend: the same definition with different rounding (observed <= 5e-10). */
export const FLOAT64_TOLERANCE = tolerances(1e-8);

export interface ColumnParity {
  column: DenseColumn;
  /** Rows where both are finite. */
  compared: number;
  /** Rows where exactly one side is NaN. */
  nanMismatches: number;
  maxAbsError: number;
  /**
   * Largest |error| / |reference| over rows whose reference is well above the column's absolute
   * tolerance (below it the reference is float64 rounding noise and a ratio means nothing).
   */
  maxRelError: number;
  /** Largest error / allowed error (<= 1 passes). */
  worst: number;
  /** Output row of the worst error. */
  worstRow: number;
  pass: boolean;
}

export interface DenseCapture {
  source: string;
  rows: number;
  /** Engine (reference) values per dense column, arrival order. */
  reference: Float64Array[];
  /** Sum of the level-1..5 sizes of each row and its predecessor (the scale of ofi/slope errors). */
  sizeScale: Float64Array;
  /** Traded size of each row (the scale of the reference's rounding in trade_vol and trade_signed_vol). */
  tradeScale: Float64Array;
  /** Per backend name: values per dense column. */
  outputs: Map<string, Float64Array[]>;
}

class StopSource extends Error {}

/**
 * Replays `spec` (at most `maxRows` rows, all symbols) into the engine and every backend (batched
 * through a DenseStream) and every live path (row by row, as the server computes), at one depth
 * (default DEFAULT_DEPTH; the live paths must have been made with the same).
 */
export async function captureDense(
  spec: string, backends: readonly DenseBackend[],
  opts: { depth?: Depth; maxRows?: number; blockRows?: number; live?: readonly LiveDense[] } = {},
): Promise<DenseCapture> {
  const depth = opts.depth ?? DEFAULT_DEPTH;
  const maxRows = opts.maxRows ?? Infinity;
  const source = await openSource(spec);
  const fo = featureOptions({ levels: depth.levels, vpinBucket: 1, settleMs: 0 });
  let cap = 1024;
  let reference = DENSE_COLUMNS.map(() => new Float64Array(cap));
  let sizeScale = new Float64Array(cap);
  let tradeScale = new Float64Array(cap);
  let n = 0;
  const grow = (need: number): void => {
    if (need <= cap) return;
    while (cap < need) cap *= 2;
    reference = reference.map((a) => copyInto(new Float64Array(cap), a));
    sizeScale = copyInto(new Float64Array(cap), sizeScale);
    tradeScale = copyInto(new Float64Array(cap), tradeScale);
    for (const l of live) for (let c = 0; c < l.cols.length; c++) l.cols[c] = copyInto(new Float64Array(cap), l.cols[c]!);
  };
  const denseIdx = DENSE_INDEX;
  const engine = new FeatureEngine(fo, source.timeBase, (block: FeatureBlock) => {
    for (let j = 0; j < block.n; j++) {
      const r = block.row[j]!;
      grow(r + 1);
      for (let c = 0; c < denseIdx.length; c++) reference[c]![r] = block.values[denseIdx[c]!]![j]!;
    }
  });
  const outputs = new Map<string, Float64Array[]>();
  const streams = backends.map((be) => {
    const cols = DENSE_COLUMNS.map(() => new Float64Array(0));
    outputs.set(be.name, cols);
    return new DenseStream(be, { depth, blockRows: opts.blockRows }, (block) => {
      for (let c = 0; c < cols.length; c++) {
        const r0 = block.row[0]!;
        const need = r0 + block.n;
        if (cols[c]!.length < need) cols[c] = copyInto(new Float64Array(Math.max(need, cols[c]!.length * 2)), cols[c]!);
        cols[c]!.set(block.values[c]!.subarray(0, block.n), r0);
      }
    });
  });
  const live = (opts.live ?? []).map((ld) => {
    const cols = DENSE_COLUMNS.map(() => new Float64Array(cap));
    outputs.set(ld.name, cols);
    return { ld, cols };
  });
  const prevSizes = new Map<string, number>();
  const tee: RowSink = {
    onRow(row: BookRow) {
      if (n >= maxRows) throw new StopSource();
      grow(n + 1);
      let s = 0;
      const k = Math.min(5, row.usableLevels);
      for (let l = 0; l < k; l++) s += row.bidSz[l]! + row.askSz[l]!;
      sizeScale[n] = s + (prevSizes.get(row.symbol) ?? 0);
      prevSizes.set(row.symbol, s);
      let v = 0;
      for (let t = 0; t < row.nTrades; t++) v += row.tradeSz[t]!;
      tradeScale[n] = v;
      n++;
      engine.onRow(row);
      for (const st of streams) st.onRow(row);
      for (const l of live) {
        l.ld.onRow(row);
        const d = l.ld.compute(row.symbol)!;
        for (let c = 0; c < l.cols.length; c++) l.cols[c]![n - 1] = d[c]![0]!;
      }
    },
  };
  const builder = bookBuilder({ levels: depth.rowLevels, sink: tee, sourceName: spec });
  try {
    await source.run(builder);
    builder.finish();
  } catch (e) {
    if (!(e instanceof StopSource)) throw e;
  }
  engine.finish();
  for (const st of streams) await st.finish();
  for (const [name, cols] of outputs) outputs.set(name, cols.map((a) => a.subarray(0, n)));
  return { source: spec, rows: n, reference: reference.map((a) => a.subarray(0, n)), sizeScale: sizeScale.subarray(0, n), tradeScale: tradeScale.subarray(0, n), outputs };
}

/** Column-by-column comparison of one backend's capture with the reference. */
export function compareDense(cap: DenseCapture, backend: string, tol: Record<DenseColumn, Tolerance>): ColumnParity[] {
  const out = cap.outputs.get(backend);
  if (!out) throw new Error(`no capture for backend ${backend}`);
  return DENSE_COLUMNS.map((column, c) => {
    const ref = cap.reference[c]!;
    const got = out[c]!;
    const t = tol[column];
    let compared = 0, nanMismatches = 0, maxAbs = 0, maxRel = 0, worst = 0, worstRow = -1;
    for (let i = 0; i < cap.rows; i++) {
      const r = ref[i]!, g = got[i]!;
      const rn = r !== r, gn = g !== g;
      if (rn || gn) {
        if (rn !== gn) {
          nanMismatches++;
          if (worstRow < 0 || worst !== Infinity) {
            worst = Infinity;
            worstRow = i;
          }
        }
        continue;
      }
      compared++;
      const err = Math.abs(g - r);
      if (err > maxAbs) maxAbs = err;
      const atol = t.atol * (t.scale === 'sizes' ? Math.max(1, cap.sizeScale[i]!) : t.scale === 'trades' ? Math.max(1, cap.tradeScale[i]!) : 1);
      if (Math.abs(r) > 1e3 * atol && r !== 0 && err / Math.abs(r) > maxRel) maxRel = err / Math.abs(r);
      const allowed = atol + t.rtol * Math.abs(r);
      const ratio = err === 0 ? 0 : err / allowed;
      if (ratio > worst) {
        worst = ratio;
        worstRow = i;
      }
    }
    return { column, compared, nanMismatches, maxAbsError: maxAbs, maxRelError: maxRel, worst, worstRow, pass: worst <= 1 };
  });
}

function copyInto<T extends Float64Array>(dst: T, src: Float64Array): T {
  dst.set(src.subarray(0, Math.min(src.length, dst.length)));
  return dst;
}
