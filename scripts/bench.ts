/**
 * npm run bench: the foundation's performance, side by side in one run.
 *  (a) book rebuild: flowcast's L2Book vs tardis-dev's OrderBook, fed the same pre-parsed deltas,
 *      on the Binance USD-M capture and on the GOOG LOBSTER day (parsing excluded);
 *  (b) feature rows/s on the GOOG day, every column, with parsing measured separately;
 *  (c) peak memory of `flowcast features` on inputs of growing size (a child process each).
 *  (d) a user's whole `npx flowcast features` run (GOOG day to Parquet) vs the numpy script of the
 *      spec, paired whole processes with peak RSS (scripts/lib/user-run.ts; section bench:user-run).
 * Writes its table into docs/benchmarks.md (section bench:book) unless --no-doc.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { OrderBook } from 'tardis-dev';
import { openSource } from '../src/sources/spec.ts';
import { L2Book, type LadderKind } from '../src/book/l2-book.ts';
import { bookBuilder } from '../src/pipeline/book.ts';
import { BookRow } from '../src/model/row.ts';
import { BID, DepthEvent, OrderType, type OrderEvent } from '../src/model/events.ts';
import { FeatureEngine } from '../src/features/engine.ts';
import { featureOptions } from '../src/features/options.ts';
import { FEATURE_COLUMNS } from '../src/features/columns.ts';
import { TimeBaseRef } from '../src/model/time.ts';
import { markdownTable, writeDocSection } from './lib/doc-section.ts';
import { GOOG, GOOG_MSG, GOOG_OB, SPOT, USDM } from '../src/sources/samples.ts';
import { fmtRate, machineLine, median } from './lib/stats.ts';
import { userRunBench } from './lib/user-run.ts';

const REPEATS = Number(process.env.BENCH_REPEATS ?? 7);

/**
 * A message stream held in memory. Ours is flat (what a parser produces: it refills one reused
 * DepthEvent per message); tardis-dev's is its own BookChange objects, prebuilt so their
 * allocation is not counted against it.
 */
interface Workload {
  name: string;
  messages: number;
  levelUpdates: number;
  snapshot: Uint8Array;
  /** Levels of message m: [start[m], start[m + 1]). */
  start: Int32Array;
  side: Uint8Array;
  price: Float64Array;
  size: Float64Array;
  changes: { isSnapshot: boolean; bids: { price: number; amount: number }[]; asks: { price: number; amount: number }[] }[];
}

class WorkloadBuilder {
  private snap: number[] = [];
  private starts: number[] = [0];
  private sides: number[] = [];
  private prices: number[] = [];
  private sizes: number[] = [];
  changes: Workload['changes'] = [];

  add(e: DepthEvent): void {
    this.snap.push(e.kind === 'snapshot' ? 1 : 0);
    const bids: { price: number; amount: number }[] = [];
    const asks: { price: number; amount: number }[] = [];
    for (let i = 0; i < e.nBids; i++) { this.sides.push(0); this.prices.push(e.bidPx[i]!); this.sizes.push(e.bidSz[i]!); bids.push({ price: e.bidPx[i]!, amount: e.bidSz[i]! }); }
    for (let i = 0; i < e.nAsks; i++) { this.sides.push(1); this.prices.push(e.askPx[i]!); this.sizes.push(e.askSz[i]!); asks.push({ price: e.askPx[i]!, amount: e.askSz[i]! }); }
    this.starts.push(this.prices.length);
    this.changes.push({ type: 'book_change', symbol: e.symbol, exchange: 'binance', isSnapshot: e.kind === 'snapshot', bids, asks, timestamp: new Date(0), localTimestamp: new Date(0) } as never);
  }

  build(name: string): Workload {
    return {
      name, messages: this.snap.length, levelUpdates: this.prices.length, snapshot: Uint8Array.from(this.snap), start: Int32Array.from(this.starts),
      side: Uint8Array.from(this.sides), price: Float64Array.from(this.prices), size: Float64Array.from(this.sizes), changes: this.changes,
    };
  }
}

