/**
 * Throughput cost of the analytics on the feature pipeline (issue 7: at most a 25% cut in rows/s on
 * the GOOG day). One process, runs interleaved, same input:
 *   features:              source -> BookBuilder -> FeatureEngine
 *   features + analytics:  source -> analytics tap -> BookBuilder -> (FeatureEngine, AnalyticsEngine)
 *   analytics alone:       source -> analytics tap -> BookBuilder -> AnalyticsEngine
 * Feature blocks go to a sink that only counts them (no file writing, which would hide the cost
 * behind I/O), so the cut measured here is the strictest one. Writes the table into
 * docs/benchmarks.md (section bench:analytics).
 *
 *   npm run bench:analytics [-- --repeats 5] [--no-doc]
 */
import { parseArgs } from 'node:util';
import { openSource } from '../src/sources/spec.ts';
import { bookBuilder } from '../src/pipeline/book.ts';
import { FeatureEngine } from '../src/features/engine.ts';
import { featureOptions } from '../src/features/options.ts';
import { autoVpinBuckets } from '../src/pipeline/vpin.ts';
import { BadInputPolicy } from '../src/core/errors.ts';
import { AnalyticsEngine } from '../src/analytics/engine.ts';
import { analyticsTap, teeRows } from '../src/analytics/tap.ts';
import type { RowSink } from '../src/model/row.ts';
import { markdownTable, writeDocSection } from './lib/doc-section.ts';
import { GOOG, USDM } from '../src/sources/samples.ts';
import { machineLine, median } from './lib/stats.ts';

const { values } = parseArgs({ options: { repeats: { type: 'string' }, 'no-doc': { type: 'boolean' } } });
const repeats = Number(values.repeats ?? 9);

const DATASETS = [
  {
    name: 'LOBSTER GOOG 2012-06-21 (10 levels)',
    spec: GOOG,
    gate: true,
  },
  { name: 'Binance USD-M BTCUSDT capture', spec: USDM, gate: false },
];

type Mode = 'features' | 'features+analytics' | 'analytics';

async function runOnce(spec: string, mode: Mode, vpin: Record<string, number>): Promise<{ rows: number; seconds: number; alerts: number }> {
  const source = await openSource(spec, { policy: new BadInputPolicy() });
  const t0 = performance.now();
  let rows = 0;
  let features: FeatureEngine | undefined;
  const sinks: RowSink[] = [];
  let analytics: AnalyticsEngine | undefined;
  let alerts = 0;
  // Rows reach the analytics first (it reads the feature engine's VPIN / bar states as of the row before).
  if (mode !== 'features') sinks.push({ onRow: (r) => analytics!.onRow(r) });
  if (mode !== 'analytics') {
    const fo = featureOptions({ vpinBucket: 1, vpinBucketBySymbol: vpin });
    features = new FeatureEngine(fo, source.timeBase, (b) => { rows += b.n; });
    sinks.push(features);
  }
  if (mode === 'analytics') sinks.push({ onRow: () => { rows++; } });
  const builder = bookBuilder({ levels: 10, sink: teeRows(...sinks), sourceName: spec });
  let sink: import('../src/model/events.ts').MarketSink = builder;
  if (mode !== 'features') {
    // Beside the feature engine, the analytics read its VPIN and bar state machines (no second copy).
    analytics = new AnalyticsEngine({ measures: { vpinBucket: vpin } }, source.timeBase, { onAlert: () => { alerts++; }, onMeasures: () => {} }, builder, features);
    sink = analyticsTap(analytics, builder);
  }
  await source.run(sink);
  builder.finish();
  features?.finish();
  analytics?.finish();
  return { rows, seconds: (performance.now() - t0) / 1000, alerts };
}

const rowsOut: (string | number)[][] = [];
let gateCut = NaN;
for (const ds of DATASETS) {
  const vpin: Record<string, number> = {};
  await autoVpinBuckets(await openSource(ds.spec, { policy: new BadInputPolicy() }), vpin);
  const rates: Record<Mode, number[]> = { features: [], 'features+analytics': [], analytics: [] };
  let rowCount = 0;
  let alertCount = 0;
  await runOnce(ds.spec, 'features+analytics', vpin); // warm-up (JIT), not counted
  for (let r = 0; r < repeats; r++) {
    // The pair back to back, in alternating order; analytics alone after it.
    const order: Mode[] = r % 2 ? ['features', 'features+analytics', 'analytics'] : ['features+analytics', 'features', 'analytics'];
    for (const mode of order) {
      const res = await runOnce(ds.spec, mode, vpin);
      rates[mode].push(res.rows / res.seconds);
      if (mode === 'features') rowCount = res.rows;
      if (mode === 'features+analytics') alertCount = res.alerts;
    }
  }
  const f = median(rates.features);
  const fa = median(rates['features+analytics']);
  const a = median(rates.analytics);
  // Paired: each repeat ran both modes back to back, so load from other processes on the machine
  // hits both sides of a pair alike; the median of the pairs' cuts is the estimate.
  const cuts = rates.features.map((x, i) => 1 - rates['features+analytics'][i]! / x).sort((p, q) => p - q);
  const cut = median(cuts);
  if (ds.gate) gateCut = cut;
  const fmt = (x: number): string => `${(x / 1000).toFixed(1)}k`;
  rowsOut.push([ds.name, rowCount.toLocaleString('en-US'), fmt(f), fmt(fa), `${(100 * cut).toFixed(1)}%`,
    `${(100 * cuts[0]!).toFixed(0)}% .. ${(100 * cuts[cuts.length - 1]!).toFixed(0)}%`, fmt(a), alertCount.toLocaleString('en-US')]);
  process.stderr.write(`${ds.name}: features ${fmt(f)} rows/s, +analytics ${fmt(fa)} rows/s (cut ${(100 * cut).toFixed(1)}%), analytics alone ${fmt(a)} rows/s; ` +
    `runs ${JSON.stringify(Object.fromEntries(Object.entries(rates).map(([k, v]) => [k, v.map((x) => Math.round(x))])))}\n`);
}

const table = markdownTable(
  ['input', 'rows', 'features rows/s', 'features + analytics rows/s', 'cut (median of pairs)', 'cut range', 'analytics alone rows/s', 'alerts'],
  rowsOut,
);
const md = `### Analytics cost on the feature pipeline

\`npm run bench:analytics\` (repeats ${repeats}; rows/s are medians; runs interleaved in one process after a warm-up
run; the cut is the median over repeats of 1 - (features + analytics) / features, the two runs of a repeat
back to back, which cancels most of the load other processes put on a shared machine).
Machine: ${machineLine()}.

Rows/s of the whole path from the compressed input files (parse, book, features; the analytics see every
order message, print, level change, quote and row). Feature blocks are counted, not written, so file
output does not dilute the cost. Requirement (issue 7): the analytics cut the feature pipeline's rows/s
on the GOOG day by at most 25%: measured **${(100 * gateCut).toFixed(1)}%**.

${table}`;
if (!values['no-doc']) writeDocSection('docs/benchmarks.md', 'bench:analytics', md);
process.stdout.write(md + '\n');
if (!(gateCut <= 0.25)) {
  process.stderr.write(`FAIL: the analytics cut the GOOG feature pipeline by ${(100 * gateCut).toFixed(1)}% (> 25%)\n`);
  process.exitCode = 1;
}
