/**
 * Feature Parquet through DuckDB (its Node binding): each block's columns are copied, as they are,
 * into DuckDB data chunks (one memory copy per column per 2,048 rows, no value crosses into
 * JavaScript objects) and appended to an in-memory table; close() writes the file with one
 * `COPY (SELECT ...) TO ... (FORMAT parquet)`, which DuckDB encodes natively on all cores. The
 * conversions the file needs are done in that SELECT, vectorised: epoch-ns timestamps as
 * base + offset, symbol names from their ids, NaN as null. This replaced the Arrow IPC ->
 * parquet-wasm path (measured in docs/benchmarks.md, `parquet writers`).
 *
 * Memory: the table holds the output until close; DuckDB keeps at most `memoryLimit` of it in
 * memory and spills the rest to a temporary directory (removed at close), so a long input does not
 * grow the process without bound.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as Duck from '@duckdb/node-bindings';
import type { FeatureBlock, FeatureBlockSink } from '../features/columns.ts';
import type { TimeBaseRef } from '../model/time.ts';

/** What DuckDB writes: Parquet format version, compression and row-group length (rows). */
export interface DuckParquetOptions {
  rowGroupRows: number;
  /** 'V2': BYTE_STREAM_SPLIT floats, DELTA_BINARY_PACKED integers (as the files have always had). */
  parquetVersion?: 'V1' | 'V2';
  /** DuckDB's memory limit for the buffered table (default 512MB), beyond which it spills to disk. */
  memoryLimit?: string;
  /**
   * DuckDB's threads for the closing COPY (default: FLOWCAST_DUCKDB_THREADS, else DuckDB's own, every
   * core). Writers running side by side in a pool each take their share, not every core each.
   */
  threads?: number;
}

const sqlString = (s: string): string => `'${s.replaceAll("'", "''")}'`;
const sqlIdent = (s: string): string => `"${s.replaceAll('"', '""')}"`;

/** Rows per DuckDB data chunk (its vector size). */
const CHUNK = 2048;

let bindings: typeof Duck | undefined;
/**
 * DuckDB's own Node binding, without @duckdb/node-api's object layer over it: that layer is some
 * hundred CommonJS modules, which cost more to load (~0.3 s) than the writer needs of them.
 */
function duck(): typeof Duck {
  return (bindings ??= createRequire(import.meta.url)('@duckdb/node-bindings') as typeof Duck);
}

export class DuckDbParquetWriter implements FeatureBlockSink {
  private rows = 0;
  private symbols: readonly string[] = [];
  private baseNs: bigint | undefined;
  private readonly ready: Promise<void>;
  private failed: Error | undefined;
  private db: { d: typeof Duck; db: Duck.Database; con: Duck.Connection; appender: Duck.Appender; chunk: Duck.DataChunk } | undefined;
  /** Blocks that arrived before DuckDB was open (copies: the engine reuses its block). */
  private pending: FeatureBlock[] = [];
  private readonly spill: string;

  constructor(
    readonly path: string,
    private readonly columns: readonly string[],
    private readonly timeBase: TimeBaseRef,
    private readonly metadata: Record<string, string> = {},
    private readonly opts: DuckParquetOptions,
  ) {
    this.spill = mkdtempSync(join(tmpdir(), 'flowcast-parquet-'));
    this.ready = this.open().catch((e: Error) => { this.failed = e; });
  }

  private async open(): Promise<void> {
    const d = duck();
    const config = d.create_config();
    d.set_config(config, 'memory_limit', this.opts.memoryLimit ?? '512MB');
    const threads = this.opts.threads ?? Number(process.env['FLOWCAST_DUCKDB_THREADS'] ?? NaN);
    if (threads >= 1) d.set_config(config, 'threads', String(Math.floor(threads)));
    d.set_config(config, 'temp_directory', this.spill);
    const db = await d.open(':memory:', config);
    const con = await d.connect(db);
    const cols = this.columns.map((c) => `, ${sqlIdent(c)} DOUBLE`).join('');
    // A temporary table: its rows are only ever read back once, by the COPY, in insertion order.
    await d.query(con, `CREATE TEMP TABLE rows (ts DOUBLE, sym USMALLINT, row DOUBLE${cols})`);
    const appender = d.appender_create(con, null, 'rows');
    const dbl = d.create_logical_type(d.Type.DOUBLE);
    const chunk = d.create_data_chunk([dbl, d.create_logical_type(d.Type.USMALLINT), dbl, ...this.columns.map(() => dbl)]);
    this.db = { d, db, con, appender, chunk };
  }

