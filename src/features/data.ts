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
  dataset?: { parts: string[]; inputs: { path: string; bytes: number; sha256: string }[] };
}
