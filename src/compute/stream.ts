/**
 * DenseStream: the kernel columns for a stream of BookRows (any number of symbols, interleaved),
 * computed in blocks by a compute backend and handed out in arrival order as FeatureBlocks.
 *
 * Rows are kept in per-symbol rings. Every `blockRows` rows, each symbol's new rows are cut into
 * windows of T output rows, each preceded by the DENSE_HISTORY (100) rows of history the features need (the rows
 * before it in the ring, or padding at the stream's start), all windows go into one SnapshotBatch,
 * the backend computes it, and the results are put back into arrival order. T is chosen per flush
 * (a power of two up to `maxWindowRows`) to waste the fewest computed rows; B is rounded up to a
 * power of two so the number of compiled kernel shapes stays small.
 */
import { DENSE_HISTORY } from '../../kernels/dense.ts';
import type { BookRow, RowSink } from '../model/row.ts';
import { FeatureBlock } from '../features/columns.ts';
import { SnapshotBatch } from '../snapshots/batch.ts';
import { SnapshotRing } from '../snapshots/ring.ts';
import { DEFAULT_DEPTH, type Depth } from '../model/depth.ts';
import type { DenseBackend } from './backend.ts';
import { DENSE_COLUMNS, writeDense } from './dense.ts';

/** Extra rows a flush computes rather than compile a new batch shape (see plan()). */
const REUSE_ROWS = 65536;

export interface DenseStreamOptions {
  /** Resolved depth (default DEFAULT_DEPTH): the rings and batches keep its tensorLevels. */
  depth?: Depth;
  /** Largest T (default 1024). */
  maxWindowRows?: number;
  /** Rows per flush and per emitted block (default 8192). */
  blockRows?: number;
  /** Makes an emitted block when none was recycled (default: a FeatureBlock of its own arrays). */
  newBlock?: (capacity: number) => FeatureBlock;
}

export type DenseBlockEmit = (block: FeatureBlock, symbols: readonly string[]) => void;

export class DenseStream implements RowSink {
  readonly symbols: string[] = [];
  readonly depth: Depth;
  private readonly maxT: number;
  private readonly blockRows: number;
  private readonly rings: SnapshotRing[] = [];
  private readonly byName = new Map<string, SnapshotRing>();
  private byBuilderId: SnapshotRing[] = [];
  /** Arrival log of the current block: ring ordinal and stream index of each row. */
  private logRing: Int32Array;
  private logIdx: Float64Array;
  private logN = 0;
  /** First stream index not yet flushed, per ring ordinal. */
  private done: number[] = [];
  private outRow = 0;
  private chain: Promise<void> = Promise.resolve();
  private failure: unknown;
  private readonly pool = new Map<string, SnapshotBatch[]>();
  /** Batch shapes planned so far ([B, T] by key): the backend has compiled them (see plan()). */
  private readonly shapes = new Map<string, [number, number]>();
  private readonly freeBlocks: FeatureBlock[] = [];
  /** Rows and batches computed (for reports). */
  readonly stats = { rows: 0, batches: 0, computedRows: 0, seconds: 0 };

  private readonly newBlock: (capacity: number) => FeatureBlock;

  constructor(private readonly backend: DenseBackend, opts: DenseStreamOptions, private readonly emit: DenseBlockEmit) {
    this.newBlock = opts.newBlock ?? ((capacity) => new FeatureBlock(DENSE_COLUMNS, capacity));
    this.depth = opts.depth ?? DEFAULT_DEPTH;
    this.maxT = opts.maxWindowRows ?? 1024;
    this.blockRows = opts.blockRows ?? 8192;
    this.logRing = new Int32Array(this.blockRows);
    this.logIdx = new Float64Array(this.blockRows);
  }

  onRow(row: BookRow): void {
    this.nextRing(row.symbolId, row.symbol).push(row);
    if (this.logN === this.blockRows) this.flush();
  }

