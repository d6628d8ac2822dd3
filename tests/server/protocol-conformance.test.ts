/**
 * What a third-party client sees on the wire, checked against docs/protocol.md: frames read by a
 * strict msgpack reader that is not msgpackr (tests/server/strict-msgpack.ts), over the `ws`
 * package, with the close codes and reasons that client reports.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { Packr } from 'msgpackr';
import { FEATURE_COLUMNS } from '../../src/features/columns.ts';
import type { RunningServer } from '../../src/server/server.ts';
import { decodeStrict, type NumberKind } from './strict-msgpack.ts';
import { WRITE_KEY, feedUrl, ingestUrl, testServer, until } from './helpers.ts';

type Frame = Record<string, unknown> & { t: string };

/** A third-party client: `ws`, every binary frame read by the strict reader. */
class Wire {
  readonly ws: WebSocket;
  readonly frames: Frame[] = [];
  /** How each frame's numbers were encoded (same index as `frames`). */
  readonly numbers: Map<string, NumberKind>[] = [];
  /** Frames the strict reader refused, with why. */
  readonly refused: string[] = [];
  readonly texts: string[] = [];
  close: { code: number; reason: string } | undefined;
  readonly opened: Promise<void>;

  constructor(url: string, headers: Record<string, string> = {}) {
    this.ws = new WebSocket(url, { perMessageDeflate: false, headers });
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('error', reject);
    });
    this.ws.on('error', () => {});
    this.ws.on('message', (d: Buffer, binary: boolean) => {
      if (!binary) {
        this.texts.push(d.toString('utf8'));
        this.frames.push(JSON.parse(d.toString('utf8')) as Frame);
        this.numbers.push(new Map());
        return;
      }
      try {
        const { value, numbers } = decodeStrict(d);
        this.frames.push(value as Frame);
        this.numbers.push(numbers);
      } catch (e) {
        this.refused.push((e as Error).message);
      }
    });
    this.ws.on('close', (code, reason) => { this.close = { code, reason: reason.toString() }; });
  }

  /** The first frame (from `from` on) that matches, once it has arrived; its index. */
  async find(pred: (f: Frame) => boolean, what: string, from = 0): Promise<number> {
    let i = -1;
    await until(() => {
      for (let k = from; k < this.frames.length; k++) if (pred(this.frames[k]!)) return (i = k) >= 0;
      return this.refused.length > 0;
    }, 5000, what);
    expect(this.refused).toEqual([]);
    return i;
  }

  async closed(what = 'close'): Promise<{ code: number; reason: string }> {
    await until(() => this.close !== undefined, 5000, what);
    return this.close!;
  }
}

const plain = new Packr({ useRecords: false });

let server: RunningServer;
beforeAll(async () => {
  server = await testServer((c) => { c.feed.heartbeatMs = 50; });
});
afterAll(async () => {
  await server.close();
});

