import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { WebSocketServer, type WebSocket as PeerSocket } from 'ws';
import { FeedClient } from '../../src/client/feed-client.ts';
import type { FeaturesFrame } from '../../src/protocol/frames.ts';
import type { RunningServer } from '../../src/server/server.ts';
import { feedUrl, testServer, until } from '../server/helpers.ts';

let server: RunningServer;
beforeAll(async () => {
  server = await testServer();
});
afterAll(() => server.close());

function publish(sym: string, row: number): void {
  server.broker.publish(server.broker.topic(`features.${sym}`), { t: 'features', ts: 1.7e12 + row, sym, row, v: [row] });
}

describe('FeedClient', () => {
  it('reconnects after the server drops it, resubscribes, and gets the last value at once', async () => {
    const c = await FeedClient.connect({ url: feedUrl(server), reconnect: { initialMs: 20 } });
    const got: FeaturesFrame[] = [];
    c.on('features', (f) => got.push(f));
    let disconnects = 0;
    c.on('disconnect', () => disconnects++);
    await c.subscribe(['features.RC']);
    publish('RC', 1);
    await until(() => got.length === 1);
    // The server closes every connection (as it would a slow one); frames published meanwhile are missed.
    for (const conn of [...server.broker.conns]) server.broker.close(conn, 4008, 'test', 'test');
    await until(() => disconnects === 1, 2000, 'disconnect');
    publish('RC', 2);
    publish('RC', 3);
    await until(() => c.reconnects === 1 && got.length === 2, 5000, 'reconnected with the last value');
    expect(got[1]).toMatchObject({ row: 3, seq: 3 });
    expect(c.gaps.get('features.RC')).toBe(1);
    publish('RC', 4);
    await until(() => got.length === 3);
    expect(got[2]!.seq).toBe(4);
    expect(c.closeEvent).toBeUndefined();
    expect(await c.close()).toEqual({ code: 1000, reason: 'bye' });
  });

  it('rejects a request the server refuses, and times out one it never answers', async () => {
    const c = await FeedClient.connect({ url: feedUrl(server) });
    await expect(c.subscribe(['nope'])).rejects.toMatchObject({ frame: { code: 'bad-topic' } });
    await expect(c.request({ op: 'ping', id: undefined }, 5000)).resolves.toMatchObject({ t: 'pong' });
    await expect(c.next((f) => f.t === 'alert', 50)).rejects.toThrow(/no matching frame within 50 ms/);
    await c.close();
  });

  it('a peer that answers pings but never sends a hello is refused on its pong, not on a clock', async () => {
    await withPeer({}, async (url) => {
      await expect(FeedClient.connect({ url })).rejects.toThrow(/answered a ping but sent no hello: not a flowcast feed/);
    });
  });

  it('waits for a late hello however much time passes (no timer of its own runs out)', async () => {
    // The peer holds its hello (and its pong, which would end the wait) until the clock has moved
    // on by ten minutes: only a timer in the client could fail this.
    await withPeer({ autoPong: false }, async (url, connected) => {
      vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] });
      try {
        const c = FeedClient.connect({ url });
        const peer = await connected;
        vi.advanceTimersByTime(600_000);
        peer.send(JSON.stringify(HELLO));
        await expect(c).resolves.toMatchObject({ hello: { t: 'hello', server: 'peer' } });
      } finally {
        vi.useRealTimers();
      }
    });
  });

  it('a reconnect attempt closed before its hello is only a failed attempt: the client does not close', async () => {
    let n = 0;
    await withPeer({ onConnection: (ws) => (++n === 1 || n === 4 ? ws.send(JSON.stringify(HELLO)) : ws.close(1011, 'not yet')) }, async (url, connected) => {
      const c = await FeedClient.connect({ url, reconnect: { initialMs: 1, maxMs: 5 } });
      const closes: unknown[] = [];
      c.on('close', (e) => closes.push(e));
      const reconnected = new Promise((r) => c.on('reconnect', r));
      (await connected).close(1012, 'restart');
      await reconnected;
      expect(n).toBe(4);
      expect(closes).toEqual([]);
      expect(c.closeEvent).toBeUndefined();
      expect(c.reconnects).toBe(1);
      expect(await c.close()).toEqual({ code: 1000, reason: 'bye' });
    });
  });
});

const HELLO = { t: 'hello', v: 1, server: 'peer', started: 1, format: 'json', principal: 'anonymous', featureColumns: [] };

/** A bare WebSocket server on 127.0.0.1 (not flowcast): `connected` is its first connection. */
async function withPeer(
  o: { autoPong?: boolean; onConnection?: (ws: PeerSocket) => void },
  body: (url: string, connected: Promise<PeerSocket>) => Promise<void>,
): Promise<void> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, autoPong: o.autoPong ?? true });
  const connected = new Promise<PeerSocket>((r) => wss.once('connection', r));
  if (o.onConnection) wss.on('connection', o.onConnection);
  await new Promise((r) => wss.once('listening', r));
  try {
    await body(`ws://127.0.0.1:${(wss.address() as { port: number }).port}/feed`, connected);
  } finally {
    for (const ws of wss.clients) ws.terminate();
    await new Promise((r) => wss.close(r));
  }
}