  /** A row packed as its ring holds it (SnapshotRing.pushPacked), of the symbol the caller numbers `symbolId`. */
  onPacked(symbolId: number, symbol: string, ts: number, src: Float64Array, at: number): void {
    this.nextRing(symbolId, symbol).pushPacked(src, at, ts);
    if (this.logN === this.blockRows) this.flush();
  }

  /** The symbol's ring, with room for one more row, that row logged in arrival order. */
  private nextRing(symbolId: number, symbol: string): SnapshotRing {
    let r = this.byBuilderId[symbolId];
    if (r === undefined || r.symbol !== symbol) r = this.ringFor(symbolId, symbol);
    if (r.count - this.done[r.symbolId]! + 1 + DENSE_HISTORY > r.capacity) {
      r.grow(Math.min(r.capacity * 2, this.blockRows + DENSE_HISTORY));
    }
    this.logRing[this.logN] = r.symbolId;
    this.logIdx[this.logN++] = r.count;
    return r;
  }

  /**
   * Computes and emits the rows received so far. Synchronous backends emit before this returns;
   * an asynchronous one (webgpu) emits in order as results arrive: await `drain()`.
   */
  flush(): void {
    if (this.failure) throw this.failure;
    const n = this.logN;
    if (n === 0) return;
    const plan = this.plan();
    const batch = this.takeBatch(plan.windows, plan.T);
    for (const w of plan.list) batch.add(this.rings[w.ring]!, w.end, w.need);
    const logRing = this.backend.sync ? this.logRing : this.logRing.slice(0, n);
    const logIdx = this.backend.sync ? this.logIdx : this.logIdx.slice(0, n);
    const firstWindow = plan.firstWindow;
    const lastEnd = plan.lastEnd;
    const rowBase = this.outRow;
    this.outRow += n;
    this.logN = 0;
    const t0 = performance.now();
    const finish = (raw: Parameters<typeof writeDense>[1]): void => {
      this.stats.seconds += (performance.now() - t0) / 1000;
      this.stats.rows += n;
      this.stats.batches++;
      this.stats.computedRows += batch.n * batch.T;
      const block = this.takeBlock(n);
      const T = batch.T;
      let j = 0;
      while (j < n) {
        const ro = logRing[j]!;
        const idx = logIdx[j]!;
        const back = lastEnd[ro]! - idx;
        const w = firstWindow[ro]! + plan.perRing[ro]! - 1 - Math.floor(back / T);
        const t = T - 1 - (back % T);
        // A run: the next rows of the same symbol, in the same window (one symbol's rows are all of them).
        let len = 1;
        while (j + len < n && t + len < T && logRing[j + len] === ro && logIdx[j + len] === idx + len) len++;
        writeDense(batch, raw, w, t, t + len, block.values, j, this.depth.levels);
        const ring = this.rings[ro]!;
        const ts0 = w * batch.W + batch.H + t;
        for (let k = 0; k < len; k++) {
          block.ts[j + k] = batch.ts[ts0 + k]!;
          block.symbolId[j + k] = ring.symbolId;
          block.row[j + k] = rowBase + j + k;
        }
        j += len;
      }
      block.n = n;
      this.giveBatch(batch);
      this.emit(block, this.symbols);
    };
    if (this.backend.sync) {
      finish(this.backend.computeSync(batch, this.depth.levels));
    } else {
      const run = this.backend.compute(batch, this.depth.levels);
      this.chain = this.chain.then(() => run).then(finish, (e) => {
        this.failure ??= e;
      });
    }
  }

  /** Resolves when every flushed block has been emitted. */
  async drain(): Promise<void> {
    await this.chain;
    if (this.failure) throw this.failure;
  }

  /** Flushes what is left and waits for it. */
  async finish(): Promise<void> {
    this.flush();
    await this.drain();
  }

  private ringFor(symbolId: number, symbol: string): SnapshotRing {
    let r = this.byName.get(symbol);
    if (!r) {
      r = new SnapshotRing(symbol, this.rings.length, Math.min(256, this.blockRows) + DENSE_HISTORY, this.depth.tensorLevels);
      this.rings.push(r);
      this.symbols.push(symbol);
      this.done.push(0);
      this.byName.set(symbol, r);
    }
    this.byBuilderId[symbolId] = r;
    return r;
  }

