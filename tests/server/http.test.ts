import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FeedClient } from '../../src/client/feed-client.ts';
import { IngestClient } from '../../src/client/ingest-client.ts';
import type { RunningServer } from '../../src/server/server.ts';
import { WRITE_KEY, feedUrl, ingestUrl, testServer } from './helpers.ts';

let s: RunningServer;
let base: string;
beforeAll(async () => {
  s = await testServer((c) => { c.limits.maxHttpBodyBytes = 1000; });
  base = `http://127.0.0.1:${s.port}`;
});
afterAll(() => s.close());

/** Parses Prometheus text exposition; throws on a malformed line. */
function parseProm(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('# HELP ') || line.startsWith('# TYPE ')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})?) (-?[0-9.e+-]+|NaN|\+Inf|-Inf)$/.exec(line);
    if (!m) throw new Error(`bad metrics line: ${line}`);
    out.set(m[1]!, Number(m[2]));
  }
  return out;
}

describe('HTTP', () => {
  it('/healthz reports the server, feed, sources, compute backend and inference', async () => {
    const r = await fetch(`${base}/healthz`);
    expect(r.status).toBe(200);
    const h = (await r.json()) as Record<string, unknown>;
    expect(h).toMatchObject({ status: 'ok', protocol: 1, server: { uws: 'native', anonymousAccess: true }, sources: [] });
    expect(h['compute']).toMatchObject({ backend: 'cpu' });
    expect(h['inference']).toMatchObject({ models: [] });
    const p = await IngestClient.connect({ url: ingestUrl(s), key: WRITE_KEY });
    p.send({ t: 'snapshot', sym: 'HZ', ts: Date.now() - 25, bids: [[1, 1]], asks: [[2, 1]] });
    await p.flush();
    const h2 = (await (await fetch(`${base}/healthz`)).json()) as { sources: Record<string, unknown>[]; feed: Record<string, unknown> };
    expect(h2.sources).toHaveLength(1);
    expect(h2.sources[0]).toMatchObject({ kind: 'ingest', state: 'running', symbols: ['HZ'], sync: { HZ: 'synced' }, eventsIn: { depth: 1, trades: 0 }, rows: 1 });
    expect(h2.sources[0]!['lagMs']).toBeGreaterThanOrEqual(25);
    expect(h2.feed).toMatchObject({ ingestConnections: 1 });
    await p.close();
  });

  it('/metrics is valid Prometheus text with the feed, ingest and latency series', async () => {
    const c = await FeedClient.connect({ url: feedUrl(s) });
    await c.subscribe(['features.M1', 'book.M1']);
    const r = await fetch(`${base}/metrics`);
    expect(r.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await r.text();
    const m = parseProm(text);
    expect(m.get('flowcast_feed_connections{state="fast"}')).toBe(1);
    expect(m.get('flowcast_feed_subscribers{kind="features"}')).toBe(1);
    expect(m.get('flowcast_feed_subscribers{kind="book"}')).toBe(1);
    expect(m.get('flowcast_book_rows_total')).toBeGreaterThanOrEqual(1);
    expect(m.get('flowcast_features_latency_seconds_bucket{le="+Inf"}')).toBe(m.get('flowcast_features_latency_seconds_count'));
    expect(text).toContain('# TYPE flowcast_prediction_latency_seconds histogram');
    expect(text).toContain('# TYPE flowcast_feed_dropped_frames_total counter');
    await c.close();
  });

  it('/v1/models, /v1/topics and POST /v1/predict', async () => {
    expect(await (await fetch(`${base}/v1/models`)).json()).toEqual({ models: [] });
    const t = (await (await fetch(`${base}/v1/topics`)).json()) as { topics: { topic: string }[] };
    expect(t.topics.map((x) => x.topic)).toContain('features.HZ');
    const post = (body: string, type = 'application/json') => fetch(`${base}/v1/predict`, { method: 'POST', body, headers: { 'content-type': type } });
    expect((await post('{}', 'text/plain')).status).toBe(415);
    const r = await post(JSON.stringify({ model: 'x', symbol: 'HZ' }));
    expect(r.status).toBe(503);
    expect(await r.json()).toEqual({ error: 'no models are loaded on this server' });
    expect((await post('x'.repeat(5000))).status).toBe(413);
  });

  it('serves the dashboard and its vendored assets locally, with ETags', async () => {
    const page = await fetch(`${base}/`);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const html = await page.text();
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//);
    const js = await fetch(`${base}/vendor/uPlot.iife.min.js`);
    expect(js.status).toBe(200);
    expect((await js.text()).length).toBeGreaterThan(10_000);
    const etag = js.headers.get('etag')!;
    expect((await fetch(`${base}/vendor/uPlot.iife.min.js`, { headers: { 'if-none-match': etag } })).status).toBe(304);
    const r = await fetch(`${base}/nope`);
    expect(r.status).toBe(404);
    expect(await r.json()).toEqual({ error: 'no route GET /nope' });
  });
});
