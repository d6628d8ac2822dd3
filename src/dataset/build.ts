/**
 * `flowcast dataset build`: inputs discovered from --source, planned into tasks (a partition each,
 * or with --carry a symbol's chain of days), the tasks whose partitions are recorded with the same
 * parameters and unchanged inputs skipped, the rest run on a piscina worker pool, each result
 * recorded in DIR/_dataset.json as soon as its files are in place. See docs/datasets.md.
 */
import { MessageChannel } from 'node:worker_threads';
import { closeSync, existsSync, openSync, readFileSync, readdirSync, rmSync, rmdirSync, statSync, writeSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { createRequire } from 'node:module';
import { dirname, extname, join, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Piscina } from 'piscina';
import { InputError, InputErrorCode } from '../core/errors.ts';
import { ensureDir } from '../store/files.ts';
import { discoverInputs, partitionKey, type DatasetInput } from './discover.ts';
import {
  DATASET_FILE, PART_FILE, emptyRecord, paramsHash, readRecord, sameInputs, writeRecord,
  type DatasetParams, type DatasetRecord, type InputFile,
} from './record.ts';
import { BuildProgress } from './progress.ts';
import type { BuildResult, BuildTask, ProgressMessage, TaskPartition } from './worker.ts';

export interface BuildOptions {
  sources: readonly string[];
  out: string;
  params: DatasetParams;
  /** Worker threads (default: the machine's cores). */
  jobs?: number;
  force?: boolean;
  /** Progress on stderr: forced on or off; default only when stderr is a terminal. */
  progress?: boolean;
  progressOut?: NodeJS.WritableStream & { isTTY?: boolean };
  /** Where the tasks run: this machine's piscina pool (default), or workers elsewhere (src/dataset/cluster.ts). */
  runner?: TaskRunner;
}

/** A task to run and the input bytes it reads (the ETA's measure). */
export interface PlannedTask {
  task: Omit<BuildTask, 'port'>;
  bytes: number;
}

/** What a runner reports back, by task index; the build records each result as it comes. */
export interface RunnerEvents {
  progress(i: number, rows: number, bytes: number): void;
  done(i: number, res: BuildResult): void;
  /** The task failed for good (`tries`: how many times it was tried, where a runner retries). */
  failed(i: number, error: string, tries?: number): void;
}

export interface TaskRunner {
  /** Runs every task once to its end (done or failed); `jobs`: how many ran at once, for the summary. */
  run(tasks: readonly PlannedTask[], events: RunnerEvents): Promise<{ jobs: number; report?: Record<string, unknown> }>;
}

export interface BuildSummary {
  dir: string;
  planned: number;
  built: number;
  skipped: number;
  failed: { partitions: string[]; error: string; tries?: number }[];
  /** Rows written by this run, and in the whole dataset afterwards. */
  rowsBuilt: number;
  rowsTotal: number;
  /** prev-day warm-up days read for sizing only. */
  warmupDays: string[];
  ignored: string[];
  jobs: number;
  seconds: number;
  /** Input bytes this run read (features passes and warm-up passes). */
  bytesRead: number;
  /** Peak resident set of the whole process (main thread and workers), bytes. */
  peakRss: number;
  /** CPU time of the whole process (user + system, every thread), seconds. */
  cpuSeconds: number;
  /** Partitions recorded before with other parameters and not planned now, removed by --force. */
  removed: string[];
  /** What a runner other than the local pool reported (the cluster's workers, retries, dead letters). */
  runner?: Record<string, unknown>;
}

export function defaultJobs(): number {
  return availableParallelism();
}

function version(): string {
  return (createRequire(import.meta.url)('../../package.json') as { version: string }).version;
}

/** The worker module beside this one (.ts under the TypeScript loader, .js when compiled), and how a worker loads it. */
export function workerModule(): { filename: string; execArgv?: string[] } {
  const here = fileURLToPath(import.meta.url);
  const ext = extname(here);
  const filename = join(dirname(here), `worker${ext}`);
  if (ext !== '.ts') return { filename };
  // Worker threads start without the loader the CLI registered in its own thread: give them tsx's.
  const tsx = join(dirname(createRequire(import.meta.url).resolve('tsx/package.json')), 'dist', 'loader.mjs');
  return { filename, execArgv: ['--import', pathToFileURL(tsx).href] };
}

function absSpec(i: DatasetInput): DatasetInput {
  const files = i.files.map((f) => resolve(f));
  return { ...i, files, spec: `${i.spec.slice(0, i.spec.indexOf(':'))}:${files.join(',')}` };
}

/** What differs between two parameter sets, as `name a -> b`. */
function paramDiff(a: DatasetParams, b: DatasetParams): string {
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
  return keys
    .filter((k) => JSON.stringify((a as unknown as Record<string, unknown>)[k]) !== JSON.stringify((b as unknown as Record<string, unknown>)[k]))
    .map((k) => `${k} ${JSON.stringify((a as unknown as Record<string, unknown>)[k])} -> ${JSON.stringify((b as unknown as Record<string, unknown>)[k])}`)
    .join(', ');
}

/** Temporaries a killed run left (a partition's `.part-0.parquet.PID.tmp`, the record's), removed before a run. */
export function removeTemporaries(dir: string): number {
  let n = 0;
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.startsWith('.') && e.name.endsWith('.tmp')) { rmSync(p, { force: true }); n++; }
    }
  };
  walk(dir);
  return n;
}

