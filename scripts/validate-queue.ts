/**
 * Validation of the L2 queue models against the exact queue (issue 18, item 3), on the GOOG and
 * AMZN LOBSTER days: every --every seconds from 09:35 to 15:55 New York time, a buy of --qty at the
 * best bid and a sell of --qty at the best ask, each resting at most --horizon seconds, followed by
 * every model at once (src/backtest/queue/validate.ts). Writes its tables into docs/backtest.md (the
 * queue-validation section inside the queue block).
 *
 *   npx tsx scripts/validate-queue.ts [--every 10] [--horizon 60] [--qty 100] [--conflate 1] [--no-doc]
 */
import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { LobsterSource } from '../src/venues/lobster/capture.ts';
import { TimeBaseRef } from '../src/model/time.ts';
import { BadInputPolicy } from '../src/core/errors.ts';
import { QueueValidation, compare, exactSummary, type Feed } from '../src/backtest/queue/validate.ts';
import { AMZN_ZIP, GOOG_MSG, GOOG_OB } from '../src/sources/samples.ts';
import { markdownTable, readDocSection, writeDocSection } from './lib/doc-section.ts';
import { machineLine, percentile } from './lib/stats.ts';

const { values } = parseArgs({
  options: {
    every: { type: 'string' },
    horizon: { type: 'string' },
    qty: { type: 'string' },
    conflate: { type: 'string' },
    'no-doc': { type: 'boolean' },
  },
});
const num = (name: string, v: string | undefined, dflt: number): number => {
  const x = Number(v ?? dflt);
  if (!(x > 0) || !Number.isFinite(x)) throw new RangeError(`validate-queue: --${name} must be a number > 0, got "${v}"`);
  return x;
};
const EVERY_S = num('every', values.every, 10);
const HORIZON_S = num('horizon', values.horizon, 60);
const QTY = num('qty', values.qty, 100);
const CONFLATE_S = num('conflate', values.conflate, 1);
const DOC = 'docs/backtest.md';
const DOC_KEY = 'queue-validation';

const DAYS = [
  { name: 'GOOG', files: [GOOG_MSG, GOOG_OB], levels: 10 },
  { name: 'AMZN', files: [AMZN_ZIP], levels: 5 },
];

async function runDay(files: string[]): Promise<{ v: QueueValidation; seconds: number }> {
  const t0 = performance.now();
  const timeBase = new TimeBaseRef();
  const src = await LobsterSource.open(`lobster:${files.join(',')}`, files, { policy: new BadInputPolicy(), timeBase });
  const v = new QueueValidation({
    everyS: EVERY_S,
    horizonS: HORIZON_S,
    qty: QTY,
    conflateS: CONFLATE_S,
    // 09:35, after the opening cross and its first minutes; 15:55, so every horizon ends by the close.
    firstS: 9.5 * 3600 + 5 * 60,
    lastS: 15 * 3600 + 55 * 60,
    // Event times count from the run's time base; New York midnight sits at this offset from it.
    dayStart: () => timeBase.get().fromEpochNs(src.midnightNs),
  });
  await src.run(v);
  v.finish();
  return { v, seconds: (performance.now() - t0) / 1000 };
}

const fmt = (x: number, digits = 2): string => (Number.isFinite(x) ? x.toFixed(digits) : '–');
const pct = (a: number, b: number): string => (b > 0 ? `${((100 * a) / b).toFixed(1)}%` : '–');
const feedLabel = (f: Feed): string => (f === 'conflated' ? `depth every ${CONFLATE_S} s` : f);

