/**
 * Feature Parquet through Arrow IPC and parquet-wasm: the writer `flowcast features` used until the
 * DuckDB one (./parquet.ts) measured faster; kept as the baseline of that measurement
 * (scripts/bench-parquet.ts), and for the helpers the recorder shares (floatWithNulls,
 * streamParquetToFd). Streamed in bounded row groups (parquet-wasm's memory never shrinks, so a file
 * is never built whole in memory). Settings measured when the stack was chosen: zstd, BYTE_STREAM_SPLIT on
 * floats, DELTA_BINARY_PACKED on the int64 columns, no dictionary on floats, 128Ki-row groups.
 *
 * Schema: ts_ns int64 (epoch ns), symbol (dictionary utf8), row int64, then one float64 column per
 * feature/label. Undefined values (NaN in the spec) are written as nulls, which SQL engines
 * (DuckDB) treat as missing and pandas/pyarrow read back as NaN. Run parameters go in the file's
 * key-value metadata (`flowcast.*`).
 */
import { openSync, closeSync } from 'node:fs';
import { writeAllSync } from './files.ts';
import {
  Table as ArrowTable, RecordBatch as ArrowRecordBatch, Schema, Field, Struct, Float64, Int64, Int32, Utf8, Dictionary,
  makeData, vectorFromArray, tableToIPC,
} from 'apache-arrow';
import * as pq from 'parquet-wasm';
import type { FeatureBlock, FeatureBlockSink } from '../features/columns.ts';
import type { TimeBaseRef } from '../model/time.ts';

export const PARQUET_ROW_GROUP = 128 * 1024;

export class ParquetWasmFeatureWriter implements FeatureBlockSink {
  private readonly fd: number;
  private readonly cap: number;
  private n = 0;
  private readonly ts: BigInt64Array;
  private readonly sym: Int32Array;
  private readonly row: BigInt64Array;
  private readonly vals: Float64Array[];
  private symbols: readonly string[] = [];
  private rows = 0;
  private bytes = 0;
  private controller!: ReadableStreamDefaultController<pq.RecordBatch>;
  private pump: Promise<void>;
  private wantMore: (() => void) | undefined;
  private queued = 0;
  private failed: Error | undefined;

  constructor(
    readonly path: string,
    private readonly columns: readonly string[],
    private readonly timeBase: TimeBaseRef,
    metadata: Record<string, string> = {},
    rowGroupRows = PARQUET_ROW_GROUP,
    /** 'tuned': the per-column encodings above; 'defaults': parquet-wasm's own (a measured alternative). */
    private readonly encodings: 'tuned' | 'defaults' = 'tuned',
  ) {
    this.fd = openSync(path, 'w');
    this.cap = rowGroupRows;
    this.ts = new BigInt64Array(rowGroupRows);
    this.sym = new Int32Array(rowGroupRows);
    this.row = new BigInt64Array(rowGroupRows);
    this.vals = columns.map(() => new Float64Array(rowGroupRows));
    const input = new ReadableStream<pq.RecordBatch>({
      start: (c) => { this.controller = c; },
      pull: () => { this.queued = 0; this.wantMore?.(); this.wantMore = undefined; },
    }, { highWaterMark: 1 });
    this.pump = this.run(input, this.properties(metadata)).catch((e: Error) => { this.failed = e; this.wantMore?.(); });
  }

  private properties(metadata: Record<string, string>): pq.WriterProperties {
    let b = new pq.WriterPropertiesBuilder()
      .setCompression(pq.Compression.ZSTD)
      .setMaxRowGroupSize(this.cap)
      .setCreatedBy('flowcast');
    if (this.encodings === 'tuned') {
      b = b.setDictionaryEnabled(false)
        .setColumnDictionaryEnabled('symbol', true)
        .setColumnEncoding('ts_ns', pq.Encoding.DELTA_BINARY_PACKED)
        .setColumnEncoding('row', pq.Encoding.DELTA_BINARY_PACKED);
      for (const c of this.columns) b = b.setColumnEncoding(c, pq.Encoding.BYTE_STREAM_SPLIT);
    }
    if (Object.keys(metadata).length) b = b.setKeyValueMetadata(new Map(Object.entries(metadata)));
    return b.build();
  }

