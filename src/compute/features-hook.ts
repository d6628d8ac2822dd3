/**
 * `--compute` for the batch features pipeline. `cpu` (the default): the float64 FeatureEngine
 * computes every column as rows stream through it. With a kernel backend the work is split, and no
 * column is computed twice: the engine runs in `trade-state` mode (VPIN, the impact bars, labels:
 * the state that needs the stream's whole trade history) and a DenseStream computes every per-row
 * column (the registry's kernel columns) from the same rows in batches; the kernels' values are
 * written into the engine's blocks before they reach the writer. `FeaturesCompute.columns` says
 * which columns each side computed.
 *
 * Rows go to the DenseStream before the engine, so with a synchronous backend a block's kernel
 * values exist by the time the engine emits it (the engine holds blocks back for late trades) and
 * are written into it in place; only a block emitted before its values arrive (an asynchronous
 * backend, the kernel thread, or the end of the stream) is copied and held.
 *
 * `gpujs:webasm` and `gpujs:cpu` compute on the CPU: they run in a worker thread of their own
 * (src/compute/offload.ts), beside the parse, the engine and the writer, the way a GPU computes
 * beside its host. `gpujs` and `auto` choose in this thread and compute here.
 *
 * gpu.js is imported only when a kernel backend is asked for (select.ts loads it): `--compute cpu`
 * does not pay its ~0.25 s of loading.
 */
import type { RowSink } from '../model/row.ts';
import { FeatureBlock, DENSE_INDEX, DENSE_COLUMNS, type FeatureBlockSink } from '../features/columns.ts';
import type { EngineColumns } from '../features/engine.ts';
import type { ComputeInfo, ComputeSpec, DenseBackend } from './backend.ts';
import { OffloadedDenseStream, type DenseRows } from './offload.ts';
import { FeatureEngine } from '../features/engine.ts';
import { featureOptions } from '../features/options.ts';
import { BookRow } from '../model/row.ts';
import { TimeBase, TimeBaseRef } from '../model/time.ts';
import { DenseStream } from './stream.ts';
import { logger } from '../core/log.ts';
import type { Depth } from '../model/depth.ts';

const log = logger('compute');

export interface FeaturesCompute {
  info: ComputeInfo;
  /** How the FeatureEngine runs beside it: every column, or the trade state only. */
  engineColumns: EngineColumns;
  /** The feature columns the kernels compute (none for the engine alone). */
  kernelColumns: readonly string[];
  /** The row sink for the builder: the engine, plus the dense stream when a kernel backend is used. */
  rows(engine: RowSink): RowSink;
  /** The block sink for the engine: `inner`, with dense columns replaced when a kernel backend is used. */
  sink(inner: FeatureBlockSink): FeatureBlockSink;
  /** Call after the last row, before the engine's finish(): computes the rows the kernels still hold. */
  endOfRows(): Promise<void>;
  /** Kernel time and batches, for the run summary. */
  stats(): { rows: number; batches: number; computedRows: number; seconds: number } | undefined;
  dispose(): Promise<void>;
}

/** Specs whose kernels run in a worker thread: the gpu.js modes that compute on the CPU. */
export const OFFLOADED: readonly ComputeSpec[] = ['gpujs:webasm', 'gpujs:cpu'];

export async function featuresCompute(spec: ComputeSpec, opts: { depth: Depth; blockRows: number }): Promise<FeaturesCompute> {
  if (spec === 'cpu') return engineOnly({ requested: spec, reason: 'requested' });
  if (OFFLOADED.includes(spec)) return offloaded(spec, opts);
  const { selectComputeBackend } = await import('./select.ts');
  const shape = { windows: Math.max(1, Math.round(opts.blockRows / 1024)), rows: Math.min(1024, opts.blockRows) };
  const sel = await selectComputeBackend(spec, { depth: opts.depth, shape, budgetMs: 60 });
  if (spec === 'auto') {
    // The kernels' own rate is not the question: both whole paths are timed on the same rows.
    const m = await measureSplit(sel.backend, opts.depth, opts.blockRows);
    const what = `measured on ${m.rows.toLocaleString('en-US')} synthetic rows: the engine alone ${formatRate(m.engine)} rows/s, ` +
      `${sel.backend.name} kernels + the engine's trade state ${formatRate(m.kernels)} rows/s (kernels: ${sel.info.reason})`;
    if (!(m.kernels > m.engine)) {
      await sel.backend.dispose();
      return engineOnly({ requested: spec, reason: `the float64 engine alone is faster here, ${what}`, unavailable: sel.info.unavailable, measured: sel.info.measured });
    }
    return withBackend(sel.backend, { ...sel.info, reason: `the kernels are faster here, ${what}` }, opts);
  }
  return withBackend(sel.backend, sel.info, opts);
}

/**
 * Rows/s of the two ways to compute every column, on the same synthetic rows (a drifting two-sided
 * book, see syntheticBatch): the engine alone, and a DenseStream on `backend` beside the engine in
 * trade-state mode. Median of alternating runs after a first (compiling) one.
 */
