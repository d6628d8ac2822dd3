/**
 * One task of `dataset build`, run in a pool worker (piscina): a partition, or with --carry one
 * symbol's chain of days. Sizes the VPIN bucket from the declared warm-up, computes the features,
 * writes each partition's Parquet under a temporary name and renames it into place only when the
 * whole task has succeeded, and returns what the dataset record needs. Memory: the sources stream
 * (a 1 MiB read buffer per file), the engine keeps a symbol's windows, the writer one row group.
 */
import type { MessagePort } from 'node:worker_threads';
import { rmdirSync } from 'node:fs';
import { dirname, relative, sep } from 'node:path';
import { openSource } from '../sources/spec.ts';
import type { MarketSink, TradeEvent } from '../model/events.ts';
import { autoBucketVolume } from '../features/vpin.ts';
import { FEATURE_SPEC_VERSION } from '../features/columns.ts';
import { BadInputPolicy } from '../core/errors.ts';
import { PendingOutput } from '../store/files.ts';
import { ParquetFeatureWriter } from '../store/parquet.ts';
import { runFeatures } from '../pipeline/features.ts';
import { runChain } from './chain.ts';
import { LobsterSource } from '../venues/lobster/capture.ts';
import { lobsterMessageVolume } from '../pipeline/vpin.ts';
import { describeFile, type DatasetParams, type InputFile, type PartitionRecord } from './record.ts';

export interface TaskPartition {
  key: string;
  venue: string;
  symbol: string;
  date: string;
  spec: string;
  files: string[];
  sessionMinutes: number;
  /** Absolute path of its Parquet file. */
  out: string;
}

export interface BuildTask {
  /** One partition, or with --carry a symbol's consecutive days in order. */
  partitions: TaskPartition[];
  /** prev-day warm-up: the input before the first partition, read for its traded volume only. */
  previous?: { key: string; spec: string; files: string[]; date: string; tradedVolume?: number };
  params: DatasetParams;
  paramsHash: string;
  datasetDir: string;
  /** Checksums already known (size and mtime unchanged), by path. */
  known: Record<string, InputFile>;
  port?: MessagePort;
}

export interface BuildResult {
  partitions: PartitionRecord[];
  previous?: { key: string; spec: string; tradedVolume: number };
  /** This worker thread's heap and the process's RSS when the task ended. */
  heapUsed: number;
}

export interface ProgressMessage {
  rows: number;
  bytes: number;
}

/**
 * How far past the warm-up window a source is read: captures are in receive order, and a trade of
 * the window may arrive after a later one (its exchange time is what counts); a minute of slack.
 */
const WARMUP_GRACE_NS = 60e9;

/** Thrown from the source's pause once its warm-up window is read: the run stops and closes its files. */
class WarmupRead extends Error {}

/**
 * Traded volume of `symbol` over its first `minutes` of trades (from the first trade), or over the
 * whole input without `minutes`. A LOBSTER day is scanned from its message file alone and only as
 * far as the warm-up reaches (src/pipeline/vpin.ts lobsterMessageVolume): a 30-minute warm-up reads
 * the first 30 minutes of one file, not the whole day twice. Other sources run into a sink that
 * keeps only trades, until a trade a minute past the window (WARMUP_GRACE_NS). `bytes`: the input's size, which the progress counts as done.
 */
export async function warmupVolume(spec: string, symbol: string, minutes: number | undefined, policy: BadInputPolicy, onBytes?: (b: number) => void) {
  const src = await openSource(spec, { policy });
  const windowNs = minutes === undefined ? Infinity : minutes * 60e9;
  if (src instanceof LobsterSource) {
    if (src.symbol !== symbol) return { warm: 0, warmupEndNs: null, bytes: src.totalBytes };
    const scan = await lobsterMessageVolume(src.files, windowNs);
    const endNs = scan.trades > 0 && Number.isFinite(windowNs) ? (src.midnightNs + BigInt(Math.round(scan.firstNs + windowNs))).toString() : null;
    return { warm: scan.volume, warmupEndNs: endNs, bytes: src.totalBytes };
  }
  let warm = 0;
  let t0 = NaN;
  let end = NaN;
  let past = false;
  const sink: MarketSink = {
    onDepth() {},
    onTrade(t: TradeEvent) {
      if (t.symbol !== symbol) return;
      if (t0 !== t0) { t0 = t.ts; end = t0 + windowNs; }
      if (t.ts < end) warm += t.size;
      else if (t.ts >= end + WARMUP_GRACE_NS) past = true;
    },
  };
  try {
    await src.run(sink, () => {
      onBytes?.(src.bytesRead());
      if (past) throw new WarmupRead();
    });
  } catch (e) {
    if (!(e instanceof WarmupRead)) throw e;
  }
  const endNs = Number.isFinite(end) ? src.timeBase.get().toEpochNs(end).toString() : null;
  return { warm, warmupEndNs: endNs, bytes: src.totalBytes };
}

function parseWarmupMinutes(w: string | null): number | undefined {
  const m = w ? /^(\d+(?:\.\d+)?)m$/.exec(w) : null;
  return m ? Number(m[1]) : undefined;
}

