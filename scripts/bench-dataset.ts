/**
 * Scaling of `flowcast dataset build` with --jobs, as whole processes (start-up included), on a
 * multi-day dataset made from the GOOG sample day copied under other dates. The --jobs values run
 * in turn, A B A B ..., so that the speed-up is taken pair by pair against --jobs 1 of the same
 * round (a busy machine drifts). Each run is `--force` (every partition computed). Also: peak RSS of
 * the whole process per --jobs value, and of one worker carrying N days (--carry) against one day,
 * which shows that a worker's memory does not grow with the length of its input.
 * Writes the table into docs/datasets.md (section bench:dataset).
 *
 *   npm run bench:dataset [-- --days 4 --jobs 1,2 --rounds 3 --no-doc]
 *   (or: npx tsx scripts/bench-dataset.ts ...)
 */
import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { GOOG_MSG, GOOG_OB } from '../src/sources/samples.ts';
import { markdownTable, writeDocSection } from './lib/doc-section.ts';
import { machineLine, median } from './lib/stats.ts';

const { values } = parseArgs({
  options: {
    days: { type: 'string' },
    jobs: { type: 'string' },
    rounds: { type: 'string' },
    'no-doc': { type: 'boolean' },
  },
});
const DAYS = Number(values.days ?? 4);
const JOBS = (values.jobs ?? '1,2').split(',').map(Number);
const ROUNDS = Number(values.rounds ?? 3);

interface Run {
  wall: number;
  cpu: number;
  seconds: number;
  rows: number;
  peakRss: number;
  built: number;
}

const work = mkdtempSync(join(tmpdir(), 'flowcast-bench-dataset-'));
const dates: string[] = [];
for (let d = new Date(Date.UTC(2012, 5, 18)); dates.length < DAYS; d = new Date(d.getTime() + 86_400_000)) {
  if (d.getUTCDay() !== 0 && d.getUTCDay() !== 6) dates.push(d.toISOString().slice(0, 10));
}
const input = join(work, 'in');
mkdirSync(input);
for (const date of dates) {
  copyFileSync(GOOG_MSG, join(input, `GOOG_${date}_34200000_57600000_message_10.csv.gz`));
  copyFileSync(GOOG_OB, join(input, `GOOG_${date}_34200000_57600000_orderbook_10.csv.gz`));
}

function build(args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, ['bin/flowcast.js', 'dataset', 'build', '--force', '--json', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (b: Buffer) => { out += b; });
    child.stderr.on('data', (b: Buffer) => { err += b; });
    child.on('exit', (code) => {
      const wall = (performance.now() - t0) / 1000;
      if (code !== 0) { reject(new Error(`dataset build ${args.join(' ')} exited ${code}: ${err}`)); return; }
      const s = JSON.parse(out) as { seconds: number; rowsBuilt: number; peakRss: number; built: number; cpuSeconds: number };
      resolve({ wall, cpu: s.cpuSeconds, seconds: s.seconds, rows: s.rowsBuilt, peakRss: s.peakRss, built: s.built });
    });
  });
}

const runs = new Map<number, Run[]>(JOBS.map((j) => [j, []]));
const load0 = loadavg()[0]!;
try {
  for (let r = 0; r < ROUNDS; r++) {
    for (const j of r % 2 ? [...JOBS].reverse() : JOBS) {
      const run = await build(['--source', input, '--out', join(work, `ds-${j}`), '--jobs', String(j)]);
      runs.get(j)!.push(run);
      process.stderr.write(`round ${r + 1}: --jobs ${j}: ${run.wall.toFixed(2)} s wall, ${run.cpu.toFixed(2)} s CPU, ${run.rows} rows, peak RSS ${(run.peakRss / 1e6).toFixed(0)} MB\n`);
    }
  }
  // Memory: one worker, one day against one worker carrying every day through one engine.
  const oneDay = await build(['--source', join(input, `GOOG_${dates[0]}_*`), '--out', join(work, 'mem-1'), '--jobs', '1']);
  const carried = await build(['--source', input, '--out', join(work, 'mem-carry'), '--jobs', '1', '--carry']);
  const load1 = loadavg()[0]!;

  const base = runs.get(JOBS[0]!)!;
  const rows = JOBS.map((j) => {
    const rs = runs.get(j)!;
    const ratios = rs.map((x, i) => base[i]!.wall / x.wall);
    const walls = rs.map((x) => x.wall);
    return [
      j,
      `${median(walls).toFixed(2)} (${Math.min(...walls).toFixed(2)}-${Math.max(...walls).toFixed(2)})`,
      Math.round(median(rs.map((x) => x.rows / x.wall))).toLocaleString('en-US'),
      `${median(ratios).toFixed(2)}x`,
      median(rs.map((x) => x.cpu)).toFixed(2),
      `${(median(rs.map((x) => x.cpu / x.wall)) * 100).toFixed(0)}%`,
      `${(median(rs.map((x) => x.peakRss)) / 1e6).toFixed(0)} MB`,
    ];
  });
  const body = [
    `${DAYS} partitions (the GOOG sample day under ${dates[0]}..${dates[dates.length - 1]}, ${base[0]!.rows.toLocaleString('en-US')} rows in all), default parameters (VPIN bucket from a 30-minute warm-up), ` +
      `every run --force; whole processes (\`node bin/flowcast.js dataset build\`, start-up included), ${ROUNDS} rounds, the --jobs values in turn; ` +
      `speed-up = median over rounds of (--jobs ${JOBS[0]} wall / this wall) within a round. CPU / wall: how many cores the run got on average ` +
      `(a run with N workers that gets less than N cores cannot be N times faster).`,
    '',
    markdownTable(['--jobs', 'wall s, median (min-max)', 'rows/s', `speed-up vs --jobs ${JOBS[0]}`, 'CPU s (all threads)', 'CPU / wall', 'peak RSS (process)'], rows),
    '',
    `One worker's memory against the length of its input: peak RSS of the process with --jobs 1 for one day ` +
      `${(oneDay.peakRss / 1e6).toFixed(0)} MB; for all ${DAYS} days carried through one engine (--carry, one task) ${(carried.peakRss / 1e6).toFixed(0)} MB.`,
    '',
    `Machine: ${machineLine()}; ${availableParallelism()} cores available to Node; load average ${load0.toFixed(1)} before, ${load1.toFixed(1)} after ` +
      '(a machine others share: timings are noisy, and a speed-up above 1 needs a core that nobody else is using).',
  ].join('\n');
  process.stdout.write(body + '\n');
  if (!values['no-doc']) writeDocSection('docs/datasets.md', 'bench:dataset', body);
} finally {
  rmSync(work, { recursive: true, force: true });
}
