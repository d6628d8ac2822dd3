/**
 * Live serving of the raw-levels model (issue 14 item 3): the server keeps each symbol's last T book
 * rows in a SnapshotRing and feeds goog-levels-transformer the [1, T, L, 4] SnapshotBatch window
 * (ticks from the window's reference, lots), the tensor it was trained on. GOOG's first book rows
 * go in over /ingest as snapshots; every prediction published equals the model's output on the
 * window a SnapshotBatch cuts from the same rows, outside the server. A symbol on another tick grid
 * is not fed, with the reason (by default the model serves only the symbols it was trained on).
 */
import { cpSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scratchDir, GOOG } from '../helpers.ts';
import { realRows } from '../compute/real-rows.ts';
import { FeedClient } from '../../src/client/feed-client.ts';
import { IngestClient } from '../../src/client/ingest-client.ts';
import { InferenceEngine } from '../../src/inference/engine.ts';
import { SnapshotRing } from '../../src/snapshots/ring.ts';
import { SnapshotBatch } from '../../src/snapshots/batch.ts';
import type { BookRow } from '../../src/model/row.ts';
import type { PredFrame } from '../../src/protocol/frames.ts';
import type { RunningServer } from '../../src/server/server.ts';
import { WRITE_KEY, feedUrl, ingestUrl, testServer, until } from './helpers.ts';

const NAME = 'goog-levels-transformer';
const T = 100, L = 10;
const N = 160;

describe('raw-levels model, live', () => {
  let server: RunningServer;
  let engine: InferenceEngine;
  let rows: BookRow[];
  const dir = scratchDir('levels-models');

  beforeAll(async () => {
    cpSync(join('models', NAME), join(dir, NAME), { recursive: true });
    rows = await realRows(GOOG, N);
    // Every symbol (unnamed, it would serve the symbols it was trained on: GOOG), so that ODD reaches the scale check.
    server = await testServer((c) => { c.features.vpinBucket = 1; c.models.symbols = { [NAME]: ['*'] }; }, { models: dir }, { plugins: true });
    engine = await InferenceEngine.open({ dir, runner: 'inline' });
  }, 120_000);
  afterAll(async () => {
    await server?.close();
    await engine?.close();
  });

  const levels = (px: Float64Array, sz: Float64Array): [number, number][] => {
    const out: [number, number][] = [];
    for (let l = 0; l < L; l++) if (px[l] === px[l] && sz[l]! > 0) out.push([px[l]!, sz[l]!]);
    return out;
  };

  it('publishes predictions on the SnapshotBatch window of the symbol\'s last T book rows', async () => {
    const c = await FeedClient.connect({ url: feedUrl(server) });
    expect(c.hello.models).toEqual([NAME]);
    const preds: PredFrame[] = [];
    c.on('pred', (p) => preds.push(p));
    await c.subscribe([`pred.${NAME}.GOOG`, `pred.${NAME}.ODD`]);
    const p = await IngestClient.connect({ url: ingestUrl(server), key: WRITE_KEY });
    const now = Date.now();
    rows.forEach((r, i) => p.send({ t: 'snapshot', sym: 'GOOG', ts: now + i, bids: levels(r.bidPx, r.bidSz), asks: levels(r.askPx, r.askSz) }));
    await p.flush();
    await until(() => preds.some((x) => x.row === N - 1), 60_000, 'the prediction of the newest row');
    expect(preds.length).toBeGreaterThan(0);
    // The same rows outside the server: a ring and a batch, as training cut its windows.
    const ring = new SnapshotRing('GOOG', 0, N, L);
    for (const r of rows) ring.push(r);
    const batch = new SnapshotBatch({ windows: 1, rows: T, history: 0, levels: L });
    for (const pr of preds) {
      expect(pr.row).toBeGreaterThanOrEqual(T - 1);
      batch.clear().add(ring, pr.row!);
      const want = await engine.predict(NAME, 'GOOG', batch.book);
      pr.probs.forEach((x, k) => expect(x).toBeCloseTo(want[k]!, 5));
    }
    // POST /v1/predict with the symbol: the model's view of the live book now.
    const r = (await (await fetch(`http://127.0.0.1:${server.port}/v1/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: NAME, symbol: 'GOOG' }) })).json()) as { probs: number[] };
    batch.clear().add(ring, N - 1);
    const last = await engine.predict(NAME, 'GOOG', batch.book);
    r.probs.forEach((x, k) => expect(x).toBeCloseTo(last[k]!, 5));

    // A symbol on a tenth-of-a-cent grid is not what the model was trained on: never fed, 409 with the reason.
    const q = await IngestClient.connect({ url: ingestUrl(server), key: WRITE_KEY });
    for (let i = 0; i < T + 5; i++) q.send({ t: 'snapshot', sym: 'ODD', ts: now + i, bids: [[10.001 + (i % 3) * 0.001, 5]], asks: [[10.005, 7]] });
    await q.flush();
    const post = async (): Promise<{ status: number; text: string }> => {
      const res = await fetch(`http://127.0.0.1:${server.port}/v1/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: NAME, symbol: 'ODD' }) });
      return { status: res.status, text: await res.text() };
    };
    let odd = await post();
    // Until ODD has T rows the answer is "has n of the 100 rows"; then the reason it is not fed.
    for (const t0 = Date.now(); !/is not fed ODD/.test(odd.text) && Date.now() - t0 < 60_000; odd = await post()) await new Promise((r) => setTimeout(r, 20));
    expect(odd.status).toBe(409);
    expect(odd.text).toMatch(/goog-levels-transformer is not fed ODD: ODD's tick and lot are 1\/1000 and 1\/1, the model was trained on GOOG 1\/100 and 1\/1 \(input\.book\.scales\)/);
    expect(preds.filter((x) => x.sym === 'ODD')).toEqual([]);
    await q.close();
    await p.close();
    await c.close();
  }, 120_000);
});