export async function measureSplit(backend: DenseBackend, depth: Depth, blockRows: number, rows = 4096): Promise<{ rows: number; engine: number; kernels: number }> {
  const T = 1024;
  const { syntheticBatch } = await import('./select.ts');
  const batch = syntheticBatch({ windows: Math.ceil(rows / T), rows: T }, depth);
  const LT = batch.levels;
  const row = new BookRow(depth.rowLevels);
  row.symbol = 'SYNTH';
  row.depthLimit = LT;
  const fo = featureOptions({ levels: depth.levels, vpinBucket: 1, blockRows });
  const tb = new TimeBaseRef(TimeBase.ofEpochMs(0));
  const feed = (sinks: RowSink[]): void => {
    for (let i = 0; i < rows; i++) {
      const b = Math.floor(i / T), g = b * batch.W + batch.H + (i % T);
      const o = g * LT * 4;
      for (let l = 0; l < LT; l++) {
        const k = o + l * 4;
        const present = batch.book[k + 1]! > 0;
        row.bidPx[l] = present ? (batch.refUnits[b]! + batch.book[k]!) / 100 : NaN;
        row.bidSz[l] = batch.book[k + 1]!;
        row.askPx[l] = present ? (batch.refUnits[b]! + batch.book[k + 2]!) / 100 : NaN;
        row.askSz[l] = batch.book[k + 3]!;
      }
      row.ts = i * 1e6;
      row.index = i;
      for (const s of sinks) s.onRow(row);
    }
  };
  const engineOnlyRun = async (): Promise<number> => {
    const t0 = performance.now();
    const e = new FeatureEngine(fo, tb, () => {}, 'all');
    feed([e]);
    e.finish();
    return performance.now() - t0;
  };
  const kernelRun = async (): Promise<number> => {
    const t0 = performance.now();
    const e = new FeatureEngine(fo, tb, () => {}, 'trade-state');
    const st = new DenseStream(backend, { depth, blockRows }, () => {});
    feed([st, e]);
    await st.finish();
    e.finish();
    return performance.now() - t0;
  };
  await engineOnlyRun();
  await kernelRun();
  const a: number[] = [], k: number[] = [];
  for (let r = 0; r < 3; r++) {
    a.push(await engineOnlyRun());
    k.push(await kernelRun());
  }
  const med = (x: number[]): number => x.sort((p, q) => p - q)[x.length >> 1]!;
  return { rows, engine: rows / (med(a) / 1000), kernels: rows / (med(k) / 1000) };
}

function formatRate(v: number): string {
  return v >= 1e6 ? `${(v / 1e6).toFixed(2)}M` : `${(v / 1e3).toFixed(0)}k`;
}

/**
 * The live path's `auto` verdict (src/compute/live-dense.ts): there the engine still computes the
 * per-row columns inline, so the kernels would only add time; keep it, with what they measured.
 */
export function keepEngineReason(sel: ComputeInfo, what?: string): Pick<ComputeInfo, 'reason' | 'unavailable' | 'measured'> {
  return {
    reason: `the float64 FeatureEngine computes the dense columns inline, so a kernel backend would only add time${what ? ` to ${what}` : ''}: ` +
      `the fastest here, ${sel.backend}, ${sel.reason.replace(/^fastest /, '')}`,
    unavailable: sel.unavailable,
    ...(sel.measured ? { measured: sel.measured } : {}),
  };
}

export function engineComputeInfo(p: Pick<ComputeInfo, 'requested' | 'reason'> & Partial<ComputeInfo>): ComputeInfo {
  return { backend: 'cpu', libraryMode: 'FeatureEngine (float64, streaming)', precision: 'float64', unavailable: {}, ...p };
}

function engineOnly(p: Pick<ComputeInfo, 'requested' | 'reason'> & Partial<ComputeInfo>): FeaturesCompute {
  const info = engineComputeInfo(p);
  log.info('features compute', { ...info });
  return {
    info,
    engineColumns: 'all',
    kernelColumns: [],
    rows: (engine) => engine,
    sink: (inner) => inner,
    endOfRows: async () => {},
    stats: () => undefined,
    dispose: async () => {},
  };
}

function withBackend(backend: DenseBackend, info: ComputeInfo, opts: { depth: Depth; blockRows: number }): FeaturesCompute {
  let fill: DenseFillSink | undefined;
  const stream = new DenseStream(backend, { depth: opts.depth, blockRows: opts.blockRows }, (block) =>
    fill?.accept({ row0: block.row[0]!, n: block.n, values: block.values }, () => stream.recycle(block)));
  return kernelSplit(() => info, stream, (f) => (fill = f), () => backend.dispose());
}

