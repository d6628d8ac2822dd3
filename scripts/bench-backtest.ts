/**
 * npm run bench:backtest (and a section of npm run bench): the backtester's speed on the GOOG day.
 *  (a) events/s in this process, parsing included, every event of the day (order messages, depth,
 *      trades): the bare book rebuild (source -> book builder, rows dropped), the backtest with a
 *      strategy that does nothing (the server's pipeline: books, features, the engine's clock and
 *      exchange), and the backtest with the bundled market maker; rounds interleaved, medians;
 *  (b) whole processes: `npx flowcast backtest` with the market maker against `npx flowcast features`
 *      on the same day (the bound: less than twice its time), in turn, pairs, medians of the
 *      pair-by-pair ratio, timed by GNU time (wall, user + system).
 * Writes docs/benchmarks.md section bench:backtest unless --no-doc.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSource } from '../src/sources/spec.ts';
import { bookBuilder } from '../src/pipeline/book.ts';
import { runBacktest } from '../src/backtest/run.ts';
import { queueModel } from '../src/backtest/queue/index.ts';
import { builtinStrategies } from '../src/backtest/strategies/index.ts';
import type { Strategy } from '../src/backtest/strategy.ts';
import { GOOG } from '../src/sources/samples.ts';
import { markdownTable, writeDocSection } from './lib/doc-section.ts';
import { fmtRate, machineLine, median } from './lib/stats.ts';

const ROUNDS = Number(process.env.BENCH_BACKTEST_ROUNDS ?? 3);
const PAIRS = Number(process.env.BENCH_BACKTEST_PAIRS ?? 3);
/** What auto sizing gives the GOOG day: fixed so the in-process runs time one pass over the data. */
const GOOG_V = 1400;
const LATENCY = { feed: 0, entry: 100_000, response: 100_000 };

async function bookRebuild(): Promise<{ events: number; seconds: number }> {
  const t0 = performance.now();
  const src = await openSource(GOOG);
  const b = bookBuilder({ levels: 10, sink: { onRow: () => {} } });
  let events = 0;
  await src.run({
    onDepth: (e) => { events++; b.onDepth(e); },
    onTrade: (e) => { events++; b.onTrade(e); },
    onOrder: () => { events++; },
  });
  b.finish();
  return { events, seconds: (performance.now() - t0) / 1000 };
}

async function backtest(strategy: () => Strategy): Promise<{ events: number; seconds: number; fills: number }> {
  const r = await runBacktest(GOOG, strategy(), {
    latency: LATENCY, queue: () => queueModel('risk-averse'), feeMakerBps: 0, feeTakerBps: 0, features: { vpinBucket: GOOG_V },
  });
  return { events: r.record.events, seconds: r.seconds, fills: r.record.fills.length };
}

async function inProcess() {
  const kinds = {
    book: () => bookRebuild(),
    noop: () => backtest(() => ({ name: 'noop' })),
    mm: () => backtest(() => builtinStrategies['market-maker']!({})),
  };
  const runs: Record<keyof typeof kinds, { events: number; seconds: number; fills?: number }[]> = { book: [], noop: [], mm: [] };
  await kinds.book();
  for (let i = 0; i < ROUNDS; i++) for (const k of Object.keys(kinds) as (keyof typeof kinds)[]) runs[k].push(await kinds[k]());
  const rate = (k: keyof typeof kinds) => median(runs[k].map((r) => r.events / r.seconds));
  const secs = (k: keyof typeof kinds) => median(runs[k].map((r) => r.seconds));
  const events = runs.book[0]!.events;
  const table = markdownTable(['in this process, GOOG day, parsing included', 'events', 'seconds (median)', 'events/s (median)', 'vs book rebuild'], [
    ['bare book rebuild (source -> book builder)', events.toLocaleString('en-US'), secs('book').toFixed(2), fmtRate(rate('book')), '1.00x'],
    ['backtest, a strategy that does nothing (pipeline: books, features; engine)', runs.noop[0]!.events.toLocaleString('en-US'), secs('noop').toFixed(2), fmtRate(rate('noop')), `${(rate('book') / rate('noop')).toFixed(2)}x slower`],
    [`backtest, bundled market maker (${runs.mm[0]!.fills} fills)`, runs.mm[0]!.events.toLocaleString('en-US'), secs('mm').toFixed(2), fmtRate(rate('mm')), `${(rate('book') / rate('mm')).toFixed(2)}x slower`],
  ]);
  return { table, rates: { book: rate('book'), noop: rate('noop'), mm: rate('mm') } };
}

