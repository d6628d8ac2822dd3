import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { Socket } from 'node:net';
import { FeedClient } from '../../src/client/feed-client.ts';
import { FEATURE_COLUMNS } from '../../src/features/columns.ts';
import type { ServerFrame } from '../../src/protocol/frames.ts';
import { decodeMessage } from '../../src/protocol/codec.ts';
import type { RunningServer } from '../../src/server/server.ts';
import type { ServerConfig } from '../../src/server/config.ts';
import { feedUrl, testServer, until } from './helpers.ts';

let server: RunningServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

function features(s: RunningServer, sym: string, row: number): void {
  s.broker.publish(s.broker.topic(`features.${sym}`), { t: 'features', ts: 1.7e12 + row, sym, row, v: FEATURE_COLUMNS.map((_, i) => row * 1.5 + i) });
}

function pred(s: RunningServer, sym: string, row: number): void {
  s.broker.publish(s.broker.topic(`pred.m1.${sym}`), { t: 'pred', ts: 1.7e12 + row, sym, model: 'm1', classes: ['down', 'flat', 'up'], probs: [0.2, 0.5, 0.3], row });
}

/** A raw client that decodes frames and can stop reading its socket. */
class RawClient {
  readonly ws: WebSocket;
  readonly frames: ServerFrame[] = [];
  lastSeq = new Map<string, number>();
  gaps = new Map<string, number>();
  dropped = new Map<string, number>();
  close: { code: number; reason: string } | undefined;
  constructor(url: string) {
    this.ws = new WebSocket(url, { perMessageDeflate: false });
    this.ws.on('message', (d: Buffer, bin: boolean) => {
      const f = decodeMessage(d, bin) as ServerFrame;
      this.frames.push(f);
      if ('seq' in f && 'topic' in f) {
        const last = this.lastSeq.get(f.topic);
        if (last !== undefined && f.seq > last + 1) this.gaps.set(f.topic, (this.gaps.get(f.topic) ?? 0) + f.seq - last - 1);
        this.lastSeq.set(f.topic, f.seq);
      }
      if (f.t === 'dropped') for (const [t, n] of Object.entries(f.topics)) this.dropped.set(t, (this.dropped.get(t) ?? 0) + n);
    });
    this.ws.on('close', (code, reason) => { this.close = { code, reason: reason.toString() }; });
  }
  async ready(topics: string[]): Promise<void> {
    await new Promise((r) => this.ws.once('open', r));
    this.ws.send(JSON.stringify({ op: 'subscribe', topics, id: 1 }));
    await until(() => this.frames.some((f) => f.t === 'subscribed'), 2000, 'subscribed');
  }
  get socket(): Socket {
    return (this.ws as unknown as { _socket: Socket })._socket;
  }
}

/** A server whose heartbeats stay out of the way of these byte-counting tests. */
function quietServer(patch: (c: ServerConfig) => void): Promise<RunningServer> {
  return testServer((c) => {
    c.feed.heartbeatMs = 60_000;
    patch(c);
  });
}

function counter(s: RunningServer, name: string, label = ''): number {
  const line = s.metrics.render().split('\n').find((l) => l.startsWith(name + (label ? `{${label}}` : ' ')));
  return line ? Number(line.split(' ').pop()) : 0;
}

