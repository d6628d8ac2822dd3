/**
 * The results stage of the live pipeline: each features row the engine makes gets its dense
 * columns from the kernels (when configured), then goes to the output together with its book row,
 * then to the predictor (whose predictions go to the output when they are ready) and the alert
 * producers, in that order. With the kernels micro-batched (batching.ts), rows wait (with copies
 * of their book and values) until one kernel call has computed the columns of all the rows waiting,
 * then go on in arrival order; the alert producers then read the engine's trade state as it is at
 * the flush (at most maxQueueDelayUs later). A predictor with onBatch gets each flush whole, with
 * the batch's float32 feature matrix, after its rows have gone to the output.
 */
import type { LiveDense } from '../compute/live-dense.ts';
import { DENSE_INDEX, FEATURE_COLUMNS, type FeatureBlock } from '../features/columns.ts';
import type { BookRow } from '../model/row.ts';
import type { AlertProducer, Prediction, RowPredictor } from './plugins.ts';
import { copyBook, RowQueue, type BatchSettings, type PendingRow } from './batching.ts';

/** The columns the engine keeps computing beside the kernels (the trade state: vpin, the bars). */
const ENGINE_INDEX = Int32Array.from(FEATURE_COLUMNS.keys()).filter((c) => !DENSE_INDEX.includes(c));

/**
 * One row of a symbol's owning source, with what the pipeline made of it, handed on in one call.
 * The object is reused for the next row: an output copies what it keeps, except `values`.
 */
export interface RowResult {
  sym: string;
  /** The book row; the builder reuses it after the call. */
  book: BookRow;
  /**
   * The row's features (FEATURE_COLUMNS order): the symbol's own array, overwritten only by its
   * next row, so it may be kept as the symbol's last value.
   */
  values: Float64Array;
  ts: number;
  /** The symbol's features rows, counted from 0. */
  row: number;
  /** performance.now() when the event that made the row entered the pipeline (the latency histograms start there). */
  enteredAt: number;
}

/** Where the results stage hands rows and predictions on (the pipeline's output). */
export interface ResultsOutput {
  row(r: RowResult): void;
  prediction(p: Prediction): void;
}

/** A symbol's features rows: how many so far, and the last one (handed to the output, which may keep it). */
class FeaturesLane {
  rows = 0;
  readonly values = new Float64Array(FEATURE_COLUMNS.length);
  constructor(readonly name: string) {}
}

export class ResultsStage {
  /** Lanes by the engine's symbol index. */
  private readonly lanes: FeaturesLane[] = [];
  private readonly emitPrediction = (p: Prediction): void => this.out.prediction(p);
  /** The book row the engine is making features of (left by the row stage for the length of engine.onRow). */
  book: BookRow | undefined;
  private readonly result: RowResult = { sym: '', book: undefined!, values: undefined!, ts: 0, row: 0, enteredAt: 0 };

  /** Rows waiting for one kernel call (the micro-batched path: dense kernels and batch settings given). */
  readonly queue: RowQueue | undefined;

  constructor(
    private readonly out: ResultsOutput,
    private readonly taps: readonly AlertProducer[],
    private readonly dense: LiveDense | undefined,
    private readonly predictor: RowPredictor | undefined,
    /** performance.now() when the event that made the row entered the pipeline. */
    private readonly clock: { readonly enteredAt: number },
    batch?: BatchSettings & { levels: number },
  ) {
    if (dense && batch) {
      this.queue = new RowQueue(batch, batch.levels, (rows, n) => this.flush(rows, n));
      this.batch = { n: 0, rows: [], values: new Float32Array(batch.maxBatchSize * FEATURE_COLUMNS.length) };
    }
  }

  /** The micro-batch handed to a predictor with onBatch (reused). */
  private readonly batch: { n: number; rows: readonly PendingRow[]; values: Float32Array } | undefined;

  onFeatures(b: FeatureBlock, symbols: readonly string[]): void {
    const nc = FEATURE_COLUMNS.length;
    const enteredAt = this.clock.enteredAt;
    for (let i = 0; i < b.n; i++) {
      const sid = b.symbolId[i]!;
      const lane = (this.lanes[sid] ??= new FeaturesLane(symbols[sid]!));
      const row = lane.rows++;
      const ts = b.ts[i]!;
      const book = this.book;
      // The live engine makes one row's features inside that row's engine.onRow (one-row blocks, no
      // deferred columns): anything else would pair a book with another row's features.
      if (book === undefined || book.symbol !== lane.name || book.ts !== ts) {
        throw new Error(`features row ${row} of ${lane.name} (ts ${ts}) came without its book row: the live engine must not defer rows`);
      }
      this.book = undefined;
      if (this.queue) {
        // Micro-batched: the row waits, with copies of its book and values, for one kernel call.
        const p = this.queue.take();
        p.symbol = lane.name;
        p.lane = sid;
        p.index = this.dense!.newest(lane.name);
        p.row = row;
        p.ts = ts;
        p.enteredAt = enteredAt;
        for (let c = 0; c < nc; c++) p.values[c] = b.values[c]![i]!;
        copyBook(p.book, book);
        this.queue.queued();
        continue;
      }
      const v = lane.values;
      for (let c = 0; c < nc; c++) v[c] = b.values[c]![i]!;
      this.dense?.apply(lane.name, v);
      this.emit(lane, book, ts, row, enteredAt);
    }
  }

  /**
   * A batch's rows get their kernel columns in one call, then go on in arrival order. A predictor
   * with onBatch gets the whole batch once, after the rows: its models read the batch's float32
   * matrix (the kernel call's values, the engine's trade-state columns beside them), not each
   * symbol's float64 row.
   */
  private flush(rows: readonly PendingRow[], n: number): void {
    const fb = this.predictor?.onBatch ? this.batch! : undefined;
    if (fb) {
      const f = fb.values, nc = FEATURE_COLUMNS.length;
      for (let i = 0; i < n; i++) {
        const v = rows[i]!.values;
        for (let k = 0; k < ENGINE_INDEX.length; k++) f[i * nc + ENGINE_INDEX[k]!] = v[ENGINE_INDEX[k]!]!;
      }
    }
    this.dense!.computeBatch(rows, n, fb?.values);
    for (let i = 0; i < n; i++) {
      const p = rows[i]!;
      const lane = this.lanes[p.lane]!;
      lane.values.set(p.values);
      this.emit(lane, p.book, p.ts, p.row, p.enteredAt, !fb);
    }
    if (fb) {
      fb.n = n;
      fb.rows = rows;
      this.predictor!.onBatch!(fb, this.emitPrediction);
    }
  }

  private emit(lane: FeaturesLane, book: BookRow, ts: number, row: number, enteredAt: number, predict = true): void {
    const v = lane.values;
    const r = this.result;
    r.sym = lane.name;
    r.book = book;
    r.values = v;
    r.ts = ts;
    r.row = row;
    r.enteredAt = enteredAt;
    this.out.row(r);
    if (predict) this.predictor?.onFeatures(lane.name, ts, row, v, enteredAt, this.emitPrediction, book);
    for (let k = 0; k < this.taps.length; k++) this.taps[k]!.onFeatures?.(lane.name, ts, row, v);
  }
}
