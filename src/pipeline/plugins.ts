/**
 * The shapes through which the live pipeline hands rows to the modules that predict and raise
 * alerts (src/inference, src/analytics), and through which their results come back to it. The
 * pipeline depends on these alone; the server's adapters (src/server/wiring.ts) connect each module.
 */
import type { BookRow } from '../model/row.ts';
import type { L2Book } from '../book/l2-book.ts';
import type { DepthEvent, OrderEvent, QuoteEvent, TradeEvent } from '../model/events.ts';
import type { TimeBaseRef } from '../model/time.ts';
import type { VpinState } from '../features/vpin.ts';
import type { BarImpactState } from '../features/bars.ts';

export interface Prediction {
  model: string;
  symbol: string;
  /** ns since the server's time base (the time of the row it was made at). */
  ts: number;
  probs: ArrayLike<number>;
  classes: readonly string[];
  /** The symbol's feed row number the prediction belongs to. */
  row: number;
  /** performance.now() when the book event that made the row entered the server. */
  enteredAt: number;
}

/** What the pipeline asks of a predictor: each symbol's feature rows in, predictions out. */
export interface RowPredictor {
  /**
   * A feature row of a symbol, in FEATURE_COLUMNS order. The array is reused after the call returns.
   * Predictions are handed to `emit` whenever they are ready (usually after a batched inference).
   * `book` is the book row the features were computed from (reused after the call): what raw-levels
   * models read.
   */
  onFeatures(symbol: string, ts: number, row: number, values: Float64Array, enteredAt: number, emit: (p: Prediction) => void, book?: BookRow): void;
  /**
   * The rows of one live micro-batch (features.batching: batch), all symbols, in arrival order,
   * instead of onFeatures per row: a predictor that has it gathers its models' inputs from the
   * batch's float32 feature matrix and runs each model once for the batch. Everything is reused
   * after the call.
   */
  onBatch?(batch: FeatureBatch, emit: (p: Prediction) => void): void;
}

/** One row of a micro-batch. */
export interface BatchRow {
  readonly symbol: string;
  readonly ts: number;
  /** The symbol's feed row number. */
  readonly row: number;
  readonly enteredAt: number;
  /** The book row its features were computed from. */
  readonly book: BookRow;
}

/** A micro-batch's rows and their features as one float32 matrix. */
export interface FeatureBatch {
  readonly n: number;
  /** The first n are the batch's rows. */
  readonly rows: readonly BatchRow[];
  /**
   * [n, FEATURE_COLUMNS.length] row-major: the kernel columns as the batch's one kernel call
   * computed them (float32, scaled to spec units), the engine's trade-state columns (vpin, the
   * bars) beside them.
   */
  readonly values: Float32Array;
}

export interface AlertEvent {
  symbol: string;
  /** ns since the server's time base. */
  ts: number;
  kind: string;
  severity: string;
  /** One line for people: what, where, how much. */
  message?: string;
  evidence: Record<string, unknown>;
}

/**
 * Detectors that raise alerts. They see every source event before the book builder applies it (so
 * the book they read is the book before the event), every row after it, and every features row.
 */
export interface AlertProducer {
  onDepth?(e: DepthEvent): void;
  onTrade?(e: TradeEvent): void;
  onQuote?(e: QuoteEvent): void;
  onOrder?(e: OrderEvent): void;
  onRow?(row: BookRow): void;
  onFeatures?(symbol: string, ts: number, row: number, values: Float64Array): void;
  health?(): Record<string, unknown>;
  /** Extra Prometheus lines for /metrics. */
  renderMetrics?(out: string[]): void;
}

/** What an alert producer is built with. */
export interface AlertContext {
  publish(a: AlertEvent): void;
  /** Every symbol's book, as its source's builder holds it (and whether it is in sync). */
  books: { book(symbol: string): L2Book | undefined; status(symbol: string): string | undefined };
  timeBase: TimeBaseRef;
  /** The features' VPIN bucket volume per symbol (filled in before each symbol's first row). */
  vpinBySymbol: Record<string, number>;
  /**
   * The feature engine's VPIN and bar-measure state machines of a symbol, from its first row on:
   * a producer that reports these measures reads them instead of computing them a second time.
   * Rows reach the alert producers before the feature engine, so during a producer's onRow they
   * are still the state before that row.
   */
  features: { specStates(symbol: string): { vpin: VpinState; bars: BarImpactState } | undefined };
}

export type AlertProducerFactory = (ctx: AlertContext) => AlertProducer;