async function main(): Promise<void> {
  const t0 = performance.now();
  const outcomes = ['model', 'L2 feed', 'filled', 'fill accuracy', 'false fills / misses', 'errors / exact queue fills',
    'full-fill accuracy', 'fill accuracy, all placed'];
  const timing = ['model', 'L2 feed', 'both filled', 'abs Δt median s', 'abs Δt p90 s', 'queue-decided', 'abs Δt median s',
    'abs Δt p90 s', 'Δt mean s', 'earlier / later', 'abs Δt where ≠ 0: median / p90 s'];
  const days: string[] = [];
  for (const day of DAYS) {
    const { v, seconds } = await runDay(day.files);
    console.error(`${day.name}: ${v.orders.length} orders, ${v.messages} messages, ${seconds.toFixed(1)} s`);
    const x = exactSummary(v);
    const oRows: (string | number)[][] = [];
    const tRows: (string | number)[][] = [];
    for (const m of v.specs) {
      if (m.name === 'exact') continue;
      const c = compare(v, m.label);
      const absAll = c.dtAll.map(Math.abs).sort((a, b) => a - b);
      const abs = c.dt.map(Math.abs).sort((a, b) => a - b);
      const mean = c.dt.length ? c.dt.reduce((a, b) => a + b, 0) / c.dt.length : NaN;
      oRows.push([
        m.name, feedLabel(m.feed), pct(c.filled, c.n), pct(c.agree, c.n), `${c.falseFills} / ${c.misses}`,
        // Most outcomes are settled by the price alone (it moves through the order, or never trades
        // at it); the errors against the orders the queue decided are the telling rate.
        pct(c.falseFills + c.misses, x.queueFills), pct(c.fullAgree, c.n), pct(c.agreeAllPlaced, c.placed),
      ]);
      tRows.push([
        m.name, feedLabel(m.feed), c.dtAll.length, fmt(percentile(absAll, 0.5)), fmt(percentile(absAll, 0.9)),
        c.dt.length, fmt(percentile(abs, 0.5)), fmt(percentile(abs, 0.9)), fmt(mean),
        `${pct(c.dt.filter((d) => d < 0).length, c.dt.length)} / ${pct(c.dt.filter((d) => d > 0).length, c.dt.length)}`,
        // Most pairs fill on the same execution message; the size of the error when they do not.
        `${fmt(percentile(abs.filter((d) => d > 0), 0.5), 3)} / ${fmt(percentile(abs.filter((d) => d > 0), 0.9), 3)}`,
      ]);
    }
    const st = v.exact.stats;
    days.push(`**${day.name} 2012-06-21** (${day.levels} levels): outcomes\n\n${markdownTable(outcomes, oRows)}\n\n` +
      `**${day.name}**: first-fill time error Δt (model minus exact)\n\n${markdownTable(timing, tRows)}\n\n` +
      `${day.name}: ${x.placed} orders placed (${x.placed / 2} times, bid and ask); ${x.outOfView} left out because their price ` +
      `went beyond the file's ${day.levels} levels while they rested (LOBSTER writes no message there, so the exact queue is not ` +
      `exact for them); ${x.compared} compared. Exact: ${x.queueFills} first fills through the queue, ${x.priceFills} by the ` +
      `price moving through the order (the same rule for every model), ${x.unfilled} unfilled after ${HORIZON_S} s. Of the visible ` +
      `quantity ahead at the joins, ${pct(x.unknownShare, 1)} was not introduced by any order message. Order-feed anomalies (all ` +
      `orders): ${st.staleAtJoin} joins where known orders summed to more than the level, ${st.execBehindWhileAhead} executions ` +
      `of an order behind ours while visible quantity was ahead, ${st.depthBelowAhead} depth updates below what the exact model ` +
      `had ahead (${x.belowInView} of them on compared orders). ${v.messages.toLocaleString('en-US')} messages, ${fmt(seconds, 1)} s.`);
  }
  const total = (performance.now() - t0) / 1000;
  const body = [
    `Generated by \`npx tsx scripts/validate-queue.ts\` (--every ${EVERY_S} --horizon ${HORIZON_S} --qty ${QTY} --conflate ` +
      `${CONFLATE_S}): ${total.toFixed(0)} s for both days on ${machineLine()} (a shared, busy machine: the time is indicative).`,
    ...days,
  ].join('\n\n');
  console.log(body);
  if (!values['no-doc']) {
    // The section must already sit inside the queue block: writing it anywhere else would touch
    // parts of the file other engineers own.
    const text = readFileSync(DOC, 'utf8');
    const block = text.slice(text.indexOf('<!-- queue:begin -->'), text.indexOf('<!-- queue:end -->'));
    if (readDocSection(block, DOC_KEY) === undefined) {
      throw new Error(`${DOC}: no <!-- ${DOC_KEY}:start --> / <!-- ${DOC_KEY}:end --> markers inside the queue block; not writing`);
    }
    writeDocSection(DOC, DOC_KEY, body);
  }
}

await main();