async function offloaded(spec: ComputeSpec, opts: { depth: Depth; blockRows: number }): Promise<FeaturesCompute> {
  let fill: DenseFillSink | undefined;
  // Not awaited: the parse runs while the thread starts (a backend it cannot create fails the run).
  const stream = OffloadedDenseStream.create(spec, opts.depth, opts.blockRows, (rows, release) => fill?.accept(rows, release));
  stream.ready.then((info) => log.info('features compute', { ...info }), () => undefined);
  return kernelSplit(() => stream.info, stream, (f) => (fill = f), () => stream.dispose());
}

/**
 * The split both kernel paths share: each row goes to the kernels' stream before the engine (in
 * trade-state mode), and the stream's values are filled into the engine's blocks (`setFill` hands
 * the fill sink to the stream's callback).
 */
function kernelSplit(
  info: () => ComputeInfo,
  stream: RowSink & KernelRowSource & { readonly stats: { rows: number; batches: number; computedRows: number; seconds: number } },
  setFill: (fill: DenseFillSink) => void,
  dispose: () => Promise<void>,
): FeaturesCompute {
  return {
    get info() {
      return info();
    },
    engineColumns: 'trade-state',
    kernelColumns: DENSE_COLUMNS,
    rows: (engine) => ({
      onRow(row: BookRow) {
        stream.onRow(row);
        engine.onRow(row);
      },
    }),
    sink: (inner) => {
      const fill = new DenseFillSink(inner, stream);
      setFill(fill);
      return fill;
    },
    endOfRows: () => stream.finish(),
    stats: () => ({ ...stream.stats }),
    dispose,
  };
}

/** What DenseFillSink needs of the stream of kernel values: backpressure and the end. */
interface KernelRowSource {
  drain(): Promise<void>;
  finish(): Promise<void>;
}

/**
 * Writes the DenseStream's per-row columns into the engine's blocks and passes them on in order.
 * The engine reuses a block once write() returns: a block whose kernel values have not arrived yet
 * is copied (into a block of this sink's own, reused) and held until they have.
 */
export class DenseFillSink implements FeatureBlockSink {
  private readonly waiting: FeatureBlock[] = [];
  private readonly spare: FeatureBlock[] = [];
  private readonly dense: { rows: DenseRows; release?: () => void }[] = [];
  /** Output rows the dense stream has delivered. */
  private denseRows = 0;
  private symbols: readonly string[] = [];
  private readonly cols = DENSE_INDEX;

  constructor(private readonly inner: FeatureBlockSink, private readonly stream: KernelRowSource) {}

  write(block: FeatureBlock, symbols: readonly string[]): void {
    this.symbols = symbols;
    if (this.waiting.length === 0 && this.ready(block)) {
      this.fill(block);
      this.inner.write(block, symbols);
      return;
    }
    let copy = this.spare.pop();
    if (!copy || copy.capacity < block.n || copy.columns !== block.columns) copy = new FeatureBlock(block.columns, block.capacity);
    copy.n = block.n;
    copy.ts.set(block.ts.subarray(0, block.n));
    copy.symbolId.set(block.symbolId.subarray(0, block.n));
    copy.row.set(block.row.subarray(0, block.n));
    for (let c = 0; c < block.values.length; c++) copy.values[c]!.set(block.values[c]!.subarray(0, block.n));
    this.waiting.push(copy);
    this.pump();
  }

  /** Kernel values from the stream (arrival order, the engine's row numbering); `release` once copied out. */
  accept(rows: DenseRows, release?: () => void): void {
    this.dense.push({ rows, release });
    this.denseRows += rows.n;
    this.pump();
  }

  async drain(): Promise<void> {
    await this.stream.drain();
    this.pump();
    await this.inner.drain();
  }

  async close(): Promise<{ rows: number; bytes: number }> {
    await this.stream.finish();
    this.pump();
    if (this.waiting.length) throw new Error(`features --compute: the kernels delivered ${this.denseRows} rows and the engine's block from row ${this.waiting[0]!.row[0]} is still waiting for its per-row columns`);
    return this.inner.close();
  }

  private ready(b: FeatureBlock): boolean {
    return b.n === 0 || b.row[b.n - 1]! < this.denseRows;
  }

  private pump(): void {
    while (this.waiting.length && this.ready(this.waiting[0]!)) {
      const b = this.waiting.shift()!;
      this.fill(b);
      this.inner.write(b, this.symbols);
      this.spare.push(b);
    }
  }

  /** Copies the kernel values of the block's rows in; runs of consecutive rows column by column. */
  private fill(b: FeatureBlock): void {
    let j = 0;
    while (j < b.n) {
      let d = this.dense[0]!;
      while (b.row[j]! >= d.rows.row0 + d.rows.n) {
        this.dense.shift();
        d.release?.();
        d = this.dense[0]!;
      }
      const k = b.row[j]! - d.rows.row0;
      let len = 1;
      while (j + len < b.n && k + len < d.rows.n && b.row[j + len] === b.row[j]! + len) len++;
      const v = d.rows.values;
      for (let c = 0; c < this.cols.length; c++) b.values[this.cols[c]!]!.set(v[c]!.subarray(k, k + len), j);
      j += len;
    }
  }
}
