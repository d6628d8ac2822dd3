import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Packr } from 'msgpackr';
import { FeedClient, FeedError } from '../../src/client/feed-client.ts';
import { FEATURE_COLUMNS } from '../../src/features/columns.ts';
import { PROTOCOL_VERSION, validateRequest, RequestError } from '../../src/protocol/frames.ts';
import { parseTopic } from '../../src/protocol/topics.ts';
import type { AlertFrame, FeaturesFrame, ServerFrame } from '../../src/protocol/frames.ts';
import type { RunningServer } from '../../src/server/server.ts';
import { feedUrl, testServer, until } from './helpers.ts';

let server: RunningServer;

/** Publishes a features frame through the broker, as the pipeline does. */
function publishFeatures(sym: string, row: number): number {
  const t = server.broker.topic(`features.${sym}`);
  const v = FEATURE_COLUMNS.map((_, i) => (i === 1 ? NaN : row + i / 100));
  return server.broker.publish(t, { t: 'features', ts: 1723161256299.5 + row, sym, row, v });
}

beforeAll(async () => {
  server = await testServer((c) => { c.feed.heartbeatMs = 100; });
});
afterAll(async () => {
  await server.close();
});

describe('topic grammar and request validation', () => {
  it('parses the documented topics and rejects the rest', () => {
    expect(parseTopic('book.BTCUSDT')).toEqual({ kind: 'book', symbol: 'BTCUSDT' });
    expect(parseTopic('features.BRK.B')).toEqual({ kind: 'features', symbol: 'BRK.B' });
    expect(parseTopic('pred.deeplob-v1.BTCUSDT')).toEqual({ kind: 'pred', symbol: 'BTCUSDT', model: 'deeplob-v1' });
    expect(parseTopic('alerts.*')).toEqual({ kind: 'alerts', symbol: '*' });
    for (const bad of ['book', 'book.', 'trades.BTCUSDT', 'pred.BTCUSDT', 'features.*', 'book.BTC USDT', `features.${'X'.repeat(41)}`, 'pred..X']) {
      expect(parseTopic(bad), bad).toBeUndefined();
    }
  });

  it('names what is wrong with a request', () => {
    const err = (m: unknown): RequestError => {
      try {
        validateRequest(m, 10);
      } catch (e) {
        return e as RequestError;
      }
      throw new Error('accepted');
    };
    expect(err([]).code).toBe('bad-request');
    expect(err({ op: 'subscribe' }).code).toBe('bad-request');
    expect(err({ op: 'subscribe', topics: ['nope'] }).code).toBe('bad-topic');
    expect(err({ op: 'subscribe', topics: Array.from({ length: 11 }, (_, i) => `book.S${i}`) }).code).toBe('too-many-subscriptions');
    expect(err({ op: 'drop-tables' }).code).toBe('unknown-op');
    expect(err({ op: 'ping', id: { x: 1 } }).code).toBe('bad-request');
    expect(validateRequest({ op: 'subscribe', topics: ['book.A', 'book.A'], id: 7 }, 10)).toEqual({ op: 'subscribe', topics: ['book.A'], id: 7 });
  });
});

