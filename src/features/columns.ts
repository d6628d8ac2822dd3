/**
 * The column registry: every feature column of spec/FEATURES.md v1 is one entry, in output order
 * after `ts_ns`, `symbol`, `row` (label columns `label_<k>` follow when labels are requested).
 * Every other column list derives from it: FEATURE_COLUMNS, the kernels' DENSE_COLUMNS and their
 * indices, the host's unit scaling of kernel output (src/compute/dense.ts), the default model
 * inputs and their transforms (src/training/dataset.ts), and the units and registry tables of
 * docs/features.md (scripts/columns-doc.ts).
 */
/** How a column is transformed before a model's z-score: slog1p(x) = sign(x) * ln(1 + |x|), for heavy-tailed sizes and flows. */
export type ColumnTransform = 'none' | 'slog1p';

export const FEATURE_SPEC_VERSION = 1;

/** The computation a column belongs to (the state it needs). */
export type ColumnFamily = 'shape' | 'ofi' | 'returns' | 'flow' | 'vpin' | 'bars';

/**
 * What a value measures. The kernels work in window units (ticks and lots from a reference,
 * src/snapshots/batch.ts), so for a kernel column this also says how its output scales back.
 */
export type ColumnUnit =
  | 'price' | 'priceDiff' | 'bps' | 'imbalance' | 'fraction' | 'size' | 'sizePerPrice'
  | 'logReturn' | 'pricePerSignedSize' | 'logReturnPerSqrtValue' | 'logReturnPerValue';

/** How docs/features.md states each unit; units with the same text share a row. */
export const UNIT_TEXT: Record<ColumnUnit, string> = {
  price: 'instrument currency (LOBSTER: USD = integer / 10,000)',
  priceDiff: 'instrument currency (LOBSTER: USD = integer / 10,000)',
  bps: 'basis points of mid',
  imbalance: 'dimensionless, in [-1, 1]',
  fraction: 'dimensionless, in [0, 1]',
  size: "the source's size unit (shares, BTC, contracts)",
  sizePerPrice: 'size per unit of price distance',
  logReturn: 'natural-log return (not annualised)',
  pricePerSignedSize: 'price per unit of signed size per bar',
  logReturnPerSqrtValue: 'log-return per unit of signed sqrt(dollar volume)',
  logReturnPerValue: 'log-return per unit of traded value (currency)',
};

export interface ColumnSpec {
  readonly name: string;
  readonly family: ColumnFamily;
  readonly unit: ColumnUnit;
  /** The output column of kernels/dense.ts `denseFeatures` that computes it; absent where only the float64 engine does. */
  readonly kernelIndex?: number;
  /** Applied before the z-score when a model reads the column. */
  readonly modelTransform: ColumnTransform;
  /**
   * Among the default model inputs: stationary, scale-free or log-compressed. Price levels are
   * left out (not stationary, symbol specific), and so are the bar measures (NaN for their first
   * W bars, symbol-specific units).
   */
  readonly defaultInput: boolean;
}

export const COLUMN_REGISTRY = [
  { name: 'mid', family: 'shape', unit: 'price', kernelIndex: 0, modelTransform: 'none', defaultInput: false },
  { name: 'spread', family: 'shape', unit: 'priceDiff', kernelIndex: 1, modelTransform: 'none', defaultInput: false },
  { name: 'spread_bps', family: 'shape', unit: 'bps', kernelIndex: 2, modelTransform: 'none', defaultInput: true },
  { name: 'wmid', family: 'shape', unit: 'price', kernelIndex: 3, modelTransform: 'none', defaultInput: false },
  { name: 'imb_1', family: 'shape', unit: 'imbalance', kernelIndex: 4, modelTransform: 'none', defaultInput: true },
  { name: 'imb_5', family: 'shape', unit: 'imbalance', kernelIndex: 5, modelTransform: 'none', defaultInput: true },
  { name: 'imb_10', family: 'shape', unit: 'imbalance', kernelIndex: 6, modelTransform: 'none', defaultInput: true },
  { name: 'depth_bid', family: 'shape', unit: 'size', kernelIndex: 7, modelTransform: 'slog1p', defaultInput: true },
  { name: 'depth_ask', family: 'shape', unit: 'size', kernelIndex: 8, modelTransform: 'slog1p', defaultInput: true },
  { name: 'slope_bid', family: 'shape', unit: 'sizePerPrice', kernelIndex: 9, modelTransform: 'slog1p', defaultInput: true },
  { name: 'slope_ask', family: 'shape', unit: 'sizePerPrice', kernelIndex: 10, modelTransform: 'slog1p', defaultInput: true },
  { name: 'ofi_1', family: 'ofi', unit: 'size', kernelIndex: 11, modelTransform: 'slog1p', defaultInput: true },
  { name: 'ofi_2', family: 'ofi', unit: 'size', kernelIndex: 12, modelTransform: 'slog1p', defaultInput: true },
  { name: 'ofi_3', family: 'ofi', unit: 'size', kernelIndex: 13, modelTransform: 'slog1p', defaultInput: true },
  { name: 'ofi_4', family: 'ofi', unit: 'size', kernelIndex: 14, modelTransform: 'slog1p', defaultInput: true },
  { name: 'ofi_5', family: 'ofi', unit: 'size', kernelIndex: 15, modelTransform: 'slog1p', defaultInput: true },
  // The kernel writes ret_1 before the rolling sums (index 16); the spec's order is kept here.
  { name: 'ofi_h10', family: 'ofi', unit: 'size', kernelIndex: 17, modelTransform: 'slog1p', defaultInput: true },
  { name: 'ofi_h25', family: 'ofi', unit: 'size', kernelIndex: 18, modelTransform: 'slog1p', defaultInput: true },
  { name: 'ofi_h50', family: 'ofi', unit: 'size', kernelIndex: 19, modelTransform: 'slog1p', defaultInput: true },
  { name: 'ret_1', family: 'returns', unit: 'logReturn', kernelIndex: 16, modelTransform: 'none', defaultInput: true },
  { name: 'rv_h100', family: 'returns', unit: 'logReturn', kernelIndex: 20, modelTransform: 'none', defaultInput: true },
  { name: 'trade_vol', family: 'flow', unit: 'size', kernelIndex: 21, modelTransform: 'slog1p', defaultInput: true },
  { name: 'trade_signed_vol', family: 'flow', unit: 'size', kernelIndex: 22, modelTransform: 'slog1p', defaultInput: true },
  { name: 'tfi_h50', family: 'flow', unit: 'imbalance', kernelIndex: 23, modelTransform: 'none', defaultInput: true },
  { name: 'vpin', family: 'vpin', unit: 'fraction', modelTransform: 'none', defaultInput: true },
  { name: 'kyle_lambda', family: 'bars', unit: 'pricePerSignedSize', modelTransform: 'none', defaultInput: false },
  { name: 'hasbrouck_lambda', family: 'bars', unit: 'logReturnPerSqrtValue', modelTransform: 'none', defaultInput: false },
  { name: 'amihud', family: 'bars', unit: 'logReturnPerValue', modelTransform: 'none', defaultInput: false },
] as const satisfies readonly ColumnSpec[];

