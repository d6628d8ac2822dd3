/**
 * `serve --cluster ... --role ...` wiring: the config's rules for --cluster / --role, and one
 * process running every role against a Redis URL with credentials: a producer's book pushed over
 * /ingest comes out as features frames on /feed, /healthz says each role's state, and the password
 * is in neither /healthz nor the logs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { ConfigError, loadServerConfig } from '../../src/server/config.ts';
import { startCluster } from '../../src/cluster/serve.ts';
import { FeedClient } from '../../src/client/feed-client.ts';
import { IngestClient } from '../../src/client/ingest-client.ts';
import { setLogLevel, setLogSink } from '../../src/core/log.ts';
import { NO_REDIS, disposeRedis, redisAvailable, startRedis, until, type TestRedis } from './redis-server.ts';

const HAVE = redisAvailable();
if (!HAVE) console.warn(`tests/cluster/serve: skipped: ${NO_REDIS}`);
const WRITE_KEY = 'cluster-write-key-0123456789';
const SECRET = 'pw-9f8e7d6c5b4a';

describe('serve --cluster config', () => {
  const load = (o: Record<string, unknown>) => loadServerConfig({ env: {}, overrides: { port: 0, noReplay: true, models: '', ...o } });
  it('--role needs --cluster (except all); roles are checked; all without Redis is the one process', () => {
    expect(() => load({ role: 'compute' })).toThrow(ConfigError);
    expect(() => load({ role: 'compute' })).toThrow(/needs --cluster/);
    expect(() => load({ cluster: 'redis://h:1', role: 'ingest,gpu' })).toThrow(/expected ingest, compute, edge/);
    expect(() => load({ cluster: 'http://h:1' })).toThrow(/redis:\/\//);
    expect(load({ role: 'all' }).cluster).toBeUndefined();
    expect(load({ cluster: 'redis://h:1', role: 'edge,compute', shards: 8 }).cluster).toMatchObject({ roles: ['edge', 'compute'], shards: 8, url: 'redis://h:1' });
    expect(load({ cluster: 'redis://h:1' }).cluster!.roles).toEqual(['ingest', 'compute', 'edge']);
    expect([load({ cluster: 'redis://h:1' }).cluster!.leaseMs, load({ cluster: 'redis://h:1', leaseMs: 8000 }).cluster!.leaseMs]).toEqual([3000, 8000]);
    expect(load({ cluster: 'redis://h:1' }).cluster).toMatchObject({ outMaxLen: 10_000, inMaxLen: 1_000_000 });
    expect(load({ cluster: 'redis://h:1', retention: 500, inputRetention: 20_000 }).cluster).toMatchObject({ outMaxLen: 500, inMaxLen: 20_000 });
  });
});

describe.skipIf(!HAVE)('serve --cluster --role all', () => {
  let r: TestRedis;
  let admin: Redis;
  beforeAll(async () => {
    r = await startRedis();
    admin = new Redis(r.url);
    admin.on('error', () => undefined);
    await admin.call('ACL', 'SETUSER', 'flow', 'on', `>${SECRET}`, '~*', '&*', '+@all');
  });
  afterAll(async () => {
    admin?.disconnect();
    if (r) await disposeRedis(r);
  });

  it('ingest -> compute -> edge in one process; /healthz says the roles; no secret in /healthz or logs', async () => {
    const lines: string[] = [];
    const prev = setLogSink((l) => lines.push(l));
    setLogLevel('debug');
    try {
      const cfg = loadServerConfig({
        env: { FLOWCAST_API_KEY: `producer:${WRITE_KEY}` },
        overrides: { port: 0, noReplay: true, models: '', cluster: `redis://flow:${SECRET}@127.0.0.1:${r.port}`, role: 'all', shards: 4 },
      });
      cfg.cluster!.leaseMs = 5000;
      cfg.feed.bookIntervalMs = 0;
      const cl = await startCluster(cfg);
      const feed = await FeedClient.connect({ url: `ws://127.0.0.1:${cl.port}/feed` });
      const frames: number[] = [];
      feed.on('features', (f) => frames.push(f.seq));
      await feed.subscribe(['features.KRN']);
      const p = await IngestClient.connect({ url: `ws://127.0.0.1:${cl.port}/ingest`, key: WRITE_KEY });
      const now = Date.now();
      p.send({ t: 'snapshot', sym: 'KRN', ts: now, seq: 10, bids: [[101, 3], [100.9, 4]], asks: [[101.1, 2], [101.2, 5]] });
      for (let i = 1; i <= 50; i++) p.send({ t: 'delta', sym: 'KRN', ts: now + i, seq: 10 + i, bids: [[101 - (i % 3) * 0.1, 1 + (i % 7)]], asks: [] });
      await p.flush();
      await until(() => frames.length >= 50, '50 features frames through Redis');
      expect(frames.slice(-50)).toEqual(Array.from({ length: 50 }, (_, i) => frames.at(-50)! + i));
      const res = await fetch(`http://127.0.0.1:${cl.port}/healthz`);
      const text = await res.text();
      const h = JSON.parse(text) as { status: string; cluster: Record<string, Record<string, unknown>> };
      expect(h.status).toBe('ok');
      expect(h.cluster['roles']).toEqual(['ingest', 'compute', 'edge']);
      expect(h.cluster['ingest']!['state']).toBe('ok');
      expect(h.cluster['compute']!['owned']).toEqual([0, 1, 2, 3]);
      expect(h.cluster['edge']!['state']).toBe('ok');
      expect(h.cluster['redis']).toBe(`redis://***:***@127.0.0.1:${r.port}`);
      expect(text).not.toContain(SECRET);
      await p.close();
      await feed.close();
      // Redis gone: /healthz says so (and still no secret), nothing crashes.
      await r.stop(true);
      await until(async () => (await (await fetch(`http://127.0.0.1:${cl.port}/healthz`)).json() as { status: string }).status === 'degraded', 'healthz degraded');
      const down = await (await fetch(`http://127.0.0.1:${cl.port}/healthz`)).text();
      expect(down).toContain('redis-down');
      expect(down).not.toContain(SECRET);
      await cl.close();
      await r.restart();
    } finally {
      setLogSink(prev);
      setLogLevel('warn');
    }
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.join('\n')).not.toContain(SECRET);
  });
});
