/**
 * Feature data for training and evaluation, from the output of `flowcast features`: CSV (plain
 * or gzip; header `ts_ns,symbol,row,<columns>`, empty field = NaN) or Parquet (nulls = NaN), or
 * computed in memory from a source spec (`lobster:...`, the same pipeline as the command), or a
 * dataset directory from `flowcast dataset build` (rows filtered by DuckDB, src/dataset/reader.ts).
 * Columns are float64; rows stay in file order (chronological per symbol).
 */
import { readFile, stat } from 'node:fs/promises';
import { extname } from 'node:path';
import { openInput, forEachLine } from '../sources/input.ts';
import { parseDecimal, parseEpochNsParts, splitFields } from '../sources/bytes.ts';
import { InputError, InputErrorCode } from '../core/errors.ts';
import { runFeatures } from '../pipeline/features.ts';
import { FeatureTable } from '../store/memory.ts';
import { DEFAULT_FEATURE_OPTIONS, DEFAULT_HORIZONS } from '../features/options.ts';
import type { FeatureParams } from '../inference/manifest.ts';
import type { FeatureData } from '../features/data.ts';

export type { FeatureData };


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
  /** For a dataset directory: a SQL condition on its rows (partition keys venue, symbol, date), evaluated by DuckDB. */
  where?: string;
  /**
   * Feature parameters for source specs (default: the features' defaults, V auto over the whole
   * input); a V per symbol overrides the rest for that symbol.
   */
  levels?: number;
  vpinBucket?: number | 'auto' | Record<string, number>;
  vpinBuckets?: number;
  barMs?: number;
  barWindow?: number;
}

