/**
 * The per-row kernels of `flowcast features --compute gpujs:webasm | gpujs:cpu` in a worker thread.
 *
 * Those two modes compute on the CPU. In the calling thread their work would only replace the
 * engine's per-row work; in a thread of their own (OffloadedDenseStream) it runs beside the
 * parse, the book, the engine's trade state and the writer, on another core, the way a GPU
 * computes beside its host. The thread holds the same DenseStream and backend as the in-thread
 * path; the calling thread packs each row (symbol, time, LT levels, its trades) into a chunk,
 * transfers chunks to the thread, and receives the kernel columns of every row back in arrival
 * order, as blocks.
 *
 * GPU modes stay in the calling thread: the device already computes beside it.
 */
import { Worker } from 'node:worker_threads';
import { createRequire } from 'node:module';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { BookRow, RowSink } from '../model/row.ts';
import type { Depth } from '../model/depth.ts';
import { DENSE_COLUMNS } from '../features/columns.ts';
import type { ComputeInfo, ComputeSpec } from './backend.ts';
import { BackendUnavailable } from './backend.ts';
import { TRADE_CHANNELS, packRow } from '../snapshots/ring.ts';

/** Kernel values of consecutive output rows [row0, row0 + n), one array per DENSE_COLUMNS entry. */
export interface DenseRows {
  row0: number;
  n: number;
  values: Float64Array[];
}

/** Fields of a packed row ahead of its levels: symbol id, time. */
export const ROW_HEADER = 2;

/** Messages from the thread. */
export type FromWorker =
  | { type: 'ready'; info: ComputeInfo }
  | { type: 'unavailable'; backend: string; reason: string }
  /** Kernel values of rows [row0, row0 + n): column c at data[c * stride ...]. */
  | { type: 'rows'; row0: number; n: number; stride: number; data: Float64Array }
  | { type: 'chunkDone'; buffer: Float64Array; stats: OffloadStats }
  | { type: 'finished'; stats: OffloadStats }
  | { type: 'error'; message: string };

/** Messages to the thread. */
export type ToWorker =
  | { type: 'start'; spec: ComputeSpec; depth: Depth; blockRows: number }
  | { type: 'chunk'; rows: number; used: number; buffer: Float64Array; symbols: string[] }
  | { type: 'finish' }
  /** A 'rows' buffer handed back once its values are copied out, for the thread to reuse. */
  | { type: 'spare'; data: Float64Array };

export interface OffloadStats {
  rows: number;
  batches: number;
  computedRows: number;
  seconds: number;
}

/** Rows per chunk sent to the thread. */
const CHUNK_ROWS = 2048;
/**
 * Chunks in flight before drain() waits for the thread: enough for the parse to run on through the
 * thread's start-up and its first compile (~0.4-0.6 s, ~40k-60k rows at the parse's rate); ~0.75 MB
 * each (10 levels).
 */
const MAX_IN_FLIGHT = 32;

/**
 * Starts the kernel thread. Under the TypeScript loader (.ts sources) the thread first registers
 * tsx's loader itself, then imports its module: a worker does not inherit the loader the CLI
 * registered, and `--import <loader>` in a worker's execArgv registers it too late for the entry
 * module.
 */
function startWorker(): Worker {
  const here = fileURLToPath(import.meta.url);
  const ext = extname(here);
  const entry = join(dirname(here), `offload-worker${ext}`);
  if (ext !== '.ts') return new Worker(entry);
  // tsx's ESM API (the package's `tsx/esm/api` import entry).
  const api = pathToFileURL(join(dirname(createRequire(import.meta.url).resolve('tsx/package.json')), 'dist', 'esm', 'api', 'index.mjs')).href;
  const boot = `import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(pathToFileURL(entry).href)}); })` +
    `.catch((e) => { require('node:worker_threads').parentPort.postMessage({ type: 'error', message: 'the kernel thread did not load: ' + e.message }); });`;
  return new Worker(boot, { eval: true });
}

/**
 * A RowSink whose rows' kernel columns are computed in a worker thread. `create` resolves once the
 * thread holds its backend (or rejects with BackendUnavailable and the thread's reason).
 */
export class OffloadedDenseStream implements RowSink {
  readonly stats: OffloadStats = { rows: 0, batches: 0, computedRows: 0, seconds: 0 };
  private readonly LT: number;
  private buf: Float64Array;
  /** Values per chunk buffer. */
  private readonly capacity: number;
  /** Values per packed row (fixed: the trades go as their aggregates). */
  private readonly rowLength: number;
  private used = 0;
  private rows = 0;
  private readonly spare: Float64Array[] = [];
  private readonly names: string[] = [];
  private readonly idByName = new Map<string, number>();
  private readonly byBuilderId: number[] = [];
  private namesSent = 0;
  private inFlight = 0;
  private failure: Error | undefined;
  private waiters: (() => void)[] = [];
  private finished: Promise<void> | undefined;
  private finishResolve: (() => void) | undefined;
  private finishReject: ((e: Error) => void) | undefined;
  private ended = false;

  /** Resolves once the thread holds its backend. */
  readonly ready: Promise<ComputeInfo>;
  private started: ComputeInfo | undefined;
  private onReady: { resolve: (i: ComputeInfo) => void; reject: (e: Error) => void } | undefined;