/** The process's peak resident set (all its threads): VmHWM, as getrusage's maxrss on Linux is inherited across exec. */
function peakRssBytes(): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
    if (m) return Number(m[1]) * 1024;
  } catch { /* not Linux */ }
  return process.resourceUsage().maxRSS * 1024;
}

/** A partition's file and then its hive directories as far as they are left empty. */
function removePartitionFile(dir: string, file: string): void {
  rmSync(join(dir, file), { force: true });
  for (let d = dirname(join(dir, file)); d.startsWith(dir + sep) && d !== dir; d = dirname(d)) {
    try {
      rmdirSync(d);
    } catch {
      break; // not empty
    }
  }
}

/** One build per directory at a time: a lock file holding the builder's pid, taken over when that process is gone. */
function lock(dir: string): () => void {
  const path = join(dir, '.build.lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => rmSync(path, { force: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const pid = Number(readFileSync(path, 'utf8'));
      let alive = false;
      try {
        if (pid > 0 && pid !== process.pid) { process.kill(pid, 0); alive = true; }
      } catch { /* no such process: a killed build's lock */ }
      if (alive) throw new InputError(InputErrorCode.Format, dir, undefined, `another dataset build (pid ${pid}) is writing here; wait for it or remove ${path}`);
      rmSync(path, { force: true });
    }
  }
  throw new InputError(InputErrorCode.Format, dir, undefined, `cannot take ${path}`);
}

/** The tasks for `inputs` (sorted by venue, symbol, date), and the prev-day warm-up days. */
function plan(inputs: DatasetInput[], dir: string, params: DatasetParams, hash: string): { tasks: PlannedTask[]; warmupDays: DatasetInput[] } {
  const groups = new Map<string, DatasetInput[]>();
  for (const i of inputs) {
    const k = `${i.venue}\0${i.symbol}`;
    groups.set(k, [...(groups.get(k) ?? []), i]);
  }
  const tasks: PlannedTask[] = [];
  const warmupDays: DatasetInput[] = [];
  const prevDay = params.vpinBucket === 'auto' && params.vpinWarmup === 'prev-day';
  const auto = params.vpinBucket === 'auto';
  const part = (i: DatasetInput): TaskPartition => ({
    key: partitionKey(i), venue: i.venue, symbol: i.symbol, date: i.date, spec: i.spec, files: i.files,
    sessionMinutes: i.sessionMinutes, out: join(dir, partitionKey(i), PART_FILE),
  });
  const bytesOf = (i: DatasetInput): number => i.files.reduce((a, f) => a + statSize(f), 0);
  const prevOf = (i: DatasetInput) => ({ key: partitionKey(i), spec: i.spec, files: i.files, date: i.date });
  const base = { params, paramsHash: hash, datasetDir: dir, known: {} };
  for (const days of groups.values()) {
    if (prevDay) warmupDays.push(days[0]!);
    const outDays = prevDay ? days.slice(1) : days;
    if (outDays.length === 0) continue;
    if (params.carry) {
      const bytes = outDays.reduce((a, d) => a + bytesOf(d), 0) + (auto ? bytesOf(prevDay ? days[0]! : outDays[0]!) : 0);
      tasks.push({ task: { ...base, partitions: outDays.map(part), previous: prevDay ? prevOf(days[0]!) : undefined }, bytes });
    } else {
      outDays.forEach((d, j) => {
        const prev = prevDay ? days[j]! : undefined;
        tasks.push({ task: { ...base, partitions: [part(d)], previous: prev && prevOf(prev) }, bytes: bytesOf(d) + (auto ? bytesOf(prev ?? d) : 0) });
      });
    }
  }
  return { tasks, warmupDays };
}

