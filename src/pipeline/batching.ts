/**
 * Live micro-batching: rows of any symbols that arrive within a short window wait together, so
 * that one kernel call computes all their columns (src/compute/live-dense.ts computeBatch) and the
 * models get them as one batch, instead of one kernel call per row. A batch leaves when
 * `maxBatchSize` rows wait or when the oldest has waited `maxQueueDelayUs`, as the inference
 * batcher's do (src/inference/batcher.ts); waits under a millisecond are setImmediate turns
 * (src/core/wake.ts), during which the sockets keep being read and more rows join.
 */
import { BookRow } from '../model/row.ts';
import { FEATURE_COLUMNS } from '../features/columns.ts';
import type { BatchSettings } from '../compute/backend.ts';
import { Wake } from '../core/wake.ts';

export type { BatchSettings };


/** One waiting row: copies of what the pipeline hands on once its columns are complete. */
export class PendingRow {
  readonly book: BookRow;
  readonly values = new Float64Array(FEATURE_COLUMNS.length);
  symbol = '';
  /** The row's index in its symbol's kernel stream (LiveDense.newest when it was queued). */
  index = 0;
  /** The symbol's lane in the results stage. */
  lane = 0;
  /** The symbol's features row number. */
  row = 0;
  ts = 0;
  enteredAt = 0;
  constructor(levels: number) {
    this.book = new BookRow(levels);
  }
}

/** The queue of waiting rows (pooled), and when it must be flushed. */
export class RowQueue {
  /** Slots, reused from one batch to the next: the first `n` are the waiting rows. */
  private readonly rows: PendingRow[] = [];
  private n = 0;
  private oldestAt = 0;
  // A waiting batch does not keep a process alive: whoever stops the pipeline flushes it.
  private readonly wake = new Wake(() => this.due(), true);

  constructor(
    readonly settings: BatchSettings,
    private readonly levels: number,
    /** Gets the slots and how many of them wait; it must be done with them when it returns. */
    private readonly flush: (rows: readonly PendingRow[], n: number) => void,
  ) {}

  get size(): number {
    return this.n;
  }

  /** A slot for the next row (filled by the caller, then `queued()`). */
  take(): PendingRow {
    if (this.n === this.rows.length) this.rows.push(new PendingRow(this.levels));
    return this.rows[this.n]!;
  }

  /** The slot from take() is filled: flushes when the batch is full, else makes sure a flush comes. */
  queued(): void {
    if (this.n++ === 0) this.oldestAt = performance.now();
    if (this.n >= this.settings.maxBatchSize) this.flushNow();
    else this.arm();
  }

  /** Everything waiting goes now (a full batch, the delay over, the pipeline stopping). */
  flushNow(): void {
    this.wake.cancel();
    const n = this.n;
    if (n === 0) return;
    this.n = 0;
    this.flush(this.rows, n);
  }

  private arm(): void {
    if (this.wake.pending) return;
    const remainingUs = this.settings.maxQueueDelayUs - (performance.now() - this.oldestAt) * 1000;
    if (remainingUs <= 0) this.flushNow();
    else this.wake.arm(remainingUs);
  }

  private due(): void {
    if (this.n === 0) return;
    if ((performance.now() - this.oldestAt) * 1000 >= this.settings.maxQueueDelayUs) this.flushNow();
    else this.arm();
  }

  stop(): void {
    this.flushNow();
  }
}

/** Copies what a book frame needs of a row (its levels and times; not its trades). */
export function copyBook(dst: BookRow, src: BookRow): void {
  dst.symbol = src.symbol;
  dst.symbolId = src.symbolId;
  dst.index = src.index;
  dst.ts = src.ts;
  dst.tsLocal = src.tsLocal;
  dst.line = src.line;
  dst.seq = src.seq;
  dst.depthLimit = src.depthLimit;
  const n = Math.min(dst.levels, src.levels);
  dst.bidPx.set(src.bidPx.subarray(0, n));
  dst.bidSz.set(src.bidSz.subarray(0, n));
  dst.askPx.set(src.askPx.subarray(0, n));
  dst.askSz.set(src.askSz.subarray(0, n));
  dst.nTrades = 0;
}