type Entry = (typeof COLUMN_REGISTRY)[number];
export type FeatureColumn = Entry['name'];
/** A column the kernels compute. */
export type DenseColumn = Extract<Entry, { kernelIndex: number }>['name'];

/** The registry entries, each typed as the general ColumnSpec (the literal types lack optional fields). */
export const COLUMNS: readonly ColumnSpec[] = COLUMN_REGISTRY;

export const FEATURE_COLUMNS: readonly FeatureColumn[] = COLUMN_REGISTRY.map((c) => c.name);

/** Column index by name, for code that reads a block by name. */
export const COL = Object.fromEntries(FEATURE_COLUMNS.map((c, i) => [c, i])) as Record<FeatureColumn, number>;

const byName = new Map<string, ColumnSpec>(COLUMNS.map((c) => [c.name, c]));
if (byName.size !== COLUMNS.length) throw new Error('column registry: a column name appears twice');

/** The registry entry of a feature column; undefined for any other name. */
export function columnSpec(name: string): ColumnSpec | undefined {
  return byName.get(name);
}

/** The dense per-row columns (from the book alone, plus the previous row) in kernel output order. */
export const DENSE_COLUMNS: readonly DenseColumn[] = COLUMNS
  .filter((c) => c.kernelIndex !== undefined)
  .sort((a, b) => a.kernelIndex! - b.kernelIndex!)
  .map((c) => c.name as DenseColumn);

// A gap or a repeat would shift every later kernel column onto the wrong name.
DENSE_COLUMNS.forEach((c, i) => {
  if (byName.get(c)!.kernelIndex !== i) throw new Error(`column registry: kernel indices must be 0..${DENSE_COLUMNS.length - 1}, each once (at ${i}: ${c})`);
});

/** Where each DENSE_COLUMNS entry sits among FEATURE_COLUMNS. */
export const DENSE_INDEX: readonly number[] = DENSE_COLUMNS.map((c) => COL[c]);

/** The columns models read unless told otherwise, in FEATURE_COLUMNS order, with their transforms. */
export const DEFAULT_INPUTS: readonly { readonly name: FeatureColumn; readonly transform: ColumnTransform }[] = COLUMN_REGISTRY
  .filter((c) => c.defaultInput)
  .map((c) => ({ name: c.name, transform: c.modelTransform }));

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

  /**
   * `backing`: one array holding every column (column c at c * capacity), so that the values can be
   * handed to another thread as one transfer (the kernel thread, src/compute/offload-worker.ts).
   */
  constructor(readonly columns: readonly string[], readonly capacity: number, readonly backing?: Float64Array) {
    this.ts = new Float64Array(capacity);
    this.symbolId = new Uint16Array(capacity);
    this.row = new Float64Array(capacity);
    if (backing && backing.length < columns.length * capacity) throw new RangeError(`FeatureBlock: a backing array of ${backing.length} values cannot hold ${columns.length} columns x ${capacity} rows`);
    this.values = backing ? columns.map((_, c) => backing.subarray(c * capacity, (c + 1) * capacity)) : columns.map(() => new Float64Array(capacity));
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