/** Binance: the snapshot and every diff the builder applies (after sync), as absolute level sizes. */
async function binanceWorkload(spec: string, name: string): Promise<Workload> {
  const wb = new WorkloadBuilder();
  const src = await openSource(spec);
  const b = bookBuilder({ levels: 1, sink: { onRow() {} }, onApplied: (_s, e) => wb.add(e) });
  await src.run(b);
  return wb.build(name);
}

/** GOOG: row 0 as a snapshot, then each visible order message as the new absolute size of its level. */
async function lobsterWorkload(): Promise<Workload> {
  const wb = new WorkloadBuilder();
  const book = new L2Book();
  let first = true;
  let msg: OrderEvent | undefined;
  const rel = new DepthEvent();
  rel.sizes = 'relative';
  const abs = new DepthEvent();
  abs.symbol = 'GOOG';
  const src = await openSource(GOOG);
  await src.run({
    onTrade() {},
    onOrder(o) { msg = o; },
    onDepth(e) {
      if (first) { book.apply(e); wb.add(e); first = false; return; }
      const m = msg!;
      const d = m.type === OrderType.Add ? m.size : m.type === OrderType.Cancel || m.type === OrderType.Delete || m.type === OrderType.Execute ? -m.size : 0;
      if (d === 0) return;
      rel.reset();
      if (m.side === BID) rel.pushBid(m.price, d); else rel.pushAsk(m.price, d);
      book.apply(rel);
      abs.reset();
      const lad = m.side === BID ? book.bids : book.asks;
      if (m.side === BID) abs.pushBid(m.price, lad.sizeAt(m.price)); else abs.pushAsk(m.price, lad.sizeAt(m.price));
      wb.add(abs);
    },
  });
  return wb.build('LOBSTER GOOG day (order messages as level sizes)');
}

const K = 10;
const px = new Float64Array(K), sz = new Float64Array(K), px2 = new Float64Array(K), sz2 = new Float64Array(K);
let sink = 0;

const ev = new DepthEvent();
ev.bidPx = new Float64Array(4096); ev.bidSz = new Float64Array(4096); ev.askPx = new Float64Array(4096); ev.askSz = new Float64Array(4096);

/** Replays per timed run, so each timing lasts long enough (>~50 ms) to be stable on a busy machine. */
const passes = (w: Workload) => Math.max(1, Math.round(400_000 / w.messages));

function runOurs(w: Workload, view: boolean, kind: LadderKind): number {
  const t0 = performance.now();
  for (let p = passes(w); p > 0; p--) replayOurs(w, view, kind);
  return performance.now() - t0;
}

/** What a parser does: refills the one flyweight event with message m. */
function fillEvent(w: Workload, m: number): void {
  const { start, side, price, size } = w;
  ev.kind = w.snapshot[m] === 1 ? 'snapshot' : 'delta';
  let nb = 0, na = 0;
  for (let i = start[m]!; i < start[m + 1]!; i++) {
    if (side[i] === 0) { ev.bidPx[nb] = price[i]!; ev.bidSz[nb++] = size[i]!; }
    else { ev.askPx[na] = price[i]!; ev.askSz[na++] = size[i]!; }
  }
  ev.nBids = nb;
  ev.nAsks = na;
}

function replayOurs(w: Workload, view: boolean, kind: LadderKind): void {
  const b = new L2Book(kind);
  for (let m = 0; m < w.messages; m++) {
    fillEvent(w, m);
    b.apply(ev);
    if (view) { b.top(K, px, sz, px2, sz2); sink += px[0]! + sz2[0]!; }
  }
}

function runTardis(w: Workload, view: boolean): number {
  const t0 = performance.now();
  for (let p = passes(w); p > 0; p--) replayTardis(w, view);
  return performance.now() - t0;
}

function replayTardis(w: Workload, view: boolean): void {
  const b = new OrderBook({ removeCrossedLevels: true });
  for (const c of w.changes) {
    b.update(c as never);
    if (view) {
      let i = 0;
      for (const l of b.bids()) { px[i] = l.price; sz[i] = l.amount; if (++i === K) break; }
      i = 0;
      for (const l of b.asks()) { px2[i] = l.price; sz2[i] = l.amount; if (++i === K) break; }
      sink += px[0]! + sz2[0]!;
    }
  }
}