/** On-disk size, for the ETA only (a missing file fails later, where it is opened). */
function statSize(f: string): number {
  try {
    return statSync(f).size;
  } catch {
    return 0;
  }
}

/** The files a task's partition i depends on, in the order its record lists them. */
function depFiles(t: Omit<BuildTask, 'port'>, i: number): string[] {
  return [...(t.previous?.files ?? []), ...t.partitions.slice(t.params.carry ? 0 : i, i + 1).flatMap((q) => q.files)];
}

async function upToDate(t: Omit<BuildTask, 'port'>, rec: DatasetRecord, hash: string): Promise<boolean> {
  for (let i = 0; i < t.partitions.length; i++) {
    const q = t.partitions[i]!;
    const r = rec.partitions[q.key];
    if (!r || r.paramsHash !== hash || r.spec !== q.spec || !existsSync(q.out)) return false;
    if (!(await sameInputs(depFiles(t, i), r.inputs))) return false;
  }
  return true;
}

export async function buildDataset(o: BuildOptions): Promise<BuildSummary> {
  const t0 = performance.now();
  const dir = resolve(o.out);
  const jobs = Math.max(1, Math.floor(o.jobs ?? defaultJobs()));
  const found = discoverInputs(o.sources);
  if (found.inputs.length === 0) throw new InputError(InputErrorCode.Missing, o.sources.join(' '), undefined, 'no input files found');
  const inputs = found.inputs.map(absSpec);
  ensureDir(dir);
  const unlock = lock(dir);
  try {
    removeTemporaries(dir);
    const hash = paramsHash(o.params);
    let rec = readRecord(dir);
    const removed: string[] = [];
    if (rec && rec.paramsHash !== hash) {
      if (!o.force) {
        throw new InputError(InputErrorCode.Format, join(dir, DATASET_FILE), undefined,
          `the dataset was built with other parameters (${paramDiff(rec.params, o.params)}); --force rebuilds it with these`);
      }
      // One dataset, one parameter set: the old set's files go (those planned again are rebuilt).
      const planned = new Set(inputs.map(partitionKey));
      for (const [k, r] of Object.entries(rec.partitions)) {
        removePartitionFile(dir, r.file);
        if (!planned.has(k)) removed.push(k);
      }
      rec = undefined;
    }
    const record = rec ?? emptyRecord(o.params, version());
    record.flowcastVersion = version();
    const { tasks, warmupDays } = plan(inputs, dir, o.params, hash);

    // Known checksums: what the record says of files whose size and mtime have not moved.
    const known: Record<string, InputFile> = {};
    for (const r of Object.values(record.partitions)) for (const f of r.inputs) known[f.path] = f;
    const todo: PlannedTask[] = [];
    let skipped = 0;
    for (const t of tasks) {
      t.task.known = Object.fromEntries(t.task.partitions.flatMap((_, i) => depFiles(t.task, i)).filter((f) => known[f]).map((f) => [f, known[f]!]));
      if (!o.force && (await upToDate(t.task, record, hash))) skipped += t.task.partitions.length;
      else todo.push(t);
    }
    // Longest first (by input bytes): the last task to start is a short one, so workers finish together.
    todo.sort((a, b) => b.bytes - a.bytes);
    const planned = tasks.reduce((a, t) => a + t.task.partitions.length, 0);
    writeRecord(dir, record);

    const progress = new BuildProgress(todo.reduce((a, t) => a + t.task.partitions.length, 0), todo.reduce((a, t) => a + t.bytes, 0), {
      enabled: o.progress, out: o.progressOut,
    });
    const failed: BuildSummary['failed'] = [];
    let built = 0;
    let rowsBuilt = 0;
    let ran = { jobs, report: undefined as Record<string, unknown> | undefined };
    if (todo.length > 0) {
      const events: RunnerEvents = {
        progress: (i, rows, bytes) => progress.update(i, rows, bytes),
        done(i, res) {
          for (const r of res.partitions) record.partitions[`venue=${r.venue}/symbol=${r.symbol}/date=${r.date}`] = r;
          if (res.previous && warmupDays.some((d) => partitionKey(d) === res.previous!.key)) {
            record.warmupDays[res.previous.key] = { spec: res.previous.spec, tradedVolume: res.previous.tradedVolume };
          }
          writeRecord(dir, record);
          const rows = res.partitions.reduce((a, r) => a + r.rows, 0);
          built += res.partitions.length;
          rowsBuilt += rows;
          progress.finish(i, res.partitions.length, rows, todo[i]!.bytes);
        },
        failed(i, error, tries) {
          failed.push({ partitions: todo[i]!.task.partitions.map((q) => q.key), error, ...(tries === undefined ? {} : { tries }) });
          progress.finish(i, 0, 0, todo[i]!.bytes);
        },
      };
      const r = await (o.runner ?? localRunner(jobs)).run(todo, events);
      ran = { jobs: r.jobs, report: r.report };
    }
    progress.done();
    const rowsTotal = Object.values(record.partitions).reduce((a, r) => a + r.rows, 0);
    return {
      dir,
      planned,
      built,
      skipped,
      failed,
      rowsBuilt,
      rowsTotal,
      warmupDays: warmupDays.map(partitionKey),
      ignored: found.ignored,
      jobs: ran.jobs,
      seconds: (performance.now() - t0) / 1000,
      bytesRead: todo.reduce((a, t) => a + t.bytes, 0),
      peakRss: peakRssBytes(),
      cpuSeconds: ((c) => (c.user + c.system) / 1e6)(process.cpuUsage()),
      removed,
      ...(ran.report ? { runner: ran.report } : {}),
    };
  } finally {
    unlock();
  }
}

