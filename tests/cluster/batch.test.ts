/**
 * The batch role as real CLI processes: `flowcast dataset build --cluster ...` (the coordinator)
 * and two `flowcast dataset worker --cluster ... --out DIR` processes against a private
 * redis-server. A worker killed with SIGKILL in the middle of a partition: the other worker claims
 * that partition after the claim idle time and builds it, and the dataset equals a local `dataset
 * build`'s. A partition that always fails ends in the run's dead-letter stream after N tries.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hostname } from 'node:os';
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { buildDataset } from '../../src/dataset/build.ts';
import { readRecord } from '../../src/dataset/record.ts';
import { scratchDir } from '../helpers.ts';
import { lobsterDays } from '../dataset/fixtures.ts';
import { datasetParams } from '../dataset/params.ts';
import { datasetRows, firstDifference } from '../dataset/read.ts';
import { NO_REDIS, disposeRedis, redisAvailable, startRedis, until, type TestRedis } from './redis-server.ts';

const HAVE = redisAvailable();
if (!HAVE) console.warn(`tests/cluster/batch: skipped: ${NO_REDIS}`);

/** A CLI process whose stderr lines the test can wait on. */
class Cli {
  out = '';
  err = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private waiters: { re: RegExp; resolve: (m: RegExpExecArray) => void }[] = [];
  constructor(readonly name: string, readonly p: ChildProcess) {
    p.stdout!.on('data', (b: Buffer) => { this.out += b.toString(); });
    p.stderr!.on('data', (b: Buffer) => {
      this.err += b.toString();
      this.waiters = this.waiters.filter((w) => {
        const m = w.re.exec(this.err);
        if (m) w.resolve(m);
        return !m;
      });
    });
    this.exited = new Promise((resolve) => p.once('exit', (code, signal) => resolve({ code, signal })));
  }
  /** Resolves with the first match of `re` in stderr; rejects if the process ends first. */
  line(re: RegExp): Promise<RegExpExecArray> {
    const m = re.exec(this.err);
    if (m) return Promise.resolve(m);
    return new Promise((resolve, reject) => {
      this.waiters.push({ re, resolve });
      void this.exited.then((x) => reject(new Error(`${this.name} ended (${x.code ?? x.signal}) before printing ${re}:\n${this.err.slice(-3000)}`)));
    });
  }
}

