/**
 * Dense-feature throughput of every compute backend that can run here, side by side in one run,
 * over batch shapes from 1 window x 100 rows to 1,024 x 100 and the whole GOOG day, on real GOOG
 * rows. Peers: the float64 FeatureEngine (streaming, all 28 columns, what `features` runs) and the
 * snapshot assembly itself (ring -> float32 tensor).
 *
 *   npm run bench:compute                       writes the table into docs/benchmarks.md
 *   npm run bench:compute -- --no-doc --out F   writes it to F only (scripts/gpu-check does this)
 *   --backends cpu,gpujs:webasm   --min-ms 300
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { openSource } from '../src/sources/spec.ts';
import type { MarketSource } from '../src/sources/source.ts';
import { bookBuilder } from '../src/pipeline/book.ts';
import { FeatureEngine } from '../src/features/engine.ts';
import { featureOptions } from '../src/features/options.ts';
import { SnapshotRing } from '../src/snapshots/ring.ts';
import { SnapshotBatch } from '../src/snapshots/batch.ts';
import { availableBackends } from '../src/compute/select.ts';
import { markdownTable, writeDocSection } from './lib/doc-section.ts';
import { GOOG } from '../src/sources/samples.ts';
import { fmtRate, machineLine, median } from './lib/stats.ts';


const { values: args } = parseArgs({
  options: {
    'no-doc': { type: 'boolean' },
    out: { type: 'string' },
    backends: { type: 'string' },
    'min-ms': { type: 'string' },
  },
});
const minMs = Number(args['min-ms'] ?? 300);

interface Shape {
  name: string;
  windows: number;
  rows: number;
}
const SHAPES: Shape[] = [
  { name: '1 x 100', windows: 1, rows: 100 },
  { name: '16 x 100', windows: 16, rows: 100 },
  { name: '128 x 100', windows: 128, rows: 100 },
  { name: '512 x 100', windows: 512, rows: 100 },
  { name: '1,024 x 100', windows: 1024, rows: 100 },
];

async function timeRuns(fn: () => unknown): Promise<{ first: number; ms: number }> {
  let t = performance.now();
  await fn();
  const first = performance.now() - t;
  const times: number[] = [];
  const start = performance.now();
  while (times.length < 3 || (performance.now() - start < minMs && times.length < 500)) {
    t = performance.now();
    await fn();
    times.push(performance.now() - t);
  }
  return { first, ms: median(times) };
}

function rate(rows: number, ms: number): number {
  return rows / (ms / 1000);
}

const fmt = fmtRate;

// Real rows: the GOOG day in one ring, and the engine's speed on the same day.
const src = await openSource(GOOG);
const fo = featureOptions({ levels: 10, vpinBucket: 1400, settleMs: 0 });
let ring!: SnapshotRing;
const builder = bookBuilder({
  levels: 10,
  sink: {
    onRow(r) {
      ring ??= new SnapshotRing(r.symbol, 0, 150_000, 10);
      ring.push(r);
    },
  },
});
await src.run(builder);
builder.finish();
const dayRows = ring.count;

// The engine, fed the same rows by a second replay; the replay alone (parse + book rebuild) is
// timed too and subtracted.
type RowFn = (r: import('../src/model/row.ts').BookRow) => void;
async function replay(makeRowFn?: (s: MarketSource) => RowFn): Promise<number> {
  const s = await openSource(GOOG);
  const onRow = makeRowFn?.(s) ?? ((): void => {});
  const b = bookBuilder({ levels: 10, sink: { onRow } });
  const t = performance.now();
  await s.run(b);
  b.finish();
  return performance.now() - t;
}
const replayMs = Math.min(await replay(), await replay());
let engineMs = Infinity;
for (let i = 0; i < 2; i++) {
  engineMs = Math.min(engineMs, await replay((s) => {
    const engine = new FeatureEngine(fo, s.timeBase, () => {});
    return (r) => engine.onRow(r);
  }));
}
const engineRate = rate(dayRows, Math.max(1, engineMs - replayMs));

const wanted = args.backends?.split(',').map((s) => s.trim());
const { backends, unavailable } = await availableBackends(wanted);
if (backends.length === 0) {
  process.stderr.write(`bench:compute: none of the requested backends runs here: ${Object.entries(unavailable).map(([k, v]) => `${k}: ${v}`).join('; ')}\n`);
  process.exit(1);
}

interface Cell {
  rate: number;
  firstMs: number;
}
const results = new Map<string, Map<string, Cell>>();
const assembly = new Map<string, number>();

/**
 * Backends are timed in rounds, each round running every backend once in a rotating order, so a
 * load spike on this shared machine hits them all alike; each gets the median of its rounds.
 */
