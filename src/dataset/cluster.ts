/**
 * `flowcast dataset build --cluster redis://...` and `flowcast dataset worker`: the dataset build's
 * tasks (a partition each, or with --carry a symbol's chain of days) run on workers on any machine
 * through a Redis stream (src/cluster/batch.ts), instead of this machine's piscina pool.
 *
 * The coordinator is `buildDataset` with another runner: it plans, skips what is up to date, holds
 * the directory's lock and is the only writer of DIR/_dataset.json, recording each result as it
 * arrives on the run's results stream, exactly as a local build records a pool task's. A worker
 * claims a task, runs the same task code (src/dataset/worker.ts) on its own piscina pool, writes the
 * partition's Parquet into the shared directory (temporary name, renamed into place) and acks.
 *
 * Assumption (docs/cluster.md, "Batch"): the dataset directory is one shared filesystem (NFS, a
 * cloud file share) that every worker mounts, at any path (the worker's --out names it there), and
 * the input files are at the same absolute paths on every machine (the record names them so).
 * The directory holds `.cluster-id`, the id its runs go under in Redis; a worker finds its runs
 * through it, which also shows that its --out is the coordinator's directory.
 */
import { closeSync, existsSync, openSync, readFileSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { Piscina } from 'piscina';
import type { Redis } from 'ioredis';
import { BatchCoordinator, BatchKeys, BatchWorker, type Claimed, type RunInfo } from '../cluster/batch.ts';
import { DEFAULT_PREFIX } from '../cluster/keys.ts';
import { connectRedis, redactUrl, sleep, type RedisLink } from '../cluster/redis.ts';
import { backoffMs } from '../core/backoff.ts';
import { removeTemporaries, workerModule, type PlannedTask, type TaskRunner } from './build.ts';
import type { BuildResult, BuildTask } from './worker.ts';

export const CLUSTER_ID_FILE = '.cluster-id';

export interface ClusterBuildSettings {
  url: string;
  prefix?: string;
  /** A worker silent this long loses its task to another (default 30 s; claims are refreshed every third of it). */
  claimIdleMs?: number;
  /** Tries before a task goes to the dead-letter stream (default 3). */
  maxTries?: number;
  /** How long a finished run's keys stay in Redis (default a day). */
  retentionS?: number;
  /** Status lines (default stderr). */
  log?: (line: string) => void;
}

export const DEFAULT_CLAIM_IDLE_MS = 30_000;
export const DEFAULT_MAX_TRIES = 3;

/** The id DIR's runs go under; made (once, atomically) by the first coordinator. */
export function clusterId(dir: string, create: boolean): string | undefined {
  const path = join(dir, CLUSTER_ID_FILE);
  if (create && !existsSync(path)) {
    try {
      const fd = openSync(path, 'wx');
      writeSync(fd, randomBytes(8).toString('hex') + '\n');
      closeSync(fd);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  }
  if (!existsSync(path)) return undefined;
  const id = readFileSync(path, 'utf8').trim();
  if (!/^[A-Za-z0-9]{1,64}$/.test(id)) throw new Error(`${path}: not a dataset cluster id (${JSON.stringify(id.slice(0, 40))}); remove it and run the coordinator again`);
  return id;
}

const stderrLog = (line: string): void => { process.stderr.write(line + '\n'); };

/** Waits for the connection, saying once that it waits. */
async function ready(link: RedisLink, log: (l: string) => void, who: string): Promise<void> {
  if (link.ready()) return;
  const t = setTimeout(() => log(`${who}: waiting for Redis at ${link.health().url} (${link.health().lastError ?? 'connecting'})`), 2000);
  await link.untilReady();
  clearTimeout(t);
}

/** The dataset build's runner that hands its tasks to cluster workers and waits for their results. */
export function clusterRunner(s: ClusterBuildSettings): TaskRunner {
  const log = s.log ?? stderrLog;
  const claimIdleMs = s.claimIdleMs ?? DEFAULT_CLAIM_IDLE_MS;
  const maxTries = s.maxTries ?? DEFAULT_MAX_TRIES;
  if (!(Number.isInteger(claimIdleMs) && claimIdleMs >= 100)) throw new Error(`dataset cluster: claim idle time ${claimIdleMs} ms: an integer of at least 100`);
  if (!(Number.isInteger(maxTries) && maxTries >= 1)) throw new Error(`dataset cluster: max tries ${maxTries}: an integer of at least 1`);
  return {
    async run(todo: readonly PlannedTask[], events) {
      const dir = todo[0]!.task.datasetDir;
      const keys = new BatchKeys(s.prefix ?? DEFAULT_PREFIX, clusterId(dir, true)!);
      const link = connectRedis(s.url, `flowcast-dataset-coordinator-${process.pid}`);
      try {
        await ready(link, log, 'dataset coordinator');
        const c = new BatchCoordinator(link.redis, keys);
        const run = await c.open(todo.map((t) => JSON.stringify(t.task)), { claimIdleMs, maxTries }, dir);
        log(`dataset coordinator: run ${run}: ${todo.length} tasks in ${keys.tasks(run)} on ${redactUrl(s.url)} ` +
          `(claim idle ${claimIdleMs} ms, ${maxTries} tries); workers: flowcast dataset worker --cluster URL --out ${dir}`);
        const ended = new Map<number, { worker: string; tries: number; state: 'done' | 'dead' }>();
        const workers = new Map<string, { built: number; failedTries: number }>();
        const w = (name: string) => workers.get(name) ?? (workers.set(name, { built: 0, failedTries: 0 }), workers.get(name)!);
        let retries = 0;
        let after = '0-0';
        let quietSince = Date.now();
        let warned = false;
        let down = 0;
        while (ended.size < todo.length) {
          let got;
          try {
            got = await c.results(after, Math.min(1000, claimIdleMs));
            if (down > 0 && !(await c.exists())) {
              throw new Error(`dataset coordinator: Redis lost run ${run} (${keys.job(run)} is gone: restarted without persistence?); ` +
                'run the build again: the partitions recorded so far are kept');
            }
            down = 0;
          } catch (e) {
            if (link.ready() || (e as Error).message.startsWith('dataset coordinator:')) throw e;
            if (down++ === 0) log(`dataset coordinator: Redis unreachable (${link.health().lastError ?? (e as Error).message}); the results wait in ${keys.results(run)}`);
            await sleep(backoffMs(Math.min(down, 10), 50, 2000));
            continue;
          }
          for (const r of got) {
            after = r.id;
            quietSince = Date.now();
            if (ended.has(r.task) || !(r.task >= 0 && r.task < todo.length)) continue;
            const keysOf = todo[r.task]!.task.partitions.map((q) => q.key).join(', ');
            if (r.kind === 'done') {
              ended.set(r.task, { worker: r.worker, tries: r.tries, state: 'done' });
              w(r.worker).built++;
              events.done(r.task, JSON.parse(r.result!) as BuildResult);
            } else if (r.kind === 'retry') {
              retries++;
              w(r.worker).failedTries++;
              log(`dataset coordinator: ${keysOf} failed on try ${r.tries} of ${maxTries} (worker ${r.worker}): ${r.error}`);
            } else {
              ended.set(r.task, { worker: r.worker, tries: r.tries, state: 'dead' });
              events.failed(r.task, r.error ?? 'dead-lettered', r.tries);
              log(`dataset coordinator: ${keysOf} dead-lettered after ${r.tries} tries (${keys.dead(run)}): ${r.error}`);
            }
          }
          if (!warned && Date.now() - quietSince > Math.max(5000, 2 * claimIdleMs) && (await c.liveWorkers(2 * claimIdleMs)).length === 0) {
            warned = true;
            log(`dataset coordinator: no live worker for ${keys.tasks(run)}: start one with flowcast dataset worker --cluster URL --out ${dir}`);
          }
        }
        const dead = await c.deadLetters();
        await c.close(s.retentionS ?? 86_400);
        // Nothing writes now: what a killed worker left half-written goes.
        removeTemporaries(dir);
        const partitions: Record<string, { worker: string; tries: number; state: string }> = {};
        ended.forEach((e, i) => { for (const q of todo[i]!.task.partitions) partitions[q.key] = e; });
        return {
          jobs: workers.size,
          report: {
            redis: redactUrl(s.url),
            prefix: keys.prefix,
            dataset: keys.dataset,
            run,
            tasks: keys.tasks(run),
            deadLetterStream: keys.dead(run),
            claimIdleMs,
            maxTries,
            retries,
            workers: Object.fromEntries([...workers].sort()),
            deadLetters: dead.map((d) => ({ partitions: todo[d.task]!.task.partitions.map((q) => q.key), tries: d.tries, error: d.error, worker: d.worker })),
            partitions,
          },
        };
      } finally {
        await link.close();
      }
    },
  };
}

export interface DatasetWorkerOptions {
  url: string;
  /** The shared dataset directory as this machine mounts it. */
  out: string;
  prefix?: string;
  /** Tasks at once (worker threads); default 1. */
  jobs?: number;
  /** The consumer name (default host-pid). */
  name?: string;
  /** Exit once the current run is finished (wait for one while there is none). */
  untilDone?: boolean;
  /** How long a read for new tasks blocks (ms; default 1,000 or a third of the claim idle time). */
  blockMs?: number;
  log?: (line: string) => void;
  signal?: AbortSignal;
}

export interface WorkerSummary {
  worker: string;
  built: number;
  failedTries: number;
  deadLettered: number;
  /** Tasks whose result was dropped because another worker took them over (this one was silent too long). */
  lost: number;
}

interface InFlight {
  run: number;
  claim: Claimed;
  /** Set when a refresh finds the claim taken by another worker. */
  lost?: boolean;
}

/** Points a task made for the coordinator's directory at this machine's mount of it. */
function remap(task: Omit<BuildTask, 'port'>, dir: string): Omit<BuildTask, 'port'> {
  const out = (p: string): string => {
    const rel = relative(task.datasetDir, p);
    if (rel.startsWith('..') || isAbsolute(rel)) throw new Error(`task output ${p} is outside its dataset directory ${task.datasetDir}`);
    return join(dir, rel);
  };
  return { ...task, datasetDir: dir, partitions: task.partitions.map((q) => ({ ...q, out: out(q.out) })) };
}

/**
 * A worker process: serves DIR's runs until `signal` (then it finishes the tasks in hand and returns)
 * or, with untilDone, until the current run ends.
 */
export async function runDatasetWorker(o: DatasetWorkerOptions): Promise<WorkerSummary> {
  const log = o.log ?? stderrLog;
  const dir = resolve(o.out);
  const name = o.name ?? `${hostname()}-${process.pid}`;
  const jobs = Math.max(1, Math.floor(o.jobs ?? 1));
  const who = `dataset worker ${name}`;
  const sum: WorkerSummary = { worker: name, built: 0, failedTries: 0, deadLettered: 0, lost: 0 };
  const stopped = (): boolean => o.signal?.aborted === true;

  let id = clusterId(dir, false);
  if (!id) {
    log(`${who}: waiting for ${join(dir, CLUSTER_ID_FILE)} (written by the coordinator, flowcast dataset build --cluster ... --out DIR; ` +
      'is this the shared dataset directory?)');
    while (!(id = clusterId(dir, false))) {
      if (stopped()) return sum;
      await sleep(1000);
    }
  }
  const keys = new BatchKeys(o.prefix ?? DEFAULT_PREFIX, id);
  const cmd = connectRedis(o.url, `flowcast-dataset-worker-${process.pid}`);
  const readers = Array.from({ length: jobs }, (_, k) => connectRedis(o.url, `flowcast-dataset-worker-${process.pid}-read${k}`));
  const q = new BatchWorker(cmd.redis, keys, name);
  const w = workerModule();
  const pool = new Piscina({ filename: w.filename, execArgv: w.execArgv, minThreads: 1, maxThreads: jobs, concurrentTasksPerWorker: 1, idleTimeout: 5000 });
  const inflight = new Map<string, InFlight>();
  let run: RunInfo | undefined;
  let beat: NodeJS.Timeout | undefined;
  let closed = false;

  // Claims stay fresh while their tasks run. A claim another worker took (this one was silent past
  // the idle time) is not aborted: terminating a worker thread in the middle of its Parquet writer
  // aborts the whole process when it exits (a native Napi::Error at the thread's teardown). The task
  // runs to its end and its ack is refused; its file, renamed into place, has the same bytes as the
  // other worker's (a partition's build is deterministic).
  const heartbeat = async (): Promise<void> => {
    try {
      await q.heartbeat();
      const byRun = new Map<number, string[]>();
      for (const f of inflight.values()) byRun.set(f.run, [...(byRun.get(f.run) ?? []), f.claim.id]);
      for (const [r, ids] of byRun) {
        for (const lost of await q.refresh(r, ids)) {
          const f = inflight.get(lost);
          if (f && !f.lost) {
            f.lost = true;
            log(`${who}: task ${f.claim.task} (${lost}): another worker took it over (this one was silent past the claim idle time); its result will be dropped`);
          }
        }
      }
    } catch { /* Redis down: the read loop says so; the claims may expire meanwhile */ }
    if (!closed) beat = setTimeout(() => void heartbeat(), Math.max(50, Math.min(1000, (run?.claimIdleMs ?? 3000) / 3)));
  };

  const slot = async (reader: Redis): Promise<void> => {
    let fails = 0;
    while (!stopped()) {
      let c: Claimed | undefined;
      let r: RunInfo | undefined;
      try {
        await ready(cmd, log, who);
        r = run = await q.current();
        if (!r || r.state !== 'running') {
          if (o.untilDone && r?.state === 'done') return;
          await sleep(o.blockMs ?? 1000);
          continue;
        }
        c = await q.claim(r, reader, o.blockMs ?? Math.max(50, Math.min(1000, Math.floor(r.claimIdleMs / 3))));
        fails = 0;
      } catch (e) {
        if (fails++ === 0) log(`${who}: Redis: ${(e as Error).message}; retrying`);
        await sleep(backoffMs(Math.min(fails, 10), 50, 2000));
        continue;
      }
      if (!c) continue;
      if (stopped()) {
        // Claimed as the stop came: handed back at once for another worker.
        await settle(() => q.retry(r!, c!, `${who} stopped before building it`, r!.claimIdleMs));
        return;
      }
      await work(r, c);
    }
  };

  const work = async (r: RunInfo, c: Claimed): Promise<void> => {
    let task: Omit<BuildTask, 'port'>;
    let what = `task ${c.task} (${c.id})`;
    try {
      task = remap(JSON.parse(c.payload) as Omit<BuildTask, 'port'>, dir);
      what = task.partitions.map((p) => p.key).join(', ');
    } catch (e) {
      // A payload this worker cannot use will not improve with tries.
      await settle(() => q.dead(r.run, c, c.deliveries, `${who}: unreadable task: ${(e as Error).message}`));
      sum.deadLettered++;
      return;
    }
    if (c.deliveries > r.maxTries) {
      // Its workers died on each of its tries (no error reported the last time).
      if (await settle(() => q.dead(r.run, c, c.deliveries - 1, ''))) {
        sum.deadLettered++;
        log(`${who}: ${what}: dead-lettered after ${c.deliveries - 1} tries (${keys.dead(r.run)})`);
      }
      return;
    }
    log(`${who}: building ${what} (try ${c.deliveries} of ${r.maxTries}, run ${r.run})`);
    const f: InFlight = { run: r.run, claim: c };
    inflight.set(c.id, f);
    try {
      const res = (await pool.run(task)) as BuildResult;
      if (await settle(() => q.done(r.run, c, JSON.stringify(res)))) {
        sum.built++;
        log(`${who}: built ${what} (${res.partitions.reduce((a, p) => a + p.rows, 0)} rows)`);
      } else {
        sum.lost++;
        log(`${who}: ${what}: built, but another worker holds it now (this one was silent past the claim idle time); result dropped`);
      }
    } catch (e) {
      if (f.lost) {
        // Another worker holds it: its failure or success is that worker's to report.
        sum.lost++;
        log(`${who}: ${what}: failed after another worker took it over: ${(e as Error).message}`);
      } else {
        const msg = (e as Error).message;
        const last = c.deliveries >= r.maxTries;
        // Tried again after a delay that doubles with each try (a file share's hiccup may pass).
        const held = await settle(() => (last ? q.dead(r.run, c, c.deliveries, msg)
          : q.retry(r, c, msg, Math.min(r.claimIdleMs, 500 * 2 ** (c.deliveries - 1)))));
        if (!held) {
          sum.lost++;
          log(`${who}: ${what}: failed after another worker took it over: ${msg}`);
        } else if (last) {
          sum.deadLettered++;
          log(`${who}: ${what}: failed on try ${c.deliveries}, the last: dead-lettered (${keys.dead(r.run)}): ${msg}`);
        } else {
          sum.failedTries++;
          log(`${who}: ${what}: failed on try ${c.deliveries} of ${r.maxTries}: ${msg}`);
        }
      }
    } finally {
      inflight.delete(c.id);
    }
  };

  /** One ending call, retried while Redis is down and the claim can still be ours; false when it was not (or no longer) held. */
  const settle = async (call: () => Promise<boolean>): Promise<boolean> => {
    for (let k = 1; ; k++) {
      try {
        return await call();
      } catch (e) {
        if (k === 1) log(`${who}: Redis: ${(e as Error).message}; retrying`);
        if (stopped() && k > 3) return false;
        await sleep(backoffMs(Math.min(k, 10), 50, 2000));
      }
    }
  };

  try {
    await ready(cmd, log, who);
    await heartbeat();
    log(`${who}: serving ${dir} (${keys.current()} on ${redactUrl(o.url)}, ${jobs} at once)`);
    await Promise.all(readers.map((l) => slot(l.redis)));
  } finally {
    closed = true;
    if (beat) clearTimeout(beat);
    await pool.destroy();
    await Promise.all([cmd, ...readers].map((l) => l.close()));
  }
  return sum;
}
