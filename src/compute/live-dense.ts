/**
 * `--compute` for the live server. By default the float64 FeatureEngine computes each row's
 * features as the row arrives. With a gpu.js backend chosen, the engine keeps only the trade state
 * (VPIN, the impact bars) and the kernels compute every per-row column over the symbol's last rows
 * (the row and the history its windows look back on): the same kernels and float32 values as
 * `flowcast features --compute gpujs...`, on the live path, one call per row or one call per
 * micro-batch of rows of all symbols (src/pipeline/batching.ts; `chooseBatching` below).
 *
 * `auto` measures the kernels at the live shape (one window of one row) and, as for the batch
 * command, keeps the engine. The measurement is reported. Asynchronous backends (WebGPU) cannot
 * answer within the event that carries the row: refused.
 */
import { DENSE_HISTORY } from '../../kernels/dense.ts';
import type { BookRow, RowSink } from '../model/row.ts';
import { DENSE_INDEX, FEATURE_COLUMNS } from '../features/columns.ts';
import { SnapshotBatch } from '../snapshots/batch.ts';
import { SnapshotRings } from '../snapshots/ring.ts';
import type { Depth } from '../model/depth.ts';
import { BackendUnavailable, type BatchSettings, type ComputeInfo, type ComputeSpec, type DenseBackend, type LiveBatching } from './backend.ts';
import { DENSE_COLUMNS, writeDense } from './dense.ts';
import { engineComputeInfo, keepEngineReason } from './features-hook.ts';
import { rowsPerSecond, selectComputeBackend, syntheticBatch } from './select.ts';

export interface LiveCompute {
  info: ComputeInfo;
  /** Present when a kernel backend computes the dense columns. */
  dense?: LiveDense;
  /** Present when the kernels compute rows in micro-batches (rather than one call per row). */
  batch?: BatchSettings;
  /** How rows reach the kernels, and why (with dense only). */
  batching?: BatchingInfo;
  dispose(): Promise<void>;
}

/** How rows reach the kernels live: asked for, chosen, and why (the measurement for auto). */
export interface BatchingInfo {
  requested: LiveBatching;
  path: 'row' | 'batch';
  maxBatchSize: number;
  maxQueueDelayUs: number;
  reason: string;
  /** auto: kernel time per row, one row per call and a full batch per call, µs. */
  measuredUsPerRow?: { row: number; batch: number };
}

export interface LiveBatchingOptions extends BatchSettings {
  mode: LiveBatching;
}

const ROW_BY_ROW: LiveBatchingOptions = { mode: 'row', maxBatchSize: 1, maxQueueDelayUs: 0 };

export async function liveCompute(spec: ComputeSpec, depth: Depth, batching: LiveBatchingOptions = ROW_BY_ROW): Promise<LiveCompute> {
  if (spec === 'cpu') {
    const reason = 'the float64 engine alone (the default; --compute auto measures the kernels at the live shape, gpujs[:mode] uses them)';
    return { info: engineComputeInfo({ requested: spec, reason }), dispose: async () => {} };
  }
  const sel = await selectComputeBackend(spec, { depth, shape: { windows: 1, rows: 1 }, budgetMs: 60 });
  if (spec === 'auto') {
    await sel.backend.dispose();
    return { info: engineComputeInfo({ requested: spec, ...keepEngineReason(sel.info, 'every row') }), dispose: async () => {} };
  }
  if (!sel.backend.sync) {
    await sel.backend.dispose();
    throw new BackendUnavailable(sel.info.backend, 'it computes asynchronously, and the live feed computes each row within the event that carries it; use it for `flowcast features`');
  }
  const info = await chooseBatching(sel.backend, depth, batching);
  const batched = info.path === 'batch';
  const dense = new LiveDense(sel.backend, depth, batched ? batching.maxBatchSize : 1);
  return {
    info: sel.info,
    dense,
    batching: info,
    ...(batched ? { batch: { maxBatchSize: batching.maxBatchSize, maxQueueDelayUs: batching.maxQueueDelayUs } } : {}),
    dispose: () => sel.backend.dispose(),
  };
}