async function benchShape(name: string, batch: SnapshotBatch, fill: () => void): Promise<void> {
  const t = await timeRuns(fill);
  assembly.set(name, rate(batch.n * batch.T, t.ms));
  const first = new Map<string, number>();
  const times = new Map<string, number[]>(backends.map((b) => [b.name, []]));
  for (const be of backends) {
    const t0 = performance.now();
    await be.compute(batch, 10);
    first.set(be.name, performance.now() - t0);
  }
  const start = performance.now();
  for (let round = 0; round < 5 || (performance.now() - start < minMs * backends.length && round < 300); round++) {
    for (let k = 0; k < backends.length; k++) {
      const be = backends[(round + k) % backends.length]!;
      const t0 = performance.now();
      await be.compute(batch, 10);
      times.get(be.name)!.push(performance.now() - t0);
    }
  }
  const row = new Map<string, Cell>();
  for (const be of backends) {
    const r = rate(batch.outputRows, median(times.get(be.name)!));
    row.set(be.name, { rate: r, firstMs: first.get(be.name)! });
    process.stderr.write(`  ${name.padEnd(24)} ${be.name.padEnd(14)} ${fmt(r)} rows/s (first call ${first.get(be.name)!.toFixed(0)} ms)\n`);
  }
  results.set(name, row);
}

for (const s of SHAPES) {
  const batch = new SnapshotBatch({ windows: s.windows, rows: s.rows, levels: 10 });
  // Windows spread over the day, as if they were different symbols.
  const step = Math.floor((dayRows - batch.W) / s.windows);
  const fill = (): void => {
    batch.clear();
    for (let b = 0; b < s.windows; b++) batch.add(ring, batch.W - 1 + b * step);
  };
  fill();
  await benchShape(s.name, batch, fill);
}
{
  // The whole day: consecutive windows of 1,024 output rows (plus 50 of history), as DenseStream cuts it.
  const T = 1024;
  const k = Math.ceil(dayRows / T);
  const batch = new SnapshotBatch({ windows: k, rows: T, levels: 10 });
  const fill = (): void => {
    batch.clear();
    for (let b = 0; b < k; b++) batch.add(ring, Math.min(dayRows - 1, (b + 1) * T - 1));
  };
  fill();
  await benchShape(`GOOG day (${k} x 1,024)`, batch, fill);
}
for (const b of backends) await b.dispose();

// Tables.
const names = backends.map((b) => b.name);
const rowsOut: (string | number)[][] = [];
for (const [shape, row] of results) {
  const best = names.reduce((a, b) => (row.get(b)!.rate > row.get(a)!.rate ? b : a));
  rowsOut.push([
    shape,
    ...names.map((n) => fmt(row.get(n)!.rate)),
    fmt(assembly.get(shape)!),
    `**${best}**`,
    row.has('cpu') ? `${(row.get(best)!.rate / row.get('cpu')!.rate).toFixed(2)}x` : '-',
    `${(row.get(best)!.rate / engineRate).toFixed(2)}x`,
  ]);
}
const firstCalls = [...results].map(([shape, row]) => [shape, ...names.map((n) => `${row.get(n)!.firstMs.toFixed(0)} ms`)]);

const md = `Command: \`npm run bench:compute\` (scripts/bench-compute.ts). Machine: ${machineLine()}. Data: the real GOOG day ` +
  `(${dayRows.toLocaleString('en-US')} rows, 10 levels); B x T windows are spread over the day, each with 50 rows of history. ` +
  `Rows/s = output rows (B x T) per second for all 20 dense columns (median of >= 5 rounds after a compiling first run; each round runs every backend once, in rotating order), ` +
  `float32 tensor in, spec values out.

${markdownTable(['batch (B x T)', ...names, 'assembly (ring -> tensor)', 'fastest', 'vs cpu', 'vs FeatureEngine (28 columns)'], rowsOut)}

FeatureEngine (float64 streaming reference, all 28 columns, the same day): ${fmt(engineRate)} rows/s (book rebuild excluded).
Backends not run here: ${Object.entries(unavailable).map(([k, v]) => `${k} (${v})`).join('; ') || 'none'}.

First call (kernel compile + run) per shape:

${markdownTable(['batch', ...names], firstCalls)}

Reading it (docs/compute.md, "Crossover"): the CPU modes compute one output cell at a time, so there is no launch
cost to amortise and rows/s is flat or falling in B (past ~100 windows the tensor leaves the cache and each of the 21
column passes re-reads it). A GPU mode pays a fixed upload, launch and readback cost per batch and wins above a batch
size that scripts/gpu-check measures on the GPU box; \`--compute auto\` times the candidates on the caller's shape at start-up.`;

process.stdout.write(md + '\n');
if (args.out) writeFileSync(args.out, md + '\n');
if (!args['no-doc']) writeDocSection('docs/benchmarks.md', 'bench:compute', md);
