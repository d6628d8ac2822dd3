/**
 * What `dataset build --source` takes, expanded into inputs: one (venue, symbol, date) each, with the
 * source spec that reads it. A `--source` is a spec (`lobster:M,O`, `binance:FILE`, `tardis:B[,T]`),
 * a directory (walked), a glob (`*`, `?`, `**`), a capture file, or a manifest (`.json`). Capture
 * files are recognised by their names, the forms their publishers use:
 *   LOBSTER   TICKER_YYYY-MM-DD_START_END_{message,orderbook}_L.csv[.gz] (paired by the rest of the name),
 *             LOBSTER_SampleFile_TICKER_YYYY-MM-DD_L.zip
 *   Binance   binance-{spot,usdm,coinm}_SYMBOL_YYYYMMDD.jsonl[.gz] (flowcast's recorder and the samples)
 *   Tardis    EXCHANGE_{incremental_book_L2,book_snapshot_N,quotes,trades}_YYYY-MM-DD_SYMBOL.csv[.gz]
 *             (a book or quotes file paired with the trades file of its exchange, date and symbol)
 * A name none of these match, in a directory or glob, is listed as ignored; named alone it is an error.
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { InputError, InputErrorCode } from '../core/errors.ts';
import { VENUES } from '../venues/registry.ts';

export interface DatasetInput {
  /** The partition's venue: `lobster`, `binance-spot`/`binance-usdm`/`binance-coinm`, or a Tardis exchange name. */
  venue: string;
  symbol: string;
  /** YYYY-MM-DD. */
  date: string;
  /** The source spec that reads it (what `flowcast features --source` takes). */
  spec: string;
  files: string[];
  /** Length of the venue's trading session in minutes, known before reading (the minutes warm-up scales by it). */
  sessionMinutes: number;
}

export interface Discovery {
  inputs: DatasetInput[];
  /** Files found in directories or globs whose names no form matches. */
  ignored: string[];
}

const LOBSTER_PAIR = /^([A-Za-z0-9.^-]+)_(\d{4}-\d{2}-\d{2})_(\d+)_(\d+)_(message|orderbook)_(\d+)\.csv(\.gz)?$/;
const LOBSTER_ZIP = /^LOBSTER_SampleFiles?_([A-Za-z0-9.^-]+)_(\d{4}-\d{2}-\d{2})_(\d+)\.zip$/;
const BINANCE = /^(binance-(?:spot|usdm|coinm))_([A-Za-z0-9]+)_(\d{4})(\d{2})(\d{2})\.jsonl(\.gz)?$/;
const TARDIS = /^([a-z0-9-]+)_(incremental_book_L2|book_snapshot_\d+|quotes|trades)_(\d{4}-\d{2}-\d{2})_([A-Za-z0-9._:-]+?)\.csv(\.gz)?$/;

const FULL_DAY = 24 * 60;

type Classified =
  | { kind: 'lobster-half'; key: string; role: 'message' | 'orderbook'; symbol: string; date: string; minutes: number; file: string }
  | { kind: 'lobster-zip'; symbol: string; date: string; file: string }
  | { kind: 'binance'; venue: string; symbol: string; date: string; file: string }
  | { kind: 'tardis'; exchange: string; role: 'book' | 'trades'; symbol: string; date: string; file: string };

function classify(file: string): Classified | undefined {
  const name = basename(file);
  let m = LOBSTER_PAIR.exec(name);
  if (m) {
    const key = join(dirname(file), `${m[1]}_${m[2]}_${m[3]}_${m[4]}_${m[6]}`);
    return { kind: 'lobster-half', key, role: m[5] as 'message' | 'orderbook', symbol: m[1]!, date: m[2]!, minutes: (Number(m[4]) - Number(m[3])) / 60_000, file };
  }
  if ((m = LOBSTER_ZIP.exec(name))) return { kind: 'lobster-zip', symbol: m[1]!, date: m[2]!, file };
  if ((m = BINANCE.exec(name))) return { kind: 'binance', venue: m[1]!, symbol: m[2]!.toUpperCase(), date: `${m[3]}-${m[4]}-${m[5]}`, file };
  if ((m = TARDIS.exec(name))) {
    return { kind: 'tardis', exchange: m[1]!, role: m[2] === 'trades' ? 'trades' : 'book', date: m[3]!, symbol: m[4]!, file };
  }
  return undefined;
}