  write(block: FeatureBlock, symbols: readonly string[]): void {
    if (this.failed) throw this.failed;
    this.symbols = symbols;
    this.baseNs ??= this.timeBase.get().baseNs;
    this.rows += block.n;
    if (this.db && this.pending.length === 0) this.append(block);
    else this.pending.push(copyBlock(block));
  }

  /** Appends a block's rows, CHUNK at a time, each column one copy into DuckDB's vector. */
  private append(block: FeatureBlock): void {
    const { d, appender, chunk } = this.db!;
    const put = (col: number, a: Float64Array | Uint16Array, off: number, n: number): void =>
      d.copy_data_to_vector(d.data_chunk_get_vector(chunk, col), 0, a.buffer as ArrayBuffer, a.byteOffset + off * a.BYTES_PER_ELEMENT, n * a.BYTES_PER_ELEMENT);
    for (let off = 0; off < block.n; off += CHUNK) {
      const n = Math.min(CHUNK, block.n - off);
      d.data_chunk_reset(chunk);
      put(0, block.ts, off, n);
      put(1, block.symbolId, off, n);
      put(2, block.row, off, n);
      for (let c = 0; c < this.columns.length; c++) put(3 + c, block.values[c]!, off, n);
      d.data_chunk_set_size(chunk, n);
      d.append_data_chunk(appender, chunk);
    }
  }

  async drain(): Promise<void> {
    await this.ready;
    if (this.failed) throw this.failed;
    for (const b of this.pending) this.append(b);
    this.pending = [];
  }

  async close(): Promise<{ rows: number; bytes: number }> {
    try {
      await this.drain();
      const { d, con, appender } = this.db!;
      d.appender_close_sync(appender);
      // No rows and no timestamp seen (an empty input): the base is never used, any will do.
      const base = this.baseNs ?? (this.timeBase.isSet ? this.timeBase.get().baseNs : 0n);
      const syms = this.symbols.length ? `[${this.symbols.map(sqlString).join(', ')}]` : `[]::VARCHAR[]`;
      const select = [
        `(${base}::BIGINT + ts::BIGINT) AS ts_ns`,
        `(${syms})[sym + 1] AS symbol`,
        `row::BIGINT AS row`,
        ...this.columns.map((c) => `CASE WHEN isnan(${sqlIdent(c)}) THEN NULL ELSE ${sqlIdent(c)} END AS ${sqlIdent(c)}`),
      ];
      const kv = Object.entries(this.metadata).map(([k, v]) => `${sqlString(k)}: ${sqlString(v)}`).join(', ');
      const options = [
        'FORMAT parquet', 'COMPRESSION zstd', `ROW_GROUP_SIZE ${this.opts.rowGroupRows}`,
        `PARQUET_VERSION ${this.opts.parquetVersion ?? 'V2'}`, ...(kv ? [`KV_METADATA {${kv}}`] : []),
      ];
      await d.query(con, `COPY (SELECT ${select.join(', ')} FROM rows) TO ${sqlString(this.path)} (${options.join(', ')})`);
      return { rows: this.rows, bytes: statSync(this.path).size };
    } finally {
      if (this.db) {
        this.db.d.disconnect_sync(this.db.con);
        this.db.d.close_sync(this.db.db);
      }
      rmSync(this.spill, { recursive: true, force: true });
    }
  }
}

function copyBlock(b: FeatureBlock): FeatureBlock {
  const n = b.n;
  return {
    n, columns: b.columns, capacity: n, full: true,
    ts: b.ts.slice(0, n), symbolId: b.symbolId.slice(0, n), row: b.row.slice(0, n),
    values: b.values.map((v) => v.slice(0, n)),
    column: () => { throw new Error('copy of a feature block: values only'); },
  } as FeatureBlock;
}
