/**
 * The bundled strategies on the real days, through the backtest engine (src/backtest/run.ts):
 *
 *   npx tsx scripts/eval-backtest.ts [--part strategies|taker|all] [--docs docs/backtest.md] [--report models/EVALUATION.md]
 *
 * `strategies` writes the results table of docs/backtest.md's Strategies section: the market maker
 * on GOOG and on the Binance USD-M capture, and one parent order executed by TWAP, VWAP, POV and at
 * once on each, with implementation shortfall against the arrival mid. `taker` writes the taker
 * section of models/EVALUATION.md: each shipped feature model traded through the taker strategy on
 * the GOOG test split and on the AMZN day, with fees. Each part replaces only its own marked block.
 */
import { readFileSync, readdirSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { runBacktest, type BacktestResult } from '../src/backtest/run.ts';
import type { LatencyModel } from '../src/backtest/engine.ts';
import { queueModel } from '../src/backtest/queue/index.ts';
import { sessionOf, summarise, type Summary } from '../src/backtest/report/metrics.ts';
import { createExecution, type ExecutionAlgo, type ExecutionStrategy } from '../src/backtest/strategies/execution.ts';
import { createMarketMaker } from '../src/backtest/strategies/market-maker.ts';
import { createTaker } from '../src/backtest/strategies/taker.ts';
import { precomputePredictions, PrecomputedPredictor } from '../src/backtest/strategies/model-predictions.ts';
import { volumeCurveFromSource } from '../src/backtest/strategies/volume-curve-source.ts';
import type { VolumeCurve } from '../src/backtest/strategies/volume-curve.ts';
import type { RowPredictor } from '../src/pipeline/plugins.ts';
import { pacedPredictor, type PacedPredictor } from '../src/backtest/predict.ts';
import { defaultConfig } from '../src/server/config.ts';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import type { Strategy } from '../src/backtest/strategy.ts';
import { AMZN, GOOG, SPOT, USDM } from '../src/sources/samples.ts';

const { values } = parseArgs({
  options: {
    part: { type: 'string', default: 'all' },
    docs: { type: 'string', default: 'docs/backtest.md' },
    report: { type: 'string', default: 'models/EVALUATION.md' },
    models: { type: 'string', default: 'models' },
  },
  strict: true,
});
const part = values.part!;
if (!['all', 'strategies', 'taker'].includes(part)) throw new Error(`--part must be strategies, taker or all, got ${part}`);
const command = ['npx tsx scripts/eval-backtest.ts', ...process.argv.slice(2)].join(' ');
const log = (s: string): void => void process.stderr.write(`${s}\n`);

const MS = 1e6;
const S = 1e9;

/** The cost and latency model of each venue (stated in the docs beside the tables). */
interface Venue {
  name: string;
  spec: string;
  feeMakerBps: number;
  feeTakerBps: number;
  latency: LatencyModel;
  queue: string;
}
// NASDAQ 2012: about $0.003 a share to take, $0.002 a share of rebate to make: at GOOG's ~$570,
// 0.05 and -0.035 bps of notional. LOBSTER is order-level: the exact queue model applies.
const LOBSTER_COSTS = { feeMakerBps: -0.035, feeTakerBps: 0.05, latency: { feed: 1 * MS, entry: 1 * MS, response: 1 * MS } };
const GOOG_V: Venue = { name: 'GOOG 2012-06-21 (LOBSTER)', spec: GOOG, ...LOBSTER_COSTS, queue: 'exact' };
const AMZN_V: Venue = { name: 'AMZN 2012-06-21 (LOBSTER)', spec: AMZN, ...LOBSTER_COSTS, queue: 'exact' };
// Binance USD-M regular tier: 2 bps maker, 5 bps taker; the capture's own receive times give the feed latency.
const USDM_V: Venue = {
  name: 'BTCUSDT USD-M 2024-08-08 (Binance, 344.8 s)', spec: USDM, feeMakerBps: 2, feeTakerBps: 5,
  latency: { feed: 'measured', entry: 10 * MS, response: 10 * MS }, queue: 'prob-power:2',
};

async function run(v: Venue, s: Strategy, predictor?: RowPredictor, served?: { paced: PacedPredictor; vpinBucketBySymbol: Record<string, number> }): Promise<{ r: BacktestResult; sum: Summary }> {
  const r = await runBacktest(v.spec, s, {
    queue: () => queueModel(v.queue), feeMakerBps: v.feeMakerBps, feeTakerBps: v.feeTakerBps, latency: v.latency, ...(predictor ? { predictor } : {}),
    ...(served ? { predictor: served.paced.predictor, paced: served.paced, vpinBucketBySymbol: served.vpinBucketBySymbol } : {}),
  });
  const last = r.record.equity[r.record.equity.length - 1];
  const lastMid: Record<string, number> = {};
  for (const sym of r.symbols) lastMid[sym] = last?.mid ?? NaN;
  const orders = [...r.record.orders.values()];
  return { r, sum: summarise(r.record.fills, orders, r.record.equity, lastMid, sessionOf(r.kind)) };
}

const fmt = (x: number, d = 2): string => (Number.isFinite(x) ? x.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d }) : 'n/a');
const latencyText = (l: LatencyModel): string => `feed ${l.feed === 'measured' ? 'measured (receive − exchange time)' : `${l.feed / MS} ms`}, entry ${l.entry / MS} ms, response ${l.response / MS} ms`;