/** Pairs classified files into inputs; `where` names the --source they came from, for errors. */
function pair(files: Classified[], where: string): DatasetInput[] {
  const out: DatasetInput[] = [];
  const lobster = new Map<string, Extract<Classified, { kind: 'lobster-half' }>[]>();
  const tardis = new Map<string, Extract<Classified, { kind: 'tardis' }>[]>();
  for (const c of files) {
    if (c.kind === 'lobster-half') lobster.set(c.key, [...(lobster.get(c.key) ?? []), c]);
    else if (c.kind === 'tardis') {
      const k = `${dirname(c.file)}\0${c.exchange}\0${c.date}\0${c.symbol}`;
      tardis.set(k, [...(tardis.get(k) ?? []), c]);
    } else if (c.kind === 'lobster-zip') {
      // The sample zips: LOBSTER's own 6.5-hour session (34200000..57600000 ms after midnight).
      out.push({ venue: 'lobster', symbol: c.symbol, date: c.date, spec: `lobster:${c.file}`, files: [c.file], sessionMinutes: 390 });
    } else {
      out.push({ venue: c.venue, symbol: c.symbol, date: c.date, spec: `binance:${c.file}`, files: [c.file], sessionMinutes: FULL_DAY });
    }
  }
  for (const [key, halves] of lobster) {
    const msg = halves.filter((h) => h.role === 'message');
    const ob = halves.filter((h) => h.role === 'orderbook');
    if (msg.length !== 1 || ob.length !== 1) {
      const have = halves.map((h) => basename(h.file)).join(', ');
      throw new InputError(InputErrorCode.Missing, where, undefined, `LOBSTER ${basename(key)}: needs one message and one orderbook file, found ${have}`);
    }
    const h = msg[0]!;
    out.push({ venue: 'lobster', symbol: h.symbol, date: h.date, spec: `lobster:${h.file},${ob[0]!.file}`, files: [h.file, ob[0]!.file], sessionMinutes: h.minutes });
  }
  for (const group of tardis.values()) {
    const books = group.filter((g) => g.role === 'book');
    const trades = group.filter((g) => g.role === 'trades');
    const g = group[0]!;
    if (books.length !== 1 || trades.length > 1) {
      throw new InputError(InputErrorCode.Missing, where, undefined,
        `Tardis ${g.exchange} ${g.symbol} ${g.date}: needs one book file (incremental_book_L2, book_snapshot_N or quotes) and at most one trades file, found ${group.map((x) => basename(x.file)).join(', ')}`);
    }
    const fl = [books[0]!.file, ...trades.map((t) => t.file)];
    out.push({ venue: g.exchange, symbol: g.symbol, date: g.date, spec: `tardis:${fl.join(',')}`, files: fl, sessionMinutes: FULL_DAY });
  }
  return out;
}

/** Files under `dir`, recursively, skipping dot-entries (the builder's own temporaries among them). */
function walk(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    if (e.name.startsWith('.')) continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...walk(p));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

