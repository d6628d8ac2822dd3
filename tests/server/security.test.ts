import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request, type IncomingHttpHeaders } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConnectError, FeedClient, FeedError } from '../../src/client/feed-client.ts';
import { IngestClient } from '../../src/client/ingest-client.ts';
import { ConfigError, defaultConfig, loadServerConfig } from '../../src/server/config.ts';
import { AUTH_FAILURE_TABLE_SIZE, Security, makePrefixMatcher } from '../../src/server/security.ts';
import type { RunningServer } from '../../src/server/server.ts';
import { analyticsAlerts } from '../../src/server/wiring.ts';
import type { PredFrame } from '../../src/protocol/frames.ts';
import { scratchDir } from '../helpers.ts';
import { writeLinearModel } from '../inference/helpers.ts';
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

/** The refusal's status and body line (ConnectError's message is `STATUS BODY`). */
async function refusal(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    if (e instanceof ConnectError) return e.message;
    throw e;
  }
  throw new Error('connection was accepted');
}

interface Reply { status: number; headers: IncomingHttpHeaders; body: string }

/** An HTTP request with any headers (fetch will not send a Host of our choosing). */
function http(s: RunningServer, path: string, headers: Record<string, string> = {}, body?: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: s.port, path, method: body === undefined ? 'GET' : 'POST', headers }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => { text += d.toString(); });
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const bearer = (k: string): Record<string, string> => ({ authorization: `Bearer ${k}` });

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