const fmt = fmtRate;

async function bookBench() {
  const rows: (string | number)[][] = [];
  for (const w of [await binanceWorkload(USDM, 'Binance USD-M BTCUSDT (snapshot + diffs)'), await binanceWorkload(SPOT, 'Binance spot BTCUSDT (snapshot + diffs)'), await lobsterWorkload()]) {
    for (const view of [false, true]) {
      const times: Record<LadderKind | 'tardis', number[]> = { auto: [], tick: [], paged: [], tardis: [] };
      const kinds: LadderKind[] = ['auto', 'tick', 'paged'];
      for (const k of kinds) runOurs(w, view, k);
      runTardis(w, view); // warm-up
      for (let r = 0; r < REPEATS; r++) {
        for (const k of kinds) times[k].push(runOurs(w, view, k));
        times.tardis.push(runTardis(w, view));
      }
      const [a, tk, pg, t] = [median(times.auto), median(times.tick), median(times.paged), median(times.tardis)];
      const chosen = new L2Book('auto');
      runOnce(w, chosen);
      const rate = (ms: number) => `${fmt((w.messages * passes(w)) / (ms / 1000))}/s`;
      rows.push([w.name, view ? 'apply + top-10 view' : 'apply', w.messages.toLocaleString('en-US'), w.levelUpdates.toLocaleString('en-US'),
        `${rate(a)} (${chosen.ladderKind})`, rate(tk), rate(pg), rate(t), `**${(t / a).toFixed(1)}x**`]);
    }
  }
  return markdownTable(['workload', 'per message', 'messages', 'level updates', 'flowcast L2Book, auto (ladder chosen)', 'TickLadder', 'PagedLadder',
    'tardis-dev OrderBook', 'flowcast auto / tardis-dev'], rows);
}

/** Applies the first message only (enough for `auto` to decide). */
function runOnce(w: Workload, b: L2Book): void {
  fillEvent(w, 0);
  b.apply(ev);
}

