/**
 * Predictions through the real inference engine (src/inference): the server keeps each symbol's
 * window of a model's input columns and publishes the engine's probabilities on pred.<MODEL>.<SYM>.
 * The model is a small softmax-linear ONNX graph written by the inference tests' helper, whose
 * expected output for any window is known in closed form.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scratchDir } from '../helpers.ts';

import { FeedClient } from '../../src/client/feed-client.ts';
import { writeLinearModel } from '../inference/helpers.ts';
import { IngestClient } from '../../src/client/ingest-client.ts';
import { FEATURE_COLUMNS } from '../../src/features/columns.ts';
import type { FeaturesFrame, PredFrame } from '../../src/protocol/frames.ts';
import type { RunningServer } from '../../src/server/server.ts';
import { WRITE_KEY, feedUrl, ingestUrl, testServer, until } from './helpers.ts';

const COLUMNS = ['imb_1', 'ofi_1', 'spread_bps'];
const T = 4;

describe('predictions', () => {
  let server: RunningServer;
  let model: ReturnType<typeof writeLinearModel>;
  const dir = scratchDir('models');

  beforeAll(async () => {
    model = writeLinearModel(dir, 'lin', { columns: COLUMNS, window: T });
    server = await testServer((c) => { c.features.vpinBucket = 1; }, { models: dir }, { plugins: true });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('publishes each row\'s prediction over the window of the model\'s columns', async () => {
    const c = await FeedClient.connect({ url: feedUrl(server) });
    expect(c.hello.models).toEqual(['lin']);
    const feats: FeaturesFrame[] = [];
    const preds: PredFrame[] = [];
    c.on('features', (f) => feats.push(f));
    c.on('pred', (p) => preds.push(p));
    await c.subscribe(['features.LIN', 'pred.lin.LIN']);
    const p = await IngestClient.connect({ url: ingestUrl(server), key: WRITE_KEY });
    const now = Date.now();
    const delta = (i: number) => ({ t: 'delta' as const, sym: 'LIN', ts: now + i, bids: [[99.9, 5 + (i % 4)] as [number, number]], asks: [[100.1 + (i % 3 === 0 ? -0.1 : 0), 3 + (i % 5)] as [number, number]] });
    p.send({ t: 'snapshot', sym: 'LIN', ts: now, bids: [[99.9, 5], [99.8, 7]], asks: [[100.1, 4], [100.2, 9]] });
    // One row at a time: every row from T-1 on gets its prediction.
    for (let i = 1; i <= 30; i++) {
      p.send(delta(i));
      if (i >= T - 1) await until(() => preds.some((x) => x.row === i), 5000, `prediction of row ${i}`);
    }
    expect(preds.map((x) => x.row)).toEqual(Array.from({ length: 31 - (T - 1) }, (_, i) => i + T - 1));
    // A burst: rows come faster than predictions return; the newest row is always predicted.
    p.send(Array.from({ length: 200 }, (_, k) => delta(31 + k)));
    await p.flush();
    await until(() => preds.some((x) => x.row === 230), 10_000, 'prediction of the newest row');
    const idx = COLUMNS.map((col) => (FEATURE_COLUMNS as readonly string[]).indexOf(col));
    await until(() => feats.length === 231, 5000, 'features');
    const byRow = new Map(feats.map((f) => [f.row, f]));
    for (const pr of preds) {
      expect(pr).toMatchObject({ topic: 'pred.lin.LIN', model: 'lin', sym: 'LIN', classes: ['down', 'flat', 'up'] });
      const window: number[] = [];
      for (let r = pr.row! - T + 1; r <= pr.row!; r++) for (const k of idx) window.push(byRow.get(r)!.v[k] as number);
      const want = model.expect(window);
      pr.probs.forEach((x, k) => expect(x).toBeCloseTo(want[k]!, 5));
      expect(pr.ts).toBe(byRow.get(pr.row!)!.ts);
      expect(pr.latencyUs).toBeGreaterThan(0);
    }
    const rows = preds.map((x) => x.row!);
    expect(rows).toEqual([...rows].sort((a, b) => a - b));
    expect(c.gaps.size).toBe(0);
    await p.close();
    await c.close();
  });

  it('answers POST /v1/predict for a window or a live symbol; reports models, providers and metrics', async () => {
    const base = `http://127.0.0.1:${server.port}`;
    const post = (body: unknown) => fetch(`${base}/v1/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const window = [[0.2, 3, 12], [0.1, -1, 11], [-0.3, 0, 10], [0.5, 2, null]];
    const r = await post({ model: 'lin', window });
    expect(r.status).toBe(200);
    const got = (await r.json()) as { probs: number[]; classes: string[] };
    const want = model.expect(window.flat().map((v) => (v === null ? NaN : v)));
    got.probs.forEach((x, k) => expect(x).toBeCloseTo(want[k]!, 5));
    expect((await post({ model: 'lin', symbol: 'LIN' })).status).toBe(200);
    expect((await post({ model: 'lin', window: [[1, 2]] })).status).toBe(400);
    expect((await post({ model: 'nope', window })).status).toBe(404);
    const models = (await (await fetch(`${base}/v1/models`)).json()) as { models: { name: string; state: string; classes: string[] }[] };
    expect(models.models).toMatchObject([{ name: 'lin', state: 'ready', classes: ['down', 'flat', 'up'] }]);
    const h = (await (await fetch(`${base}/healthz`)).json()) as { inference: { providers: { available: { provider: string; available: boolean }[] } } };
    expect(h.inference.providers.available).toContainEqual(expect.objectContaining({ provider: 'cpu', available: true }));
    const m = await (await fetch(`${base}/metrics`)).text();
    expect(m).toMatch(/^flowcast_inference_batch_size_bucket\{model="lin",le="1"\} \d+$/m);
    expect(m).toMatch(/^flowcast_prediction_latency_seconds_count\{model="lin"\} [1-9]\d*$/m);
  });
});