export default async function buildTask(task: BuildTask): Promise<BuildResult> {
  const t0 = performance.now();
  const p = task.params;
  const policy = () => BadInputPolicy.parse(p.skipBad ?? undefined);
  const first = task.partitions[0]!;
  let bytesDone = 0;
  let lastPost = 0;
  const post = (rows: number, bytes: number, force = false): void => {
    const now = performance.now();
    if (!task.port || (!force && now - lastPost < 100)) return;
    lastPost = now;
    task.port.postMessage({ rows, bytes } satisfies ProgressMessage);
  };

  // Checksums of every input the rows depend on, read while the features run.
  const hashes = new Map<string, Promise<InputFile>>();
  const hash = (f: string): Promise<InputFile> => {
    let h = hashes.get(f);
    if (!h) hashes.set(f, (h = describeFile(f, task.known[f])));
    return h;
  };
  for (const q of task.partitions) for (const f of q.files) void hash(f);
  for (const f of task.previous?.files ?? []) void hash(f);

  // The bucket volume, from nothing later than the declared warm-up.
  let vpinBucket: number | null;
  let vpinBucketFrom: string;
  let warmupEndNs: string | null = null;
  let previous: BuildResult['previous'];
  if (p.vpinBucket !== 'auto') {
    vpinBucket = p.vpinBucket;
    vpinBucketFrom = 'fixed';
  } else if (p.vpinWarmup === 'prev-day') {
    const prev = task.previous;
    if (!prev) throw new Error(`${first.key}: prev-day warm-up without a previous day`);
    let vol = prev.tradedVolume;
    if (vol === undefined) {
      const w = await warmupVolume(prev.spec, first.symbol, undefined, policy(), (b) => post(0, b));
      vol = w.warm;
      bytesDone += w.bytes;
    }
    previous = { key: prev.key, spec: prev.spec, tradedVolume: vol };
    const v = autoBucketVolume(vol);
    vpinBucket = Number.isFinite(v) ? v : null;
    vpinBucketFrom = `day ${prev.date}`;
  } else {
    const minutes = parseWarmupMinutes(p.vpinWarmup);
    if (minutes === undefined) throw new Error(`vpin warm-up "${String(p.vpinWarmup)}" is neither Nm nor prev-day`);
    const w = await warmupVolume(first.spec, first.symbol, minutes, policy(), (b) => post(0, b));
    bytesDone += w.bytes;
    // Scaled to the session, so that the bucket is a day's volume / 500 as in `features --vpin-bucket auto`.
    const v = autoBucketVolume(w.warm * (first.sessionMinutes / minutes));
    vpinBucket = Number.isFinite(v) ? v : null;
    vpinBucketFrom = `first ${minutes}m of ${first.date}`;
    warmupEndNs = w.warmupEndNs;
  }
  // No trades to size from: a bucket no volume fills, so VPIN stays undefined (as with no trades at all).
  const V = vpinBucket ?? Number.MAX_VALUE;

  const opts = {
    levels: p.levels,
    vpinBucket: V,
    vpinBuckets: p.vpinBuckets,
    barMs: p.barMs,
    barWindow: p.barWindow,
    settleMs: p.settleMs,
    horizons: p.horizons,
    alpha: p.alpha,
  };
  const pendings = task.partitions.map((q) => new PendingOutput(q.out));
  const metadata = (q: TaskPartition): Record<string, string> => ({
    'flowcast.spec_version': String(FEATURE_SPEC_VERSION),
    'flowcast.source': q.spec,
    'flowcast.partition': q.key,
    'flowcast.params': JSON.stringify(p),
    'flowcast.vpin_bucket': String(vpinBucket),
  });
  let outputs: { rows: number; bytes: number }[];
  try {
    if (task.partitions.length === 1) {
      const res = await runFeatures(first.spec, {
        ...opts,
        symbols: [first.symbol],
        policy: policy(),
        onProgress: (rows, read) => post(rows, bytesDone + read),
      }, (columns, timeBase) => new ParquetFeatureWriter(pendings[0]!.tmp, columns, timeBase, metadata(first)));
      outputs = [res.output];
    } else {
      const res = await runChain(task.partitions.map((q, i) => ({
        spec: q.spec,
        sink: (columns, timeBase) => new ParquetFeatureWriter(pendings[i]!.tmp, columns, timeBase, metadata(q)),
      })), { ...opts, symbol: first.symbol, policy: policy(), onProgress: (rows, read) => post(rows, bytesDone + read) });
      outputs = res.outputs;
    }
  } catch (e) {
    for (const q of pendings) q.discard();
    // The hive directories made for it go too, where nothing else is in them.
    for (const q of task.partitions) {
      for (let d = dirname(q.out); d.startsWith(task.datasetDir + sep); d = dirname(d)) {
        try {
          rmdirSync(d);
        } catch {
          break;
        }
      }
    }
    throw e;
  }
  const inputsOf = async (upto: number): Promise<InputFile[]> => {
    const files = [
      ...(task.previous?.files ?? []),
      ...task.partitions.slice(p.carry ? 0 : upto, upto + 1).flatMap((q) => q.files),
    ];
    return Promise.all(files.map(hash));
  };
  const records: PartitionRecord[] = [];
  for (let i = 0; i < task.partitions.length; i++) {
    const q = task.partitions[i]!;
    records.push({
      venue: q.venue,
      symbol: q.symbol,
      date: q.date,
      spec: q.spec,
      file: relative(task.datasetDir, q.out),
      rows: outputs[i]!.rows,
      bytes: outputs[i]!.bytes,
      vpinBucket,
      vpinBucketFrom,
      warmupEndNs: i === 0 ? warmupEndNs : null,
      inputs: await inputsOf(i),
      carriedFrom: p.carry && i > 0 ? task.partitions[i - 1]!.key : null,
      paramsHash: task.paramsHash,
      seconds: 0,
      builtAt: '',
    });
  }
  // Renamed into place only now: a task killed before this leaves temporaries (removed by the next run), never a part file.
  for (const q of pendings) q.commit();
  const secs = (performance.now() - t0) / 1000;
  const at = new Date().toISOString();
  for (const r of records) { r.seconds = Number((secs / records.length).toFixed(3)); r.builtAt = at; }
  return { partitions: records, previous, heapUsed: process.memoryUsage().heapUsed };
}