async function featureBench() {
  // Parse once into rows held in memory, timing the parse + book stage on its own.
  const stored: { ts: Float64Array; book: Float64Array; trades: number[][]; n: number } = { ts: new Float64Array(200_000), book: new Float64Array(200_000 * 40), trades: [], n: 0 };
  const parseTimes: number[] = [];
  let tb!: TimeBaseRef;
  for (let r = 0; r < 3; r++) {
    stored.n = 0;
    stored.trades = [];
    const t0 = performance.now();
    const src = await openSource(GOOG);
    tb = src.timeBase;
    const b = bookBuilder({
      levels: 10,
      sink: {
        onRow(row) {
          const i = stored.n++;
          stored.ts[i] = row.ts;
          stored.book.set(row.bidPx, i * 40); stored.book.set(row.bidSz, i * 40 + 10); stored.book.set(row.askPx, i * 40 + 20); stored.book.set(row.askSz, i * 40 + 30);
          const t: number[] = [];
          for (let k = 0; k < row.nTrades; k++) t.push(row.tradeTs[k]!, row.tradePx[k]!, row.tradeSz[k]!, row.tradeSign[k]!);
          stored.trades.push(t);
        },
      },
    });
    await src.run(b);
    parseTimes.push(performance.now() - t0);
  }
  const computeTimes: number[] = [];
  const labelTimes: number[] = [];
  const tradeStateTimes: number[] = [];
  const row = new BookRow(10);
  row.symbol = 'GOOG';
  row.depthLimit = 10;
  const once = (horizons: number[], mode: 'all' | 'trade-state' = 'all') => {
    const engine = new FeatureEngine(featureOptions({ vpinBucket: 1400, horizons }), tb, (blk) => { sink += blk.values[0]![0]!; }, mode);
    const t0 = performance.now();
    for (let i = 0; i < stored.n; i++) {
      row.ts = stored.ts[i]!;
      row.bidPx.set(stored.book.subarray(i * 40, i * 40 + 10)); row.bidSz.set(stored.book.subarray(i * 40 + 10, i * 40 + 20));
      row.askPx.set(stored.book.subarray(i * 40 + 20, i * 40 + 30)); row.askSz.set(stored.book.subarray(i * 40 + 30, i * 40 + 40));
      const t = stored.trades[i]!;
      row.nTrades = t.length / 4;
      for (let k = 0; k < row.nTrades; k++) { row.tradeTs[k] = t[4 * k]!; row.tradePx[k] = t[4 * k + 1]!; row.tradeSz[k] = t[4 * k + 2]!; row.tradeSign[k] = t[4 * k + 3]!; }
      engine.onRow(row);
    }
    engine.finish();
    return performance.now() - t0;
  };
  once([]);
  for (let r = 0; r < 5; r++) { computeTimes.push(once([])); labelTimes.push(once([10, 50, 100])); tradeStateTimes.push(once([], 'trade-state')); }
  const n = stored.n;
  const p = median(parseTimes), c = median(computeTimes), l = median(labelTimes), ts = median(tradeStateTimes);
  return {
    n,
    table: markdownTable([`stage (GOOG day, ${n.toLocaleString('en-US')} rows, one core)`, 'time', 'rows/s'], [
      ['parse LOBSTER csv.gz pair + build book rows (separate, as the target asks)', `${(p / 1000).toFixed(3)} s`, fmt(n / (p / 1000))],
      [`features: all ${FEATURE_COLUMNS.length} spec columns, float64`, `**${(c / 1000).toFixed(3)} s**`, fmt(n / (c / 1000))],
      [`features: all ${FEATURE_COLUMNS.length} columns + labels (10, 50, 100)`, `${(l / 1000).toFixed(3)} s`, fmt(n / (l / 1000))],
      // What the engine keeps beside kernels (--compute gpujs...): the difference to the row above
      // it is all the calling thread can hand to the kernels (docs/compute.md, why the kernels lose here).
      ['features: the trade state only (VPIN, bars), the engine beside the kernels', `${(ts / 1000).toFixed(3)} s`, fmt(n / (ts / 1000))],
    ]),
    perRowSeconds: (c - ts) / 1000,
  };
}

/** GOOG prefixes of growing length (the same source, 1/4, 1/2 and the whole day), written as csv.gz pairs. */
function googPrefixes(dir: string): [string, string][] {
  const msg = gunzipSync(readFileSync(GOOG_MSG)).toString('latin1').split('\n');
  const ob = gunzipSync(readFileSync(GOOG_OB)).toString('latin1').split('\n');
  const total = msg.length - 1;
  return [4, 2].map((d) => {
    const n = Math.floor(total / d);
    const sub = join(dir, String(d));
    mkdirSync(sub);
    const m = join(sub, 'GOOG_2012-06-21_34200000_57600000_message_10.csv.gz');
    const o = join(sub, 'GOOG_2012-06-21_34200000_57600000_orderbook_10.csv.gz');
    writeFileSync(m, gzipSync(msg.slice(0, n).join('\n') + '\n'));
    writeFileSync(o, gzipSync(ob.slice(0, n).join('\n') + '\n'));
    return [`GOOG, first ${(n).toLocaleString('en-US')} rows`, `lobster:${m},${o}`] as [string, string];
  });
}

function memoryBench() {
  const rows: (string | number)[][] = [];
  const rss: number[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'flowcast-bench-'));
  const inputs = [...googPrefixes(dir), ['GOOG, the whole day', GOOG], ['Binance USD-M capture', USDM]] as [string, string][];
  for (const [name, spec] of inputs) {
    const out = execFileSync(process.execPath, ['--import', 'tsx', 'scripts/lib/peak-rss.ts', spec], { encoding: 'utf8' });
    const r = JSON.parse(out.trim().split('\n').at(-1)!) as { rows: number; maxRssMB: number; heapMB: number };
    rows.push([name, r.rows.toLocaleString('en-US'), `${r.maxRssMB.toFixed(0)} MB`, `${r.heapMB.toFixed(0)} MB`]);
    rss.push(r.maxRssMB);
  }
  rmSync(dir, { recursive: true, force: true });
  // The quarter day against the whole day (4x the input).
  const growth = `${rss[0]!.toFixed(0)} MB to ${rss[2]!.toFixed(0)} MB (+${((rss[2]! / rss[0]! - 1) * 100).toFixed(0)}%)`;
  return { growth, table: markdownTable(['input (flowcast features -> CSV, one child process each)', 'rows', 'peak RSS (VmHWM)', 'heap in use at the end'], rows) };
}

