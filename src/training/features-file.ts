/**
 * Feature data for training and evaluation, from the output of `flowcast features`: CSV (plain
 * or gzip; header `ts_ns,symbol,row,<columns>`, empty field = NaN) or Parquet (nulls = NaN), or
 * computed in memory from a source spec (`lobster:...`, the same pipeline as the command).
 * Columns are float64; rows stay in file order (chronological per symbol).
 */
import { readFile, stat } from 'node:fs/promises';
import { extname } from 'node:path';
import { openInput, forEachLine } from '../sources/input.ts';
import { parseDecimal, parseEpochNsParts, splitFields } from '../sources/bytes.ts';
import { InputError, InputErrorCode } from '../core/errors.ts';
import { runFeatures } from '../pipeline/features.ts';
import { FeatureTable } from '../store/memory.ts';
import { DEFAULT_HORIZONS } from '../features/options.ts';

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
}

/** A column by name, with an error naming the file and the columns it has. */
export function column(d: FeatureData, name: string): Float64Array {
  const v = d.values.get(name);
  if (!v) throw new Error(`${d.source}: no column "${name}" (it has ${d.columns.join(', ')})`);
  return v;
}

export function isSourceSpec(s: string): boolean {
  return /^(lobster|binance|tardis):/.test(s);
}

export interface LoadOptions {
  /** For source specs: label horizons to compute (default 10, 50, 100). */
  horizons?: number[];
  alpha?: number;
  /** Only these symbols. */
  symbols?: string[];
}

/** Loads a features file (.csv, .csv.gz, .parquet) or computes features from a source spec. */
export async function loadFeatures(pathOrSpec: string, o: LoadOptions = {}): Promise<FeatureData> {
  let d: FeatureData;
  if (isSourceSpec(pathOrSpec)) d = await fromSource(pathOrSpec, o);
  else {
    const st = await stat(pathOrSpec).catch(() => undefined);
    if (!st) throw new InputError(InputErrorCode.Missing, pathOrSpec, undefined, 'no such file (expected a features .csv/.csv.gz/.parquet from `flowcast features`, or a source spec like lobster:MSG,OB)');
    const ext = extname(pathOrSpec.replace(/\.gz$/, '')).toLowerCase();
    if (ext === '.parquet') d = await readParquetFeatures(pathOrSpec);
    else if (ext === '.csv') d = await readCsvFeatures(pathOrSpec);
    else throw new InputError(InputErrorCode.Format, pathOrSpec, undefined, `unknown extension "${ext}" (expected .csv, .csv.gz or .parquet)`);
  }
  if (o.symbols?.length) d = filterSymbols(d, new Set(o.symbols));
  return d;
}

async function fromSource(spec: string, o: LoadOptions): Promise<FeatureData> {
  let table!: FeatureTable;
  let base = 0n;
  await runFeatures(spec, { horizons: o.horizons ?? [...DEFAULT_HORIZONS], ...(o.alpha !== undefined ? { alpha: o.alpha } : {}), ...(o.symbols ? { symbols: o.symbols } : {}) }, (columns, timeBase) => {
    table = new FeatureTable(columns);
    const sink = table;
    return {
      write: (b, s) => {
        base = timeBase.get().baseNs;
        sink.write(b, s);
      },
      drain: () => sink.drain(),
      close: () => sink.close(),
    };
  });
  const n = table.n;
  const t0 = n ? table.ts[0]! : 0;
  const ts = new Float64Array(n);
  for (let i = 0; i < n; i++) ts[i] = table.ts[i]! - t0;
  const values = new Map<string, Float64Array>();
  table.columns.forEach((c, i) => values.set(c, table.values[i]!.slice(0, n)));
  return { source: spec, n, columns: [...table.columns], symbols: [...table.symbols], symbolId: table.symbolId.slice(0, n), ts, startNs: base + BigInt(t0), values };
}