/** A glob as a regular expression over `/`-separated paths: `**` any depth, `*`, `?` and `[..]` within a name. */
export function globRegex(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i]!;
    if (ch === '*' && pattern[i + 1] === '*') {
      re += pattern[i + 2] === '/' ? '(?:.*/)?' : '.*';
      i += pattern[i + 2] === '/' ? 2 : 1;
    } else if (ch === '[' && pattern.indexOf(']', i + 2) > i) {
      const close = pattern.indexOf(']', i + 2);
      const body = pattern.slice(i + 1, close).replace(/^!/, '^').replace(/\\/g, '\\\\');
      re += `[${body}]`;
      i = close;
    } else if (ch === '*') re += '[^/]*';
    else if (ch === '?') re += '[^/]';
    else re += /[\\^$.|+()[\]{}]/.test(ch) ? `\\${ch}` : ch;
  }
  return new RegExp(`^${re}$`);
}

function expandGlob(pattern: string): string[] {
  const parts = pattern.split('/');
  const firstGlob = parts.findIndex((p) => /[*?[]/.test(p));
  const root = parts.slice(0, firstGlob).join('/') || (pattern.startsWith('/') ? '/' : '.');
  if (!existsSync(root) || !statSync(root).isDirectory()) return [];
  const re = globRegex(pattern.replace(/^\.\//, ''));
  return walk(root).filter((f) => re.test(f.split(sep).join('/').replace(/^\.\//, '')));
}

function isSpec(s: string): boolean {
  const colon = s.indexOf(':');
  if (colon <= 1) return false; // a Windows drive letter or no prefix
  const kind = s.slice(0, colon);
  return VENUES.some((v) => v.id === kind && v.openCapture);
}

/** A spec named directly: its venue, symbol and date from its files' names. */
function fromSpec(spec: string): DatasetInput {
  const files = spec.slice(spec.indexOf(':') + 1).split(',').map((f) => f.trim()).filter(Boolean);
  const classified = files.map(classify);
  const bad = files.filter((_, i) => !classified[i]);
  if (bad.length) {
    throw new InputError(InputErrorCode.Format, spec, undefined,
      `cannot tell the venue, symbol and date of ${bad.join(', ')} from its name; name the input in a manifest ({"inputs": [{"source": SPEC, "venue": V, "symbol": S, "date": "YYYY-MM-DD"}]})`);
  }
  const got = pair(classified as Classified[], spec);
  if (got.length !== 1) throw new InputError(InputErrorCode.Format, spec, undefined, `is ${got.length} inputs, expected one`);
  return { ...got[0]!, spec };
}

interface ManifestEntry {
  source: string;
  venue?: string;
  symbol?: string;
  date?: string;
  sessionMinutes?: number;
}

/** What one --source gave: whole inputs (specs), and capture files still to be paired with the rest. */
interface Found {
  inputs: DatasetInput[];
  loose: Classified[];
  ignored: string[];
}

function fromManifest(path: string): Found {
  let doc: { inputs?: ManifestEntry[] };
  try {
    doc = JSON.parse(readFileSync(path, 'utf8')) as { inputs?: ManifestEntry[] };
  } catch (e) {
    throw new InputError(InputErrorCode.Format, path, undefined, `not a JSON manifest: ${(e as Error).message}`);
  }
  if (!Array.isArray(doc.inputs)) throw new InputError(InputErrorCode.Format, path, undefined, 'a manifest is {"inputs": [{"source": ...}, ...]}');
  const base = dirname(path);
  const inputs: DatasetInput[] = [];
  const loose: Classified[] = [];
  const ignored: string[] = [];
  doc.inputs.forEach((e, i) => {
    const at = `${path} inputs[${i}]`;
    if (typeof e?.source !== 'string') throw new InputError(InputErrorCode.Format, at, undefined, 'needs "source" (a spec, file, directory or glob)');
    // Paths in a manifest are relative to the manifest.
    const rel = (f: string): string => (isAbsolute(f) ? f : join(base, f));
    const src = isSpec(e.source)
      ? `${e.source.slice(0, e.source.indexOf(':'))}:${e.source.slice(e.source.indexOf(':') + 1).split(',').map((f) => rel(f.trim())).join(',')}`
      : rel(e.source);
    const named = e.venue !== undefined || e.symbol !== undefined || e.date !== undefined;
    if (named) {
      if (!isSpec(src)) throw new InputError(InputErrorCode.Format, at, undefined, 'venue, symbol and date can only be given for a spec (VENUE:FILE,...)');
      if (!e.venue || !e.symbol || !e.date || !/^\d{4}-\d{2}-\d{2}$/.test(e.date)) {
        throw new InputError(InputErrorCode.Format, at, undefined, 'give all of venue, symbol and date (YYYY-MM-DD), or none');
      }
      const files = src.slice(src.indexOf(':') + 1).split(',');
      inputs.push({ venue: e.venue, symbol: e.symbol, date: e.date, spec: src, files, sessionMinutes: e.sessionMinutes ?? FULL_DAY });
      return;
    }
    const d = discoverOne(src);
    inputs.push(...d.inputs);
    loose.push(...d.loose);
    ignored.push(...d.ignored);
  });
  return { inputs, loose, ignored };
}

function discoverOne(s: string): Found {
  if (isSpec(s)) return { inputs: [fromSpec(s)], loose: [], ignored: [] };
  if (/[*?[]/.test(s)) {
    const files = expandGlob(s);
    if (files.length === 0) throw new InputError(InputErrorCode.Missing, s, undefined, 'the glob matches no file');
    return fromFiles(files);
  }
  if (!existsSync(s)) throw new InputError(InputErrorCode.Missing, s, undefined, 'no such file or directory');
  if (statSync(s).isDirectory()) return fromFiles(walk(s));
  if (s.endsWith('.json')) return fromManifest(s);
  const c = classify(s);
  if (!c) throw new InputError(InputErrorCode.Format, s, undefined, 'not a capture file name flowcast recognises (see flowcast dataset build --help), a spec, a directory, a glob or a manifest');
  return { inputs: [], loose: [c], ignored: [] };
}

function fromFiles(files: string[]): Found {
  const loose: Classified[] = [];
  const ignored: string[] = [];
  for (const f of files) {
    const c = classify(f);
    if (c) loose.push(c);
    else ignored.push(f);
  }
  return { inputs: [], loose, ignored };
}

/**
 * Every --source expanded, in (venue, symbol, date) order; capture files paired across them. Two inputs for one partition are an
 * error naming both (a file found twice, through two --source values, counts once).
 */
export function discoverInputs(sources: readonly string[]): Discovery {
  const all: DatasetInput[] = [];
  const loose = new Map<string, Classified>();
  const ignored: string[] = [];
  for (const s of sources) {
    const d = discoverOne(s);
    all.push(...d.inputs);
    // Capture files are paired across all --source values (a shell glob gives one file each).
    for (const c of d.loose) loose.set(resolve(c.file), c);
    ignored.push(...d.ignored);
  }
  all.push(...pair([...loose.values()], sources.join(' ')));
  const byKey = new Map<string, DatasetInput>();
  for (const i of all) {
    const k = partitionKey(i);
    const prev = byKey.get(k);
    if (prev) {
      const same = prev.files.length === i.files.length && prev.files.every((f, j) => resolve(f) === resolve(i.files[j]!));
      if (same) continue;
      throw new InputError(InputErrorCode.Format, i.spec, undefined, `is a second input for ${k} (the first: ${prev.spec})`);
    }
    byKey.set(k, i);
  }
  const inputs = [...byKey.values()].sort((a, b) => cmp(a.venue, b.venue) || cmp(a.symbol, b.symbol) || cmp(a.date, b.date));
  return { inputs, ignored: ignored.map((f) => relative('.', f) || f) };
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** `venue=V/symbol=S/date=D`: the partition's directory under the dataset, and its key in _dataset.json. */
export function partitionKey(i: { venue: string; symbol: string; date: string }): string {
  return `venue=${i.venue}/symbol=${i.symbol}/date=${i.date}`;
}
