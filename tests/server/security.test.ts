import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConnectError, FeedClient, FeedError } from '../../src/client/feed-client.ts';
import { IngestClient } from '../../src/client/ingest-client.ts';
import { ConfigError, loadServerConfig } from '../../src/server/config.ts';
import type { RunningServer } from '../../src/server/server.ts';
import { READ_KEY, WRITE_KEY, feedUrl, ingestUrl, key, testServer, until } from './helpers.ts';

const DESK_KEY = 'desk-key-000000000000000000';
const LIMITED_WRITE = 'limited-writer-key-0000000';

async function refused(p: Promise<unknown>): Promise<number> {
  try {
    await p;
  } catch (e) {
    if (e instanceof ConnectError) return e.status;
    throw e;
  }
  throw new Error('connection was accepted');
}

describe('configuration rules', () => {
  it('refuses a non-loopback bind without keys, and never serves anonymous clients there', () => {
    expect(() => loadServerConfig({ env: {}, overrides: { host: '0.0.0.0', noReplay: true } })).toThrow(ConfigError);
    expect(() => loadServerConfig({ env: {}, overrides: { host: '0.0.0.0', noReplay: true } })).toThrow(/requires API keys/);
    const cfg = loadServerConfig({ env: { FLOWCAST_API_KEY: `ops:${DESK_KEY}` }, overrides: { host: '0.0.0.0', noReplay: true, anonymous: true } });
    expect(cfg.security.anonymous).toBe(false);
    expect(cfg.security.keys.map((k) => k.id)).toEqual(['ops']);
  });

  it('names the file, the key and the problem for a bad setting', () => {
    expect(() => loadServerConfig({ env: { FLOWCAST_PORT: 'eighty' } })).toThrow('environment: FLOWCAST_PORT: expected an integer in 0..65535, got "eighty"');
    expect(() => loadServerConfig({ env: { FLOWCAST_API_KEY: 'ops:short' } })).toThrow(/at least 16 characters/);
    const dir = mkdtempSync(join(tmpdir(), 'flowcast-config-'));
    const file = join(dir, 'server.json');
    writeFileSync(file, JSON.stringify({ models: { runner: 'gpu', maxQueueDelayUs: 250 } }));
    expect(() => loadServerConfig({ env: {}, file })).toThrow(`${file}: models.runner: expected "auto", "worker" or "inline", got "gpu"`);
    writeFileSync(file, JSON.stringify({ models: { runner: 'inline', maxQueueDelayUs: 250, maxBatchSize: 8 } }));
    expect(loadServerConfig({ env: {}, file }).models).toMatchObject({ runner: 'inline', maxQueueDelayUs: 250, maxBatchSize: 8 });
    expect(loadServerConfig({ env: {} }).models).toMatchObject({ runner: 'auto', maxQueueDelayUs: 0, maxBatchSize: 64 });
    rmSync(dir, { recursive: true });
  });
});

describe('keys on a non-loopback bind', () => {
  let s: RunningServer;
  beforeAll(async () => {
    s = await testServer((c) => {
      c.security.keys.push(key('desk', DESK_KEY, { read: ['features.*', 'pred.*.BTCUSDT'], maxConnections: 2 }));
      c.security.keys.push(key('reader', READ_KEY));
    }, { host: '0.0.0.0' });
  });
  afterAll(() => s.close());

  it('refuses anonymous and unknown keys at the upgrade', async () => {
    expect(s.config.security.anonymous).toBe(false);
    expect(await refused(FeedClient.connect({ url: feedUrl(s) }))).toBe(401);
    expect(await refused(FeedClient.connect({ url: feedUrl(s), key: 'not-a-real-key-123456789' }))).toBe(401);
  });

  it('enforces a key\'s topics, in the header or the query string', async () => {
    const c = await FeedClient.connect({ url: feedUrl(s), key: DESK_KEY });
    expect(c.hello.principal).toBe('desk');
    await c.subscribe(['features.BTCUSDT', 'pred.deeplob.BTCUSDT']);
    const err = await c.subscribe(['book.BTCUSDT', 'features.ETHUSDT']).catch((e: FeedError) => e);
    expect(err).toBeInstanceOf(FeedError);
    expect((err as FeedError).frame).toMatchObject({ code: 'forbidden', topics: ['book.BTCUSDT'] });
    // Atomic: the allowed topic of a refused request was not subscribed either.
    const seen: string[] = [];
    c.on('features', (f) => seen.push(f.sym));
    s.broker.publish(s.broker.topic('features.ETHUSDT'), { t: 'features', ts: 1, sym: 'ETHUSDT', row: 0, v: [] });
    s.broker.publish(s.broker.topic('features.BTCUSDT'), { t: 'features', ts: 1, sym: 'BTCUSDT', row: 0, v: [] });
    await c.ping();
    expect(seen).toEqual(['BTCUSDT']);
    const q = await FeedClient.connect({ url: feedUrl(s), key: DESK_KEY, keyInQuery: true });
    expect(q.hello.principal).toBe('desk');
    // The key allows two connections: a third is refused with 429.
    expect(await refused(FeedClient.connect({ url: feedUrl(s), key: DESK_KEY }))).toBe(429);
    await q.close();
    await until(() => s.broker.stats().connections === 1, 2000, 'slot released');
    const again = await FeedClient.connect({ url: feedUrl(s), key: DESK_KEY });
    await again.close();
    await c.close();
  });

  it('guards the HTTP API with the same keys; health and metrics stay open', async () => {
    const base = `http://127.0.0.1:${s.port}`;
    expect((await fetch(`${base}/v1/models`)).status).toBe(401);
    expect((await fetch(`${base}/v1/models`, { headers: { authorization: `Bearer ${READ_KEY}` } })).status).toBe(200);
    expect((await fetch(`${base}/v1/predict`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } })).status).toBe(401);
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect((await fetch(`${base}/metrics`)).status).toBe(200);
  });
});

