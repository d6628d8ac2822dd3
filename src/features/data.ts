/** Feature rows held in memory, column by column: what training and evaluation read (a features file, a source run, a dataset directory). */
import type { FeatureParams } from '../inference/manifest.ts';

export interface FeatureData {
  /** Where the rows came from (file path or source spec). */
  source: string;
  n: number;
  columns: string[];
  symbols: string[];
  symbolId: Uint16Array;
  /** Nanoseconds since the first row's time (exact below ~104 days). */
  ts: Float64Array;
  /** Epoch ns of the first row. */
  startNs: bigint;
  values: Map<string, Float64Array>;
  /**
   * The parameters the columns were computed with: known for a source spec (computed here) and for
   * a Parquet file that records them; absent for a CSV (it records nothing but its rows).
   */
  params?: FeatureParams;
  /** What a features file records of its own inputs (Parquet key-value metadata `flowcast.*`). */
  recorded?: { source?: string; specVersion?: number; params?: Record<string, unknown> };
  /** From a dataset directory (`flowcast dataset build`): the partition files read and the inputs its record lists for them. */
  dataset?: { parts: string[]; inputs: { path: string; bytes: number; sha256: string }[]; partitions?: DatasetPartRows[] };
  /**
   * Training data made of several (input, symbol, day) segments (src/training/segments.ts): each
   * segment's rows are contiguous and in time order, and no window or label may cross from one to
   * another. Absent for ordinary feature data (one input, its symbols' rows interleaved by time).
   */
  segments?: Segment[];
}

/** A dataset partition's rows as read: contiguous, in (symbol, date) order. */
export interface DatasetPartRows {
  key: string;
  symbol: string;
  date: string;
  rows: number;
  vpinBucket: number | null;
  file: string;
}

/** Rows [from, to) of one (input, symbol, day) of training data. */
export interface Segment {
  /** Index of the input (`--data`) it came from, and that input as given. */
  input: number;
  spec: string;
  symbol: string;
  /** UTC date of its first row (a dataset partition: the partition's date). */
  date: string;
  /** A dataset partition's key, where the segment is one. */
  partition?: string;
  from: number;
  to: number;
}