describe('backpressure', () => {
  it('a client that stops reading never holds up the others, and is closed when it stays stuck', async () => {
    server = await quietServer((c) => {
      c.feed.maxBufferBytes = 64 * 1024;
      // Long enough for the frames below to fill the kernel's buffers and detach it first.
      c.feed.slowTimeoutMs = 2000;
    });
    const s = server;
    const stuck = new RawClient(feedUrl(s));
    await stuck.ready(['features.HOT']);
    stuck.socket.pause();
    const fast = await FeedClient.connect({ url: feedUrl(s) });
    let received = 0;
    fast.on('features', () => received++);
    await fast.subscribe(['features.HOT']);

    // ~40 MB of frames: far more than the kernel socket buffers of the stuck client absorb.
    const N = 100_000;
    for (let r = 0; r < N; r++) {
      features(s, 'HOT', r);
      if (r % 250 === 249) await tick();
    }
    await until(() => received === N, 20_000, 'fast client to receive every frame');
    expect(fast.gaps.size).toBe(0);
    expect(fast.counts.get('dropped') ?? 0).toBe(0);

    // The stuck one was detached (its older states dropped and counted), then closed.
    expect(counter(s, 'flowcast_feed_slow_episodes_total')).toBeGreaterThanOrEqual(1);
    expect(counter(s, 'flowcast_feed_dropped_frames_total', 'kind="features"')).toBeGreaterThan(0);
    await until(() => counter(s, 'flowcast_feed_disconnects_total', 'reason="slow-timeout"') === 1, 5000, 'stuck client closed');
    expect(s.broker.stats().connections).toBe(1);
    stuck.socket.resume();
    await until(() => stuck.close !== undefined, 5000, 'close seen by the stuck client');
    expect(stuck.close!.code).toBe(4008);
    expect(stuck.close!.reason).toMatch(/^slow consumer: (over 65536 unsent bytes|ping unanswered) for [\d.]+ s$/);
    await fast.close();
  });

  it('a client that stops reading is closed with 4008 also while its backlog sits in the network buffers, not the server\'s', async () => {
    // Time to fill the kernel's buffers before the unanswered ping closes it.
    server = await quietServer((c) => { c.feed.slowTimeoutMs = 2000; });
    const s = server;
    const stuck = new RawClient(feedUrl(s));
    await stuck.ready(['features.K']);
    stuck.socket.pause();
    const conn = [...s.broker.conns][0]!;
    // Publish until the kernel's socket buffers are full and uWS starts holding bytes, then stop:
    // the server holds far less than maxBufferBytes (1 MiB), so only the unanswered ping tells.
    let r = 0;
    while (conn.ws!.getBufferedAmount() === 0) {
      for (let k = 0; k < 100; k++) features(s, 'K', r++);
      await tick();
    }
    expect(conn.ws!.getBufferedAmount()).toBeLessThan(s.config.feed.maxBufferBytes);
    await until(() => counter(s, 'flowcast_feed_disconnects_total', 'reason="slow-timeout"') === 1, 10_000, 'stuck client closed');
    stuck.socket.resume();
    await until(() => stuck.close !== undefined, 5000, 'close seen by the stuck client');
    expect(stuck.close!.code).toBe(4008);
    expect(stuck.close!.reason).toMatch(/^slow consumer: ping unanswered for [\d.]+ s$/);
    // Nothing before the close was lost on the way.
    expect(stuck.gaps.size).toBe(0);
    expect(stuck.lastSeq.get('features.K')).toBe(r);
  });

  it('a burst of last values to a client that is not reading detaches it, and it is closed with 4008 (uWS never cuts it)', async () => {
    server = await quietServer((c) => {
      c.feed.maxBufferBytes = 256 * 1024;
      // Time to fill the kernel's buffers before the unanswered ping closes it.
      c.feed.slowTimeoutMs = 2000;
    });
    const s = server;
    // 400 book states of ~7 KiB: 2.8 MB in one go, far past uWS's own limit (4x maxBufferBytes).
    const levels = (p: number): [number, number][] => Array.from({ length: 200 }, (_, i) => [p + i * 0.01, 1.5 + i]);
    const topics = Array.from({ length: 400 }, (_, i) => `book.L${i}`);
    for (let i = 0; i < topics.length; i++) {
      s.broker.publish(s.broker.topic(topics[i]!), { t: 'book', ts: 1.7e12 + i, sym: `L${i}`, bids: levels(100.5), asks: levels(200.5) });
    }
    const c = new RawClient(feedUrl(s));
    await c.ready(['features.HOT']);
    c.socket.pause();
    const conn = [...s.broker.conns][0]!;
    // Fill the kernel's socket buffers: uWS holds bytes, and still holds some after a turn of the
    // loop (each step stays well under maxBufferBytes, so the connection is not detached yet).
    let r = 0;
    for (;;) {
      for (let k = 0; k < 100; k++) features(s, 'HOT', r++);
      await tick();
      if (conn.ws!.getBufferedAmount() > 0) {
        await tick();
        if (conn.ws!.getBufferedAmount() > 0) break;
      }
    }
    expect(conn.slow).toBeUndefined();
    c.ws.send(JSON.stringify({ op: 'subscribe', topics, id: 2 }));
    await until(() => counter(s, 'flowcast_feed_disconnects_total', 'reason="slow-timeout"') === 1, 10_000, 'stuck client closed by the broker');
    c.socket.resume();
    await until(() => c.close !== undefined, 5000, 'close seen by the client');
    expect(c.close!.code).toBe(4008);
    expect(c.frames.some((f) => f.t === 'subscribed' && f.id === 2)).toBe(true);
    expect(c.gaps.size).toBe(0);
  });

  it('a slow reader is told exactly what it missed: states conflate, events never drop', async () => {
    server = await quietServer((c) => {
      c.feed.maxBufferBytes = 32 * 1024;
      c.feed.maxOverflows = 1000;
    });
    const s = server;
    const slow = new RawClient(feedUrl(s));
    await slow.ready(['features.A', 'features.B', 'pred.m1.A']);
    let r = 0;
    const publish = (): void => {
      features(s, 'A', r);
      features(s, 'B', r);
      if (r % 10 === 0) pred(s, 'A', r);
      r++;
    };
    // Episodes: stop reading until the server detaches the client, publish on while it is slow,
    // then read again; in between, publish at a pace it keeps up with.
    for (let episode = 0; episode < 4; episode++) {
      slow.socket.pause();
      const before = counter(s, 'flowcast_feed_slow_episodes_total');
      while (counter(s, 'flowcast_feed_slow_episodes_total') === before) {
        for (let k = 0; k < 100; k++) publish();
        await tick();
      }
      for (let k = 0; k < 500; k++) publish();
      slow.socket.resume();
      await until(() => s.broker.stats().slowConnections === 0, 5000, 'recovered');
      for (let k = 0; k < 50; k++) {
        publish();
        await tick();
      }
    }
    while (r % 10 !== 1) publish();
    const N = r;
    await until(() => slow.lastSeq.get('features.A') === N && slow.lastSeq.get('features.B') === N && slow.lastSeq.get('pred.m1.A') === (N - 1) / 10 + 1, 20_000, 'last frames');
    await until(() => s.broker.stats().slowConnections === 0, 5000, 'recovered');
    expect(slow.dropped.get('features.A') ?? 0).toBeGreaterThan(0);
    // Exact accounting: every sequence gap was announced in a dropped notice, no more, no less.
    for (const t of ['features.A', 'features.B']) expect(slow.gaps.get(t) ?? 0).toBe(slow.dropped.get(t) ?? 0);
    expect(slow.gaps.get('pred.m1.A') ?? 0).toBe(0);
    expect(slow.dropped.get('pred.m1.A')).toBeUndefined();
    // A dropped notice comes before the frames that follow the gap.
    const i = slow.frames.findIndex((f) => f.t === 'dropped');
    expect(slow.frames[i]).toMatchObject({ t: 'dropped', reason: 'slow-consumer' });
    expect(slow.close).toBeUndefined();
    slow.ws.close();
  });

  it('repeated overflow disconnects with the reason', async () => {
    server = await quietServer((c) => {
      c.feed.maxBufferBytes = 16 * 1024;
      c.feed.maxOverflows = 2;
      c.feed.slowTimeoutMs = 60_000;
    });
    const s = server;
    const c = new RawClient(feedUrl(s));
    await c.ready(['features.R']);
    let r = 0;
    for (let episode = 0; episode < 3 && !c.close; episode++) {
      c.socket.pause();
      const before = counter(s, 'flowcast_feed_slow_episodes_total');
      while (counter(s, 'flowcast_feed_slow_episodes_total') === before && s.broker.stats().connections > 0) {
        for (let k = 0; k < 200; k++) features(s, 'R', r++);
        await tick();
      }
      c.socket.resume();
      await until(() => s.broker.stats().slowConnections === 0, 5000, 'episode over');
    }
    await until(() => c.close !== undefined, 5000, 'close');
    expect(c.close).toEqual({ code: 4008, reason: 'slow consumer: 3 buffer overflows in 60 s' });
    expect(counter(s, 'flowcast_feed_disconnects_total', 'reason="repeated-overflow"')).toBe(1);
  });

  it('closes a stuck client whose undroppable frames (predictions) exceed the limit', async () => {
    server = await quietServer((c) => {
      c.feed.maxBufferBytes = 32 * 1024;
      c.feed.slowTimeoutMs = 60_000;
    });
    const s = server;
    const c = new RawClient(feedUrl(s));
    await c.ready(['pred.m1.Q']);
    c.socket.pause();
    for (let r = 0; r < 200_000 && !counter(s, 'flowcast_feed_disconnects_total', 'reason="queue-overflow"'); r++) {
      pred(s, 'Q', r);
      if (r % 500 === 499) await tick();
    }
    expect(counter(s, 'flowcast_feed_disconnects_total', 'reason="queue-overflow"')).toBe(1);
    c.socket.resume();
    await until(() => c.close !== undefined, 5000, 'close');
    expect(c.close!.code).toBe(4008);
    // Up to the close, predictions arrived without a gap: none was dropped.
    expect(c.gaps.get('pred.m1.Q') ?? 0).toBe(0);
  });
});