/** One whole process: wall seconds (spawn to exit), and user + system seconds and peak RSS from /usr/bin/time when present. */
function timeProcess(args: string[]): Promise<{ wall: number; cpu: number; rssMB: number }> {
  const TIME = '/usr/bin/time';
  const useTime = existsSync(TIME);
  const report = join(tmpdir(), `flowcast-bench-time-${process.pid}.txt`);
  const [cmd, argv] = useTime ? [TIME, ['-f', '%U %S %M', '-o', report, ...args]] : [args[0]!, args.slice(1)];
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(cmd, argv, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    child.on('error', reject);
    child.on('close', (code) => {
      const wall = (performance.now() - t0) / 1000;
      if (code !== 0) return reject(new Error(`${args.join(' ')} exited ${code}: ${err.slice(-500)}`));
      if (!useTime) return resolve({ wall, cpu: NaN, rssMB: NaN });
      const [u, sy, kb] = readFileSync(report, 'utf8').trim().split('\n').at(-1)!.split(' ').map(Number);
      resolve({ wall, cpu: u! + sy!, rssMB: kb! / 1024 });
    });
  });
}

/**
 * (d) The batch features run end to end with the kernels against the float64 engine alone, on the
 * GOOG day, as whole processes (start-up, gpu.js loading, the kernel thread, parse, write): A B A B
 * ..., the ratio taken pair by pair.
 */
async function computeBench() {
  const pairs = Number(process.env.BENCH_E2E_PAIRS ?? 7);
  const dir = mkdtempSync(join(tmpdir(), 'flowcast-bench-e2e-'));
  const cli = (compute: string) => [process.execPath, 'bin/flowcast.js', 'features', '--source', GOOG, '--out', join(dir, `${compute.replace(':', '-')}.parquet`),
    '--vpin-bucket', '1400', '--compute', compute, '--quiet'];
  const A = 'gpujs:webasm', B = 'cpu';
  const runs: Record<string, { wall: number; cpu: number; rssMB: number }[]> = { [A]: [], [B]: [] };
  const ratios: number[] = [];
  const cpuRatios: number[] = [];
  await timeProcess(cli(A));
  await timeProcess(cli(B));
  for (let i = 0; i < pairs; i++) {
    const a = await timeProcess(cli(A));
    const b = await timeProcess(cli(B));
    runs[A]!.push(a);
    runs[B]!.push(b);
    ratios.push(a.wall / b.wall);
    cpuRatios.push(a.cpu / b.cpu);
  }
  rmSync(dir, { recursive: true, force: true });
  const row = (name: string, what: string) => {
    const r = runs[name]!;
    const w = r.map((x) => x.wall).sort((p, q) => p - q);
    return [`\`--compute ${name}\``, what, `**${median(w).toFixed(2)} s**`, `${w[0]!.toFixed(2)}-${w.at(-1)!.toFixed(2)} s`,
      `${median(r.map((x) => x.cpu)).toFixed(2)} s`, `${median(r.map((x) => x.rssMB)).toFixed(0)} MB`];
  };
  const ratio = median(ratios);
  return {
    ratio, cpuRatio: median(cpuRatios), pairs, ratios, cpuRatios,
    table: markdownTable(['run (GOOG day, 147,916 rows, to Parquet)', 'who computes the per-row columns', 'wall, median', 'wall, min-max', 'CPU (user + sys), median', 'peak RSS'], [
      row(A, 'gpu.js webasm kernels in a worker thread; the engine: VPIN, bars'),
      row(B, 'the float64 engine, every column'),
    ]),
  };
}

