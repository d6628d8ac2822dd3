import type { Command } from '../command.ts';
import { UsageError } from '../command.ts';
import { FEATURE_PARAM_FLAGS, listFlag, numberFlag, parseFlags, skipBadFlag, vpinBucketFlag } from '../args.ts';
import { DEFAULT_FEATURE_OPTIONS, DEFAULT_HORIZONS } from '../../features/options.ts';
import { FEATURE_SPEC_VERSION } from '../../features/columns.ts';

const usage = `flowcast dataset build|worker|info ...

  flowcast dataset build --source SRC [--source SRC ...] --out DIR [flags]
      Computes the feature spec (v${FEATURE_SPEC_VERSION}) for many days x symbols x venues into
      hive-partitioned Parquet, DIR/venue=V/symbol=S/date=YYYY-MM-DD/part-0.parquet, and records
      every parameter, partition and input checksum in DIR/_dataset.json (docs/datasets.md).
      A re-run skips partitions whose inputs and parameters are unchanged; a killed run is resumed.

      SRC: a source spec (lobster:M,O  lobster:ZIP  binance:FILE  tardis:BOOK[,TRADES]), a directory,
           a glob ("data/**/*.gz", quoted), a capture file, or a manifest FILE.json:
           {"inputs": [{"source": SPEC|FILE|DIR|GLOB, "venue": V, "symbol": S, "date": "YYYY-MM-DD"}]}
           (venue, symbol and date only for a spec whose file names do not say them). Capture files
           are recognised by name: TICKER_DATE_START_END_{message,orderbook}_L.csv[.gz] (paired),
           binance-{spot,usdm,coinm}_SYMBOL_YYYYMMDD.jsonl[.gz],
           EXCHANGE_{incremental_book_L2,book_snapshot_N,quotes,trades}_DATE_SYMBOL.csv[.gz] (paired).
           Files after the flags count as more --source values (a shell glob).
      --out DIR            the dataset directory (created if missing)
      --jobs N             worker threads (default: this machine's cores)
      --force              recompute every partition (and, after a parameter change, rebuild)
      --carry              continue VPIN buckets, bars, rolling windows, labels and row numbers
                           across consecutive days of a symbol: the days then equal one continuous
                           run. Default: every partition starts fresh.
      --vpin-bucket V      a fixed VPIN bucket volume, or "auto" (default): sized from --vpin-warmup,
                           never from data after it
      --vpin-warmup W      with auto: "Nm" (default 30m): the first N minutes of each partition's
                           trades (with --carry: of the first day), scaled to the session (a day's
                           volume / 500 as in features' auto); or "prev-day": the previous day's
                           volume / 500 (each symbol's first day is read for that only, not written)
      --levels L  --vpin-buckets N  --bar-ms MS  --bar-window W  --settle-ms MS
      --labels  --horizons K,K,..  --alpha A      as in flowcast features
      --skip-bad KINDS     as in flowcast features
      --progress           progress on stderr even when it is not a terminal
      --quiet              no summary
      --json               the summary as JSON on stdout

  flowcast dataset build --cluster redis://[user:password@]HOST:PORT --source SRC ... --out DIR [flags]
      The same build with its tasks run by workers on any machine through a Redis stream (docs/cluster.md,
      "Batch"): this process plans, publishes the tasks, records each result in DIR/_dataset.json as it
      comes, and prints the summary (with the dead-lettered partitions). DIR must be a filesystem the
      workers share, and the inputs must be at the same paths on every worker.
      --claim-idle-ms MS   a worker silent this long (killed, cut off) loses its task to another (default 30000)
      --max-tries N        tries before a partition goes to the run's dead-letter stream (default 3)
      --prefix P           the cluster's key prefix (default flowcast)
      --role worker        the same as flowcast dataset worker (then only --cluster, --out, --jobs, --prefix,
                           --name, --until-done count)

  flowcast dataset worker --cluster redis://... --out DIR [--jobs N] [--name NAME] [--until-done]
      Builds the partitions that coordinators of DIR publish (DIR: this machine's mount of the shared
      dataset directory), N at once (default 1), until stopped (SIGINT/SIGTERM: it builds the tasks
      in hand, then exits; a second signal exits at once), or with --until-done until the current
      run is finished.

  flowcast dataset info DIR [--json]
      Parameters, partitions (rows, VPIN bucket and where it came from) and totals from
      DIR/_dataset.json; --json prints the record itself.

Read a dataset with DuckDB (hive partitions become columns venue, symbol, date):
  SELECT symbol, date, count(*) FROM read_parquet('DIR/**/*.parquet', hive_partitioning = true) GROUP BY ALL;

Examples:
  flowcast dataset build --source data/lobster --out ds --labels
  flowcast dataset build --source "days/*.csv.gz" --out ds --carry --vpin-warmup prev-day --jobs 8
  flowcast dataset build --cluster redis://10.0.0.5:6379 --source /mnt/share/days --out /mnt/share/ds
  flowcast dataset worker --cluster redis://10.0.0.5:6379 --out /mnt/share/ds --jobs 8
`;

