/**
 * npm run bench:parquet: the feature-Parquet writers measured on the GOOG day's rows, each in a
 * fresh child process (its first use included: loading the library, compiling WebAssembly or
 * opening DuckDB), in turn, REPEATS times; medians. The rows are computed once, beforehand, and
 * handed to each writer as the engine does (8,192-row blocks, drained every 16 blocks), so only
 * the writer differs. Writes its table into docs/benchmarks.md (section bench:parquet) unless --no-doc.
 *
 * Candidates: the Arrow IPC -> parquet-wasm writer (the one `flowcast features` had; tuned
 * encodings, and parquet-wasm's defaults), and DuckDB's appender + COPY (Parquet format V2, whose
 * encodings match the tuned ones, and V1).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FeatureBlock, type FeatureBlockSink } from '../src/features/columns.ts';
import { TimeBaseRef } from '../src/model/time.ts';
import { markdownTable, writeDocSection } from './lib/doc-section.ts';
import { machineLine, median } from './lib/stats.ts';

const REPEATS = Number(process.env.BENCH_REPEATS ?? 5);
const BLOCK = 8192;

const CANDIDATES: Record<string, { label: string; make: (out: string, cols: string[], tb: TimeBaseRef) => Promise<FeatureBlockSink> }> = {
  'wasm-tuned': {
    label: 'Arrow IPC -> parquet-wasm, tuned encodings (before)',
    make: async (out, cols, tb) => new (await import('../src/store/parquet-wasm.ts')).ParquetWasmFeatureWriter(out, cols, tb, META),
  },
  'wasm-defaults': {
    label: 'Arrow IPC -> parquet-wasm, its default encodings',
    make: async (out, cols, tb) => new (await import('../src/store/parquet-wasm.ts')).ParquetWasmFeatureWriter(out, cols, tb, META, undefined, 'defaults'),
  },
  'duckdb-v2': {
    label: 'DuckDB appender + COPY, Parquet V2 (now)',
    make: async (out, cols, tb) => new (await import('../src/store/parquet-duckdb.ts')).DuckDbParquetWriter(out, cols, tb, META, { rowGroupRows: 128 * 1024, parquetVersion: 'V2' }),
  },
  'duckdb-v1': {
    label: 'DuckDB appender + COPY, Parquet V1',
    make: async (out, cols, tb) => new (await import('../src/store/parquet-duckdb.ts')).DuckDbParquetWriter(out, cols, tb, META, { rowGroupRows: 128 * 1024, parquetVersion: 'V1' }),
  },
};
const META = { 'flowcast.spec_version': '1', 'flowcast.source': 'bench' };

interface Rows { n: number; baseNs: string; symbols: string[]; columns: string[]; ts: Float64Array; sym: Uint16Array; row: Float64Array; values: Float64Array[] }

/** The GOOG day's feature rows (default parameters, as `flowcast features`), saved for the children. */
async function prepare(file: string): Promise<number> {
  const { runFeatures } = await import('../src/pipeline/features.ts');
  const { GOOG } = await import('../src/sources/samples.ts');
  const parts: { ts: Float64Array; sym: Uint16Array; row: Float64Array; values: Float64Array[] }[] = [];
  let symbols: readonly string[] = [];
  let columns: readonly string[] = [];
  let tbRef: TimeBaseRef | undefined;
  await runFeatures(GOOG, {}, (cols, tb) => {
    columns = cols;
    tbRef = tb;
    return {
      write(b, s) {
        symbols = s;
        parts.push({ ts: b.ts.slice(0, b.n), sym: b.symbolId.slice(0, b.n), row: b.row.slice(0, b.n), values: b.values.map((v) => v.slice(0, b.n)) });
      },
      async drain() {},
      async close() { return { rows: 0, bytes: 0 }; },
    };
  });
  const n = parts.reduce((a, p) => a + p.ts.length, 0);
  const cat = <T extends Float64Array | Uint16Array>(get: (p: (typeof parts)[0]) => T, C: new (n: number) => T): T => {
    const out = new C(n);
    let o = 0;
    for (const p of parts) { const a = get(p); out.set(a as never, o); o += a.length; }
    return out;
  };
  const arrays = [cat((p) => p.ts, Float64Array), cat((p) => p.row, Float64Array), ...columns.map((_, c) => cat((p) => p.values[c]!, Float64Array))];
  const sym = cat((p) => p.sym, Uint16Array);
  const head = JSON.stringify({ n, baseNs: String(tbRef!.get().baseNs), symbols, columns });
  const buf = Buffer.concat([Buffer.from(head + '\n'), ...arrays.map((a) => Buffer.from(a.buffer)), Buffer.from(sym.buffer)]);
  writeFileSync(file, buf);
  return n;
}