/**
 * Row by row or micro-batched. `auto` times the kernels on one row per call and on a full batch
 * (maxBatchSize windows of one row, each with its history: what a batch of that many symbols
 * costs) and batches when a row costs less that way. Whether batches fill depends on the traffic:
 * a row alone waits maxQueueDelayUs at most and then costs what it costs row by row.
 */
async function chooseBatching(be: DenseBackend, depth: Depth, o: LiveBatchingOptions): Promise<BatchingInfo> {
  const base = { requested: o.mode, maxBatchSize: o.maxBatchSize, maxQueueDelayUs: o.maxQueueDelayUs };
  if (o.mode === 'row' || o.maxBatchSize <= 1) {
    return { ...base, path: 'row', reason: o.mode === 'row' ? 'requested: one kernel call per row' : 'maxBatchSize is 1: one kernel call per row' };
  }
  if (o.mode === 'batch') {
    return { ...base, path: 'batch', reason: `requested: rows wait up to ${o.maxQueueDelayUs} us for up to ${o.maxBatchSize} rows, one kernel call each batch` };
  }
  const one = await rowsPerSecond(be, syntheticBatch({ windows: 1, rows: 1 }, depth), depth.levels, 40);
  const many = await rowsPerSecond(be, syntheticBatch({ windows: o.maxBatchSize, rows: 1 }, depth), depth.levels, 80);
  const row = Math.round((1e6 / one) * 10) / 10;
  const batch = Math.round((1e6 / many) * 10) / 10;
  const path = batch < row ? 'batch' : 'row';
  const reason = path === 'batch'
    ? `auto: a row costs ${batch} us of kernel time in a batch of ${o.maxBatchSize} against ${row} us alone (${(row / batch).toFixed(1)}x less); rows wait up to ${o.maxQueueDelayUs} us for a batch`
    : `auto: a row costs ${row} us of kernel time alone and ${batch} us in a batch of ${o.maxBatchSize}: batching would only add waiting`;
  return { ...base, path, reason, measuredUsPerRow: { row, batch } };
}

/** A row waiting for its dense columns: its symbol, its index in the symbol's stream, the array they go into. */
export interface DenseRequest {
  readonly symbol: string;
  readonly index: number;
  /** FEATURE_COLUMNS order; the dense columns are overwritten. */
  readonly values: Float64Array;
}

/**
 * Per-symbol rings of the rows the kernels need, and the dense columns of rows on demand: one row
 * (the per-row path) or many rows of many symbols in one kernel call (the micro-batched path).
 */
export class LiveDense implements RowSink {
  private readonly rings: SnapshotRings;
  private readonly batch: SnapshotBatch;
  /** Batches of the batched path by shape (windows x rows, powers of two: a bounded set of compiled kernels). */
  private readonly batches = new Map<string, SnapshotBatch>();
  private readonly out = DENSE_COLUMNS.map(() => new Float64Array(1));
  private outMany: Float64Array[] = DENSE_COLUMNS.map(() => new Float64Array(1));
  private readonly cols = DENSE_INDEX;
  /** Request indices by symbol, in arrival order. */
  private readonly groups = new Map<string, number[]>();
  rows = 0;
  calls = 0;
  seconds = 0;
  /** `live:<backend>`, as parity captures name it. */
  readonly name: string;

  /** `maxBatchRows`: the most rows of one symbol a batched call may ask for (the rings keep them and their history). */
  constructor(private readonly backend: DenseBackend, private readonly depth: Depth, readonly maxBatchRows = 1) {
    this.name = `live:${backend.name}`;
    this.rings = new SnapshotRings(DENSE_HISTORY + Math.max(1, maxBatchRows), depth.tensorLevels);
    this.batch = new SnapshotBatch({ windows: 1, rows: 1, levels: depth.tensorLevels });
  }

