import type { Command } from '../command.ts';
import { UsageError } from '../command.ts';
import { numberFlag, parseFlags, skipBadFlag, symbolsFlag, vpinBucketFlag } from '../args.ts';
import { outputFile } from '../output.ts';
import { SOURCE_SPEC_HELP } from '../../sources/spec.ts';

const usage = `flowcast analytics --source SPEC|DATASET [--where COND] [--out alerts.jsonl] [--measures measures.csv] [flags]

Runs the microstructure analytics over a source (docs/analytics.md): toxicity and impact measures,
the market-stress and market-abuse detectors, and the feed latency monitor. Alerts go to --out as
JSON lines (one alert per line: symbol, kind, severity, ts_ns, ts_ms, message, evidence); measure
snapshots to --measures as CSV. A summary table of the measures and alert counts goes to stdout.

  --source SPEC        ${SOURCE_SPEC_HELP}
                       or a dataset directory (flowcast dataset build): the analytics run over the
                       sources of its partitions, in venue, symbol, date order, each partition's
                       symbol only, with the VPIN bucket the partition was built with
  --where COND         with a dataset directory: which partitions, a SQL condition on venue, symbol
                       and date that DuckDB evaluates, e.g. "symbol='GOOG' and date<'2012-06-22'"
  --out FILE           alerts as JSON lines ("-" for stdout)
  --measures FILE      measure snapshots as CSV (ts_ns, symbol, then the measures)
                       (files appear only when the run succeeds; their directories are created if missing)
  --every-ms MS        one snapshot per symbol every MS of exchange time (default 10000)
  --vpin-bucket V      VPIN bucket volume (both VPIN variants), or "auto" (default): each symbol's
                       traded volume / 500, as \`flowcast features\` does
  --param G.N=V        set any parameter (repeatable), e.g. --param liquidity.bps=25
  --params             print every parameter with its default (JSON) and exit
  --symbol SYM[,SYM]   only these symbols
  --skip-bad KINDS     skip and count these bad-input kinds instead of stopping (see flowcast features)
  --quiet              no summary

Examples:
  flowcast analytics --source binance:data/binance/binance-usdm_btcusdt_20240808.jsonl.gz --out alerts.jsonl
  flowcast analytics --source lobster:data/lobster/LOBSTER_SampleFile_AMZN_2012-06-21_5.zip --measures amzn.csv --param whale.quantile=0.999
`;

