/**
 * Feature Parquet: the writer `flowcast features` and the dataset builder use. One file, row groups
 * of PARQUET_ROW_GROUP rows, zstd, BYTE_STREAM_SPLIT floats and DELTA_BINARY_PACKED integers.
 *
 * Schema: ts_ns int64 (epoch ns), symbol (utf8, dictionary-encoded), row int64, then one float64
 * column per feature/label. Undefined values (NaN in the spec) are written as nulls, which SQL
 * engines (DuckDB) treat as missing and pandas/pyarrow read back as NaN. Run parameters go in the
 * file's key-value metadata (`flowcast.*`).
 *
 * Written by DuckDB (./parquet-duckdb.ts): of the writers measured on the GOOG day (docs/benchmarks.md,
 * `parquet writers`; scripts/bench-parquet.ts) it was the fastest, start-up included.
 */
import type { FeatureBlock, FeatureBlockSink } from '../features/columns.ts';
import type { TimeBaseRef } from '../model/time.ts';
import { DuckDbParquetWriter } from './parquet-duckdb.ts';

export const PARQUET_ROW_GROUP = 128 * 1024;

export class ParquetFeatureWriter implements FeatureBlockSink {
  private readonly w: DuckDbParquetWriter;

  constructor(
    readonly path: string,
    columns: readonly string[],
    timeBase: TimeBaseRef,
    metadata: Record<string, string> = {},
    rowGroupRows = PARQUET_ROW_GROUP,
  ) {
    this.w = new DuckDbParquetWriter(path, columns, timeBase, metadata, { rowGroupRows });
  }

  write(block: FeatureBlock, symbols: readonly string[]): void {
    this.w.write(block, symbols);
  }

  drain(): Promise<void> {
    return this.w.drain();
  }

  close(): Promise<{ rows: number; bytes: number }> {
    return this.w.close();
  }
}
