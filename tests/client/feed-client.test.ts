import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
});