/** Loads a features file (.csv, .csv.gz, .parquet) or computes features from a source spec. */
export async function loadFeatures(pathOrSpec: string, o: LoadOptions = {}): Promise<FeatureData> {
  let d: FeatureData;
  const { isDatasetDir } = await import('../dataset/reader.ts');
  if (o.where !== undefined && (isSourceSpec(pathOrSpec) || !isDatasetDir(pathOrSpec))) {
    throw new InputError(InputErrorCode.Format, pathOrSpec, undefined, 'a --where filter needs a dataset directory (from flowcast dataset build)');
  }
  if (isSourceSpec(pathOrSpec)) d = await fromSource(pathOrSpec, o);
  else if (isDatasetDir(pathOrSpec)) d = await (await import('../dataset/reader.ts')).readDatasetFeatures(pathOrSpec, { where: o.where });
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
  const V = o.vpinBucket;
  const perSymbol = typeof V === 'object' ? V : undefined;
  if (perSymbol && o.symbols?.some((s) => perSymbol[s] === undefined)) throw new Error(`${spec}: no VPIN bucket volume given for ${o.symbols.filter((s) => perSymbol[s] === undefined).join(', ')}`);
  if (perSymbol && !o.symbols?.length) throw new Error(`${spec}: a VPIN bucket volume per symbol needs the symbols listed`);
  const run = {
    horizons: o.horizons ?? [...DEFAULT_HORIZONS],
    ...(o.alpha !== undefined ? { alpha: o.alpha } : {}),
    ...(o.symbols ? { symbols: o.symbols } : {}),
    levels: o.levels ?? DEFAULT_FEATURE_OPTIONS.levels,
    vpinBuckets: o.vpinBuckets ?? DEFAULT_FEATURE_OPTIONS.vpinBuckets,
    barMs: o.barMs ?? DEFAULT_FEATURE_OPTIONS.barMs,
    barWindow: o.barWindow ?? DEFAULT_FEATURE_OPTIONS.barWindow,
  };
  // runFeatures takes one fixed V or 'auto'; several symbols with their own fixed V run one at a time.
  if (perSymbol && o.symbols!.length > 1) {
    const parts = [];
    for (const sym of o.symbols!) parts.push(await fromSource(spec, { ...o, symbols: [sym], vpinBucket: perSymbol[sym]! }));
    return concatSymbols(spec, parts);
  }
  const vpinBucket = perSymbol ? perSymbol[o.symbols![0]!]! : (V as number | 'auto' | undefined) ?? 'auto';
  const res = await runFeatures(spec, { ...run, vpinBucket }, (columns, timeBase) => {
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
  const params: FeatureParams = {
    levels: run.levels,
    vpinBucket: { ...res.vpinBucket },
    vpinSizing: vpinBucket === 'auto' ? 'auto: traded volume of the whole input / 500 (2 significant digits)' : 'fixed',
    vpinBuckets: run.vpinBuckets,
    barMs: run.barMs,
    barWindow: run.barWindow,
    settleMs: DEFAULT_FEATURE_OPTIONS.settleMs,
  };
  return { source: spec, n, columns: [...table.columns], symbols: [...table.symbols], symbolId: table.symbolId.slice(0, n), ts, startNs: base + BigInt(t0), values, params };
}

/** Feature data of one source computed a symbol at a time, merged back into time order. */
function concatSymbols(spec: string, parts: FeatureData[]): FeatureData {
  const startNs = parts.reduce((m, p) => (p.n && p.startNs < m ? p.startNs : m), parts.find((p) => p.n)?.startNs ?? 0n);
  const at: { p: number; i: number; t: number }[] = [];
  parts.forEach((d, p) => {
    const off = Number(d.startNs - startNs);
    for (let i = 0; i < d.n; i++) at.push({ p, i, t: d.ts[i]! + off });
  });
  // Stable: rows of one symbol keep their order; ties between symbols go by symbol order.
  at.sort((a, b) => a.t - b.t || a.p - b.p);
  const n = at.length;
  const columns = parts[0]!.columns;
  const values = new Map<string, Float64Array>(columns.map((c) => [c, new Float64Array(n)]));
  const symbols = parts.map((d) => d.symbols[0]!);
  const symbolId = new Uint16Array(n);
  const ts = new Float64Array(n);
  at.forEach((r, k) => {
    symbolId[k] = r.p;
    ts[k] = r.t;
    for (const c of columns) values.get(c)![k] = parts[r.p]!.values.get(c)![r.i]!;
  });
  const vpinBucket: Record<string, number> = {};
  for (const d of parts) Object.assign(vpinBucket, d.params?.vpinBucket ?? {});
  return { source: spec, n, columns, symbols, symbolId, ts, startNs, values, params: { ...parts[0]!.params!, vpinBucket, vpinSizing: 'fixed per symbol' } };
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
  const meta = table.schema.metadata;
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
  const recorded = recordedInputs(meta, path);
  return { source: path, n, columns, symbols, symbolId, ts, startNs, values, recorded, ...(recorded.params ? { params: recordedParams(recorded.params, symbols) } : {}) };
}

/** What `flowcast features` wrote into a Parquet file's key-value metadata about its inputs. */
function recordedInputs(meta: Map<string, string>, path: string): NonNullable<FeatureData['recorded']> {
  const out: NonNullable<FeatureData['recorded']> = {};
  const src = meta.get('flowcast.source');
  if (src) out.source = src;
  const v = meta.get('flowcast.spec_version');
  if (v !== undefined) out.specVersion = Number(v);
  const p = meta.get('flowcast.params');
  if (p) {
    try {
      out.params = JSON.parse(p) as Record<string, unknown>;
    } catch {
      throw new InputError(InputErrorCode.Format, path, undefined, 'flowcast.params in the file metadata is not JSON');
    }
  }
  return out;
}

/** Feature parameters from a features file's recorded flags; V is known only where it was given as a number. */
function recordedParams(p: Record<string, unknown>, symbols: string[]): FeatureParams {
  const num = (k: string, d: number) => (typeof p[k] === 'number' ? (p[k] as number) : d);
  const V = p['vpinBucket'];
  return {
    levels: num('levels', DEFAULT_FEATURE_OPTIONS.levels),
    vpinBucket: typeof V === 'number' ? Object.fromEntries(symbols.map((s) => [s, V])) : null,
    vpinSizing: typeof V === 'number' ? 'fixed (recorded by the features file)' : 'auto, sized by `flowcast features` over its whole input; the value is not recorded in the file',
    vpinBuckets: num('vpinBuckets', DEFAULT_FEATURE_OPTIONS.vpinBuckets),
    barMs: num('barMs', DEFAULT_FEATURE_OPTIONS.barMs),
    barWindow: num('barWindow', DEFAULT_FEATURE_OPTIONS.barWindow),
    settleMs: num('settleMs', DEFAULT_FEATURE_OPTIONS.settleMs),
  };
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