  private constructor(private readonly worker: Worker, depth: Depth, private readonly emit: (rows: DenseRows, release: () => void) => void) {
    this.LT = depth.tensorLevels;
    this.rowLength = ROW_HEADER + 4 * this.LT + TRADE_CHANNELS.length;
    this.capacity = CHUNK_ROWS * this.rowLength;
    this.buf = new Float64Array(this.capacity);
    this.ready = new Promise<ComputeInfo>((resolve, reject) => (this.onReady = { resolve, reject }));
    // Observed through drain / finish as well: an unawaited `ready` must not be an unhandled rejection.
    this.ready.catch(() => undefined);
    worker.on('message', (m: FromWorker) => this.onMessage(m));
    worker.on('error', (e) => this.fail(new Error(`features --compute: the kernel thread failed: ${e.message}`)));
    worker.on('exit', (code) => {
      if (!this.ended) this.fail(new Error(`features --compute: the kernel thread exited (code ${code}) before the end of the rows`));
    });
  }

  /**
   * Starts the thread and returns at once: rows can be sent while it loads gpu.js and compiles
   * (~0.2-0.5 s), so the parse overlaps its start-up; they wait in its message queue (up to
   * MAX_IN_FLIGHT chunks). `ready` resolves with the thread's backend; a backend the thread cannot
   * create rejects it with BackendUnavailable and the thread's reason, and fails the stream (the
   * next onRow, drain or finish throws it).
   */
  static create(spec: ComputeSpec, depth: Depth, blockRows: number, emit: (rows: DenseRows, release: () => void) => void): OffloadedDenseStream {
    const worker = startWorker();
    worker.postMessage({ type: 'start', spec, depth, blockRows } satisfies ToWorker);
    return new OffloadedDenseStream(worker, depth, emit);
  }

  /** The backend the thread computes with, once it has started. */
  get info(): ComputeInfo {
    if (!this.started) throw new Error('OffloadedDenseStream: the kernel thread has not started yet (await ready)');
    return this.started;
  }

  onRow(row: BookRow): void {
    if (this.failure) throw this.failure;
    if (this.used + this.rowLength > this.capacity) this.send();
    // The thread's own symbol ids (by name): builders number symbols, but rows of two runs can share a number.
    let id = this.byBuilderId[row.symbolId];
    if (id === undefined || this.names[id] !== row.symbol) {
      let known = this.idByName.get(row.symbol);
      if (known === undefined) {
        known = this.names.length;
        this.names.push(row.symbol);
        this.idByName.set(row.symbol, known);
      }
      this.byBuilderId[row.symbolId] = id = known;
    }
    // The row as the thread's ring holds it (SnapshotRing.pushPacked).
    const b = this.buf;
    b[this.used] = id;
    b[this.used + 1] = row.ts;
    this.used = packRow(row, this.LT, b, this.used + ROW_HEADER);
    if (++this.rows === CHUNK_ROWS) this.send();
  }

  /** Resolves once at most MAX_IN_FLIGHT chunks are with the thread (backpressure, not a flush). */
  async drain(): Promise<void> {
    while (this.inFlight > MAX_IN_FLIGHT && !this.failure) await new Promise<void>((r) => this.waiters.push(r));
    if (this.failure) throw this.failure;
  }

  /** Sends the last rows and resolves when the thread has emitted every row's columns. */
  finish(): Promise<void> {
    this.finished ??= new Promise<void>((resolve, reject) => {
      if (this.failure) return reject(this.failure);
      this.finishResolve = resolve;
      this.finishReject = reject;
      if (this.rows > 0) this.send();
      this.worker.postMessage({ type: 'finish' } satisfies ToWorker);
    });
    return this.finished;
  }

  async dispose(): Promise<void> {
    this.ended = true;
    await this.worker.terminate();
  }

  private send(): void {
    // The symbol table (by the builder's ids) goes along whenever it has grown.
    const symbols = this.names.length !== this.namesSent ? this.names.slice() : [];
    this.namesSent = this.names.length;
    const msg: ToWorker = { type: 'chunk', rows: this.rows, used: this.used, buffer: this.buf, symbols };
    this.worker.postMessage(msg, [this.buf.buffer as ArrayBuffer]);
    this.inFlight++;
    // (The sent buffer is detached now: its length reads 0.)
    let next = this.spare.pop();
    if (!next || next.length < this.capacity) next = new Float64Array(this.capacity);
    this.buf = next;
    this.used = 0;
    this.rows = 0;
  }

  private onMessage(m: FromWorker): void {
    if (m.type === 'ready') {
      this.started = { ...m.info, libraryMode: `${m.info.libraryMode}, in a worker thread` };
      this.onReady?.resolve(this.started);
    } else if (m.type === 'unavailable') {
      this.fail(new BackendUnavailable(m.backend, m.reason));
    } else if (m.type === 'rows') {
      const values = DENSE_COLUMNS.map((_, c) => m.data.subarray(c * m.stride, c * m.stride + m.n));
      this.emit({ row0: m.row0, n: m.n, values }, () => {
        // The whole buffer goes back (m.data may be a view of its first part).
        if (!this.ended) this.worker.postMessage({ type: 'spare', data: new Float64Array(m.data.buffer) } satisfies ToWorker, [m.data.buffer as ArrayBuffer]);
      });
    } else if (m.type === 'chunkDone') {
      this.inFlight--;
      Object.assign(this.stats, m.stats);
      if (this.spare.length < MAX_IN_FLIGHT) this.spare.push(m.buffer);
      this.wake();
    } else if (m.type === 'finished') {
      Object.assign(this.stats, m.stats);
      this.ended = true;
      this.finishResolve?.();
      this.wake();
    } else if (m.type === 'error') {
      this.fail(new Error(`features --compute: ${m.message}`));
    }
  }

  private fail(e: Error): void {
    this.failure ??= e;
    this.onReady?.reject(this.failure);
    this.finishReject?.(this.failure);
    this.wake();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}
