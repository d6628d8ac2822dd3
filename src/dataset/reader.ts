/**
 * Reading a dataset directory: its record (`dataset info`), and its rows through DuckDB, which reads
 * `DIR/<hive dirs>/*.parquet` as one table whose partition keys are the columns venue, symbol and
 * date, so a partition filter (`symbol='GOOG' and date<'2012-06-22'`) prunes whole files.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { InputError, InputErrorCode } from '../core/errors.ts';
import { DATASET_FILE, readRecord, type DatasetRecord, type PartitionRecord } from './record.ts';
import type { FeatureData } from '../features/data.ts';
import type { FeatureParams } from '../inference/manifest.ts';

export function isDatasetDir(path: string): boolean {
  return existsSync(join(path, DATASET_FILE));
}

export function requireRecord(dir: string): DatasetRecord {
  const r = readRecord(dir);
  if (!r) throw new InputError(InputErrorCode.Missing, dir, undefined, `not a dataset directory (no ${DATASET_FILE}; make one with flowcast dataset build)`);
  return r;
}

/** The glob DuckDB reads, with the partition keys as columns. */
export function parquetScan(dir: string): string {
  const glob = join(resolve(dir), '**', '*.parquet').replace(/'/g, "''");
  return `read_parquet('${glob}', hive_partitioning = true, hive_types = {'venue': VARCHAR, 'symbol': VARCHAR, 'date': DATE})`;
}

export function datasetInfo(dir: string): { record: DatasetRecord; lines: string[] } {
  const r = requireRecord(dir);
  const parts = Object.entries(r.partitions).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const n = (x: number): string => x.toLocaleString('en-US');
  const p = r.params;
  const lines = [
    `dataset ${resolve(dir)} (format ${r.formatVersion}, feature spec v${p.specVersion}, flowcast ${r.flowcastVersion}, updated ${r.updatedAt})`,
    `parameters: levels ${p.levels}, vpin bucket ${p.vpinBucket}${p.vpinWarmup ? ` (warm-up ${p.vpinWarmup})` : ''}, vpin window ${p.vpinBuckets}, ` +
      `bars ${p.barMs} ms x ${p.barWindow}, settle ${p.settleMs} ms, labels ${p.horizons.length ? p.horizons.join(',') : 'none'} (alpha ${p.alpha}), ` +
      `${p.carry ? 'carry across days' : 'each partition fresh'}, skip-bad ${p.skipBad ?? 'none'}`,
    `${parts.length} partitions, ${n(parts.reduce((a, [, q]) => a + q.rows, 0))} rows, ${(parts.reduce((a, [, q]) => a + q.bytes, 0) / 1e6).toFixed(1)} MB`,
  ];
  const venues = [...new Set(parts.map(([, q]) => q.venue))];
  for (const v of venues) {
    const ofV = parts.filter(([, q]) => q.venue === v);
    const symbols = [...new Set(ofV.map(([, q]) => q.symbol))];
    for (const s of symbols) {
      const ofS = ofV.filter(([, q]) => q.symbol === s).map(([, q]) => q);
      lines.push(`  ${v} ${s}: ${ofS.length} days ${ofS[0]!.date}..${ofS[ofS.length - 1]!.date}, ${n(ofS.reduce((a, q) => a + q.rows, 0))} rows`);
      for (const q of ofS) {
        lines.push(`    ${q.date}  ${n(q.rows).padStart(11)} rows  vpin bucket ${q.vpinBucket ?? 'none (no warm-up trades)'} (${q.vpinBucketFrom})${q.carriedFrom ? `  carried from ${q.carriedFrom.replace(/.*date=/, '')}` : ''}`);
      }
    }
  }
  const warm = Object.keys(r.warmupDays);
  if (warm.length) lines.push(`prev-day warm-up only (no partition): ${warm.join(', ')}`);
  return { record: r, lines };
}

export interface ReadOptions {
  /** A SQL condition DuckDB evaluates over the rows; the partition keys venue, symbol and date prune files. */
  where?: string;
}

/** The feature columns of a dataset in the shape the training and evaluation read (FeatureData), ordered by symbol and time. */
export async function readDatasetFeatures(dir: string, o: ReadOptions = {}): Promise<FeatureData> {
  const r = requireRecord(dir);
  const { DuckDBInstance } = await import('@duckdb/node-api');
  const db = await DuckDBInstance.create(':memory:');
  const con = await db.connect();
  const where = o.where ? `WHERE (${o.where})` : '';
  const src = `${dir}${o.where ? ` where ${o.where}` : ''}`;
  try {
    // Which partitions the filter keeps: their records give the parameters and each symbol's V.
    let keys: { venue: string; symbol: string; date: string }[];
    try {
      keys = (await con.runAndReadAll(
        `SELECT DISTINCT venue, symbol, strftime(date, '%Y-%m-%d') AS date FROM ${parquetScan(dir)} ${where} ORDER BY ALL`,
      )).getRowObjectsJS() as { venue: string; symbol: string; date: string }[];
    } catch (e) {
      throw new InputError(InputErrorCode.Format, src, undefined, `DuckDB: ${(e as Error).message.split('\n')[0]}`);
    }
    const twice = [...new Set(keys.map((k) => k.symbol))].filter((s) => new Set(keys.filter((k) => k.symbol === s).map((k) => k.venue)).size > 1);
    if (twice.length) throw new InputError(InputErrorCode.Format, src, undefined, `symbol ${twice.join(', ')} is in more than one venue; add venue='...' to the filter`);
    const parts = keys.map((k) => r.partitions[`venue=${k.venue}/symbol=${k.symbol}/date=${k.date}`]).filter((q): q is PartitionRecord => q !== undefined);

    // Rows per kept partition: the rows below come in (symbol, time) order, so each partition's
    // are one contiguous run, in date order within its symbol (training cuts them into segments).
    const counts = (await con.runAndReadAll(
      `SELECT venue, symbol, strftime(date, '%Y-%m-%d') AS date, count(*) AS n FROM ${parquetScan(dir)} ${where} GROUP BY ALL ORDER BY symbol, date`,
    )).getRowObjectsJS() as { venue: string; symbol: string; date: string; n: bigint | number }[];
    const reader = await con.runAndReadAll(`SELECT * EXCLUDE (venue, date) FROM ${parquetScan(dir)} ${where} ORDER BY symbol, ts_ns, "row"`);
    const names = reader.columnNames();
    const cols = reader.getColumnsJS();
    const n = reader.currentRowCount;
    const tsCol = cols[names.indexOf('ts_ns')]! as bigint[];
    const symCol = cols[names.indexOf('symbol')]! as string[];
    const symbols: string[] = [];
    const symbolId = new Uint16Array(n);
    const index = new Map<string, number>();
    for (let i = 0; i < n; i++) {
      const s = symCol[i]!;
      let id = index.get(s);
      if (id === undefined) { id = symbols.length; symbols.push(s); index.set(s, id); }
      symbolId[i] = id;
    }
    let startNs = 0n;
    for (let i = 0; i < n; i++) if (i === 0 || tsCol[i]! < startNs) startNs = tsCol[i]!;
    const ts = new Float64Array(n);
    for (let i = 0; i < n; i++) ts[i] = Number(tsCol[i]! - startNs);
    const columns = names.filter((c) => c !== 'ts_ns' && c !== 'symbol' && c !== 'row');
    const values = new Map<string, Float64Array>();
    for (const c of columns) {
      const src = cols[names.indexOf(c)]! as (number | null)[];
      const v = new Float64Array(n);
      for (let i = 0; i < n; i++) v[i] = src[i] ?? NaN;
      values.set(c, v);
    }
    // A model serves each symbol with one V: the latest selected day's (the sizing nearest the live data).
    const vpinBucket: Record<string, number> = {};
    const perDay: string[] = [];
    for (const q of parts) {
      if (q.vpinBucket !== null) vpinBucket[q.symbol] = q.vpinBucket;
      perDay.push(`${q.symbol} ${q.date} ${q.vpinBucket ?? 'none'}`);
    }
    const p = r.params;
    const params: FeatureParams = {
      levels: p.levels,
      vpinBucket: Object.keys(vpinBucket).length ? vpinBucket : null,
      vpinSizing: p.vpinBucket === 'auto'
        ? `dataset ${resolve(dir)}: auto from warm-up ${p.vpinWarmup}, per day ${perDay.join('; ')}`
        : `dataset ${resolve(dir)}: fixed ${p.vpinBucket}`,
      vpinBuckets: p.vpinBuckets,
      barMs: p.barMs,
      barWindow: p.barWindow,
      settleMs: p.settleMs,
    };
    const inputs = new Map<string, { path: string; bytes: number; sha256: string }>();
    for (const q of parts) for (const f of q.inputs) inputs.set(f.path, { path: f.path, bytes: f.bytes, sha256: f.sha256 });
    return {
      source: src, n, columns, symbols, symbolId, ts, startNs, values, params,
      recorded: { source: parts.map((q) => q.spec).join(' '), specVersion: p.specVersion, params: { ...p } },
      dataset: {
        parts: parts.map((q) => join(resolve(dir), q.file)),
        inputs: [...inputs.values()],
        partitions: counts.map((c) => {
          const key = `venue=${c.venue}/symbol=${c.symbol}/date=${c.date}`;
          const q = r.partitions[key];
          return { key, symbol: c.symbol, date: c.date, rows: Number(c.n), vpinBucket: q?.vpinBucket ?? null, file: q ? join(resolve(dir), q.file) : '' };
        }),
      },
    };
  } finally {
    con.closeSync();
    db.closeSync();
  }
}

/**
 * The partitions of a dataset a filter keeps, judged by DuckDB on their keys (venue, symbol and
 * date as a DATE, as in the Parquet scan), so `--where` means the same for commands that read the
 * rows (train, evaluate) and for those that re-run the partitions' sources (analytics). A
 * condition on other columns is refused with DuckDB's message.
 */
export async function selectPartitions(dir: string, where?: string): Promise<PartitionRecord[]> {
  const r = requireRecord(dir);
  const parts = Object.values(r.partitions);
  if (!where || parts.length === 0) return parts.sort(byKeys);
  const { DuckDBInstance } = await import('@duckdb/node-api');
  const db = await DuckDBInstance.create(':memory:');
  const con = await db.connect();
  const q = (s: string): string => `'${s.replace(/'/g, "''")}'`;
  const rows = parts.map((p, i) => `(${i}, ${q(p.venue)}, ${q(p.symbol)}, DATE ${q(p.date)})`).join(', ');
  try {
    const kept = (await con.runAndReadAll(`SELECT i FROM (VALUES ${rows}) t(i, venue, symbol, date) WHERE (${where}) ORDER BY i`)).getRowObjectsJS() as { i: number }[];
    return kept.map((k) => parts[Number(k.i)]!).sort(byKeys);
  } catch (e) {
    throw new InputError(InputErrorCode.Format, `${dir} where ${where}`, undefined, `DuckDB: ${(e as Error).message.split('\n')[0]} (a partition filter may use venue, symbol and date)`);
  } finally {
    con.closeSync();
    db.closeSync();
  }
}

function byKeys(a: PartitionRecord, b: PartitionRecord): number {
  const ka = `${a.venue}\u0000${a.symbol}\u0000${a.date}`, kb = `${b.venue}\u0000${b.symbol}\u0000${b.date}`;
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}
