/**
 * `--compute` for the live server. The float64 FeatureEngine computes each row's features as the
 * row arrives. With a gpu.js backend chosen, the dense columns of that row are recomputed by the
 * kernels over the symbol's last 51 rows (the row and the 50 its features look back on) and
 * replace the engine's values before the row is published: the same kernels and float32 values as
 * `flowcast features --compute gpujs...`, on the live path.
 *
 * `auto` measures the kernels at the live shape (one window of one row) and, as for the batch
 * command, keeps the engine: it computes the dense columns inline for the columns that depend on
 * them, so a kernel only adds its time to every row's latency. The measurement is reported.
 * Asynchronous backends (WebGPU) cannot answer within the event that carries the row: refused.
 */
import { DENSE_HISTORY } from '../../kernels/dense.ts';
import type { BookRow, RowSink } from '../model/row.ts';
import { DENSE_INDEX } from '../features/columns.ts';
import { SnapshotBatch } from '../snapshots/batch.ts';
import { SnapshotRings } from '../snapshots/ring.ts';
import type { Depth } from '../model/depth.ts';
import { BackendUnavailable, type ComputeInfo, type ComputeSpec, type DenseBackend } from './backend.ts';
import { DENSE_COLUMNS, writeDense } from './dense.ts';
import { engineComputeInfo, keepEngineReason } from './features-hook.ts';
import { selectComputeBackend } from './select.ts';

export interface LiveCompute {
  info: ComputeInfo;
  /** Present when a kernel backend computes the dense columns. */
  dense?: LiveDense;
  dispose(): Promise<void>;
}

export async function liveCompute(spec: ComputeSpec, depth: Depth): Promise<LiveCompute> {
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
  const dense = new LiveDense(sel.backend, depth);
  return { info: sel.info, dense, dispose: () => sel.backend.dispose() };
}

/** Per-symbol rings of the rows the kernels need, and the newest row's dense columns on demand. */
export class LiveDense implements RowSink {
  private readonly rings: SnapshotRings;
  private readonly batch: SnapshotBatch;
  private readonly out = DENSE_COLUMNS.map(() => new Float64Array(1));
  private readonly cols = DENSE_INDEX;
  rows = 0;
  seconds = 0;
  /** `live:<backend>`, as parity captures name it. */
  readonly name: string;

  constructor(private readonly backend: DenseBackend, private readonly depth: Depth) {
    this.name = `live:${backend.name}`;
    this.rings = new SnapshotRings(DENSE_HISTORY + 1, depth.tensorLevels);
    this.batch = new SnapshotBatch({ windows: 1, rows: 1, levels: depth.tensorLevels });
  }

  /** Every book row, before the feature engine sees it. */
  onRow(row: BookRow): void {
    this.rings.onRow(row);
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
    return this.out;
  }

  /** Overwrites the dense columns of `values` (FEATURE_COLUMNS order) with the kernels' for the symbol's newest row. */
  apply(symbol: string, values: Float64Array): void {
    const out = this.compute(symbol);
    if (out) for (let c = 0; c < this.cols.length; c++) values[this.cols[c]!] = out[c]![0]!;
  }
}
