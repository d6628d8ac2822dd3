/**
 * `npm run bench`, section bench:user-run: a user's `flowcast features` run on the GOOG day to
 * Parquet against the plain numpy implementation of the spec (scripts/reference/features_reference.py),
 * as whole processes: each started fresh, in turn (ours, numpy, ours, ...), REPEATS pairs, medians,
 * the ratio taken pair by pair. Timed by GNU time (/usr/bin/time -v: wall, user + system CPU, peak
 * RSS of the largest process), so start-up (npx, module loading) is in the figures.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { GOOG, GOOG_MSG, GOOG_OB } from '../../src/sources/samples.ts';
import { markdownTable, writeDocSection } from './doc-section.ts';
import { machineLine, median } from './stats.ts';

interface Run { wall: number; cpu: number; peakMB: number }

const TIME = '/usr/bin/time';

/** One whole process under GNU time; throws with its output when it fails. */
function timed(cmd: string[], env: NodeJS.ProcessEnv = process.env): Run {
  const r = spawnSync(TIME, ['-v', ...cmd], { encoding: 'utf8', env, maxBuffer: 64 << 20 });
  const field = (name: string): string => {
    const m = new RegExp(`${name}: (.+)`).exec(r.stderr);
    if (!m) throw new Error(`${cmd.join(' ')}: no "${name}" from ${TIME} (exit ${r.status}):\n${r.stderr.slice(-2000)}`);
    return m[1]!.trim();
  };
  if (r.status !== 0) throw new Error(`${cmd.join(' ')} exited ${r.status}:\n${r.stderr.slice(-2000)}`);
  const clock = field('Elapsed \\(wall clock\\) time \\(h:mm:ss or m:ss\\)').split(':').map(Number);
  const wall = clock.reduce((a, x) => a * 60 + x, 0);
  return { wall, cpu: Number(field('User time \\(seconds\\)')) + Number(field('System time \\(seconds\\)')), peakMB: Number(field('Maximum resident set size \\(kbytes\\)')) / 1024 };
}

/** Why the comparison cannot run here, or undefined. */
function missing(): string | undefined {
  if (!existsSync(TIME)) return `${TIME} (GNU time) is not installed`;
  const py = spawnSync('python3', ['-c', 'import numpy'], { encoding: 'utf8' });
  if (py.status !== 0) return `python3 with numpy is not available (${(py.stderr || py.error?.message || '').trim().split('\n').at(-1)})`;
  return undefined;
}

export function userRunBench(repeats: number, machine: string): string {
  const why = missing();
  if (why) return `## A user's run: \`flowcast features\` vs a numpy script\n\nNot measured on this machine: ${why}.\n`;
  const dir = mkdtempSync(join(tmpdir(), 'flowcast-user-run-'));
  try {
    const out = join(dir, 'goog.parquet');
    const ours = ['npx', 'flowcast', 'features', '--source', GOOG, '--out', out, '--quiet'];
    const direct = [process.execPath, 'bin/flowcast.js', 'features', '--source', GOOG, '--out', out, '--quiet'];
    // The numpy script takes V explicitly: 1400 is what auto sizing gives the GOOG day (the summary line says so).
    const numpy = ['python3', 'scripts/reference/features_reference.py', 'lobster', GOOG_MSG, GOOG_OB, join(dir, 'ref.csv'), '--vpin-bucket', '1400'];
    // A warm-up of each: the first run of ours may build dist/ (bin/build.js) and fills the page cache.
    timed(ours);
    timed(numpy);
    const runs: Record<'ours' | 'direct' | 'numpy', Run[]> = { ours: [], direct: [], numpy: [] };
    for (let i = 0; i < repeats; i++) {
      runs.ours.push(timed(ours));
      runs.numpy.push(timed(numpy));
      runs.direct.push(timed(direct));
    }
    const med = (k: keyof typeof runs, f: keyof Run) => median(runs[k].map((r) => r[f]));
    const ratio = (k: 'ours' | 'direct', f: 'wall' | 'cpu') => median(runs.numpy.map((r, i) => r[f] / runs[k][i]![f]));
    const row = (label: string, k: keyof typeof runs) => [label, `${med(k, 'wall').toFixed(2)} s`, `${med(k, 'cpu').toFixed(2)} s`, `${med(k, 'peakMB').toFixed(0)} MB`,
      k === 'numpy' ? '1.00x' : `${ratio(k, 'wall').toFixed(2)}x`, k === 'numpy' ? '1.00x' : `${ratio(k, 'cpu').toFixed(2)}x`];
    const table = markdownTable(
      ['whole process (GOOG day, 147,916 rows)', 'wall', 'CPU (user + sys)', 'peak RSS', 'numpy wall / this', 'numpy CPU / this'],
      [
        row('`npx flowcast features --source lobster:GOOG... --out goog.parquet`', 'ours'),
        row('the same as `node bin/flowcast.js features ...` (no npx)', 'direct'),
        row('numpy script: `python3 scripts/reference/features_reference.py lobster MSG OB ref.csv --vpin-bucket 1400`', 'numpy'),
      ],
    );
    return `## A user's run: \`flowcast features\` vs a numpy script (\`npm run bench\`)

Machine: ${machine}; shared with other work while measured (load average ${loadLine()}): the
ratios, taken pair by pair, are the figures to read. ${repeats} pairs of whole processes, each
started fresh, in turn (ours, numpy, ours without npx), after one warm-up of each; medians.
Timed by GNU time (\`/usr/bin/time -v\`): wall, user + system CPU of the process and its children,
peak RSS of the largest process. Ours writes Parquet (zstd); the numpy script writes CSV, its only
output; both compute every spec column on the same input, V = 1400 (what auto sizing gives GOOG).

${table}
`;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function loadLine(): string {
  return loadavg().map((x) => x.toFixed(1)).join(' ');
}

// Alone (`npx tsx scripts/lib/user-run.ts`): this section only, written into docs/benchmarks.md.
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const doc = userRunBench(Number(process.env.BENCH_USER_RUNS ?? 5), machineLine());
  if (!process.argv.includes('--no-doc')) writeDocSection('docs/benchmarks.md', 'bench:user-run', doc);
  process.stdout.write(doc + '\n');
}