  private async run(input: ReadableStream<pq.RecordBatch>, props: pq.WriterProperties): Promise<void> {
    this.bytes += await streamParquetToFd(input, props, this.fd);
  }

  write(block: FeatureBlock, symbols: readonly string[]): void {
    if (this.failed) throw this.failed;
    this.symbols = symbols;
    const base = this.timeBase.get().baseNs;
    for (let i = 0; i < block.n; i++) {
      if (this.n === this.cap) this.flushGroup();
      const j = this.n++;
      this.ts[j] = base + BigInt(block.ts[i]!);
      this.sym[j] = block.symbolId[i]!;
      this.row[j] = BigInt(block.row[i]!);
      for (let c = 0; c < this.vals.length; c++) this.vals[c]![j] = block.values[c]![i]!;
    }
    this.rows += block.n;
  }

  async drain(): Promise<void> {
    if (this.failed) throw this.failed;
    if (this.queued === 0) return;
    await new Promise<void>((resolve) => { this.wantMore = resolve; });
    if (this.failed) throw this.failed;
  }

  async close(): Promise<{ rows: number; bytes: number }> {
    if (this.n > 0 || this.rows === 0) this.flushGroup();
    this.controller.close();
    await this.pump;
    closeSync(this.fd);
    if (this.failed) throw this.failed;
    return { rows: this.rows, bytes: this.bytes };
  }

  /** Turns the buffered rows into one Arrow record batch and hands it to the Parquet encoder. */
  private flushGroup(): void {
    const n = this.n;
    const fields: Field[] = [
      new Field('ts_ns', new Int64(), false),
      new Field('symbol', new Dictionary(new Utf8(), new Int32()), false),
      new Field('row', new Int64(), false),
      ...this.columns.map((c) => new Field(c, new Float64(), true)),
    ];
    const dict = vectorFromArray([...this.symbols], new Utf8());
    const children = [
      makeData({ type: new Int64(), length: n, data: this.ts.slice(0, n) }),
      makeData({ type: new Dictionary(new Utf8(), new Int32()), length: n, data: this.sym.slice(0, n), dictionary: dict }),
      makeData({ type: new Int64(), length: n, data: this.row.slice(0, n) }),
      ...this.vals.map((v) => floatWithNulls(v, n)),
    ];
    const schema = new Schema(fields);
    const batch = new ArrowRecordBatch(schema, makeData({ type: new Struct(fields), length: n, children }));
    const ipc = tableToIPC(new ArrowTable(batch), 'stream');
    const table = pq.Table.fromIPCStream(ipc);
    for (const rb of table.recordBatches()) this.controller.enqueue(rb);
    this.queued++;
    this.n = 0;
  }
}

/** A float64 column whose NaNs become nulls. */
/** The first n values as a float64 Arrow column, NaN as null. */
export function floatWithNulls(v: Float64Array, n: number) {
  const data = v.slice(0, n);
  let nulls = 0;
  for (let i = 0; i < n; i++) if (data[i] !== data[i]) nulls++;
  if (nulls === 0) return makeData({ type: new Float64(), length: n, data });
  const bitmap = new Uint8Array((n + 7) >> 3);
  for (let i = 0; i < n; i++) if (data[i] === data[i]) bitmap[i >> 3]! |= 1 << (i & 7);
  return makeData({ type: new Float64(), length: n, data, nullBitmap: bitmap, nullCount: nulls });
}

/** Encodes record batches as one Parquet file, written to `fd` as parquet-wasm produces it; returns the bytes written. */
export async function streamParquetToFd(input: ReadableStream<pq.RecordBatch>, props: pq.WriterProperties, fd: number): Promise<number> {
  const reader = (await pq.transformParquetStream(input, props)).getReader();
  let bytes = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return bytes;
    const chunk = value as Uint8Array;
    writeAllSync(fd, chunk);
    bytes += chunk.length;
  }
}
