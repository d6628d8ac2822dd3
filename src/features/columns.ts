/**
 * The feature columns of spec/FEATURES.md v1, in output order after `ts_ns`, `symbol`, `row`.
 * Label columns (`label_<k>`) follow when labels are requested.
 */
export const FEATURE_SPEC_VERSION = 1;

export const FEATURE_COLUMNS = [
  'mid', 'spread', 'spread_bps', 'wmid',
  'imb_1', 'imb_5', 'imb_10',
  'depth_bid', 'depth_ask', 'slope_bid', 'slope_ask',
  'ofi_1', 'ofi_2', 'ofi_3', 'ofi_4', 'ofi_5',
  'ofi_h10', 'ofi_h25', 'ofi_h50',
  'ret_1', 'rv_h100',
  'trade_vol', 'trade_signed_vol', 'tfi_h50',
  'vpin', 'kyle_lambda', 'hasbrouck_lambda', 'amihud',
] as const;
export type FeatureColumn = (typeof FEATURE_COLUMNS)[number];

/** Column index by name, for code that reads a block by name. */
export const COL = Object.fromEntries(FEATURE_COLUMNS.map((c, i) => [c, i])) as Record<FeatureColumn, number>;

/** The dense per-row columns (from the book alone, plus the previous row); the GPU kernels compute these. */
export const DENSE_COLUMNS = [
  'mid', 'spread', 'spread_bps', 'wmid', 'imb_1', 'imb_5', 'imb_10', 'depth_bid', 'depth_ask',
  'slope_bid', 'slope_ask', 'ofi_1', 'ofi_2', 'ofi_3', 'ofi_4', 'ofi_5', 'ret_1', 'ofi_h10', 'ofi_h25', 'ofi_h50',
] as const satisfies readonly FeatureColumn[];

/** Where each DENSE_COLUMNS entry sits among FEATURE_COLUMNS. */
export const DENSE_INDEX: readonly number[] = DENSE_COLUMNS.map((c) => COL[c]);

export function labelColumn(k: number): string {
  return `label_${k}`;
}

export function outputColumns(horizons: readonly number[] | undefined): string[] {
  return [...FEATURE_COLUMNS, ...(horizons ?? []).map(labelColumn)];
}

/**
 * A block of output rows in columnar form: what the feature engine hands to writers, the server
 * and the dataset builder. `ts` is ns since the run's TimeBase (exact integers); `values[c]` holds
 * column c of `columns` (float64, NaN where undefined).
 */
export class FeatureBlock {
  n = 0;
  readonly ts: Float64Array;
  readonly symbolId: Uint16Array;
  /** Output row number (0-based over the whole output). */
  readonly row: Float64Array;
  readonly values: Float64Array[];

  constructor(readonly columns: readonly string[], readonly capacity: number) {
    this.ts = new Float64Array(capacity);
    this.symbolId = new Uint16Array(capacity);
    this.row = new Float64Array(capacity);
    this.values = columns.map(() => new Float64Array(capacity));
  }

  get full(): boolean {
    return this.n === this.capacity;
  }

  column(name: string): Float64Array {
    const i = this.columns.indexOf(name);
    if (i < 0) throw new Error(`no column ${name}`);
    return this.values[i]!.subarray(0, this.n);
  }
}

/** Where finished blocks go (CSV/Parquet writers, the feed, dataset builders). */
export interface FeatureBlockSink {
  /**
   * Consumes a block synchronously: the engine reuses the block once this returns. `symbols` are
   * the symbol names by `symbolId` (stable for the run).
   */
  write(block: FeatureBlock, symbols: readonly string[]): void;
  /** Resolves once buffered output is written: the pipeline awaits it between input chunks (backpressure). */
  drain(): Promise<void>;
  /** Writes what is buffered and closes; returns what was written. */
  close(): Promise<{ rows: number; bytes: number }>;
}