export async function readCsvFeatures(path: string): Promise<FeatureData> {
  const src = await openInput(path);
  let header: string[] | undefined;
  let nc = 0;
  let cap = 1 << 16;
  let n = 0;
  let cols: Float64Array[] = [];
  let sym = new Uint16Array(cap);
  let ts = new Float64Array(cap);
  const symbols: string[] = [];
  const symIds = new Map<string, number>();
  let bounds = new Int32Array(0);
  const parts = new Float64Array(2);
  let sec0 = NaN, ns0 = 0;
  let startNs = 0n;
  await forEachLine(src, (buf, start, end, lineNo) => {
    if (!header) {
      header = buf.toString('utf8', start, end).split(',');
      if (header[0] !== 'ts_ns' || header[1] !== 'symbol' || header[2] !== 'row') {
        throw new InputError(InputErrorCode.Format, path, lineNo, `header must start with ts_ns,symbol,row (a \`flowcast features\` CSV), got "${header.slice(0, 3).join(',')}"`);
      }
      nc = header.length - 3;
      cols = Array.from({ length: nc }, () => new Float64Array(cap));
      bounds = new Int32Array(2 * header.length + 2);
      return;
    }
    if (end === start) return;
    const nf = splitFields(buf, start, end, bounds);
    if (nf !== nc + 3) throw new InputError(InputErrorCode.Malformed, path, lineNo, `${nf} fields, the header has ${nc + 3}`);
    if (n === cap) {
      cap *= 2;
      const grow = <T extends Float64Array | Uint16Array>(a: T, b: T): T => (b.set(a), b);
      cols = cols.map((c) => grow(c, new Float64Array(cap)));
      sym = grow(sym, new Uint16Array(cap));
      ts = grow(ts, new Float64Array(cap));
    }
    if (!parseEpochNsParts(buf, bounds[0]!, bounds[1]!, parts)) throw new InputError(InputErrorCode.Malformed, path, lineNo, 'ts_ns is not an integer of epoch nanoseconds');
    if (sec0 !== sec0) {
      sec0 = parts[0]!;
      ns0 = parts[1]!;
      startNs = BigInt(sec0) * 1_000_000_000n + BigInt(ns0);
    }
    ts[n] = (parts[0]! - sec0) * 1e9 + (parts[1]! - ns0);
    const s = buf.toString('latin1', bounds[2]!, bounds[3]!);
    let id = symIds.get(s);
    if (id === undefined) {
      symIds.set(s, (id = symbols.length));
      symbols.push(s);
    }
    sym[n] = id;
    for (let c = 0; c < nc; c++) {
      const a = bounds[2 * (c + 3)]!, b = bounds[2 * (c + 3) + 1]!;
      const v = a === b ? NaN : parseDecimal(buf, a, b);
      if (v !== v && a !== b) throw new InputError(InputErrorCode.Malformed, path, lineNo, `column ${header![c + 3]}: "${buf.toString('latin1', a, b)}" is not a number`);
      cols[c]![n] = v;
    }
    n++;
  });
  if (!header) throw new InputError(InputErrorCode.Truncated, path, 1, 'empty file (no header)');
  const columns = header.slice(3);
  const values = new Map<string, Float64Array>();
  columns.forEach((c, i) => values.set(c, cols[i]!.slice(0, n)));
  return { source: path, n, columns, symbols, symbolId: sym.slice(0, n), ts: ts.slice(0, n), startNs, values };
}

export async function readParquetFeatures(path: string): Promise<FeatureData> {
  const pq = await import('parquet-wasm');
  const { tableFromIPC } = await import('apache-arrow');
  const bytes = await readFile(path);
  let table;
  try {
    table = tableFromIPC(pq.readParquet(new Uint8Array(bytes)).intoIPCStream());
  } catch (e) {
    throw new InputError(InputErrorCode.Format, path, undefined, `not a readable Parquet file: ${(e as Error).message}`);
  }
  const names = table.schema.fields.map((f) => f.name);
  if (names[0] !== 'ts_ns' || names[1] !== 'symbol') throw new InputError(InputErrorCode.Format, path, undefined, `columns must start with ts_ns,symbol (a \`flowcast features\` Parquet), got ${names.slice(0, 3).join(',')}`);
  const n = table.numRows;
  const tsCol = table.getChild('ts_ns')!;
  const symCol = table.getChild('symbol')!;
  const ts = new Float64Array(n);
  const symbolId = new Uint16Array(n);
  const symbols: string[] = [];
  const ids = new Map<string, number>();
  let startNs = 0n;
  for (let i = 0; i < n; i++) {
    const t = BigInt(tsCol.get(i) as bigint);
    if (i === 0) startNs = t;
    ts[i] = Number(t - startNs);
    const s = String(symCol.get(i));
    let id = ids.get(s);
    if (id === undefined) {
      ids.set(s, (id = symbols.length));
      symbols.push(s);
    }
    symbolId[i] = id;
  }
  const columns = names.filter((c) => c !== 'ts_ns' && c !== 'symbol' && c !== 'row');
  const values = new Map<string, Float64Array>();
  for (const c of columns) {
    const col = table.getChild(c)!;
    const out = new Float64Array(n);
    let i = 0;
    for (const v of col) out[i++] = v === null || v === undefined ? NaN : Number(v);
    values.set(c, out);
  }
  return { source: path, n, columns, symbols, symbolId, ts, startNs, values };
}

function filterSymbols(d: FeatureData, keep: Set<string>): FeatureData {
  const missing = [...keep].filter((s) => !d.symbols.includes(s));
  if (missing.length) throw new Error(`${d.source}: no rows for ${missing.join(', ')} (symbols: ${d.symbols.join(', ')})`);
  const idx: number[] = [];
  for (let i = 0; i < d.n; i++) if (keep.has(d.symbols[d.symbolId[i]!]!)) idx.push(i);
  const pick = <T extends Float64Array | Uint16Array>(a: T, make: (n: number) => T): T => {
    const o = make(idx.length);
    idx.forEach((j, k) => { o[k] = a[j]!; });
    return o;
  };
  const values = new Map<string, Float64Array>();
  for (const [c, v] of d.values) values.set(c, pick(v, (k) => new Float64Array(k)));
  return { ...d, n: idx.length, symbolId: pick(d.symbolId, (k) => new Uint16Array(k)), ts: pick(d.ts, (k) => new Float64Array(k)), values };
}