const procs: Cli[] = [];
function flowcast(name: string, args: string[]): Cli {
  const p = spawn(process.execPath, ['bin/flowcast.js', ...args], {
    env: { ...process.env, FLOWCAST_TSX: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const c = new Cli(name, p);
  procs.push(c);
  return c;
}

interface Summary {
  built: number;
  skipped: number;
  failed: { partitions: string[]; error: string; tries?: number }[];
  runner: {
    run: number;
    retries: number;
    deadLetterStream: string;
    deadLetters: { partitions: string[]; tries: number; error: string }[];
    partitions: Record<string, { worker: string; tries: number; state: string }>;
  };
}

const dir = scratchDir('cluster-batch');
const DATES = ['2012-06-20', '2012-06-21'];
const params = datasetParams({ vpinBucket: 2, vpinWarmup: null });
const flags = ['--vpin-bucket', '2', '--json'];

describe.skipIf(!HAVE)('dataset build --cluster: a coordinator and two workers as processes', { timeout: 600_000 }, () => {
  let r: TestRedis;
  let admin: Redis;
  beforeAll(async () => {
    r = await startRedis();
    admin = new Redis(r.url);
    admin.on('error', () => undefined);
  });
  afterAll(async () => {
    for (const c of procs) if (c.p.exitCode === null && c.p.signalCode === null) c.p.kill('SIGKILL');
    admin?.disconnect();
    if (r) await disposeRedis(r);
  });

  it('kill -9 a worker mid-partition: the other claims and builds it; the dataset equals a local build; a re-run skips it all', async () => {
    const src = join(dir, 'in');
    lobsterDays(src, DATES);
    const out = join(dir, 'ds');
    // A claim idle time long enough that a live worker on a busy machine keeps its claims (refreshed every third of it).
    const coordArgs = ['dataset', 'build', '--cluster', r.url, '--source', src, '--out', out, '--claim-idle-ms', '3000', ...flags];
    const coord = flowcast('coordinator', coordArgs);
    await coord.line(/dataset coordinator: run 1: 2 tasks/);
    // A takes a partition first; B (spelled as build --role worker) starts while A builds, takes the other.
    const a = flowcast('worker-a', ['dataset', 'worker', '--cluster', r.url, '--out', out, '--name', 'worker-a']);
    const key = (await a.line(/building (venue=\S+) \(try 1 of 3, run 1\)/))[1]!;
    const b = flowcast('worker-b', ['dataset', 'build', '--role', 'worker', '--cluster', r.url, '--out', out, '--name', 'worker-b', '--until-done']);

    // A is mid-partition once its temporary Parquet file (named with its pid) is on disk.
    const tmp = join(out, key, `.part-0.parquet.${hostname()}-${a.p.pid}.tmp`);
    await until(() => existsSync(tmp) || a.p.exitCode !== null, `worker A's temporary ${tmp}`, 120_000);
    expect(existsSync(join(out, key, 'part-0.parquet')), 'A had not finished it').toBe(false);
    a.p.kill('SIGKILL');
    expect((await a.exited).signal).toBe('SIGKILL');

    const ended = await coord.exited;
    expect(ended.code, coord.err.slice(-3000)).toBe(0);
    const s = JSON.parse(coord.out) as Summary;
    expect(s).toMatchObject({ built: DATES.length, skipped: 0, failed: [] });
    // The killed partition: claimed again (a second delivery) and built by B.
    expect(s.runner.partitions[key]).toEqual({ worker: 'worker-b', tries: 2, state: 'done' });
    expect((await b.exited).code).toBe(0);
    expect(b.err).toContain(`building ${key} (try 2 of 3, run 1)`);
    expect(s.runner.deadLetters).toEqual([]);

    // No temporary left, and the same rows as a local build.
    expect((readdirSync(out, { recursive: true }) as string[]).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    const local = join(dir, 'local');
    const l = await buildDataset({ sources: [src], out: local, params, jobs: 1, progress: false });
    expect(l.built).toBe(DATES.length);
    const rows = await datasetRows(out);
    expect(rows.n).toBeGreaterThan(DATES.length * 100_000);
    expect(firstDifference(rows, await datasetRows(local))).toBeUndefined();
    expect(Object.keys(readRecord(out)!.partitions)).toEqual(Object.keys(readRecord(local)!.partitions));
    expect(readRecord(out)!.paramsHash).toBe(readRecord(local)!.paramsHash);

    // A re-run finds every partition up to date: nothing published, no new run.
    const again = flowcast('coordinator-again', coordArgs);
    expect((await again.exited).code).toBe(0);
    expect(JSON.parse(again.out)).toMatchObject({ built: 0, skipped: DATES.length, failed: [] });
    const id = readFileSync(join(out, '.cluster-id'), 'utf8').trim();
    expect(await admin.get(`flowcast:batch:${id}:runs`)).toBe('1');
  });

  it('a worker paused past the claim idle time loses its partition to another; resumed, its result is dropped: recorded once', async () => {
    const src = join(dir, 'in-paused');
    lobsterDays(src, ['2012-06-27']);
    const out = join(dir, 'ds-paused');
    const coord = flowcast('coordinator-paused', ['dataset', 'build', '--cluster', r.url, '--source', src, '--out', out, '--claim-idle-ms', '2000', ...flags]);
    await coord.line(/dataset coordinator: run 1: 1 tasks/);
    const a = flowcast('worker-e', ['dataset', 'worker', '--cluster', r.url, '--out', out, '--name', 'worker-e']);
    const key = (await a.line(/building (venue=\S+) \(try 1 of 3, run 1\)/))[1]!;
    await until(() => existsSync(join(out, key, `.part-0.parquet.${hostname()}-${a.p.pid}.tmp`)) || a.p.exitCode !== null, 'worker E mid-partition', 120_000);
    a.p.kill('SIGSTOP');
    const b = flowcast('worker-f', ['dataset', 'worker', '--cluster', r.url, '--out', out, '--name', 'worker-f', '--until-done']);
    expect((await coord.exited).code, coord.err.slice(-3000)).toBe(0);
    const s = JSON.parse(coord.out) as Summary;
    expect(s.runner.partitions[key]).toEqual({ worker: 'worker-f', tries: 2, state: 'done' });
    expect((await b.exited).code).toBe(0);
    // Resumed, E finds its claim gone (at its next refresh, or when its ack is refused; or its write
    // fails, the coordinator having removed the run's temporaries when it ended): nothing of it counts.
    a.p.kill('SIGCONT');
    await a.line(/another worker (took it over|holds it now)/);
    a.p.kill('SIGTERM');
    expect((await a.exited).code).toBe(0);
    expect(a.err).toMatch(/worker-e: built 0, 0 failed tries, 0 dead-lettered, 1 taken over by others/);
    const rec = readRecord(out)!;
    expect(Object.keys(rec.partitions)).toEqual([key]);
    expect((await datasetRows(out)).n).toBe(rec.partitions[key]!.rows);
  });

  it('a partition that always fails is dead-lettered after --max-tries tries and reported; the others are built', async () => {
    const src = join(dir, 'in-bad');
    const [msg] = lobsterDays(src, ['2012-06-25', '2012-06-26']);
    // Day one's message file cut short at line 500: every try fails there.
    const lines = gunzipSync(readFileSync(msg!)).toString('utf8').split('\n');
    lines[499] = lines[499]!.slice(0, 7);
    writeFileSync(msg!, gzipSync(lines.join('\n')));
    const out = join(dir, 'ds-bad');
    const coord = flowcast('coordinator-bad', ['dataset', 'build', '--cluster', r.url, '--source', src, '--out', out,
      '--claim-idle-ms', '3000', '--max-tries', '2', ...flags]);
    await coord.line(/dataset coordinator: run 1: 2 tasks/);
    const workers = ['worker-c', 'worker-d'].map((n) => flowcast(n, ['dataset', 'worker', '--cluster', r.url, '--out', out, '--name', n, '--until-done']));

    const ended = await coord.exited;
    expect(ended.code, coord.err.slice(-3000)).toBe(1);
    const s = JSON.parse(coord.out) as Summary;
    const bad = 'venue=lobster/symbol=GOOG/date=2012-06-25';
    expect(s.built).toBe(1);
    expect(s.failed).toHaveLength(1);
    expect(s.failed[0]).toMatchObject({ partitions: [bad], tries: 2 });
    expect(s.failed[0]!.error).toMatch(/GOOG_2012-06-25_34200000_57600000_message_10\.csv\.gz:500: /);
    expect(s.runner.retries).toBe(1);
    expect(s.runner.deadLetters).toEqual([{ partitions: [bad], tries: 2, error: s.failed[0]!.error, worker: expect.stringMatching(/^worker-[cd]$/) }]);
    expect(s.runner.partitions[bad]).toMatchObject({ tries: 2, state: 'dead' });
    expect(coord.err).toContain(`dataset: failed ${bad} (dead-lettered after 2 tries)`);

    // The dead-letter stream in Redis holds the task itself, its tries and its error.
    const dead = (await admin.xrange(s.runner.deadLetterStream, '-', '+')) as [string, string[]][];
    expect(dead).toHaveLength(1);
    const f = Object.fromEntries(dead[0]![1].reduce<[string, string][]>((acc, v, i, all) => (i % 2 ? acc : [...acc, [v, all[i + 1]!]]), []));
    expect(f['n']).toBe('2');
    expect(f['e']).toBe(s.failed[0]!.error);
    expect((JSON.parse(f['t']!) as { partitions: { key: string }[] }).partitions.map((p) => p.key)).toEqual([bad]);
    for (const w of workers) expect((await w.exited).code).toBe(0);
    // Two tries of it, across the two workers' logs.
    const tries = workers.flatMap((w) => [...w.err.matchAll(new RegExp(`building ${bad.replaceAll('/', '\\/')} \\(try (\\d) of 2`, 'g'))].map((m) => m[1]));
    expect(tries.sort()).toEqual(['1', '2']);
    expect(Object.keys(readRecord(out)!.partitions)).toEqual(['venue=lobster/symbol=GOOG/date=2012-06-26']);
  });
});