describe('msgpack frames decode with any msgpack library', () => {
  it('/feed: no extension types in any frame the server sends, absent fields omitted', async () => {
    const c = new Wire(feedUrl(server));
    await c.opened;
    await c.find((f) => f.t === 'hello', 'hello');
    const b = server.broker;
    b.publish(b.topic('book.CONF'), { t: 'book', ts: 1.7e12 + 0.25, sym: 'CONF', bids: [[100, 1]], asks: [[100.5, 2]] });
    b.publish(b.topic('features.CONF'), { t: 'features', ts: 1.7e12 + 0.5, sym: 'CONF', row: 3, v: FEATURE_COLUMNS.map((_, i) => (i === 1 ? NaN : i / 3)) });
    // A prediction without its optional fields, an alert without a message.
    b.publish(b.topic('pred.m.CONF'), { t: 'pred', ts: 1.7e12 + 0.75, sym: 'CONF', model: 'm', classes: ['down', 'up'], probs: [0.25, 0.75] });
    server.pipeline.publishAlert({ symbol: 'CONF', ts: 1e9, kind: 'k', severity: 'info', evidence: { x: 1.5 } });
    c.ws.send('{not json');
    c.ws.send(JSON.stringify({ op: 'subscribe', topics: ['trades.CONF'], id: 1 }));
    c.ws.send(JSON.stringify({ op: 'explode' }));
    c.ws.send(JSON.stringify({ op: 'ping' }));
    c.ws.send(JSON.stringify({ op: 'ping', id: 2 }));
    c.ws.send(JSON.stringify({ op: 'topics' }));
    c.ws.send(JSON.stringify({ op: 'subscribe', topics: ['book.CONF', 'features.CONF', 'pred.m.CONF', 'alerts.CONF'] }));
    c.ws.send(JSON.stringify({ op: 'unsubscribe', topics: ['book.CONF'] }));
    await c.find((f) => f.t === 'unsubscribed', 'unsubscribed');
    await c.find((f) => f.t === 'hb', 'heartbeat');
    for (const t of ['hello', 'error', 'pong', 'topics', 'subscribed', 'unsubscribed', 'book', 'features', 'pred', 'alert', 'hb']) {
      expect(c.frames.some((f) => f.t === t), t).toBe(true);
    }
    const errors = c.frames.filter((f) => f.t === 'error');
    expect(errors.map((e) => Object.keys(e).sort())).toEqual([
      ['code', 'message', 't'],
      ['code', 'id', 'message', 't', 'topics'],
      ['code', 'message', 't'],
    ]);
    expect(Object.keys(c.frames.find((f) => f.t === 'pong')!).sort()).toEqual(['t', 'ts']);
    expect(Object.keys(c.frames.find((f) => f.t === 'topics')!).sort()).toEqual(['models', 'symbols', 't', 'topics']);
    expect(Object.keys(c.frames.find((f) => f.t === 'pred')!)).not.toContain('row');
    expect(Object.keys(c.frames.find((f) => f.t === 'alert')!)).not.toContain('message');
    c.ws.close();
  });

  it('/ingest: error and ack frames carry no extension types, absent fields omitted', async () => {
    const p = new Wire(ingestUrl(server), { authorization: `Bearer ${WRITE_KEY}` });
    await p.opened;
    p.ws.send(new Uint8Array([0xc1]));
    p.ws.send(plain.pack([{ t: 'snapshot', bids: [[1, 1]] }, { t: 'delta', sym: 'CONFI', bids: [[1, 1]] }, { t: 'nope' }, { t: 'flush', id: 9 }]));
    await p.find((f) => f.t === 'ack', 'ack');
    expect(p.frames.map((f) => [f.t, f.code, Object.keys(f).sort()])).toEqual([
      ['error', 'bad-request', ['code', 'message', 't']],
      ['error', 'bad-request', ['code', 'message', 't']],
      ['error', 'no-snapshot', ['code', 'message', 'sym', 't']],
      ['error', 'bad-request', ['code', 'message', 't']],
      ['ack', undefined, ['accepted', 'id', 't']],
    ]);
    p.ws.close();
  });
});

describe('integers on the wire', () => {
  it('hb and pong ts, hello.started, sequence numbers and rows are msgpack integers, however large', async () => {
    const c = new Wire(feedUrl(server));
    await c.opened;
    const h = await c.find((f) => f.t === 'hello', 'hello');
    for (const k of ['v', 'started', 'heartbeatMs', 'limits.maxSubscriptions', 'limits.maxPayloadBytes', 'limits.requestsPerSecond', 'limits.requestBurst', 'limits.maxBufferBytes']) {
      expect(c.numbers[h]!.get(k), k).toBe('int');
    }
    expect(c.frames[h]!.started).toBeGreaterThan(2 ** 32);
    const hb = await c.find((f) => f.t === 'hb', 'heartbeat');
    expect(c.numbers[hb]!.get('ts')).toBe('int');
    c.ws.send(JSON.stringify({ op: 'ping', id: 1 }));
    const pong = await c.find((f) => f.t === 'pong', 'pong');
    expect(c.numbers[pong]!.get('ts')).toBe('int');
    expect(Math.abs((c.frames[pong]!.ts as number) - Date.now())).toBeLessThan(60_000);

    // A topic past 2^32 frames (days of a busy producer), rows likewise.
    const t = server.broker.topic('features.WIDE');
    t.seq = 2 ** 32 + 5;
    c.ws.send(JSON.stringify({ op: 'subscribe', topics: ['features.WIDE'], id: 2 }));
    await c.find((f) => f.t === 'subscribed', 'subscribed');
    server.broker.publish(t, { t: 'features', ts: 1.7e12, sym: 'WIDE', row: 2 ** 32 + 7, v: FEATURE_COLUMNS.map(() => 0.5) });
    const f = await c.find((x) => x.t === 'features', 'features frame');
    expect(c.frames[f]).toMatchObject({ seq: 2 ** 32 + 6, row: 2 ** 32 + 7, ts: 1.7e12 });
    expect(c.numbers[f]!.get('seq')).toBe('int');
    expect(c.numbers[f]!.get('row')).toBe('int');
    // Data frames' ts is documented as float64, also when it is a whole millisecond.
    expect(c.numbers[f]!.get('ts')).toBe('float64');
    c.ws.send(JSON.stringify({ op: 'topics', id: 3 }));
    const tp = await c.find((x) => x.t === 'topics', 'topics');
    const i = (c.frames[tp]!.topics as { topic: string }[]).findIndex((e) => e.topic === 'features.WIDE');
    expect(c.numbers[tp]!.get(`topics.${i}.seq`)).toBe('int');
    c.ws.close();
    // The JSON form of that last value is made from its msgpack bytes: the wide integers survive.
    const j = new Wire(feedUrl(server, '?format=json'));
    await j.opened;
    j.ws.send(JSON.stringify({ op: 'subscribe', topics: ['features.WIDE'] }));
    const jf = await j.find((x) => x.t === 'features', 'JSON last value');
    expect(j.frames[jf]).toMatchObject({ seq: 2 ** 32 + 6, row: 2 ** 32 + 7 });
    j.ws.close();
  });

  it('msgpack-decoding clients (the typed ones, the broker) read wide integers back as numbers', async () => {
    const { encodeMsgpack, decodeMessage } = await import('../../src/protocol/codec.ts');
    const ack = encodeMsgpack({ t: 'ack', id: 1, accepted: 2 ** 40 + 1 });
    expect(decodeStrict(ack).numbers.get('accepted')).toBe('int');
    expect(decodeMessage(ack, true)).toEqual({ t: 'ack', id: 1, accepted: 2 ** 40 + 1 });
    // What another library writes for an integer ts (uint64), e.g. Python's msgpack for a producer.
    const u64 = new Uint8Array([0x81, 0xa2, 0x74, 0x73, 0xcf, 0, 0, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00]);
    expect(decodeMessage(u64, true)).toEqual({ ts: 0x018bcfe56800 });
  });
});