describe('read scopes', () => {
  it('tell whether a key may read some topic under a prefix (some symbol\'s predictions of a model)', () => {
    const under = (patterns: string[]) => makePrefixMatcher(patterns)('pred.lin.');
    for (const p of ['*', 'pred.*', 'pred.lin.*', 'pred.*.BTCUSDT', 'pred.lin.BTCUSDT', 'pred.li*', '*.BTCUSDT', 'pred.lin.BTC*']) expect(under([p]), p).toBe(true);
    for (const p of ['features.*', 'pred.lin', 'pred.linear.*', 'pred.other.*', 'alerts.*', 'pred.lin.']) expect(under([p]), p).toBe(false);
    expect(under([])).toBe(false);
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
    }, {}, { alerts: [analyticsAlerts] });
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

  it('serves anonymous clients only under a loopback Host name (DNS rebinding)', async () => {
    // A rebound name makes the page same-origin with the server: Origin and Host agree.
    const refusedFeed = await refusal(FeedClient.connect({ url: feedUrl(s), headers: { host: 'evil.example', origin: 'http://evil.example' } }));
    expect(refusedFeed).toBe('401 anonymous access is for loopback names only (Host "evil.example"): present an API key');
    expect(await refused(FeedClient.connect({ url: feedUrl(s), headers: { host: `evil.example:${s.port}`, origin: `http://evil.example:${s.port}` } }))).toBe(401);
    expect(await refused(FeedClient.connect({ url: feedUrl(s), headers: { host: '127.0.0.1.evil.example' } }))).toBe(401);
    for (const path of ['/v1/topics', '/v1/models']) {
      const r = await http(s, path, { host: `evil.example:${s.port}` });
      expect(r.status).toBe(401);
      expect(JSON.parse(r.body)).toEqual({ error: `anonymous access is for loopback names only (Host "evil.example:${s.port}"): present an API key` });
    }
    for (const host of [`localhost:${s.port}`, `127.0.0.1:${s.port}`, `[::1]:${s.port}`, 'LOCALHOST']) {
      await (await FeedClient.connect({ url: feedUrl(s), headers: { host, origin: `http://${host}` } })).close();
    }
    expect((await http(s, '/v1/topics', { host: 'localhost' })).status).toBe(200);
    // A key holder is who the key says, under any name.
    await (await FeedClient.connect({ url: feedUrl(s), key: READ_KEY, headers: { host: 'evil.example' } })).close();
    expect((await http(s, '/v1/topics', { host: 'evil.example', ...bearer(READ_KEY) })).status).toBe(200);
    // /metrics: the analytics' per-symbol series under a loopback name only.
    const p = await IngestClient.connect({ url: ingestUrl(s), key: WRITE_KEY });
    p.send({ t: 'snapshot', sym: 'REBIND', ts: Date.now(), bids: [[1, 1]], asks: [[2, 1]] });
    await p.flush();
    expect((await http(s, '/metrics', { host: `localhost:${s.port}` })).body).toMatch(/^flowcast_analytics_vpin\{symbol="REBIND"\} /m);
    const rebound = await http(s, '/metrics', { host: `evil.example:${s.port}` });
    expect(rebound.status).toBe(200);
    expect(rebound.body).toMatch(/^flowcast_feed_connections\{state="fast"\} \d+$/m);
    expect(rebound.body).not.toMatch(/symbol="/);
    await p.close();
  });

  it('refuses an Authorization header that is not "Bearer KEY" instead of serving it anonymously', async () => {
    for (const authorization of ['Basic cmVhZGVyOnNlY3JldA==', READ_KEY, 'Bearer']) {
      expect(await refusal(FeedClient.connect({ url: feedUrl(s), headers: { authorization } })))
        .toBe('401 the Authorization header must be "Bearer KEY"');
      const r = await http(s, '/v1/topics', { authorization });
      expect(r.status).toBe(401);
      expect(r.headers['www-authenticate']).toBe('Bearer');
      expect(JSON.parse(r.body)).toEqual({ error: 'the Authorization header must be "Bearer KEY"' });
    }
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

describe('failed key attempts', () => {
  const WRONG = 'wrong-key-00000000000000000';
  const config = () => {
    const c = defaultConfig();
    c.security.keys.push(key('reader', READ_KEY));
    c.limits.authFailures = 3;
    c.limits.authFailureWindowMs = 60_000;
    return c;
  };
  const from = (ip: string, k?: string) => ({ authorization: k ? `Bearer ${k}` : '', query: '', host: '127.0.0.1:8080', ip });

  it('refuse every key from an address after N failures, until the window from the first is over', () => {
    let now = 1000;
    const sec = new Security(config(), () => now);
    for (let i = 0; i < 3; i++) expect(sec.authenticate(from('10.0.0.1', WRONG), false)).toMatchObject({ ok: false, status: '401 Unauthorized' });
    now += 20_000;
    expect(sec.authenticate(from('10.0.0.1', READ_KEY), false)).toEqual({
      ok: false, status: '429 Too Many Requests', presented: true, retryAfterS: 40, reason: '3 failed API key attempts from this address within 60 s: retry in 40 s',
    });
    // Other addresses, and requests presenting no key, are not held back.
    expect(sec.authenticate(from('10.0.0.2', READ_KEY), false)).toMatchObject({ ok: true });
    expect(sec.authenticate(from('10.0.0.1'), false)).toMatchObject({ ok: true });
    now += 40_000;
    expect(sec.authenticate(from('10.0.0.1', READ_KEY), false)).toMatchObject({ ok: true });
  });

  it('keep a bounded table of addresses', () => {
    let now = 0;
    const sec = new Security(config(), () => now);
    const ip = (i: number) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
    for (let i = 0; i < AUTH_FAILURE_TABLE_SIZE + 100; i++) sec.authenticate(from(ip(i), WRONG), false);
    expect(sec.failingAddresses).toBe(AUTH_FAILURE_TABLE_SIZE);
    // The newest are tracked (the oldest made way): an address failing now is still throttled.
    now = 30_000;
    for (let i = 0; i < 3; i++) sec.authenticate(from('10.255.0.1', WRONG), false);
    expect(sec.failingAddresses).toBe(AUTH_FAILURE_TABLE_SIZE);
    expect(sec.authenticate(from('10.255.0.1', READ_KEY), false)).toMatchObject({ status: '429 Too Many Requests' });
    // Windows that are over are dropped before any other.
    now = 60_001;
    sec.authenticate(from('10.255.0.2', WRONG), false);
    expect(sec.failingAddresses).toBe(2);
    expect(sec.authenticate(from('10.255.0.1', READ_KEY), false)).toMatchObject({ status: '429 Too Many Requests' });
  });

  describe('on the wire', () => {
    let s: RunningServer;
    beforeAll(async () => {
      s = await testServer((c) => {
        c.limits.authFailures = 3;
        // Long enough that the window cannot end during the test, however slow the machine.
        c.limits.authFailureWindowMs = 3_600_000;
        c.security.keys.push(key('reader', READ_KEY));
      });
    });
    afterAll(() => s.close());

    it('answer 429 with Retry-After over HTTP and refuse upgrades once an address has failed N times', async () => {
      expect((await http(s, '/v1/models', bearer(WRONG))).status).toBe(401);
      expect(await refused(FeedClient.connect({ url: feedUrl(s), key: WRONG }))).toBe(401);
      expect((await http(s, '/v1/models', { authorization: 'Basic eDp5' })).status).toBe(401);
      const r = await http(s, '/v1/models', bearer(READ_KEY));
      expect(r.status).toBe(429);
      const retry = Number(r.headers['retry-after']);
      expect(retry).toBeGreaterThan(3500);
      expect(retry).toBeLessThanOrEqual(3600);
      expect(JSON.parse(r.body).error).toMatch(/^3 failed API key attempts from this address within 3600 s: retry in \d+ s$/);
      expect(await refusal(FeedClient.connect({ url: feedUrl(s), key: READ_KEY }))).toMatch(/^429 3 failed API key attempts/);
      expect(await refused(IngestClient.connect({ url: ingestUrl(s), key: WRITE_KEY }))).toBe(429);
      // Anonymous access (loopback) presents no key, so it is not what is being throttled.
      await (await FeedClient.connect({ url: feedUrl(s) })).close();
    });
  });
});

describe('key scopes on the HTTP API', () => {
  const dir = scratchDir('scoped-models');
  const BTC_KEY = 'btc-pred-key-00000000000000';
  const FEATURES_KEY = 'features-key-00000000000000';
  const FEEDER_KEY = 'feeder-key-000000000000000';
  const ALERTS_KEY = 'alerts-btc-key-000000000000';
  const WINDOW = [[0.2, 3, 12], [0.1, -1, 11], [-0.3, 0, 10], [0.5, 2, null]];
  let s: RunningServer;

  beforeAll(async () => {
    writeLinearModel(dir, 'lin', { window: 4 });
    s = await testServer((c) => {
      c.features.vpinBucket = 1;
      c.security.keys.push(key('btc', BTC_KEY, { read: ['pred.lin.BTCUSDT', 'features.*'] }));
      c.security.keys.push(key('features', FEATURES_KEY, { read: ['features.*'] }));
      c.security.keys.push(key('feeder', FEEDER_KEY, { read: [], write: ['BTCUSDT'] }));
      c.security.keys.push(key('alerts-btc', ALERTS_KEY, { read: ['alerts.BTCUSDT'] }));
    }, { host: '0.0.0.0', models: dir }, { plugins: true, alerts: [analyticsAlerts] });
    // Live windows for two symbols: rows until each has had a prediction.
    const c = await FeedClient.connect({ url: feedUrl(s), key: WRITE_KEY });
    const preds: PredFrame[] = [];
    c.on('pred', (p) => preds.push(p));
    await c.subscribe(['pred.lin.BTCUSDT', 'pred.lin.ETHUSDT']);
    const p = await IngestClient.connect({ url: ingestUrl(s), key: WRITE_KEY });
    const now = Date.now();
    for (const sym of ['BTCUSDT', 'ETHUSDT']) {
      p.send({ t: 'snapshot', sym, ts: now, bids: [[99.9, 5], [99.8, 7]], asks: [[100.1, 4], [100.2, 9]] });
      for (let i = 1; i <= 5; i++) p.send({ t: 'delta', sym, ts: now + i, bids: [[99.9, 5 + i]], asks: [[100.1, 4 + i]] });
      p.send({ t: 'trade', sym, ts: now + 6, px: 100.1, sz: 1, side: 'buy' });
      p.send({ t: 'delta', sym, ts: now + 7, bids: [[99.9, 4]], asks: [[100.1, 3]] });
    }
    await p.flush();
    await until(() => new Set(preds.map((x) => x.sym)).size === 2, 10_000, 'a prediction of each symbol');
    await p.close();
    await c.close();
  });
  afterAll(() => s?.close());

  const predict = (k: string, body: unknown) =>
    http(s, '/v1/predict', { 'content-type': 'application/json', ...bearer(k) }, typeof body === 'string' ? body : JSON.stringify(body));

  it('predict for a live symbol only with read access to its prediction topic', async () => {
    expect((await predict(WRITE_KEY, { model: 'lin', symbol: 'ETHUSDT' })).status).toBe(200);
    expect((await predict(BTC_KEY, { model: 'lin', symbol: 'BTCUSDT' })).status).toBe(200);
    const r = await predict(BTC_KEY, { model: 'lin', symbol: 'ETHUSDT' });
    expect(r.status).toBe(403);
    expect(JSON.parse(r.body)).toEqual({ error: 'key "btc" may not read pred.lin.ETHUSDT (a live prediction needs read access to its topic)' });
    expect((await predict(FEATURES_KEY, { model: 'lin', symbol: 'BTCUSDT' })).status).toBe(403);
    expect((await predict(FEEDER_KEY, { model: 'lin', symbol: 'BTCUSDT' })).status).toBe(403);
  });

  it('predict on a sent window only for keys that may read some of the model\'s predictions', async () => {
    expect((await predict(WRITE_KEY, { model: 'lin', window: WINDOW })).status).toBe(200);
    expect((await predict(BTC_KEY, { model: 'lin', window: WINDOW, symbol: 'ETHUSDT' })).status).toBe(200);
    const r = await predict(FEATURES_KEY, { model: 'lin', window: WINDOW });
    expect(r.status).toBe(403);
    expect(JSON.parse(r.body)).toEqual({ error: 'key "features" may not read any pred.lin.* topic (predicting on a sent window needs read access to some of the model\'s predictions)' });
    expect((await predict(FEEDER_KEY, { model: 'lin', window: WINDOW })).status).toBe(403);
  });

  it('refuse non-finite inputs, naming where they are', async () => {
    const r = await predict(WRITE_KEY, '{"model":"lin","window":[[0.2,3,12],[0.1,1e309,11],[-0.3,0,10],[0.5,2,null]]}');
    expect(r.status).toBe(400);
    expect(JSON.parse(r.body)).toEqual({ error: 'window[1][1] is not a finite number (JSON numbers beyond ±1.8e308 overflow to infinity)' });
    const flat = await predict(WRITE_KEY, `{"model":"lin","window":[${[...Array(11).fill('0'), '-1e400'].join(',')}]}`);
    expect(JSON.parse(flat.body)).toEqual({ error: 'window[11] is not a finite number (JSON numbers beyond ±1.8e308 overflow to infinity)' });
  });

  it('/v1/topics lists only the topics the key may read', async () => {
    const topics = async (k: string) => (JSON.parse((await http(s, '/v1/topics', bearer(k))).body) as { topics: { topic: string }[] }).topics.map((t) => t.topic).sort();
    expect(await topics(WRITE_KEY)).toEqual(expect.arrayContaining(['book.BTCUSDT', 'features.ETHUSDT', 'pred.lin.BTCUSDT', 'pred.lin.ETHUSDT']));
    expect(await topics(BTC_KEY)).toEqual(['features.BTCUSDT', 'features.ETHUSDT', 'pred.lin.BTCUSDT']);
    expect(await topics(FEEDER_KEY)).toEqual([]);
  });

  it('/metrics: operational series for anyone, a symbol\'s market measures only for keys that may read its alerts', async () => {
    const metrics = async (h: Record<string, string> = {}) => {
      const r = await http(s, '/metrics', h);
      expect(r.status).toBe(200);
      return r.body;
    };
    const open = await metrics();
    expect(open).toMatch(/^flowcast_feed_connections\{state="fast"\} \d+$/m);
    expect(open).toMatch(/^flowcast_inference_batch_size_bucket\{model="lin",le="1"\} \d+$/m);
    expect(open).toMatch(/^flowcast_analytics_events_total\{kind="depth"\} [1-9]/m);
    expect(open).not.toMatch(/symbol="/);
    expect(open).not.toContain('flowcast_analytics_vpin');
    expect(await metrics(bearer(FEATURES_KEY))).not.toMatch(/symbol="/);
    const btc = await metrics(bearer(ALERTS_KEY));
    expect(btc).toMatch(/^flowcast_analytics_vpin\{symbol="BTCUSDT"\} /m);
    expect(btc).toMatch(/^flowcast_analytics_depth_top\{symbol="BTCUSDT",side="bid"\} /m);
    expect(btc).not.toContain('ETHUSDT');
    expect(await metrics(bearer(WRITE_KEY))).toMatch(/^flowcast_analytics_vpin\{symbol="ETHUSDT"\} /m);
    expect((await http(s, '/metrics', bearer('not-a-real-key-123456789'))).status).toBe(401);
  });
});
