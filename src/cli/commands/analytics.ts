import type { Command } from '../command.ts';
import { UsageError } from '../command.ts';
import { numberFlag, parseFlags, skipBadFlag, symbolsFlag, vpinBucketFlag } from '../args.ts';
import { outputFile } from '../output.ts';
import { SOURCE_SPEC_HELP } from '../../sources/spec.ts';

const usage = `flowcast analytics --source SPEC [--out alerts.jsonl] [--measures measures.csv] [flags]

Runs the microstructure analytics over a source (docs/analytics.md): toxicity and impact measures,
the market-stress and market-abuse detectors, and the feed latency monitor. Alerts go to --out as
JSON lines (one alert per line: symbol, kind, severity, ts_ns, ts_ms, message, evidence); measure
snapshots to --measures as CSV. A summary table of the measures and alert counts goes to stdout.

  --source SPEC        ${SOURCE_SPEC_HELP}
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
    const policy = skipBadFlag(values['skip-bad']);
    const symbols = symbolsFlag(values.symbol);
    let alerts: InstanceType<typeof AlertWriter> | undefined;
    let measures: InstanceType<typeof MeasuresCsvWriter> | undefined;
    const alertsOut = values.out && values.out !== '-' ? outputFile('out', values.out) : undefined;
    const measuresOut = values.measures && values.measures !== '-' ? outputFile('measures', values.measures) : undefined;
    const summary = new MeasureSummary();
    const res = await runAnalytics(values.source, {
      options: over,
      vpinBucket,
      symbols,
      policy,
      onStart: (_engine, _builder, source) => {
        if (values.out) alerts = new AlertWriter(alertsOut?.tmp ?? values.out, source.timeBase);
        if (values.measures) measures = new MeasuresCsvWriter(measuresOut?.tmp ?? values.measures, source.timeBase);
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
      throw e;
    });
    await alerts?.close();
    await measures?.close();
    alertsOut?.commit();
    measuresOut?.commit();
    if (!values.quiet) {
      process.stdout.write(summaryTables(res.engine, summary) + '\n');
      process.stderr.write(
        `analytics: ${res.stats.rows.toLocaleString('en-US')} rows, ${res.stats.alerts.toLocaleString('en-US')} alerts (${res.stats.symbols.join(',')}) in ${res.seconds.toFixed(2)} s` +
        (values.out ? ` -> ${values.out}` : '') + (values.measures ? `, measures -> ${values.measures}` : '') + '\n',
      );
    }
    return 0;
  },
};
export default command;