describe('requests', () => {
  it('a request without a string op is a bad-request, its id echoed', async () => {
    const c = new Wire(feedUrl(server, '?format=json'));
    await c.opened;
    c.ws.send(JSON.stringify({ id: 5 }));
    c.ws.send(JSON.stringify({ op: 7, id: 6 }));
    c.ws.send(JSON.stringify({ op: 'explode', id: 7 }));
    await c.find((f) => f.t === 'error' && f.id === 7, 'three errors');
    expect(c.frames.filter((f) => f.t === 'error').map((f) => [f.id, f.code])).toEqual([[5, 'bad-request'], [6, 'bad-request'], [7, 'unknown-op']]);
    c.ws.close();
  });
});

/** A JSON request padded to exactly `size` bytes. */
function padded(req: Record<string, unknown>, size: number): string {
  const bare = JSON.stringify({ ...req, pad: '' });
  return JSON.stringify({ ...req, pad: 'x'.repeat(size - bare.length) });
}

describe('limits and close codes', () => {
  it('/feed: a frame of maxPayloadBytes is served, one byte more closes with 1009 and a reason', async () => {
    const max = server.config.limits.maxPayloadBytes;
    const c = new Wire(feedUrl(server, '?format=json'));
    await c.opened;
    const at = padded({ op: 'ping', id: 1 }, max);
    expect(Buffer.byteLength(at)).toBe(max);
    c.ws.send(at);
    await c.find((f) => f.t === 'pong' && f.id === 1, 'pong');
    c.ws.send(padded({ op: 'ping', id: 2 }, max + 1));
    expect(await c.closed()).toEqual({ code: 1009, reason: `frame of ${max + 1} bytes is over the limit of ${max}` });
  });

  it('/ingest: a frame of ingestMaxPayloadBytes is applied, one byte more closes with 1009 and a reason', async () => {
    const max = server.config.limits.ingestMaxPayloadBytes;
    const p = new Wire(ingestUrl(server), { authorization: `Bearer ${WRITE_KEY}` });
    await p.opened;
    const flush = (id: number, size: number): Uint8Array => {
      const bare = plain.pack({ t: 'flush', id, pad: '' }).length;
      // A str32 header is 5 bytes, the empty string's 1.
      return plain.pack({ t: 'flush', id, pad: 'x'.repeat(size - bare - 4) });
    };
    const at = flush(1, max);
    expect(at.length).toBe(max);
    p.ws.send(at);
    await p.find((f) => f.t === 'ack' && f.id === 1, 'ack');
    p.ws.send(flush(2, max + 1));
    expect(await p.closed()).toEqual({ code: 1009, reason: `frame of ${max + 1} bytes is over the limit of ${max}` });
  });
});
