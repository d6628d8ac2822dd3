/**
 * The live pipeline hands everything forward to one PipelineOutput (issue 13): for a replayed
 * capture, each row once with its book and features, then what the predictor and alert producers
 * made of it, in that order; rows of a symbol another source owns reach the output not at all.
 */
import { describe, expect, it } from 'vitest';
import { LivePipeline, type PipelineOutput } from '../../src/pipeline/live.ts';
import type { AlertEvent, Prediction } from '../../src/pipeline/plugins.ts';
import { MetricsRegistry } from '../../src/server/metrics.ts';
import { resolveDepth } from '../../src/model/depth.ts';
import { TimeBase } from '../../src/model/time.ts';
import { FEATURE_COLUMNS } from '../../src/features/columns.ts';
import { openSource } from '../../src/sources/spec.ts';
import { USDM } from '../../src/sources/samples.ts';

type Out = ['row', string, number, number] | ['prediction', string, number] | ['alert', string, number];

function recorder(): { out: PipelineOutput; seen: Out[]; values: Float64Array[] } {
  const seen: Out[] = [];
  const values: Float64Array[] = [];
  const out: PipelineOutput = {
    row: (r) => {
      // The book row and the features row are of the same book event.
      expect(r.book.symbol).toBe(r.sym);
      expect(r.book.ts).toBe(r.ts);
      seen.push(['row', r.sym, r.row, r.ts]);
      if (!values.includes(r.values)) values.push(r.values);
    },
    prediction: (p: Prediction) => seen.push(['prediction', p.symbol, p.row]),
    alert: (a: AlertEvent) => seen.push(['alert', a.symbol, Number(a.evidence['row'])]),
  };
  return { out, seen, values };
}

describe('live pipeline', () => {
  it('hands each row (book and features in one call), prediction and alert forward to its output, in flow order', async () => {
    const { out, seen, values } = recorder();
    const pipeline = new LivePipeline(
      {
        depth: resolveDepth(10),
        timeBase: TimeBase.ofEpochMs(Date.now()),
        features: { vpinBucket: 'auto', vpinBucketBySymbol: { BTCUSDT: 5 }, vpinBuckets: 50, barMs: 1000, barWindow: 300 },
      },
      out,
      new MetricsRegistry(),
      {
        predictor: {
          onFeatures: (symbol, ts, row, v, enteredAt, emit) => {
            expect(v.length).toBe(FEATURE_COLUMNS.length);
            emit({ model: 'm', symbol, ts, row, probs: [1], classes: ['up'], enteredAt });
          },
        },
        alerts: [(ctx) => ({ onFeatures: (symbol, ts, row) => { if (row % 100 === 0) ctx.publish({ symbol, ts, kind: 'k', severity: 'info', evidence: { row } }); } })],
      },
    );
    const source = await openSource(USDM);
    await source.run(pipeline.addSource('usdm', 'replay'));

    const books = seen.filter((s) => s[0] === 'row').length;
    expect(books).toBeGreaterThan(1000);
    expect(pipeline.symbols()).toEqual(['BTCUSDT']);
    // Each row (numbered from 0) once, the prediction made of it, and an alert every 100th.
    let k = 0;
    for (let row = 0; row < books; row++) {
      expect(seen[k++]!.slice(0, 3)).toEqual(['row', 'BTCUSDT', row]);
      expect(seen[k++]).toEqual(['prediction', 'BTCUSDT', row]);
      if (row % 100 === 0) expect(seen[k++]).toEqual(['alert', 'BTCUSDT', row]);
    }
    expect(k).toBe(seen.length);
    // The symbol's features array is one array, kept by the output as its last value.
    expect(values).toHaveLength(1);

    // A second source with the same symbol: its rows are refused before the output.
    const n = seen.length;
    await (await openSource(USDM)).run(pipeline.addSource('again', 'replay'));
    expect(seen.length).toBe(n);
    expect(pipeline.ownerOf('BTCUSDT')!.name).toBe('usdm');
  });
});