describe('/feed', () => {
  it('greets with a hello frame (msgpack by default)', async () => {
    const c = await FeedClient.connect({ url: feedUrl(server) });
    expect(c.hello).toMatchObject({ t: 'hello', v: PROTOCOL_VERSION, format: 'msgpack', principal: 'anonymous', heartbeatMs: 100 });
    expect(c.hello.featureColumns).toEqual([...FEATURE_COLUMNS]);
    expect(c.hello.limits.maxSubscriptions).toBe(server.config.limits.maxSubscriptions);
    await c.close();
  });

  it('sends the last value on subscribe, then live frames with consecutive sequence numbers', async () => {
    publishFeatures('SEQA', 0);
    const lastSeq = publishFeatures('SEQA', 1);
    const c = await FeedClient.connect({ url: feedUrl(server) });
    const got: FeaturesFrame[] = [];
    c.on('features', (f) => got.push(f));
    const ack = await c.subscribe(['features.SEQA']);
    expect(ack).toMatchObject({ t: 'subscribed', topics: ['features.SEQA'] });
    await until(() => got.length === 1, 2000, 'last value');
    expect(got[0]).toMatchObject({ topic: 'features.SEQA', seq: lastSeq, row: 1, sym: 'SEQA' });
    for (let r = 2; r < 50; r++) publishFeatures('SEQA', r);
    await until(() => got.length === 49, 2000, 'live frames');
    expect(got.map((f) => f.seq)).toEqual(Array.from({ length: 49 }, (_, i) => lastSeq + i));
    // msgpack keeps NaN and full float64 precision
    expect(Number.isNaN(got[5]!.v[1])).toBe(true);
    expect(got[5]!.v[2]).toBe(6 + 2 / 100);
    expect(c.named(got[5]!).spread).toBeNaN();
    expect(c.named(got[5]!).mid).toBe(6);
    expect(c.gaps.size).toBe(0);
    await c.close();
  });

  it('serves JSON on request, NaN as null, and accepts msgpack requests', async () => {
    const j = await FeedClient.connect({ url: feedUrl(server), format: 'json', requestFormat: 'msgpack' });
    expect(j.hello.format).toBe('json');
    const got: FeaturesFrame[] = [];
    j.on('features', (f) => got.push(f));
    await j.subscribe(['features.JSONA']);
    publishFeatures('JSONA', 3);
    await until(() => got.length === 1, 2000, 'json frame');
    expect(got[0]!.v[1]).toBeNull();
    expect(got[0]!.v[0]).toBe(3);
    expect(j.named(got[0]!).spread).toBeNaN();
    // The last value of a topic published while only msgpack clients listened, as JSON.
    publishFeatures('JSONB', 7);
    const lv: FeaturesFrame[] = [];
    j.on('features', (f) => { if (f.sym === 'JSONB') lv.push(f); });
    await j.subscribe(['features.JSONB']);
    await until(() => lv.length === 1, 2000, 'json last value');
    expect(lv[0]).toMatchObject({ topic: 'features.JSONB', seq: 1, row: 7 });
    expect(lv[0]!.v[1]).toBeNull();
    await j.close();
  });

  it('stops frames after unsubscribe', async () => {
    const c = await FeedClient.connect({ url: feedUrl(server) });
    let n = 0;
    c.on('features', () => n++);
    await c.subscribe(['features.UNSUB']);
    publishFeatures('UNSUB', 0);
    await until(() => n === 1);
    expect((await c.unsubscribe(['features.UNSUB'])).t).toBe('unsubscribed');
    publishFeatures('UNSUB', 1);
    const pong = await c.ping();
    expect(pong.t).toBe('pong');
    expect(n).toBe(1);
    await c.close();
  });

  it('answers ping and topics, and sends heartbeats', async () => {
    publishFeatures('TOPICS', 0);
    const c = await FeedClient.connect({ url: feedUrl(server) });
    const t = await c.topics();
    expect(t.topics).toContainEqual({ topic: 'features.TOPICS', seq: 1 });
    const hb = await c.next((f) => f.t === 'hb', 2000);
    expect(Math.abs((hb as { ts: number }).ts - Date.now())).toBeLessThan(5000);
    await c.close();
  });

  it('fans alerts out to alerts.<SYM> and alerts.*', async () => {
    const a = await FeedClient.connect({ url: feedUrl(server) });
    const b = await FeedClient.connect({ url: feedUrl(server) });
    const gotA: AlertFrame[] = [];
    const gotB: AlertFrame[] = [];
    a.on('alert', (f) => gotA.push(f));
    b.on('alert', (f) => gotB.push(f));
    await a.subscribe(['alerts.*']);
    await b.subscribe(['alerts.XYZ']);
    server.pipeline.publishAlert({ symbol: 'XYZ', ts: 1e9, kind: 'vpin-spike', severity: 'warn', evidence: { vpin: 0.9 } });
    server.pipeline.publishAlert({ symbol: 'OTHER', ts: 2e9, kind: 'spread', severity: 'info', evidence: {} });
    await until(() => gotA.length === 2 && gotB.length === 1, 2000, 'alerts');
    expect(gotA.map((f) => [f.topic, f.sym])).toEqual([['alerts.*', 'XYZ'], ['alerts.*', 'OTHER']]);
    expect(gotB[0]).toMatchObject({ topic: 'alerts.XYZ', kind: 'vpin-spike', severity: 'warn', evidence: { vpin: 0.9 } });
    expect(gotB[0]!.ts).toBeCloseTo(server.pipeline.tb.toEpochMs(1e9), 6);
    // A JSON client that comes later gets the topic's last alert as it went out on that topic.
    const j = await FeedClient.connect({ url: feedUrl(server), format: 'json' });
    const late: AlertFrame[] = [];
    j.on('alert', (f) => late.push(f));
    await j.subscribe(['alerts.XYZ']);
    await until(() => late.length === 1, 2000, 'last alert');
    expect(late[0]).toEqual(gotB[0]);
    await j.close();
    await a.close();
    await b.close();
  });

  it('answers every bad request with an error frame and keeps serving', async () => {
    const c = await FeedClient.connect({ url: feedUrl(server) });
    const errors: ServerFrame[] = [];
    c.on('error', (f) => errors.push(f));
    c.sendRaw('{not json');
    c.sendRaw(new Uint8Array([0xc1, 0xc1, 0xc1]));
    c.sendRaw({ op: 'subscribe', topics: 'features.X' });
    c.sendRaw(new Packr({ useRecords: false }).pack({ op: 'explode' }));
    c.sendRaw('"just a string"');
    await until(() => errors.length === 5, 2000, 'five errors');
    expect(errors.map((e) => (e as { code: string }).code)).toEqual(['bad-request', 'bad-request', 'bad-request', 'unknown-op', 'bad-request']);
    await expect(c.subscribe(['trades.BTCUSDT'])).rejects.toThrow(FeedError);
    const ok = await c.subscribe(['book.BTCUSDT']);
    expect(ok.t).toBe('subscribed');
    await c.close();
  });
});
