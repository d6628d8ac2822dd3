import type { Command } from '../command.ts';
import { UsageError } from '../command.ts';
import { numberFlag, parseFlags } from '../args.ts';
import { outputDir } from '../output.ts';
import { SIM_FLAGS, loadSimStrategy, simSettings } from '../sim-flags.ts';

const usage = `flowcast paper --strategy FILE|NAME [flags]

Runs a strategy, the same object as in flowcast backtest, against the server's live pipeline in
this process (the serving sources: replays of files or recordings, live Binance feeds), with
simulated fills on the live book (docs/backtest.md). Stops when every replay has played through,
after --duration, or on SIGINT/SIGTERM; then prints the JSON summary as the last stdout line.

  --strategy FILE|NAME     a module whose default export is a StrategyFactory, or a bundled one
  --param k=v              a strategy parameter (repeatable)
  --config FILE            the server's JSON config (its sources, features, models)
  --replay SPEC            replay this source (repeatable): lobster:..., binance:..., tardis:...,
                           recording:DIR (what flowcast record wrote); played once
  --speed X                replay speed (default 1 = real time)
  --binance M:SYMS         live Binance feed, M = spot or usdm (repeatable)
  --models DIR             ONNX models (predictions reach onPrediction); default none
  --lot Q                  the L2 queue models' fills rounded to whole lots of Q (default 0: none)
  --queue NAME             queue model: risk-averse (default), prob-power:N, prob-log, exact
  --latency-feed NS        extra feed latency on top of the live one (default 0)
  --latency-entry NS       strategy to simulated exchange (default 0)
  --latency-response NS    simulated exchange to strategy (default 0)
  --fee-maker BPS          maker fee in bps, negative = rebate (default 0)
  --fee-taker BPS          taker fee in bps (default 0)
  --clock-grace-ms MS      how late a live event may arrive before the clock moves past it on its
                           own in a quiet market (default 250)
  --duration S             stop after S seconds
  --out DIR                the backtest's report files (fills.csv, orders.csv, equity.csv, summary.json, logs.jsonl, report.html)

Examples:
  flowcast paper --strategy market-maker --replay recording:rec/
  flowcast paper --strategy ./my-strategy.ts --binance usdm:BTCUSDT --latency-entry 2000000 --duration 600 --out out/paper
`;

const command: Command = {
  name: 'paper',
  summary: 'run a strategy on the live (or replayed) feed with simulated fills on the live book',
  usage,
  async run(argv) {
    const { values } = parseFlags(argv, {
      ...SIM_FLAGS,
      config: { type: 'string' },
      replay: { type: 'string', multiple: true },
      speed: { type: 'string' },
      binance: { type: 'string', multiple: true },
      'clock-grace-ms': { type: 'string' },
      duration: { type: 'string' },
    });
    if (!values.strategy) throw new UsageError('--strategy is required');
    if (values.out) outputDir('out', values.out);
    // Live, the feed latency is a constant: the events' own local stamps are the server's clock.
    const { latency, feeMakerBps, feeTakerBps, queueName, lot } = simSettings(values, { measuredFeed: false, defaultLot: 0 });
    const { loadServerConfig, ConfigError } = await import('../../server/config.ts');
    let cfg;
    try {
      cfg = loadServerConfig({
        file: values.config,
        overrides: {
          speed: values.speed === undefined ? undefined : numberFlag(values.speed, 'speed', 1, { min: Number.MIN_VALUE }),
          replay: values.replay,
          live: { binance: values.binance },
          // Predictions only when asked for: loading models costs start-up time most strategies do not need.
          models: values.models ?? '',
        },
      });
    } catch (e) {
      if (e instanceof ConfigError) throw new UsageError(e.message);
      throw e;
    }
    if (cfg.sources.length === 0) throw new UsageError('no source: give --replay SPEC, --binance M:SYMS or a --config with sources');
    const strategy = await loadSimStrategy(values, queueName);
    const { queueModel } = await import('../../backtest/queue/index.ts');
    const { loadPredictor, analyticsAlerts } = await import('../../server/wiring.ts');
    const predictor = cfg.models.dir ? (await loadPredictor(cfg)).predictor : undefined;
    const { PaperSession } = await import('../../backtest/paper.ts');
    const session = new PaperSession(cfg, strategy, {
      latency, feeMakerBps, feeTakerBps, queue: () => queueModel(queueName, { lot }),
      predictor,
      alerts: typeof strategy.onAlert === 'function' ? [analyticsAlerts] : undefined,
      clockGraceMs: numberFlag(values['clock-grace-ms'], 'clock-grace-ms', 250, { min: 0 }),
    });
    await session.start();
    const stop = new AbortController();
    const onSignal = (): void => stop.abort();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    const duration = values.duration === undefined ? undefined : numberFlag(values.duration, 'duration', 0, { min: 0 });
    const timer = duration === undefined ? undefined : setTimeout(onSignal, duration * 1000);
    process.stderr.write(`paper: ${strategy.name} on ${cfg.sources.length} source(s); Ctrl-C stops\n`);
    await session.untilEnded(stop.signal);
    clearTimeout(timer);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    const res = await session.stop();
    const { buildSummary } = await import('../../backtest/report/summary.ts');
    const summary = buildSummary(res, { strategy: strategy.name, queue: queueName, latency, feeMakerBps, feeTakerBps });
    if (values.out) {
      const { writeReport } = await import('../../backtest/report/write.ts');
      writeReport(values.out, {
        fills: res.record.fills, orders: [...res.record.orders.values()], equity: res.record.equity, logs: res.record.logs, baseMs: res.baseMs,
        summary, title: `${strategy.name} on ${res.symbols.join(',')}: flowcast paper`,
      });
    }
    process.stdout.write(JSON.stringify(summary) + '\n');
    return 0;
  },
};
export default command;