/** The tasks on this machine's piscina pool, one per worker thread at a time. */
function localRunner(jobs: number): TaskRunner {
  return {
    async run(todo, events) {
      const w = workerModule();
      const pool = new Piscina({
        filename: w.filename,
        execArgv: w.execArgv,
        minThreads: Math.min(jobs, todo.length),
        maxThreads: Math.min(jobs, todo.length),
        // One task per worker at a time: a partition is CPU-bound from start to end.
        concurrentTasksPerWorker: 1,
        idleTimeout: 1000,
        // Each worker's Parquet writer takes its share of the cores for its closing COPY: with every
        // writer on every core, N workers oversubscribe the machine N times over.
        env: { ...process.env, FLOWCAST_DUCKDB_THREADS: process.env['FLOWCAST_DUCKDB_THREADS'] ?? String(Math.max(1, Math.floor(availableParallelism() / Math.min(jobs, todo.length)))) },
      });
      try {
        await Promise.all(todo.map(async (t, id) => {
          const ch = new MessageChannel();
          ch.port1.on('message', (m: ProgressMessage) => events.progress(id, m.rows, m.bytes));
          const task: BuildTask = { ...t.task, port: ch.port2 };
          try {
            // Recording the result (done) counts as part of the task: a record that cannot be written fails it.
            events.done(id, (await pool.run(task, { transferList: [ch.port2] })) as BuildResult);
          } catch (e) {
            events.failed(id, (e as Error).message);
          } finally {
            ch.port1.close();
          }
        }));
      } finally {
        await pool.destroy();
      }
      return { jobs };
    },
  };
}
