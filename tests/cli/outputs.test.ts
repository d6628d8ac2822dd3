/**
 * The output files of analytics, record and evaluate (features: tests/cli/features.test.ts): written
 * whole under a temporary name and renamed into place only when the run succeeds, into a directory
 * created if missing; a path that cannot be written is a usage error naming it, never a crash.
 */
import { describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { flowcast, type CliResult } from './run-cli.ts';
import { SPOT_FILE, scratchDir } from '../helpers.ts';

const dir = scratchDir('outputs');

/** The first 3,000 lines of the spot capture, with `insert` before line 2,000 if given. */
function capture(name: string, insert?: string): string {
  const lines = gunzipSync(readFileSync(SPOT_FILE)).toString('utf8').split('\n').slice(0, 3000);
  if (insert !== undefined) lines.splice(1999, 0, insert);
  const f = join(dir, name);
  writeFileSync(f, gzipSync(lines.join('\n') + '\n'));
  return `binance:${f}`;
}

function refusedAsUsage(r: CliResult, command: string, message: string): void {
  expect(r.code).toBe(2);
  expect(r.stderr.split('\n')[0]).toBe(`flowcast ${command}: ${message}`);
  expect(r.stderr).not.toMatch(/internal error|\n\s+at /);
}

describe('command outputs', () => {
  it('analytics: a failed run leaves no --out or --measures file (and an earlier one as it was); missing directories are created', async () => {
    const outDir = join(dir, 'analytics-failed');
    mkdirSync(outDir);
    const alerts = join(outDir, 'alerts.jsonl');
    const measures = join(outDir, 'measures.csv');
    const args = ['analytics', '--source', capture('midbad.jsonl.gz', 'this is not a capture line'), '--out', alerts, '--measures', measures, '--vpin-bucket', '2'];
    const r = await flowcast(args);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/midbad\.jsonl\.gz:2000: /);
    expect(readdirSync(outDir)).toEqual([]);
    writeFileSync(alerts, 'earlier\n');
    expect((await flowcast(args)).code).toBe(1);
    expect(readdirSync(outDir)).toEqual(['alerts.jsonl']);
    expect(readFileSync(alerts, 'utf8')).toBe('earlier\n');

    const a2 = join(dir, 'new', 'a', 'alerts.jsonl');
    const m2 = join(dir, 'new', 'm', 'measures.csv');
    const ok = await flowcast(['analytics', '--source', capture('head.jsonl.gz'), '--out', a2, '--measures', m2, '--vpin-bucket', '2', '--quiet']);
    expect(ok.code).toBe(0);
    expect(readFileSync(m2, 'utf8')).toMatch(/^ts_ns,symbol,/);
    expect(existsSync(a2)).toBe(true);
    expect(readdirSync(join(dir, 'new', 'm'))).toEqual(['measures.csv']);

    const blocker = join(dir, 'analytics-blocker');
    writeFileSync(blocker, '');
    refusedAsUsage(await flowcast(['analytics', '--source', capture('head.jsonl.gz'), '--measures', join(blocker, 'm.csv')]), 'analytics',
      `--measures ${join(blocker, 'm.csv')}: cannot create the directory ${blocker}: ${blocker} is not a directory`);
  });

  it('record: an --out directory that cannot be created is a usage error naming what is in the way', async () => {
    const blocker = join(dir, 'record-blocker');
    writeFileSync(blocker, '');
    const out = join(blocker, 'rec');
    refusedAsUsage(await flowcast(['record', '--source', capture('head.jsonl.gz'), '--out', out]), 'record',
      `--out ${out}: cannot create the directory ${out}: ${blocker} is not a directory`);
    refusedAsUsage(await flowcast(['record', '--out', blocker, '--recover']), 'record',
      `--out ${blocker}: cannot create the directory ${blocker}: ${blocker} is not a directory`);
  });

  it('evaluate: --report into a missing directory is created; one that cannot be is refused before evaluating', async () => {
    const data = join(dir, 'spot-labels.csv');
    expect((await flowcast(['features', '--source', capture('head.jsonl.gz'), '--out', data, '--labels', '--vpin-bucket', '2', '--quiet'])).code).toBe(0);
    const blocker = join(dir, 'evaluate-blocker');
    writeFileSync(blocker, '');
    const bad = join(blocker, 'EVAL.md');
    refusedAsUsage(await flowcast(['evaluate', 'goog-gbdt', '--data', data, '--report', bad]), 'evaluate',
      `--report ${bad}: cannot create the directory ${blocker}: ${blocker} is not a directory`);
    const report = join(dir, 'reports', 'now', 'EVAL.md');
    const r = await flowcast(['evaluate', 'goog-gbdt', '--data', data, '--replicates', '20', '--block', '200', '--baselines', 'none', '--report', report]);
    expect(r.code).toBe(0);
    expect(readFileSync(report, 'utf8')).toMatch(/\| \*\*goog-gbdt\*\* \|/);
    expect(readFileSync(report.replace(/\.md$/, '.html'), 'utf8')).toMatch(/<svg /);
    expect(readdirSync(join(dir, 'reports', 'now')).sort()).toEqual(['EVAL.html', 'EVAL.md']);
  });
});
