/** Test helpers: a dataset's rows through DuckDB, and a features run's rows in the same shape, for exact comparison. */
import { DuckDBInstance } from '@duckdb/node-api';
import { parquetScan } from '../../src/dataset/reader.ts';
import { featuresInMemory } from '../helpers.ts';
import type { FeaturesRunOptions } from '../../src/pipeline/features.ts';

export interface Rows {
  n: number;
  tsNs: bigint[];
  row: number[];
  columns: Map<string, Float64Array>;
}

export async function sql<T = Record<string, unknown>>(q: string): Promise<T[]> {
  const db = await DuckDBInstance.create(':memory:');
  const con = await db.connect();
  try {
    return (await con.runAndReadAll(q)).getRowObjectsJS() as T[];
  } finally {
    con.closeSync();
    db.closeSync();
  }
}

/** Every row of the dataset (or of the partitions `where` keeps), ordered by symbol, time and row. */
export async function datasetRows(dir: string, where = 'true'): Promise<Rows> {
  const db = await DuckDBInstance.create(':memory:');
  const con = await db.connect();
  try {
    const r = await con.runAndReadAll(`SELECT * EXCLUDE (venue, symbol, date) FROM ${parquetScan(dir)} WHERE ${where} ORDER BY symbol, ts_ns, "row"`);
    const names = r.columnNames();
    const cols = r.getColumnsJS();
    const n = r.currentRowCount;
    const columns = new Map<string, Float64Array>();
    names.forEach((c, i) => {
      if (c === 'ts_ns' || c === 'row') return;
      columns.set(c, Float64Array.from(cols[i]! as (number | null)[], (v) => v ?? NaN));
    });
    return { n, tsNs: cols[names.indexOf('ts_ns')]! as bigint[], row: (cols[names.indexOf('row')]! as bigint[]).map(Number), columns };
  } finally {
    con.closeSync();
    db.closeSync();
  }
}

/** `flowcast features`' rows for a spec (the batch pipeline, in memory). */
export async function featureRows(spec: string, opts: FeaturesRunOptions): Promise<Rows> {
  const { table, timeBase } = await featuresInMemory(spec, opts);
  const base = timeBase.get().baseNs;
  const n = table.n;
  const columns = new Map<string, Float64Array>();
  table.columns.forEach((c, i) => columns.set(c, table.values[i]!.slice(0, n)));
  return {
    n,
    tsNs: Array.from(table.ts.subarray(0, n), (t) => base + BigInt(t)),
    row: Array.from(table.row.subarray(0, n)),
    columns,
  };
}

/** The first difference between two row sets (NaN equals NaN, numbers compared exactly), or undefined. */
export function firstDifference(a: Rows, b: Rows, compareRowNumbers = true): string | undefined {
  if (a.n !== b.n) return `row counts ${a.n} vs ${b.n}`;
  const names = [...a.columns.keys()];
  if (names.join() !== [...b.columns.keys()].join()) return `columns ${names.join()} vs ${[...b.columns.keys()].join()}`;
  for (let i = 0; i < a.n; i++) {
    if (a.tsNs[i] !== b.tsNs[i]) return `row ${i}: ts_ns ${a.tsNs[i]} vs ${b.tsNs[i]}`;
    if (compareRowNumbers && a.row[i] !== b.row[i]) return `row ${i}: row ${a.row[i]} vs ${b.row[i]}`;
    for (const c of names) {
      const x = a.columns.get(c)![i]!;
      const y = b.columns.get(c)![i]!;
      if (!(x === y || (x !== x && y !== y))) return `row ${i} (${a.tsNs[i]}): ${c} ${x} vs ${y}`;
    }
  }
  return undefined;
}