const command: Command = {
  name: 'analytics',
  summary: 'toxicity and impact measures, market-abuse and liquidity detectors, feed latency: alerts and measures from a source',
  usage,
  async run(argv) {
    const { values } = parseFlags(argv, {
      source: { type: 'string' },
      out: { type: 'string' },
      measures: { type: 'string' },
      'every-ms': { type: 'string' },
      'vpin-bucket': { type: 'string' },
      param: { type: 'string', multiple: true },
      params: { type: 'boolean' },
      symbol: { type: 'string', multiple: true },
      'skip-bad': { type: 'string' },
      quiet: { type: 'boolean' },
      where: { type: 'string' },
    });
    const { applyParams, analyticsOptions, DEFAULT_ANALYTICS_OPTIONS } = await import('../../analytics/options.ts');
    if (values.params) {
      process.stdout.write(JSON.stringify(DEFAULT_ANALYTICS_OPTIONS, null, 2) + '\n');
      return 0;
    }
    if (!values.source) throw new UsageError('--source is required');
    let over;
    try {
      over = applyParams({}, values.param ?? []);
      if (values['every-ms'] !== undefined) {
        over.measures = { ...over.measures, everyMs: numberFlag(values['every-ms'], 'every-ms', 0, { min: 0, integer: true }) };
      }
      analyticsOptions(over);
    } catch (e) {
      if (e instanceof UsageError) throw e;
      throw new UsageError((e as Error).message);
    }
    const vpinBucket = vpinBucketFlag(values['vpin-bucket']);

    const { runAnalytics } = await import('../../pipeline/analytics.ts');
    const { AlertWriter, MeasuresCsvWriter, MeasureSummary, summaryTables } = await import('../../analytics/output.ts');
    const { isDatasetDir, selectPartitions } = await import('../../dataset/reader.ts');
    const policy = skipBadFlag(values['skip-bad']);
    const symbols = symbolsFlag(values.symbol);
    // One run per source: the source itself, or each partition a dataset's filter keeps.
    let runs: { spec: string; vpinBucket: typeof vpinBucket; symbols: string[] | undefined; label: string }[];
    if (isDatasetDir(values.source)) {
      const parts = (await selectPartitions(values.source, values.where)).filter((p) => !symbols || symbols.includes(p.symbol));
      if (parts.length === 0) throw new UsageError(`${values.source}: no partition is kept by ${values.where ? `--where ${values.where}` : ''}${symbols ? ` --symbol ${symbols.join(',')}` : ''}`);
      runs = parts.map((p) => ({
        spec: p.spec, symbols: [p.symbol], label: `${p.venue} ${p.symbol} ${p.date}`,
        // The partition's own V keeps the analytics' VPIN on the dataset's scale; --vpin-bucket overrides it.
        vpinBucket: values['vpin-bucket'] !== undefined ? vpinBucket : (p.vpinBucket ?? 'auto'),
      }));
    } else {
      if (values.where !== undefined) throw new UsageError('--where needs a dataset directory as --source');
      runs = [{ spec: values.source, vpinBucket, symbols, label: values.source }];
    }
    let alerts: InstanceType<typeof AlertWriter> | undefined;
    let measures: InstanceType<typeof MeasuresCsvWriter> | undefined;
    const alertsOut = values.out && values.out !== '-' ? outputFile('out', values.out) : undefined;
    const measuresOut = values.measures && values.measures !== '-' ? outputFile('measures', values.measures) : undefined;
    // The writers write epoch times: they read the time base of whichever run is going.
    let current: Pick<import('../../model/time.ts').TimeBaseRef, 'get'> | undefined;
    const timeBase = { get: () => current!.get() };
    let rows = 0, nAlerts = 0, seconds = 0;
    const seen = new Set<string>();
    for (const r of runs) {
      const summary = new MeasureSummary();
      const res = await runAnalytics(r.spec, {
        options: over,
        vpinBucket: r.vpinBucket,
        symbols: r.symbols,
        policy,
        onStart: (_engine, _builder, source) => {
          current = source.timeBase;
          if (values.out) alerts ??= new AlertWriter(alertsOut?.tmp ?? values.out, timeBase);
          if (values.measures) measures ??= new MeasuresCsvWriter(measuresOut?.tmp ?? values.measures, timeBase);
        },
      }, {
        onAlert: (a) => alerts?.write(a),
        onMeasures: (sym, ts, v) => {
          measures?.write(sym, ts, v);
          summary.add(sym, v);
        },
      }).catch(async (e: unknown) => {
        // Streams ended first, so nothing lands in a file after it is removed.
        await Promise.allSettled([alerts?.close(), measures?.close()]);
        alertsOut?.discard();
        measuresOut?.discard();
        throw runs.length > 1 ? new Error(`${r.label} (${r.spec}): ${(e as Error).message}`) : e;
      });
      rows += res.stats.rows;
      nAlerts += res.stats.alerts;
      seconds += res.seconds;
      for (const s of res.stats.symbols) seen.add(s);
      if (!values.quiet) process.stdout.write((runs.length > 1 ? `## ${r.label}\n\n` : '') + summaryTables(res.engine, summary) + '\n' + (runs.length > 1 ? '\n' : ''));
    }
    await alerts?.close();
    await measures?.close();
    alertsOut?.commit();
    measuresOut?.commit();
    if (!values.quiet) {
      process.stderr.write(
        `analytics: ${runs.length > 1 ? `${runs.length} partitions, ` : ''}${rows.toLocaleString('en-US')} rows, ${nAlerts.toLocaleString('en-US')} alerts (${[...seen].join(',')}) in ${seconds.toFixed(2)} s` +
        (values.out ? ` -> ${values.out}` : '') + (values.measures ? `, measures -> ${values.measures}` : '') + '\n',
      );
    }
    return 0;
  },
};
export default command;
