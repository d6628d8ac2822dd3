/**
 * Live micro-batching (issue 14): rows of several symbols wait together and one kernel call
 * computes all their dense columns. The batched pipeline must hand on exactly the rows, in the same
 * order, each with its own book, as the pipeline without kernels, and its kernel columns must equal
 * the float64 engine's within float32 tolerance; and it must make one kernel call per full batch.
 */
import { describe, expect, it } from 'vitest';
import { LivePipeline, type PipelineOutput } from '../../src/pipeline/live.ts';
import type { SourceHandle } from '../../src/pipeline/source.ts';
import type { MarketSink } from '../../src/model/events.ts';
import { MetricsRegistry } from '../../src/server/metrics.ts';
import { resolveDepth } from '../../src/model/depth.ts';
import { TimeBase } from '../../src/model/time.ts';
import { COL, FEATURE_COLUMNS } from '../../src/features/columns.ts';
import { DENSE_COLUMNS } from '../../src/compute/dense.ts';
import { GpuJsBackend } from '../../src/compute/gpujs.ts';
import { LiveDense } from '../../src/compute/live-dense.ts';
import { openSource } from '../../src/sources/spec.ts';
import { USDM } from '../../src/sources/samples.ts';
import { fanOutSymbols } from '../helpers.ts';

const SYMBOLS = ['A', 'B', 'C'];
const BATCH = 8;

interface Seen { sym: string; row: number; ts: number; bookTs: number; bid0: number; values: Float64Array }

/** The capture's every event, once per symbol: three books with the same stream, their rows interleaved. */
function threeSymbols(h: SourceHandle): MarketSink {
  return fanOutSymbols(h, SYMBOLS);
}

let computedBy: { engine: readonly string[]; kernels: readonly string[] } | undefined;

async function run(dense?: LiveDense): Promise<Seen[]> {
  const seen: Seen[] = [];
  const out: PipelineOutput = {
    row: (r) => seen.push({ sym: r.sym, row: r.row, ts: r.ts, bookTs: r.book.ts, bid0: r.book.bidPx[0]!, values: Float64Array.from(r.values) }),
    prediction: () => {},
    alert: () => {},
  };
  const pipeline = new LivePipeline(
    { depth: resolveDepth(10), timeBase: TimeBase.ofEpochMs(Date.now()), features: { vpinBucket: 5, vpinBucketBySymbol: {}, vpinBuckets: 50, barMs: 1000, barWindow: 300 } },
    out, new MetricsRegistry(),
    // A delay no run reaches: batches leave full, the last one at flush(): the batch sizes are the test's, not the machine's.
    dense ? { dense, batch: { maxBatchSize: BATCH, maxQueueDelayUs: 1e9 } } : {},
  );
  await (await openSource(USDM)).run(threeSymbols(pipeline.addSource('usdm', 'replay')));
  pipeline.flush();
  computedBy = pipeline.computedBy();
  return seen;
}

describe('live micro-batching', () => {
  it('hands on the same rows in the same order with their own books, the kernel columns of several symbols from one call per batch', async () => {
    const reference = await run();
    const backend = await GpuJsBackend.create('cpu');
    const dense = new LiveDense(backend, resolveDepth(10), BATCH);
    const batched = await run(dense);
    await backend.dispose();

    expect(reference.length).toBeGreaterThan(3000);
    expect(new Set(reference.slice(0, 30).map((s) => s.sym))).toEqual(new Set(SYMBOLS));
    expect(batched.map((s) => [s.sym, s.row, s.ts, s.bookTs, s.bid0])).toEqual(reference.map((s) => [s.sym, s.row, s.ts, s.bookTs, s.bid0]));
    expect(dense.rows).toBe(reference.length);
    expect(dense.calls).toBe(Math.ceil(reference.length / BATCH));

    let compared = 0;
    for (let i = 0; i < reference.length; i++) {
      const a = batched[i]!.values, b = reference[i]!.values;
      for (const col of DENSE_COLUMNS) {
        const x = a[COL[col]]!, y = b[COL[col]]!;
        if (Number.isNaN(y)) { expect([col, i, x]).toEqual([col, i, NaN]); continue; }
        // float32 kernels against the float64 engine (docs/compute.md); 1e-9 absolute for the float64 sums of decimal sizes.
        expect(Math.abs(x - y), `${col} row ${i}: ${x} vs ${y}`).toBeLessThanOrEqual(1e-5 * Math.abs(y) + 1e-9);
        compared++;
      }
      // The engine's own columns pass through untouched.
      expect(a[COL.vpin]).toEqual(b[COL.vpin]);
    }
    expect(compared).toBeGreaterThan(reference.length * 10);
    // The engine kept only the trade state; the kernels computed every other column: none twice.
    const { engine, kernels } = computedBy!;
    expect(engine.filter((c) => kernels.includes(c))).toEqual([]);
    expect([...engine, ...kernels].sort()).toEqual([...FEATURE_COLUMNS].sort());
  });
});