/** Replaces the text between two markers (markers kept); appends both with the text when absent. */
function replaceBlock(file: string, begin: string, end: string, body: string): void {
  const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
  const a = text.indexOf(begin), b = text.indexOf(end);
  const block = `${begin}\n${body.trimEnd()}\n${end}`;
  const next = a >= 0 && b > a ? text.slice(0, a) + block + text.slice(b + end.length) : `${text.replace(/\n*$/, '\n\n')}${block}\n`;
  writeFileSync(file, next);
}

// ---------------------------------------------------------------- strategies

interface ExecCase {
  venue: Venue;
  params: { qty: number; start: string; end: string; slices: number; lot: number };
  pov: number;
  curve: () => Promise<VolumeCurve>;
  curveText: string;
  unit: string;
}

async function strategiesPart(): Promise<string> {
  const lines: string[] = [];
  const t0 = performance.now();
  lines.push(`Produced by \`${command}\` (${new Date().toISOString().slice(0, 10)}). Costs and latencies:`);
  lines.push('');
  for (const v of [GOOG_V, USDM_V]) lines.push(`- ${v.name}: maker ${v.feeMakerBps} bps, taker ${v.feeTakerBps} bps of notional; ${latencyText(v.latency)}; the execution orders rest under the \`${v.queue}\` queue model.`);
  lines.push('');

  // Market maker.
  lines.push('**Market maker** (defaults except size and limit; PnL marked to the last mid, fees included). The same quotes under each queue model: how much of the result is the fill model\'s (on GOOG the exact queue from the order ids is the reference; the L2 models are validated against it in the queue section above):');
  lines.push('');
  lines.push('| data | queue model | size / limit | fills | maker volume | PnL | fees | max \\|position\\| | requotes (modify) | orders | Sharpe (annualised) | max drawdown |');
  lines.push('|---|---|---|---|---|---|---|---|---|---|---|---|');
  const mmRuns = [
    ...['exact', 'risk-averse', 'prob-power:2'].map((q) => [{ ...GOOG_V, queue: q }, 100, 500, 0] as const),
    // Quotes that keep their queue place through small moves of the desired price.
    ...['exact', 'risk-averse'].map((q) => [{ ...GOOG_V, queue: q }, 100, 500, 5] as const),
    ...['prob-power:2', 'risk-averse'].map((q) => [{ ...USDM_V, queue: q }, 0.01, 0.05, 0] as const),
  ];
  for (const [v, size, limit, requoteTicks] of mmRuns) {
    log(`market maker on ${v.name}, queue ${v.queue}, requoteTicks ${requoteTicks}`);
    const mm = createMarketMaker({ size, maxPosition: limit, requoteTicks });
    const { r, sum } = await run(v, mm);
    lines.push(`| ${v.name} | \`${v.queue}\` | ${size} / ${limit}${requoteTicks ? `, requoteTicks ${requoteTicks}` : ''} | ${sum.fills} | ${fmt(sum.fees.makerQty, size < 1 ? 3 : 0)} | ${fmt(sum.pnl.total)} | ${fmt(sum.pnl.fees)} | ${fmt(sum.pnl.maxAbsPosition, size < 1 ? 3 : 0)} | ${mm.stats.requotes} | ${r.record.orders.size} | ${fmt(sum.sharpe.sharpe ?? NaN)} | ${fmt(sum.drawdown.maxDrawdown)} |`);
  }
  lines.push('');

  // Execution: the same parent order bought and sold in several windows. One order's shortfall is
  // mostly the drift of the price over its window; over a buy and a sell in the same window the
  // drift cancels, and what is left is what the algorithm paid to trade.
  const goodWindows = ['13:45', '14:45', '15:45', '16:45', '17:45', '18:45'].map((h) => [h, `${Number(h.slice(0, 2)) + 1}:45`] as const);
  const cases: ExecCase[] = [
    ...goodWindows.map(([start, end]) => ({
      venue: GOOG_V, params: { qty: 1000, start, end, slices: 12, lot: 1 }, pov: 0.02,
      curve: () => volumeCurveFromSource(AMZN, 5 * 60 * S), curveText: 'AMZN, same day, 5-minute buckets', unit: 'shares',
    })),
    // An offset `end` counts from the start: two windows of 120 s, from 20 s and 150 s after the first book.
    ...([['+20s', '+120s'], ['+150s', '+120s']] as const).map(([start, end]) => ({
      venue: USDM_V, params: { qty: 0.5, start, end, slices: 10, lot: 0.001 }, pov: 0.002,
      curve: () => volumeCurveFromSource(SPOT, 30 * S), curveText: 'Binance spot BTCUSDT, same minutes, 30-second buckets', unit: 'BTC',
    })),
  ];
  type Row = { venue: Venue; c: ExecCase; side: 'buy' | 'sell'; algo: ExecutionAlgo; x: ReturnType<ExecutionStrategy['summary']>; im: ReturnType<ExecutionStrategy['summary']> };
  const all: Row[] = [];
  const curves = new Map<string, VolumeCurve>();
  for (const c of cases) {
    let curve = curves.get(c.curveText);
    if (!curve) curves.set(c.curveText, (curve = await c.curve()));
    for (const side of ['buy', 'sell'] as const) {
      const res = new Map<ExecutionAlgo, ReturnType<ExecutionStrategy['summary']>>();
      for (const algo of ['immediate', 'twap', 'vwap', 'pov'] as const) {
        log(`${algo} ${side} ${c.params.start}-${c.params.end} on ${c.venue.name}`);
        const params = { ...c.params, side, takerFeeBps: c.venue.feeTakerBps, ...(algo === 'pov' ? { rate: c.pov } : {}) };
        const s = createExecution(algo, params, { curve });
        await run(c.venue, s);
        res.set(algo, s.summary());
      }
      for (const [algo, x] of res) all.push({ venue: c.venue, c, side, algo, x, im: res.get('immediate')! });
    }
  }
  const mean = (a: number[]): number => a.reduce((p, q) => p + q, 0) / a.length;
  lines.push('**Execution of a parent order**: implementation shortfall (IS) against the arrival mid, fees included, in bps of the order\'s value at arrival (positive = cost).');
  lines.push(`GOOG: 1,000 shares bought and sold in each of ${goodWindows.length} one-hour windows (${goodWindows.map((w) => w.join('–')).join(', ')} UTC), TWAP and VWAP in 12 slices, VWAP on AMZN's volume curve of the same day (5-minute buckets), POV at 2%. USD-M: 0.5 BTC bought and sold in two 2-minute windows (20–140 s and 150–270 s after the first book; the market traded 307 and 1,361 BTC in them), 10 slices, VWAP on the spot market's curve (30-second buckets), POV at 0.2%. urgency 0.1, finishWindow 0.05, minFavour 0 (the defaults).`);
  lines.push('One order\'s IS is mostly the drift of the price over its window (a buy in a falling hour looks cheap); over a buy and a sell in the same window the drift cancels, so the "buy and sell" column is the cost of trading itself. `immediate` is the whole parent as one market order through the engine (it crosses again as the book refills until done); "book walk" is that order on the arrival book alone (10 visible levels; what they cannot fill is priced at the last level, a lower bound).');
  lines.push('');
  lines.push('| data | algo | orders | done by the end | passive share | IS buys (bps) | IS sells (bps) | IS buy and sell (bps) | minus immediate (bps) | cheaper than immediate | book walk (bps) |');
  lines.push('|---|---|---|---|---|---|---|---|---|---|---|');
  for (const v of [GOOG_V, USDM_V]) {
    for (const algo of ['immediate', 'twap', 'vwap', 'pov'] as const) {
      const rs = all.filter((r) => r.venue === v && r.algo === algo);
      const isOf = (r: Row): number => r.x.shortfall!.bps;
      const done = rs.filter((r) => Number.isFinite(r.x.doneAt) && r.x.doneAt <= r.x.end + 1e8).length;
      const passive = mean(rs.map((r) => r.x.passiveQty / r.x.parentQty));
      const cheaper = rs.filter((r) => isOf(r) < r.im.shortfall!.bps).length;
      lines.push(`| ${v.name} | ${algo} | ${rs.length} | ${done} | ${fmt(100 * passive, 0)}% | ${fmt(mean(rs.filter((r) => r.side === 'buy').map(isOf)))} | ${fmt(mean(rs.filter((r) => r.side === 'sell').map(isOf)))} | **${fmt(mean(rs.map(isOf)))}** | ${algo === 'immediate' ? '—' : fmt(mean(rs.map((r) => isOf(r) - r.im.shortfall!.bps)))} | ${algo === 'immediate' ? '—' : `${cheaper} of ${rs.length}`} | ${fmt(mean(rs.map((r) => r.x.immediate!.bps)))} |`);
    }
  }
  lines.push('');
  lines.push('<details><summary>Every order</summary>');
  lines.push('');
  lines.push('| data | window | side | algo | done after | passive / taker | children | IS (bps) | IS, currency | immediate (bps) | book walk (bps) |');
  lines.push('|---|---|---|---|---|---|---|---|---|---|---|');
  for (const r of all) {
    const x = r.x, d = r.c.unit === 'BTC' ? 3 : 0;
    const done = Number.isFinite(x.doneAt) ? `${fmt((x.doneAt - x.start) / S, 1)} s` : `not done (${fmt(x.executed, d)})`;
    const win = r.c.params.end.startsWith('+') ? `${r.c.params.start} for ${r.c.params.end.slice(1)}` : `${r.c.params.start}–${r.c.params.end}`;
    lines.push(`| ${r.venue.name.split(' ')[0]} | ${win} | ${r.side} | ${r.algo} | ${done} | ${fmt(x.passiveQty, d)} / ${fmt(x.takerQty, d)} | ${x.children} | ${fmt(x.shortfall!.bps)} | ${fmt(x.shortfall!.total)} | ${fmt(r.im.shortfall!.bps)} | ${fmt(x.immediate!.bps)}${x.immediate!.walk.short > 0 ? ` (short ${fmt(x.immediate!.walk.short, d)})` : ''} |`);
  }
  lines.push('');
  lines.push('</details>');
  lines.push('');
  lines.push(`Whole run ${fmt((performance.now() - t0) / 1000, 0)} s on a shared, busy machine (not a benchmark).`);
  return lines.join('\n');
}

