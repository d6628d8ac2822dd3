import type { Command } from '../command.ts';
import { UsageError } from '../command.ts';
import { numberFlag, parseFlags, vpinBucketFlag } from '../args.ts';
import { outputDir } from '../output.ts';
import { SIM_FLAGS, loadSimStrategy, simSettings } from '../sim-flags.ts';
import { SOURCE_SPEC_HELP } from '../../sources/spec.ts';

const usage = `flowcast backtest --source SPEC --strategy FILE|NAME [flags]

Replays a source in exchange-time order through the server's own pipeline (books, features,
predictions, alerts) into a simulated exchange with latency and queue-position models, and drives
a strategy written against the strategy API (src/backtest/strategy.ts; docs/backtest.md). Progress
on stderr; a JSON summary as the last line of stdout.

  --source SPEC            ${SOURCE_SPEC_HELP} | recording:DIR
                           | a dataset directory (flowcast dataset build) with --where keeping one
                           partition: its recorded source, with the VPIN bucket it was built with
  --where COND             with a dataset directory: which partition (DuckDB on venue, symbol, date)
  --strategy FILE|NAME     a module whose default export is a StrategyFactory, or a bundled one:
                           market-maker, taker, twap, vwap, pov, immediate
  --param k=v              a strategy parameter (repeatable)
  --lot Q                  the L2 queue models' fills rounded to whole lots of Q (default 1 on
                           LOBSTER, whose sizes are shares; 0 elsewhere: no rounding)
  --queue NAME             queue model: risk-averse (default), prob-power:N, prob-log, exact (LOBSTER)
  --latency-feed NS|measured   market data to the strategy: constant ns (default 0), or each
                           event's own tsLocal - ts where the source has local times
  --latency-entry NS       strategy to exchange (default 0)
  --latency-response NS    exchange to strategy: acks and fills (default 0)
  --fee-maker BPS          maker fee in bps of notional, negative = rebate (default 0)
  --fee-taker BPS          taker fee in bps (default 0)
  --out DIR                fills.csv, orders.csv, equity.csv, summary.json, logs.jsonl, report.html
  --models DIR             ONNX models, as the server serves them: every row is predicted (the
                           next event waits for it), and reaches onPrediction after the feed latency
  --vpin-bucket V|auto     VPIN bucket volume (default auto, as flowcast features)
  --levels L               feature / book-view levels (default 10)
  --equity-step-ms MS      equity series step in exchange time (default 1000)
  --progress               progress on stderr even when it is not a terminal

Examples:
  flowcast backtest --source lobster:data/lobster/GOOG_2012-06-21_34200000_57600000_message_10.csv.gz,data/lobster/GOOG_2012-06-21_34200000_57600000_orderbook_10.csv.gz --strategy market-maker --latency-entry 100000 --latency-response 100000 --out out/mm
  flowcast backtest --source binance:data/binance/binance-usdm_btcusdt_20240808.jsonl.gz --strategy ./my-strategy.ts --latency-feed measured --fee-taker 5 --fee-maker=-1
`;