describe('abuse on the loopback demo', () => {
  let s: RunningServer;
  beforeAll(async () => {
    s = await testServer((c) => {
      c.limits.maxPayloadBytes = 1024;
      c.limits.maxSubscriptions = 3;
      c.limits.requestsPerSecond = 5;
      c.limits.requestBurst = 5;
      c.limits.maxConnectionsPerIp = 4;
      c.security.allowedOrigins = ['https://desk.example'];
      c.security.keys.push(key('reader', READ_KEY));
      c.security.keys.push(key('acme', LIMITED_WRITE, { write: ['ACME'] }));
    });
  });
  afterAll(() => s.close());

  it('checks the browser origin: same-origin and configured origins only', async () => {
    const o = (origin: string) => FeedClient.connect({ url: feedUrl(s), headers: { origin } });
    expect(await refused(o('http://evil.example'))).toBe(403);
    expect(await refused(o(`http://localhost.evil.example:${s.port}`))).toBe(403);
    await (await o(`http://127.0.0.1:${s.port}`)).close();
    await (await o('https://desk.example')).close();
    // Ingest checks it too.
    expect(await refused(IngestClient.connect({ url: ingestUrl(s), key: WRITE_KEY, headers: { origin: 'http://evil.example' } }))).toBe(403);
  });

  it('closes a connection that sends an oversized frame; others carry on', async () => {
    const bystander = await FeedClient.connect({ url: feedUrl(s) });
    const c = await FeedClient.connect({ url: feedUrl(s) });
    c.sendRaw(JSON.stringify({ op: 'subscribe', topics: ['features.X'], pad: 'x'.repeat(5000) }));
    const closed = await c.closed;
    expect([1006, 1009]).toContain(closed.code);
    expect((await bystander.ping()).t).toBe('pong');
    await bystander.close();
  });

  it('limits subscriptions per connection', async () => {
    const c = await FeedClient.connect({ url: feedUrl(s) });
    await c.subscribe(['book.A', 'book.B']);
    const err = (await c.subscribe(['book.C', 'book.D']).catch((e) => e)) as FeedError;
    expect(err.frame.code).toBe('too-many-subscriptions');
    await c.subscribe(['book.A', 'book.C']);
    await c.close();
  });

  it('rate-limits requests, then closes a client that keeps flooding', async () => {
    const c = await FeedClient.connect({ url: feedUrl(s) });
    const codes: string[] = [];
    c.on('error', (e) => codes.push(e.code));
    for (let i = 0; i < 60; i++) c.sendRaw({ op: 'ping', id: `p${i}` });
    const closed = await c.closed;
    expect(codes.filter((x) => x === 'rate-limited').length).toBeGreaterThan(10);
    expect(closed).toEqual({ code: 4029, reason: 'request rate limit exceeded (5/s, burst 5)' });
  });

  it('limits anonymous connections per address', async () => {
    await until(() => s.broker.stats().connections === 0, 2000, 'previous clients gone');
    const open = await Promise.all([0, 1, 2, 3].map(() => FeedClient.connect({ url: feedUrl(s) })));
    expect(await refused(FeedClient.connect({ url: feedUrl(s) }))).toBe(429);
    // A key holder is not counted against the anonymous per-address limit.
    await (await FeedClient.connect({ url: feedUrl(s), key: READ_KEY })).close();
    await Promise.all(open.map((c) => c.close()));
  });

  it('requires a write key for ingest and keeps producers to their symbols', async () => {
    expect(await refused(IngestClient.connect({ url: ingestUrl(s), key: '' }))).toBe(401);
    expect(await refused(IngestClient.connect({ url: ingestUrl(s), key: READ_KEY }))).toBe(403);
    const raw = new WebSocket(ingestUrl(s));
    const status = await new Promise<number>((r) => raw.on('unexpected-response', (_q, res) => r(res.statusCode!)));
    expect(status).toBe(401);
    const p = await IngestClient.connect({ url: ingestUrl(s), key: LIMITED_WRITE });
    p.send({ t: 'snapshot', sym: 'OTHER', ts: Date.now(), bids: [[1, 1]], asks: [[2, 1]] });
    p.send({ t: 'snapshot', sym: 'ACME', ts: Date.now(), bids: [[1, 1]], asks: [[2, 1]] });
    const ack = await p.flush();
    expect(ack.accepted).toBe(1);
    expect(p.errors).toHaveLength(1);
    expect(p.errors[0]).toMatchObject({ code: 'forbidden', sym: 'OTHER' });
    await p.close();
  });
});