const command: Command = {
  name: 'dataset',
  summary: 'build partitioned Parquet feature datasets from many days/symbols/venues (all cores, resumable); info',
  usage,
  async run(argv) {
    const [sub, ...rest] = argv;
    if (sub === 'build') return build(rest);
    if (sub === 'worker') return worker(rest);
    if (sub === 'info') return info(rest);
    throw new UsageError(sub ? `unknown subcommand "${sub}"` : 'a subcommand is required (build, worker or info)');
  },
};
export default command;

async function build(argv: string[]): Promise<number> {
  // --role worker makes this `dataset worker`, whose flags differ: route it before parsing.
  const ri = argv.findIndex((a) => a === '--role' || a.startsWith('--role='));
  if (ri >= 0 && (argv[ri] === '--role=worker' || (argv[ri] === '--role' && argv[ri + 1] === 'worker'))) {
    return worker(argv.filter((_, i) => i !== ri && !(argv[ri] === '--role' && i === ri + 1)));
  }
  const { values, positionals } = parseFlags(argv, {
    source: { type: 'string', multiple: true },
    out: { type: 'string' },
    jobs: { type: 'string' },
    force: { type: 'boolean' },
    carry: { type: 'boolean' },
    ...FEATURE_PARAM_FLAGS,
    'vpin-warmup': { type: 'string' },
    'skip-bad': { type: 'string' },
    progress: { type: 'boolean' },
    quiet: { type: 'boolean' },
    json: { type: 'boolean' },
    ...CLUSTER_FLAGS,
    'claim-idle-ms': { type: 'string' },
    'max-tries': { type: 'string' },
    role: { type: 'string' },
  }, true);
  if (values.role !== undefined && values.role !== 'coordinator') throw new UsageError(`--role: coordinator (the default) or worker, got "${values.role}"`);
  if (values.role !== undefined && !values.cluster) throw new UsageError('--role goes with --cluster');
  const sources = [...(values.source ?? []), ...positionals];
  if (sources.length === 0) throw new UsageError('--source is required');
  if (!values.out) throw new UsageError('--out is required');
  const vpinBucket = vpinBucketFlag(values['vpin-bucket']);
  let vpinWarmup: string | null = null;
  if (vpinBucket === 'auto') {
    vpinWarmup = values['vpin-warmup'] ?? '30m';
    const m = /^(\d+(?:\.\d+)?)m$/.exec(vpinWarmup);
    if (vpinWarmup !== 'prev-day' && !(m && Number(m[1]) > 0)) throw new UsageError(`--vpin-warmup: expected Nm (minutes, e.g. 30m) or prev-day, got "${vpinWarmup}"`);
  } else if (values['vpin-warmup'] !== undefined) {
    throw new UsageError('--vpin-warmup sizes an auto bucket; it cannot go with a fixed --vpin-bucket');
  }
  skipBadFlag(values['skip-bad']);
  const { defaultJobs, buildDataset } = await import('../../dataset/build.ts');
  const jobs = numberFlag(values.jobs, 'jobs', defaultJobs(), { min: 1, integer: true });
  const params = {
    specVersion: FEATURE_SPEC_VERSION,
    levels: numberFlag(values.levels, 'levels', DEFAULT_FEATURE_OPTIONS.levels, { min: 1, integer: true }),
    vpinBuckets: numberFlag(values['vpin-buckets'], 'vpin-buckets', DEFAULT_FEATURE_OPTIONS.vpinBuckets, { min: 1, integer: true }),
    barMs: numberFlag(values['bar-ms'], 'bar-ms', DEFAULT_FEATURE_OPTIONS.barMs, { min: 1, integer: true }),
    barWindow: numberFlag(values['bar-window'], 'bar-window', DEFAULT_FEATURE_OPTIONS.barWindow, { min: 2, integer: true }),
    settleMs: numberFlag(values['settle-ms'], 'settle-ms', DEFAULT_FEATURE_OPTIONS.settleMs, { min: 0 }),
    horizons: values.labels || values.horizons ? listFlag(values.horizons, 'horizons', [...DEFAULT_HORIZONS]) : [],
    alpha: numberFlag(values.alpha, 'alpha', DEFAULT_FEATURE_OPTIONS.alpha, { min: 0 }),
    vpinBucket,
    vpinWarmup,
    carry: Boolean(values.carry),
    skipBad: values['skip-bad'] ?? null,
  };
  let runner;
  if (values.cluster) {
    if (values.jobs !== undefined) throw new UsageError('--jobs with --cluster: each worker sets its own (flowcast dataset worker --jobs N)');
    const { clusterRunner, DEFAULT_CLAIM_IDLE_MS, DEFAULT_MAX_TRIES } = await import('../../dataset/cluster.ts');
    const { checkRedisUrl } = await import('../../cluster/redis.ts');
    try {
      checkRedisUrl(values.cluster);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    runner = clusterRunner({
      url: values.cluster,
      prefix: values.prefix,
      claimIdleMs: numberFlag(values['claim-idle-ms'], 'claim-idle-ms', DEFAULT_CLAIM_IDLE_MS, { min: 100, integer: true }),
      maxTries: numberFlag(values['max-tries'], 'max-tries', DEFAULT_MAX_TRIES, { min: 1, integer: true }),
    });
  } else {
    for (const f of ['claim-idle-ms', 'max-tries', 'prefix'] as const) if (values[f] !== undefined) throw new UsageError(`--${f} goes with --cluster`);
  }
  let s;
  try {
    s = await buildDataset({ sources, out: values.out, params, jobs, force: values.force, progress: values.progress ? true : undefined, runner });
  } catch (e) {
    // The cluster's own failures (Redis lost the run) name what happened; a stack would only hide it.
    if (!runner || !(e as Error).message.startsWith('dataset ')) throw e;
    process.stderr.write(`flowcast ${(e as Error).message}\n`);
    return 1;
  }
  if (values.json) process.stdout.write(JSON.stringify(s, null, 1) + '\n');
  else if (!values.quiet) {
    const n = (x: number): string => x.toLocaleString('en-US');
    const rate = s.seconds > 0 ? Math.round(s.rowsBuilt / s.seconds) : 0;
    process.stderr.write(
      `dataset: ${s.planned} partitions: ${s.built} built, ${s.skipped} unchanged (skipped), ${s.failed.length ? `${s.failed.reduce((a, f) => a + f.partitions.length, 0)} failed` : '0 failed'}; ` +
      `${n(s.rowsBuilt)} rows written in ${s.seconds.toFixed(2)} s (${n(rate)} rows/s, ${s.jobs} worker${s.jobs === 1 ? '' : 's'}, ` +
      `${(s.bytesRead / 1e6).toFixed(1)} MB of input read); dataset ${n(s.rowsTotal)} rows; peak RSS ${(s.peakRss / 1e6).toFixed(0)} MB -> ${s.dir}\n`,
    );
    if (s.warmupDays.length) process.stderr.write(`dataset: read for the prev-day warm-up only (no partition): ${s.warmupDays.join(', ')}\n`);
    if (s.removed.length) process.stderr.write(`dataset: removed ${s.removed.length} partitions built with the earlier parameters\n`);
    if (s.runner) {
      const r = s.runner as { run: number; dataset: string; retries: number; workers: Record<string, { built: number }>; deadLetterStream: string; deadLetters: unknown[] };
      process.stderr.write(`dataset: cluster run ${r.run} (dataset ${r.dataset}): ${Object.entries(r.workers).map(([w, x]) => `${w} built ${x.built}`).join(', ') || 'no worker reported'}; ` +
        `${r.retries} failed tries retried; ${r.deadLetters.length} dead-lettered${r.deadLetters.length ? ` (${r.deadLetterStream})` : ''}\n`);
    }
    if (s.ignored.length) process.stderr.write(`dataset: ignored ${s.ignored.length} files whose names are no capture form: ${s.ignored.slice(0, 5).join(', ')}${s.ignored.length > 5 ? ', ...' : ''}\n`);
  }
  for (const f of s.failed) process.stderr.write(`dataset: failed ${f.partitions.join(', ')}${f.tries ? ` (dead-lettered after ${f.tries} tries)` : ''}: ${f.error}\n`);
  return s.failed.length ? 1 : 0;
}

const CLUSTER_FLAGS = {
  cluster: { type: 'string' },
  prefix: { type: 'string' },
} as const;

/** `dataset worker` (or `dataset build --role worker`): serves DIR's cluster runs. */
async function worker(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, {
    ...CLUSTER_FLAGS,
    out: { type: 'string' },
    jobs: { type: 'string' },
    name: { type: 'string' },
    'until-done': { type: 'boolean' },
  });
  if (!values.cluster) throw new UsageError('--cluster redis://HOST:PORT is required');
  if (!values.out) throw new UsageError('--out is required (the shared dataset directory, as this machine mounts it)');
  const { checkRedisUrl } = await import('../../cluster/redis.ts');
  try {
    checkRedisUrl(values.cluster);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const jobs = numberFlag(values.jobs, 'jobs', 1, { min: 1, integer: true });
  const { runDatasetWorker } = await import('../../dataset/cluster.ts');
  const stop = new AbortController();
  const onSignal = (): void => {
    if (stop.signal.aborted) process.exit(130);
    process.stderr.write('dataset worker: stopping once the tasks in hand are built (again to exit now: they are then claimed by others after the claim idle time)\n');
    stop.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const s = await runDatasetWorker({ url: values.cluster, out: values.out, prefix: values.prefix, jobs, name: values.name, untilDone: values['until-done'], signal: stop.signal });
    process.stderr.write(`dataset worker ${s.worker}: built ${s.built}, ${s.failedTries} failed tries, ${s.deadLettered} dead-lettered, ${s.lost} taken over by others\n`);
    return 0;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

async function info(argv: string[]): Promise<number> {
  const { values, positionals } = parseFlags(argv, { json: { type: 'boolean' } }, true);
  if (positionals.length !== 1) throw new UsageError('dataset info takes one dataset directory');
  const { datasetInfo } = await import('../../dataset/reader.ts');
  const dir = positionals[0]!;
  const inf = datasetInfo(dir);
  if (values.json) {
    process.stdout.write(JSON.stringify(inf.record, null, 1) + '\n');
    return 0;
  }
  for (const l of inf.lines) process.stdout.write(l + '\n');
  return 0;
}