  /** Every book row, before the feature engine sees it. */
  onRow(row: BookRow): void {
    this.rings.onRow(row);
  }

  /** Stream index of the symbol's newest row (-1 before its first). */
  newest(symbol: string): number {
    const r = this.rings.get(symbol);
    return r ? r.count - 1 : -1;
  }

  /** The dense columns (DENSE_COLUMNS order, one value each) of the symbol's newest row; reused arrays. */
  compute(symbol: string): readonly Float64Array[] | undefined {
    const ring = this.rings.get(symbol);
    if (!ring) return undefined;
    const t0 = performance.now();
    this.batch.clear().add(ring);
    const raw = this.backend.computeSync(this.batch, this.depth.levels);
    writeDense(this.batch, raw, 0, 0, 1, this.out, 0, this.depth.levels);
    this.seconds += (performance.now() - t0) / 1000;
    this.rows++;
    this.calls++;
    return this.out;
  }

  /** Overwrites the dense columns of `values` (FEATURE_COLUMNS order) with the kernels' for the symbol's newest row. */
  apply(symbol: string, values: Float64Array): void {
    const out = this.compute(symbol);
    if (out) for (let c = 0; c < this.cols.length; c++) values[this.cols[c]!] = out[c]![0]!;
  }

  /**
   * The dense columns of many rows in one kernel call: one window per symbol, ending at its newest
   * requested row, whose output rows are that symbol's requested rows (consecutive in its stream,
   * as the pipeline asks for them). At most `maxBatchRows` rows of one symbol. `n`: the first n
   * requests (the pipeline's queue hands its reused slots). `f32`: also the kernel columns of
   * request i, in float32, at f32[i * FEATURE_COLUMNS.length + column] (the batch's feature
   * matrix the models read, src/pipeline/results.ts).
   */
  computeBatch(reqs: readonly DenseRequest[], n = reqs.length, f32?: Float32Array): void {
    if (n === 0) return;
    const t0 = performance.now();
    const groups = this.groups;
    groups.clear();
    let most = 0;
    for (let i = 0; i < n; i++) {
      const q = reqs[i]!;
      let g = groups.get(q.symbol);
      if (!g) groups.set(q.symbol, (g = []));
      g.push(i);
      if (g.length > most) most = g.length;
    }
    if (most > this.maxBatchRows) throw new RangeError(`a batch asks for ${most} rows of one symbol; the rings keep ${this.maxBatchRows}`);
    const batch = this.batchFor(groups.size, most);
    batch.clear();
    for (const [symbol, g] of groups) batch.add(this.rings.get(symbol)!, reqs[g[g.length - 1]!]!.index, g.length);
    const raw = this.backend.computeSync(batch, this.depth.levels);
    if (this.outMany[0]!.length < most) this.outMany = DENSE_COLUMNS.map(() => new Float64Array(batch.T));
    const out = this.outMany;
    let b = 0;
    for (const g of groups.values()) {
      const from = batch.T - g.length;
      writeDense(batch, raw, b++, from, batch.T, out, 0, this.depth.levels);
      for (let k = 0; k < g.length; k++) {
        const v = reqs[g[k]!]!.values;
        for (let c = 0; c < this.cols.length; c++) v[this.cols[c]!] = out[c]![k]!;
        if (f32) {
          const at = g[k]! * NF;
          for (let c = 0; c < this.cols.length; c++) f32[at + this.cols[c]!] = out[c]![k]!;
        }
      }
    }
    this.seconds += (performance.now() - t0) / 1000;
    this.rows += n;
    this.calls++;
  }

  private batchFor(windows: number, rows: number): SnapshotBatch {
    const B = pow2AtLeast(windows);
    const T = pow2AtLeast(rows);
    const key = `${B}x${T}`;
    let b = this.batches.get(key);
    if (!b) this.batches.set(key, (b = new SnapshotBatch({ windows: B, rows: T, levels: this.depth.tensorLevels })));
    return b;
  }
}

const NF = FEATURE_COLUMNS.length;

function pow2AtLeast(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}
