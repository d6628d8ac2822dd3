import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildDataset } from '../../src/dataset/build.ts';
import { readRecord } from '../../src/dataset/record.ts';
import { scratchDir } from '../helpers.ts';
import { flowcast } from '../cli/run-cli.ts';
import { binanceDays } from './fixtures.ts';
import { datasetParams } from './params.ts';
import { datasetRows, firstDifference } from './read.ts';

const dir = scratchDir('dataset-resume');
const DAYS = 6;
binanceDays(join(dir, 'in'), DAYS);
const args = (out: string): string[] => ['dataset', 'build', '--source', join(dir, 'in'), '--out', out, '--vpin-bucket', '2', '--labels', '--jobs', '1', '--quiet'];

function recorded(out: string): number {
  try {
    return Object.keys(JSON.parse(readFileSync(join(out, '_dataset.json'), 'utf8')).partitions).length;
  } catch {
    return 0; // not written yet
  }
}

const temporaries = (out: string): string[] =>
  existsSync(out) ? (readdirSync(out, { recursive: true }) as string[]).filter((f) => /(^|\/)\.part-0\.parquet\.[^/]*-\d+\.tmp$/.test(f)) : [];

describe('dataset build killed with kill -9 and run again', { timeout: 300_000 }, () => {
  it('ends with exactly the rows of an uninterrupted run', async () => {
    const out = join(dir, 'killed');
    const child = spawn(process.execPath, ['bin/flowcast.js', ...args(out)], { stdio: 'ignore' });
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, sig) => resolve(sig)));
    // Kill it while a partition is half written: one already recorded, the next one's temporary on disk.
    let killedMidway = false;
    await new Promise<void>((resolve, reject) => {
      const look = (): void => {
        if (child.exitCode !== null) { reject(new Error(`the build ended (code ${child.exitCode}) before it could be killed midway`)); return; }
        if (recorded(out) >= 1 && temporaries(out).length > 0) {
          child.kill('SIGKILL');
          killedMidway = true;
          resolve();
          return;
        }
        setTimeout(look, 5);
      };
      look();
    });
    expect(killedMidway).toBe(true);
    expect(await exited).toBe('SIGKILL');
    const before = recorded(out);
    expect(before).toBeGreaterThanOrEqual(1);
    expect(before).toBeLessThan(DAYS);
    expect(temporaries(out).length).toBeGreaterThan(0);

    const again = await flowcast([...args(out).filter((a) => a !== '--quiet'), '--json']);
    expect(again.code).toBe(0);
    const summary = JSON.parse(again.stdout) as { built: number; skipped: number };
    expect(summary.skipped).toBe(before);
    expect(summary.built).toBe(DAYS - before);
    expect(temporaries(out)).toEqual([]);
    expect(Object.keys(readRecord(out)!.partitions)).toHaveLength(DAYS);

    const clean = join(dir, 'clean');
    await buildDataset({ sources: [join(dir, 'in')], out: clean, params: datasetParams({ vpinBucket: 2, vpinWarmup: null, horizons: [10, 50, 100] }), jobs: 2, progress: false });
    const a = await datasetRows(out);
    expect(a.n).toBeGreaterThan(DAYS * 3000);
    expect(firstDifference(a, await datasetRows(clean))).toBeUndefined();
    // Same parameters recorded both ways: the CLI's flags and the API's defaults agree.
    expect(readRecord(out)!.paramsHash).toBe(readRecord(clean)!.paramsHash);
  });
});