  /** Windows for the rows since the last flush, with the T that computes the fewest rows. */
  private plan(): {
    T: number; windows: number; list: { ring: number; end: number; need: number }[];
    firstWindow: number[]; perRing: number[]; lastEnd: number[];
  } {
    const pending: number[] = this.rings.map((r, i) => r.count - this.done[i]!);
    const cost = (T: number): { rows: number; windows: number } => {
      let rows = 0, windows = 0;
      for (const p of pending) {
        if (p > 0) {
          const k = Math.ceil(p / T);
          windows += k;
          rows += k * (T + DENSE_HISTORY);
        }
      }
      return { rows, windows };
    };
    let best = 0, bestCost = Infinity, bestWindows = 1;
    for (let T = 16; T <= Math.max(16, this.maxT); T *= 2) {
      const c = cost(T);
      // Prefer the larger T on ties: fewer windows, same work.
      if (c.rows <= bestCost) {
        bestCost = c.rows;
        best = T;
        bestWindows = c.windows;
      }
      if (T >= this.maxT) break;
    }
    let B = 1;
    while (B < bestWindows) B *= 2;
    // A shape computed before is compiled already: a new one costs a compile (150-300 ms per shape
    // with gpu.js webasm, as much as computing ~64k rows), so a smaller flush (the stream's last,
    // a quiet symbol's) reuses a known shape that holds it unless that computes 64k more rows.
    let reuse: { T: number; B: number; rows: number } | undefined;
    for (const [kb, kt] of this.shapes.values()) {
      const c = cost(kt);
      const rows = kb * (kt + DENSE_HISTORY);
      if (c.windows <= kb && rows <= B * (best + DENSE_HISTORY) + REUSE_ROWS && (!reuse || rows < reuse.rows)) reuse = { T: kt, B: kb, rows };
    }
    if (reuse && !this.shapes.has(`${B}x${best}`)) {
      best = reuse.T;
      B = reuse.B;
    }
    const T = best;
    this.shapes.set(`${B}x${T}`, [B, T]);
    const list: { ring: number; end: number; need: number }[] = [];
    const firstWindow: number[] = [], perRing: number[] = [], lastEnd: number[] = [];
    for (let i = 0; i < this.rings.length; i++) {
      const p = pending[i]!;
      const e = this.rings[i]!.count - 1;
      firstWindow.push(list.length);
      lastEnd.push(e);
      const k = p > 0 ? Math.ceil(p / T) : 0;
      perRing.push(k);
      // The first window's older outputs were computed by the previous flush: only its last rows are needed.
      for (let j = 0; j < k; j++) list.push({ ring: i, end: e - (k - 1 - j) * T, need: j === 0 ? p - (k - 1) * T : T });
      this.done[i] = e + 1;
    }
    return { T, windows: B, list, firstWindow, perRing, lastEnd };
  }

  /**
   * Hands an emitted block back for reuse (its values must no longer be needed). Blocks not handed
   * back are simply not reused.
   */
  recycle(block: FeatureBlock): void {
    if (block.capacity === this.blockRows && this.freeBlocks.length < 4) this.freeBlocks.push(block);
  }

  private takeBlock(n: number): FeatureBlock {
    if (n <= this.blockRows) {
      const b = this.freeBlocks.pop() ?? this.newBlock(this.blockRows);
      b.n = 0;
      return b;
    }
    return this.newBlock(n);
  }

  private takeBatch(B: number, T: number): SnapshotBatch {
    const key = `${B}x${T}`;
    const free = this.pool.get(key);
    const b = free?.pop() ?? new SnapshotBatch({ windows: B, rows: T, levels: this.depth.tensorLevels });
    return b.clear();
  }

  private giveBatch(b: SnapshotBatch): void {
    const key = `${b.B}x${b.T}`;
    let free = this.pool.get(key);
    if (!free) this.pool.set(key, (free = []));
    if (free.length < 2) free.push(b);
  }
}
