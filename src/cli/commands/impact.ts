import { writeFileSync } from 'node:fs';
import type { Command } from '../command.ts';
import { UsageError } from '../command.ts';
import { listFlag, numberFlag, parseFlags, skipBadFlag, symbolsFlag } from '../args.ts';
import { outputFile } from '../output.ts';
import { SOURCE_SPEC_HELP } from '../../sources/spec.ts';

const usage = `flowcast impact --source SPEC --size Q [--sizes Q1,Q2,...] [flags]

Estimates the price impact of a market order of size Q (buy and sell) from the book, and checks
the estimates against the data's own aggressive orders of similar size (docs/backtest.md, Price
impact):
  book walk       VWAP of taking Q from the visible levels, against the mid and the touch, and the
                  mid the book would show after it (nothing refilled)
  kyle lambda*Q   the FEATURES.md kyle_lambda (OLS of bar mid change on bar signed volume) times Q
Both are sampled over the day (--every-ms) and, for every aggressive order (the prints of one sign
at one timestamp) of size within the band around Q, made from the book just before it at the
order's own size and compared with what followed: the prints' VWAP against the pre-order mid, and
the mid move just after it and at each horizon. The table gives the error distribution (estimate -
realised, bps): median, p10, p90 and the share within 10% of the realised value.

  --source SPEC        ${SOURCE_SPEC_HELP}
  --size Q             order size in the source's unit (shares, BTC, contracts)
  --sizes Q1,Q2,...    several sizes at once (with or instead of --size)
  --band LO,HI         orders of size LO*Q..HI*Q count as "of similar size" (default 0.5,2)
  --horizons MS,...    horizons after an order for the realised mid move, ms (default 1000,10000)
  --tolerance T        the "within" share uses |error| <= T * |realised| (default 0.1)
  --bar-ms MS          kyle lambda bar length (default 1000, as flowcast features)
  --bar-window N       kyle lambda bars (default 300, as flowcast features)
  --every-ms MS        one estimate sample per symbol every MS of exchange time (default 60000; 0: none)
  --levels N           levels per side the walk may read (default 50; the source may show fewer)
  --series FILE        the sampled estimates as CSV (one line per symbol, sample time and Q)
  --symbol SYM[,SYM]   only these symbols
  --skip-bad KINDS     skip and count these bad-input kinds instead of stopping (see flowcast features)
  --json               the summary as one JSON object on the last line of stdout (the table goes to stderr)
  --progress           progress lines on stderr even when it is not a terminal
  --quiet              no table

Examples:
  flowcast impact --source lobster:data/lobster/LOBSTER_SampleFile_AMZN_2012-06-21_5.zip --size 100
  flowcast impact --source binance:data/binance/binance-usdm_btcusdt_20240808.jsonl.gz --sizes 0.1,1 --bar-window 60 --json
`;

/** Sizes, band factors and horizons may be fractional (0.1 BTC). */
function positiveList(value: string | undefined, name: string, dflt: number[]): number[] {
  return listFlag(value, name, dflt, false);
}

const command: Command = {
  name: 'impact',
  summary: 'price impact of a market order of size Q: book walk and Kyle lambda, checked against realised orders of similar size',
  usage,
  async run(argv) {
    const { values } = parseFlags(argv, {
      source: { type: 'string' },
      size: { type: 'string' },
      sizes: { type: 'string' },
      band: { type: 'string' },
      horizons: { type: 'string' },
      tolerance: { type: 'string' },
      'bar-ms': { type: 'string' },
      'bar-window': { type: 'string' },
      'every-ms': { type: 'string' },
      levels: { type: 'string' },
      series: { type: 'string' },
      symbol: { type: 'string', multiple: true },
      'skip-bad': { type: 'string' },
      json: { type: 'boolean' },
      progress: { type: 'boolean' },
      quiet: { type: 'boolean' },
    });
    if (!values.source) throw new UsageError('--source is required');
    const sizes = [
      ...(values.size !== undefined ? positiveList(values.size, 'size', []) : []),
      ...(values.sizes !== undefined ? positiveList(values.sizes, 'sizes', []) : []),
    ];
    if (sizes.length === 0) throw new UsageError('--size Q (or --sizes Q1,Q2,...) is required');
    if (values.size !== undefined && positiveList(values.size, 'size', []).length !== 1) throw new UsageError('--size takes one size; use --sizes for several');
    const band = positiveList(values.band, 'band', [0.5, 2]);
    if (band.length !== 2 || band[0]! > band[1]!) throw new UsageError(`--band: expected LO,HI with LO <= HI, got "${values.band}"`);
    const horizonsMs = positiveList(values.horizons, 'horizons', [1000, 10_000]);
    const tolerance = numberFlag(values.tolerance, 'tolerance', 0.1, { min: 0 });
    const options = {
      sizes: [...new Set(sizes)],
      bandLo: band[0]!,
      bandHi: band[1]!,
      horizonsMs,
      barMs: numberFlag(values['bar-ms'], 'bar-ms', 1000, { min: 1, integer: true }),
      barWindow: numberFlag(values['bar-window'], 'bar-window', 300, { min: 2, integer: true }),
      everyMs: numberFlag(values['every-ms'], 'every-ms', 60_000, { min: 0, integer: true }),
      levels: numberFlag(values.levels, 'levels', 50, { min: 1, integer: true }),
    };

    const { Progress } = await import('../../core/progress.ts');
    const { runImpact } = await import('../../impact/run.ts');
    const { summarize, summaryJson, summaryTable } = await import('../../impact/report.ts');
    const { seriesCsvHeader, seriesCsvLine } = await import('../../impact/series.ts');
    const progress = new Progress({ label: 'impact', unit: 'rows', enabled: values.progress ? true : undefined });
    const seriesOut = values.series ? outputFile('series', values.series) : undefined;
    const lines: string[] = [];
    let toEpochNs: ((offset: number) => bigint) | undefined;
    const res = await runImpact(values.source, {
      options,
      symbols: symbolsFlag(values.symbol),
      policy: skipBadFlag(values['skip-bad']),
      onProgress: (rows, read, total) => progress.tick(rows, read, total),
      onStart: (source) => { toEpochNs = (t) => source.timeBase.get().toEpochNs(t); },
    }, {
      onSample: seriesOut ? (s) => lines.push(seriesCsvLine(s, toEpochNs!)) : undefined,
    });
    progress.done();
    if (seriesOut) {
      writeFileSync(seriesOut.tmp, seriesCsvHeader() + '\n' + lines.join('\n') + (lines.length ? '\n' : ''));
      seriesOut.commit();
    }
    const summary = summarize(res.analyzer, values.source, res.seconds, tolerance);
    if (!values.quiet) {
      const text = summaryTable(summary) + '\n' +
        `impact: ${res.seconds.toFixed(2)} s` + (values.series ? `, series -> ${values.series}` : '') + '\n';
      (values.json ? process.stderr : process.stdout).write(text);
    }
    if (values.json) process.stdout.write(summaryJson(summary) + '\n');
    return 0;
  },
};
export default command;