// ---------------------------------------------------------------- taker

async function takerPart(): Promise<string> {
  const dirs = readdirSync(values.models!, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(values.models!, d.name, 'manifest.json')))
    .map((d) => join(values.models!, d.name))
    .sort()
    .map((dir) => ({ dir, levels: (JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as { input: { layout: string } }).input.layout === 'NTLC' }))
    // Raw-levels models last: they trade from the first test row the feature models' split gives.
    .sort((a, b) => Number(a.levels) - Number(b.levels))
    .map((d) => d.dir);
  let goodTestFrom = NaN;
  const lines: string[] = [];
  const skipped: string[] = [];
  const configs = [
    { threshold: 0.5, hold: '0s' },
    { threshold: 0.6, hold: '0s' },
    { threshold: 0.5, hold: '10s' },
    { threshold: 0.6, hold: '10s' },
  ];
  const rows: string[] = [];
  const nets: number[] = [], per100: number[] = [];
  for (const dir of dirs) {
    const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as { name: string; input: { layout: string } };
    if (manifest.input.layout === 'NTLC') {
      // Raw book levels: the server's predictor through the engine (as `flowcast backtest --models`
      // runs it, every row predicted before the next event), trading from the feature models' first
      // test row (the same split fractions of the same day). It serves only the symbols whose book
      // grid it was trained on (GOOG).
      const v = GOOG_V;
      const testFrom = goodTestFrom;
      if (!(testFrom > 0)) throw new Error(`${manifest.name}: no feature model's GOOG test split to start from`);
      const tmp = mkdtempSync(join(tmpdir(), 'flowcast-eval-'));
      try {
        cpSync(dir, join(tmp, manifest.name), { recursive: true });
        for (const c of configs) {
          log(`taker ${manifest.name} on ${v.name}, threshold ${c.threshold}, hold ${c.hold} (server predictor)`);
          const cfg = defaultConfig();
          const vpinBucketBySymbol: Record<string, number> = {};
          cfg.models.dir = tmp;
          cfg.features.vpinBucketBySymbol = vpinBucketBySymbol;
          const paced = await pacedPredictor(cfg.models, cfg.features);
          const t = createTaker({ size: 100, maxPosition: 100, buyThreshold: c.threshold, sellThreshold: c.threshold, hold: c.hold, model: manifest.name, fromRow: testFrom });
          const { r, sum } = await run(v, t, undefined, { paced, vpinBucketBySymbol });
          row(manifest.name, `GOOG, test rows ${testFrom}..${r.record.rows - 1}`, c, t.stats.predictions, t, sum);
        }
      } finally {
        rmSync(tmp, { recursive: true, force: true });
      }
      continue;
    }
    for (const v of [GOOG_V, AMZN_V]) {
      log(`predictions of ${manifest.name} on ${v.name}`);
      const pre = await precomputePredictions(dir, v.spec);
      // On GOOG, the model's own test rows only: the rest is what it was trained and validated on.
      const from = v === GOOG_V ? pre.testFrom : 0;
      if (v === GOOG_V) goodTestFrom = pre.testFrom;
      const rowsText = v === GOOG_V ? `test rows ${from}..${pre.n - 1}` : `all ${pre.n} rows`;
      for (const c of configs) {
        log(`taker ${manifest.name} on ${v.name}, threshold ${c.threshold}, hold ${c.hold}`);
        const t = createTaker({ size: 100, maxPosition: 100, buyThreshold: c.threshold, sellThreshold: c.threshold, hold: c.hold, model: pre.model });
        const pred = new PrecomputedPredictor(pre, from);
        const { sum } = await run(v, t, pred);
        row(manifest.name, `${v.name.split(' ')[0]}, ${rowsText}`, c, pred.emitted, t, sum);
      }
    }
  }
  function row(model: string, data: string, c: { threshold: number; hold: string }, predictions: number, t: ReturnType<typeof createTaker>, sum: Summary): void {
    const gross = sum.pnl.total + sum.pnl.fees;
    const traded = sum.fees.takerQty + sum.fees.makerQty;
    nets.push(sum.pnl.total);
    if (traded > 0) per100.push((100 * gross) / traded);
    rows.push(`| ${model} | ${data} | ${c.threshold} | ${c.hold} | ${predictions} | ${t.stats.signals.buy} / ${t.stats.signals.sell} | ${sum.fills} | ${fmt(traded, 0)} | ${fmt(gross)} | ${fmt(sum.pnl.fees)} | **${fmt(sum.pnl.total)}** | ${traded > 0 ? fmt((100 * gross) / traded, 2) : 'n/a'} | ${fmt(sum.slippage.vsMidBps ?? NaN)} | ${sum.roundTrips.trips} / ${fmt(100 * (sum.roundTrips.winRate ?? NaN), 0)}% | ${fmt(sum.sharpe.sharpe ?? NaN)} | ${fmt(sum.drawdown.maxDrawdown)} |`);
  }
  lines.push('## Backtest through the taker strategy');
  lines.push('');
  lines.push(`Generated ${new Date().toISOString()} by \`${command}\`.`);
  lines.push('');
  lines.push('Each shipped model\'s predictions traded by the bundled `taker` strategy (docs/backtest.md, Strategies) through `flowcast backtest`\'s engine: buy when P(up) > threshold, sell when P(down) > threshold, flat otherwise; 100 shares per order, position limit 100 shares, market orders; with a holding period the position is kept at least that long after the fill that opened it.');
  lines.push(`Costs: maker ${GOOG_V.feeMakerBps} bps, taker ${GOOG_V.feeTakerBps} bps of notional (NASDAQ 2012, about $0.003 a share to take), and the spread, paid by every market order; ${latencyText(GOOG_V.latency)}; queue model \`${GOOG_V.queue}\`.`);
  lines.push('Predictions are the ones `flowcast evaluate` scores, computed for every row before the run and delivered with the row that made them (src/backtest/strategies/model-predictions.ts), as `flowcast backtest --models` delivers them (both give the same fills over the whole GOOG day); precomputing lets the run trade only the model\'s test rows. The raw-levels model reads book levels, which the precomputation does not cover: it runs on the server\'s predictor as `flowcast backtest --models` does, and the taker ignores predictions of rows before the test split (`fromRow`); it serves only GOOG, whose book grid it was trained on.');
  lines.push('On GOOG only the model\'s test rows are traded (the rest is its training and validation data); AMZN is a symbol the models never saw.');
  lines.push('PnL is in USD, marked to the last mid; "gross / 100 sh" is the PnL before fees per 100 shares traded; "slippage vs mid" is the fills\' distance from the mid at the fill (half the spread for a market order at the touch).');
  lines.push('');
  lines.push(`**${nets.filter((x) => x > 0).length} of ${nets.length} configurations make money.** Before fees the taker loses ${fmt(-Math.max(...per100))} to ${fmt(-Math.min(...per100))} USD per 100 shares traded, about what crossing the spread costs (the slippage column): over 50 rows the models\' edge is smaller than the spread a market order pays. A holding period and a higher threshold trade less and so lose less; none turns the sign.`);
  lines.push('');
  lines.push('| model | data | threshold | hold | predictions | buy / sell signals | fills | shares traded | gross PnL | fees | net PnL | gross / 100 sh | slippage vs mid (bps) | round trips / won | Sharpe (annualised, 252 x 390 min) | max drawdown |');
  lines.push('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  lines.push(...rows);
  if (skipped.length) {
    lines.push('');
    lines.push(`Not run: ${skipped.join('; ')}.`);
  }
  return lines.join('\n');
}

const STRAT_BEGIN = '<!-- strategies-results:begin (scripts/eval-backtest.ts --part strategies writes this block) -->';
const STRAT_END = '<!-- strategies-results:end -->';
const TAKER_BEGIN = '<!-- taker backtest: begin (scripts/eval-backtest.ts --part taker writes this section) -->';
const TAKER_END = '<!-- taker backtest: end -->';

if (part === 'all' || part === 'strategies') {
  const body = await strategiesPart();
  replaceBlock(values.docs!, STRAT_BEGIN, STRAT_END, body);
  process.stdout.write(body + '\n');
}
if (part === 'all' || part === 'taker') {
  const body = await takerPart();
  replaceBlock(values.report!, TAKER_BEGIN, TAKER_END, body);
  process.stdout.write(body + '\n');
}