const onlyCompute = process.argv.includes('--only') && process.argv[process.argv.indexOf('--only') + 1] === 'compute';
if (onlyCompute) {
  const e2e = await computeBench();
  writeComputeDoc(e2e);
  process.exit(0);
}

function writeComputeDoc(e2e: Awaited<ReturnType<typeof computeBench>>): void {
  const doc = `## Features end to end: the kernels against the engine (\`npm run bench\`, section d)

Machine: ${machineLine()}. \`npx flowcast features --source <GOOG day> --out x.parquet --vpin-bucket 1400\` with
\`--compute gpujs:webasm\` (A) and \`--compute cpu\` (B), each a whole process (start-up, module loading, the
kernel thread, parse, book, features, Parquet), run in alternating pairs A B A B (${e2e.pairs} pairs after one
warm-up each). Wall time from spawn to exit; CPU and peak RSS from \`/usr/bin/time\`. The machine is shared and
was busy: read the min-max spread beside each median.

${e2e.table}

A / B, the median of the pairs' ratios: **wall ${e2e.ratio.toFixed(3)}** (${e2e.ratio < 1 ? `the kernel path ${((1 - e2e.ratio) * 100).toFixed(0)}% faster` : `the kernel path ${((e2e.ratio - 1) * 100).toFixed(0)}% slower`}; pairs: ${e2e.ratios.map((r) => r.toFixed(2)).join(', ')}),
CPU ${e2e.cpuRatio.toFixed(3)} (pairs: ${e2e.cpuRatios.map((r) => r.toFixed(2)).join(', ')}). With kernels the engine computes only VPIN and the bars (docs/compute.md); the
per-row columns are computed once, by the kernels, in a second thread: the wall time can fall while the CPU time
rises (the thread's start-up and gpu.js loading, the row hand-over, the kernels' own work).
`;
  if (!process.argv.includes('--no-doc')) writeDocSection('docs/benchmarks.md', 'bench:features-compute', doc);
  process.stdout.write(doc + '\n');
}

const book = await bookBench();
const feats = await featureBench();
const mem = memoryBench();
const machine = machineLine();
const doc = `## Book rebuild, feature throughput, memory (\`npm run bench\`)

Machine: ${machine}. Medians of ${REPEATS} interleaved runs; every book gets the same pre-parsed
deltas (the Binance snapshot and every diff applied after sync; for GOOG, row 0 then each visible
order message as the new absolute size of its level); parsing is excluded. The top-10 view is what
the feature pipeline reads after every message. flowcast's book has two ladders behind one
interface (src/book/ladder.ts): a learned tick grid, which wins on full-depth venue books where
updates land anywhere among thousands of levels, and sorted pages, which win on small K-level views
whose updates sit at the touch; \`auto\` (the default) picks from the first snapshot's depth
(>= 100 levels a side: grid).

${book}

Feature computation on rows already in memory (parsing measured on its own line):

${feats.table}

Peak memory of a whole \`npx flowcast features\` run (source to CSV) as the same input grows 4x:
sources stream in 1 MiB chunks, rows leave in 8,192-row blocks, and the engine keeps only its
windows: 4x the input took peak RSS from ${mem.growth}, far from 4x. What grows is
V8 sizing its heap for garbage: the heap in use at the end does not follow the input.

${mem.table}
`;
if (!process.argv.includes('--no-doc')) writeDocSection('docs/benchmarks.md', 'bench:book', doc);
process.stdout.write(doc + (sink === 0.5 ? ' ' : '') + '\n');
writeComputeDoc(await computeBench());

// A user's whole `flowcast features` run vs the numpy script (scripts/lib/user-run.ts; its own section).
const userRun = userRunBench(Number(process.env.BENCH_USER_RUNS ?? 5), machine);
if (!process.argv.includes('--no-doc')) writeDocSection('docs/benchmarks.md', 'bench:user-run', userRun);
process.stdout.write(userRun + '\n');
// The backtester's events/s beside the bare book rebuild, and its whole run against features (its own section).
await import('./bench-backtest.ts');