const command: Command = {
  name: 'backtest',
  summary: 'run a strategy over a source through a simulated exchange with latency and queue models',
  usage,
  async run(argv) {
    const { values } = parseFlags(argv, {
      ...SIM_FLAGS,
      source: { type: 'string' },
      where: { type: 'string' },
      'vpin-bucket': { type: 'string' },
      levels: { type: 'string' },
      'equity-step-ms': { type: 'string' },
      progress: { type: 'boolean' },
    });
    if (!values.source) throw new UsageError('--source is required');
    let source = values.source;
    let vpinBucket = vpinBucketFlag(values['vpin-bucket']);
    const { isDatasetDir, selectPartitions } = await import('../../dataset/reader.ts');
    if (isDatasetDir(source)) {
      // A dataset holds feature rows, not the events an exchange matches against: the backtest
      // replays the source one partition was built from, on the scale its features were computed.
      const parts = await selectPartitions(source, values.where);
      if (parts.length !== 1) {
        const keys = parts.map((p) => `${p.venue}/${p.symbol}/${p.date}`);
        throw new UsageError(`${source}: ${values.where === undefined ? 'no --where' : `--where ${values.where}`} keeps ${parts.length} partitions${keys.length ? ` (${keys.slice(0, 5).join(', ')}${keys.length > 5 ? ', ...' : ''})` : ''}; a backtest replays one: narrow it to one venue, symbol and date`);
      }
      const p = parts[0]!;
      source = p.spec;
      if (values['vpin-bucket'] === undefined && p.vpinBucket !== null) vpinBucket = p.vpinBucket;
      process.stderr.write(`backtest: ${values.source} ${p.venue}/${p.symbol}/${p.date} -> ${source}\n`);
    } else if (values.where !== undefined) throw new UsageError('--where needs a dataset directory as --source');
    // LOBSTER sizes are shares: a probabilistic model's fractional fill is rounded to whole ones.
    const { latency, feeMakerBps, feeTakerBps, queueName, lot } = simSettings(values, { measuredFeed: true, defaultLot: source.startsWith('lobster:') ? 1 : 0 });
    if (values.out) outputDir('out', values.out);
    const strategy = await loadSimStrategy(values, queueName);
    const { queueModel } = await import('../../backtest/queue/index.ts');
    const { runBacktest } = await import('../../backtest/run.ts');
    const { buildSummary } = await import('../../backtest/report/summary.ts');
    const { Progress } = await import('../../core/progress.ts');
    const levels = numberFlag(values.levels, 'levels', 10, { min: 1, integer: true });
    let paced;
    const vpinBucketBySymbol: Record<string, number> = {};
    if (values.models) {
      // The server's predictor over the directory, every row answered before the market moves on
      // (src/backtest/predict.ts); models on an auto V adopt their own V first.
      const { defaultConfig } = await import('../../server/config.ts');
      const { pacedPredictor } = await import('../../backtest/predict.ts');
      const cfg = defaultConfig();
      cfg.models.dir = values.models;
      cfg.features.levels = levels;
      cfg.features.vpinBucket = vpinBucket;
      cfg.features.vpinBucketBySymbol = vpinBucketBySymbol;
      try {
        paced = await pacedPredictor(cfg.models, cfg.features);
      } catch (e) {
        throw new UsageError(`--models ${values.models}: ${(e as Error).message}`);
      }
    }
    let alerts;
    if (typeof strategy.onAlert === 'function') {
      const { analyticsAlerts } = await import('../../server/wiring.ts');
      alerts = [analyticsAlerts];
    }
    const progress = new Progress({ label: 'backtest', unit: 'events', enabled: values.progress ? true : undefined });
    const res = await runBacktest(source, strategy, {
      latency,
      feeMakerBps,
      feeTakerBps,
      queue: () => queueModel(queueName, { lot }),
      equityStepNs: numberFlag(values['equity-step-ms'], 'equity-step-ms', 1000, { min: 1 }) * 1e6,
      features: { levels, vpinBucket },
      vpinBucketBySymbol,
      predictor: paced?.predictor,
      paced,
      alerts,
      onProgress: (n, read, total) => progress.tick(n, read, total),
    });
    progress.done();
    const summary = buildSummary(res, { strategy: strategy.name, queue: queueName, latency, feeMakerBps, feeTakerBps });
    if (values.out) {
      const { writeReport } = await import('../../backtest/report/write.ts');
      const written = writeReport(values.out, {
        fills: res.record.fills,
        orders: [...res.record.orders.values()],
        equity: res.record.equity,
        logs: res.record.logs,
        baseMs: res.baseMs,
        summary,
        title: `${strategy.name} on ${res.symbols.join(',')}: flowcast backtest`,
      });
      process.stderr.write(`backtest: wrote ${written.join(', ')}\n`);
    }
    const m = summary.metrics;
    process.stderr.write(`backtest: ${res.record.events.toLocaleString('en-US')} events in ${res.seconds.toFixed(2)} s; ` +
      `${summary.orders} orders, ${m.fills} fills; PnL ${m.pnl.total.toFixed(2)} (fees ${m.fees.total.toFixed(2)}), position ${JSON.stringify(m.pnl.position)}\n`);
    process.stdout.write(JSON.stringify(summary) + '\n');
    return 0;
  },
};
export default command;