interface Run { wall: number; cpu: number }

function timed(cmd: string[]): Run {
  const r = spawnSync('/usr/bin/time', ['-v', ...cmd], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`${cmd.join(' ')} exited ${r.status}:\n${r.stderr.slice(-2000)}`);
  const field = (name: string): string => {
    const m = new RegExp(`${name}: (.+)`).exec(r.stderr);
    if (!m) throw new Error(`${cmd.join(' ')}: no "${name}" from /usr/bin/time`);
    return m[1]!.trim();
  };
  const wall = field('Elapsed \\(wall clock\\) time \\(h:mm:ss or m:ss\\)').split(':').map(Number).reduce((a, x) => a * 60 + x, 0);
  return { wall, cpu: Number(field('User time \\(seconds\\)')) + Number(field('System time \\(seconds\\)')) };
}

function wholeProcesses(): string {
  if (!existsSync('/usr/bin/time')) return 'Whole processes: not measured here (/usr/bin/time, GNU time, is not installed).';
  const dir = mkdtempSync(join(tmpdir(), 'flowcast-bench-backtest-'));
  try {
    const bt = ['npx', 'flowcast', 'backtest', '--source', GOOG, '--strategy', 'market-maker', '--latency-entry', String(LATENCY.entry), '--latency-response', String(LATENCY.response)];
    const feats = ['npx', 'flowcast', 'features', '--source', GOOG, '--out', join(dir, 'goog.parquet'), '--quiet'];
    timed(bt);
    timed(feats);
    const a: Run[] = [];
    const b: Run[] = [];
    for (let i = 0; i < PAIRS; i++) {
      a.push(timed(bt));
      b.push(timed(feats));
    }
    const med = (r: Run[], f: keyof Run) => median(r.map((x) => x[f])).toFixed(2);
    const ratio = (f: keyof Run) => median(a.map((x, i) => x[f] / b[i]![f])).toFixed(2);
    return markdownTable(['whole process (GOOG day)', 'wall (median)', 'CPU user + sys (median)', 'this / features, wall (pairs, median)', 'this / features, CPU'], [
      ['`npx flowcast backtest --source GOOG --strategy market-maker --latency-entry 100000 --latency-response 100000`', `${med(a, 'wall')} s`, `${med(a, 'cpu')} s`, `**${ratio('wall')}x**`, `${ratio('cpu')}x`],
      ['`npx flowcast features --source GOOG --out goog.parquet`', `${med(b, 'wall')} s`, `${med(b, 'cpu')} s`, '1.00x', '1.00x'],
    ]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const load0 = loadavg()[0]!.toFixed(1);
const inp = await inProcess();
const whole = process.argv.includes('--no-processes') ? 'Whole processes: skipped (--no-processes).' : wholeProcesses();
const doc = `## Backtester speed (\`npm run bench:backtest\`, also in \`npm run bench\`)

Command: \`npm run bench:backtest\` (scripts/bench-backtest.ts). Machine: ${machineLine()}; load average
${load0} at the start, ${loadavg()[0]!.toFixed(1)} at the end: the machine was shared, so read the ratios (same run,
interleaved), not the absolute figures. Data: the LOBSTER GOOG day (147,916 messages; each an order
message and a depth event, 11,678 executions also a trade); queue model risk-averse; entry and
response latency 100 us; the in-process runs fix V = ${GOOG_V} (what auto sizing gives), the
whole processes size it themselves as a user's run does. ${ROUNDS} interleaved rounds in process, ${PAIRS} pairs of whole processes after a warm-up of each.

${inp.table}

${whole}
`;
if (!process.argv.includes('--no-doc')) writeDocSection('docs/benchmarks.md', 'bench:backtest', doc);
process.stdout.write(doc + '\n');