function load(file: string): Rows {
  const buf = readFileSync(file);
  const nl = buf.indexOf(10);
  const head = JSON.parse(buf.subarray(0, nl).toString()) as Omit<Rows, 'ts' | 'sym' | 'row' | 'values'>;
  const body = new Uint8Array(buf.subarray(nl + 1)).slice();
  const f = (i: number) => new Float64Array(body.buffer, i * head.n * 8, head.n);
  const k = head.columns.length;
  return { ...head, ts: f(0), row: f(1), values: head.columns.map((_, c) => f(2 + c)), sym: new Uint16Array(body.buffer, (2 + k) * head.n * 8, head.n) };
}

function peakRssMB(): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) / 1024 : process.resourceUsage().maxRSS / 1024;
}

/** One candidate, in this (child) process: the data is loaded first, outside the timed part. */
async function child(name: string, file: string, out: string): Promise<void> {
  const rows = load(file);
  const rssBefore = peakRssMB();
  const tb = new TimeBaseRef();
  tb.ensureNs(BigInt(rows.baseNs));
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const w = await CANDIDATES[name]!.make(out, rows.columns, tb);
  const b = new FeatureBlock(rows.columns, BLOCK);
  let blocks = 0;
  for (let o = 0; o < rows.n; o += BLOCK) {
    const n = Math.min(BLOCK, rows.n - o);
    b.n = n;
    b.ts.set(rows.ts.subarray(o, o + n));
    b.row.set(rows.row.subarray(o, o + n));
    b.symbolId.set(rows.sym.subarray(o, o + n));
    for (let c = 0; c < rows.columns.length; c++) b.values[c]!.set(rows.values[c]!.subarray(o, o + n));
    w.write(b, rows.symbols);
    if (++blocks % 16 === 0) await w.drain();
  }
  const res = await w.close();
  const ms = performance.now() - t0;
  const c = process.cpuUsage(cpu0);
  process.stdout.write(JSON.stringify({ ms, cpuMs: (c.user + c.system) / 1000, rows: res.rows, bytes: statSync(out).size, peakMB: peakRssMB(), dataMB: rssBefore }) + '\n');
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'flowcast-bench-parquet-'));
  try {
    const data = join(dir, 'rows.bin');
    const n = await prepare(data);
    const runs: Record<string, { ms: number; cpuMs: number; bytes: number; peakMB: number; dataMB: number }[]> = {};
    for (let r = 0; r < REPEATS; r++) {
      for (const name of Object.keys(CANDIDATES)) {
        const out = join(dir, `${name}.parquet`);
        const o = execFileSync(process.execPath, ['--import', 'tsx', 'scripts/bench-parquet.ts', '--child', name, data, out], { encoding: 'utf8' });
        const res = JSON.parse(o.trim().split('\n').at(-1)!) as { ms: number; cpuMs: number; rows: number; bytes: number; peakMB: number; dataMB: number };
        if (res.rows !== n) throw new Error(`${name} wrote ${res.rows} rows of ${n}`);
        (runs[name] ??= []).push(res);
      }
    }
    const base = median(runs['wasm-tuned']!.map((x) => x.ms));
    const baseCpu = median(runs['wasm-tuned']!.map((x) => x.cpuMs));
    const table = markdownTable(
      ['writer', 'wall, first use included', 'vs before', 'CPU (all threads)', 'vs before', 'file', 'peak RSS over the rows held'],
      Object.entries(CANDIDATES).map(([name, c]) => {
        const ms = median(runs[name]!.map((x) => x.ms));
        const cpu = median(runs[name]!.map((x) => x.cpuMs));
        return [c.label, `${(ms / 1000).toFixed(2)} s`, `${(base / ms).toFixed(2)}x`, `${(cpu / 1000).toFixed(2)} s`, `${(baseCpu / cpu).toFixed(2)}x`,
          `${(median(runs[name]!.map((x) => x.bytes)) / 1e6).toFixed(1)} MB`,
          `+${median(runs[name]!.map((x) => x.peakMB - x.dataMB)).toFixed(0)} MB`];
      }),
    );
    const doc = `### Parquet writers (\`npm run bench:parquet\`)

Machine: ${machineLine()}; shared with other work while measured (timings noisy: compare within
the table). The GOOG day's ${n.toLocaleString('en-US')} feature rows (${`default parameters`}), computed once and
handed to each writer as the engine does (8,192-row blocks); each writer in a fresh process, its
first use included (library load, WebAssembly compile, DuckDB open); in turn, ${REPEATS} times, medians.

${table}
`;
    if (!process.argv.includes('--no-doc')) writeDocSection('docs/benchmarks.md', 'bench:parquet', doc);
    process.stdout.write(doc + '\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv.includes('--prepare')) { await prepare(process.argv.at(-1)!); process.exit(0); }
const ci = process.argv.indexOf('--child');
if (ci >= 0) await child(process.argv[ci + 1]!, process.argv[ci + 2]!, process.argv[ci + 3]!);
else await main();
