/**
 * Child process for the memory benchmark: runs the features pipeline to a CSV and prints the
 * process's peak resident memory. Read from /proc/self/status (VmHWM): getrusage's maxrss is
 * inherited across fork/exec on Linux and would report the parent's peak.
 */
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runFeatures } from '../../src/pipeline/features.ts';
import { CsvFeatureWriter } from '../../src/store/csv.ts';

function peakRssMB(): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
    if (m) return Number(m[1]) / 1024;
  } catch { /* not Linux */ }
  return process.resourceUsage().maxRSS / 1024;
}

const spec = process.argv[2]!;
const out = join(tmpdir(), `flowcast-peak-${process.pid}.csv`);
const res = await runFeatures(spec, {}, (cols, tb) => new CsvFeatureWriter(out, cols, tb));
const heapMB = process.memoryUsage().heapUsed / 2 ** 20;
rmSync(out, { force: true });
process.stdout.write(JSON.stringify({ rows: res.output.rows, maxRssMB: peakRssMB(), heapMB }) + '\n');
