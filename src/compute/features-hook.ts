/**
 * `--compute` for the batch features pipeline. The FeatureEngine computes every column in float64
 * as rows stream through it. With a kernel backend, a DenseStream receives the same rows and the
 * dense columns of every block the engine emits are replaced by the backend's values (float32 for
 * gpu.js) before the block reaches the writer; everything else (rolling trade and VPIN columns,
 * bars, labels) stays the engine's.
 *
 * `auto` here weighs what the engine already does: it computes the dense columns inline for the
 * columns that depend on them, so a kernel backend adds its own time on top and cannot make the
 * batch faster. auto therefore keeps the engine's values, and says so with the kernels' measured
 * speed. (Were the engine to skip its dense columns when a backend supplies them, auto would
 * compare the two measured rates instead: `engineDenseRowsPerSecond` below.)
 */
import type { BookRow, RowSink } from '../model/row.ts';
import { FeatureBlock, DENSE_INDEX, type FeatureBlockSink } from '../features/columns.ts';
import type { ComputeInfo, ComputeSpec, DenseBackend } from './backend.ts';
import { selectComputeBackend } from './select.ts';
import { DenseStream } from './stream.ts';
import { logger } from '../core/log.ts';
import type { Depth } from '../model/depth.ts';

const log = logger('compute');

/** Dense-column rows/s the engine would save by not computing them itself; 0 while it always does. */
const engineDenseRowsPerSecond = 0;

export interface FeaturesCompute {
  info: ComputeInfo;
  /** The row sink for the builder: the engine, plus the dense stream when a kernel backend is used. */
  rows(engine: RowSink): RowSink;
  /** The block sink for the engine: `inner`, with dense columns replaced when a kernel backend is used. */
  sink(inner: FeatureBlockSink): FeatureBlockSink;
  /** Kernel time and batches, for the run summary. */
  stats(): { rows: number; batches: number; computedRows: number; seconds: number } | undefined;
  dispose(): Promise<void>;
}

export async function featuresCompute(spec: ComputeSpec, opts: { depth: Depth; blockRows: number }): Promise<FeaturesCompute> {
  if (spec === 'cpu') return engineOnly({ requested: spec, reason: 'requested' });
  const shape = { windows: Math.max(1, Math.round(opts.blockRows / 1024)), rows: Math.min(1024, opts.blockRows) };
  const sel = await selectComputeBackend(spec, { depth: opts.depth, shape, budgetMs: 60 });
  if (spec === 'auto') {
    const rate = sel.info.measured?.[sel.backend.name] ?? 0;
    if (!(rate > engineDenseRowsPerSecond && engineDenseRowsPerSecond > 0)) {
      await sel.backend.dispose();
      return engineOnly({ requested: spec, ...keepEngineReason(sel.info) });
    }
  }
  return withBackend(sel.backend, sel.info, opts);
}

/** `auto`'s verdict while the engine computes the dense columns itself: keep it, with what the kernels measured. */
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
    rows: (engine) => engine,
    sink: (inner) => inner,
    stats: () => undefined,
    dispose: async () => {},
  };
}

function withBackend(backend: DenseBackend, info: ComputeInfo, opts: { depth: Depth; blockRows: number }): FeaturesCompute {
  let override: DenseOverrideSink | undefined;
  const stream = new DenseStream(backend, { depth: opts.depth, blockRows: opts.blockRows }, (block) => override?.accept(block));
  return {
    info,
    rows: (engine) => ({
      onRow(row: BookRow) {
        engine.onRow(row);
        stream.onRow(row);
      },
    }),
    sink: (inner) => (override = new DenseOverrideSink(inner, stream)),
    stats: () => ({ ...stream.stats }),
    dispose: () => backend.dispose(),
  };
}

/**
 * Holds the engine's blocks (copies: the engine reuses its blocks) until the dense stream has
 * computed their rows, overwrites their dense columns, and passes them on in order.
 */
export class DenseOverrideSink implements FeatureBlockSink {
  private readonly waiting: FeatureBlock[] = [];
  private readonly dense: FeatureBlock[] = [];
  /** Output rows the dense stream has delivered. */
  private denseRows = 0;
  private symbols: readonly string[] = [];
  private readonly cols = DENSE_INDEX;

  constructor(private readonly inner: FeatureBlockSink, private readonly stream: DenseStream) {}

  write(block: FeatureBlock, symbols: readonly string[]): void {
    this.symbols = symbols;
    const copy = new FeatureBlock(block.columns, block.n);
    copy.n = block.n;
    copy.ts.set(block.ts.subarray(0, block.n));
    copy.symbolId.set(block.symbolId.subarray(0, block.n));
    copy.row.set(block.row.subarray(0, block.n));
    for (let c = 0; c < block.values.length; c++) copy.values[c]!.set(block.values[c]!.subarray(0, block.n));
    this.waiting.push(copy);
    this.pump();
  }

  /** A block of dense values from the stream (arrival order, the engine's row numbering). */
  accept(block: FeatureBlock): void {
    this.dense.push(block);
    this.denseRows += block.n;
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
    if (this.waiting.length) throw new Error(`dense stream ended before engine row ${this.waiting[0]!.row[0]}`);
    return this.inner.close();
  }

  private pump(): void {
    while (this.waiting.length && this.waiting[0]!.row[this.waiting[0]!.n - 1]! < this.denseRows) {
      const b = this.waiting.shift()!;
      for (let j = 0; j < b.n; j++) {
        let d = this.dense[0]!;
        while (b.row[j]! >= d.row[0]! + d.n) {
          this.dense.shift();
          d = this.dense[0]!;
        }
        const k = b.row[j]! - d.row[0]!;
        for (let c = 0; c < this.cols.length; c++) b.values[this.cols[c]!]![j] = d.values[c]![k]!;
      }
      this.inner.write(b, this.symbols);
    }
  }
}
