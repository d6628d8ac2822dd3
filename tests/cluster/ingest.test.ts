/**
 * The ingest role against a real redis-server: events land in their symbol's shard stream in
 * order, with everything a book needs (exchange seqs, levels, times); the shard count is agreed;
 * with Redis down memory stays bounded, losses are counted and announced in the stream, and
 * writing resumes when Redis is back. No secret of the URL reaches /healthz.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { TimeBase } from '../../src/model/time.ts';
import { ClusterIngest } from '../../src/cluster/ingest.ts';
import { ClusterKeys, shardOf } from '../../src/cluster/keys.ts';
import { InputDecoder } from '../../src/cluster/events.ts';
import { connectRedis, redactUrl, type RedisLink } from '../../src/cluster/redis.ts';
import { Market } from './fixtures.ts';
import { NO_REDIS, disposeRedis, redisAvailable, startRedis, until, type TestRedis } from './redis-server.ts';

const HAVE = redisAvailable();
if (!HAVE) console.warn(`tests/cluster/ingest: skipped: ${NO_REDIS}`);

describe.skipIf(!HAVE)('cluster ingest', () => {
  let r: TestRedis;
  let admin: Redis;
  const links: RedisLink[] = [];
  beforeAll(async () => {
    r = await startRedis();
    admin = new Redis(r.url);
    admin.on('error', () => undefined);
  });
  afterAll(async () => {
    for (const l of links) await l.close();
    admin?.disconnect();
    if (r) await disposeRedis(r);
  });

  it('hashes symbols to shards with FNV-1a (values computed apart, in Python)', () => {
    expect(shardOf('BTCUSDT', 4)).toBe(3895251564 % 4);
    expect(shardOf('ETHUSDT', 16)).toBe(1617942128 % 16);
    expect(shardOf('GOOG', 16)).toBe(4205971153 % 16);
    expect(shardOf('AMZN', 16)).toBe(1095290559 % 16);
  });

  it('writes each event to its shard in order, sequence numbers, levels and times intact', async () => {
    const link = connectRedis(r.url, 'test-ingest');
    links.push(link);
    const tb = TimeBase.ofEpochMs(Date.now());
    const ing = new ClusterIngest(link, tb, { prefix: 'i1', shards: 4 });
    await until(() => link.ready(), 'redis ready');
    await ing.start();
    const symbols = Array.from({ length: 12 }, (_, i) => `SYM${i}`);
    const m = new Market(symbols, tb);
    const sink = ing.sink('test');
    for (const s of symbols) m.snapshot(s, sink);
    for (let k = 0; k < 200; k++) for (const s of symbols) m.step(s, sink);
    await ing.drained();
    const keys = new ClusterKeys('i1');
    // Read back on another time base (a compute process started another day): times move, exactly.
    const dec = new InputDecoder(TimeBase.ofEpochMs(Date.now() - 86_400_000));
    const seen = new Map<string, { kind: string; seq: number; tsMs: number; nb: number }[]>();
    let total = 0;
    for (let s = 0; s < 4; s++) {
      const entries = (await admin.xrangeBuffer(keys.input(s), '-', '+')) as [Buffer, Buffer[]][];
      total += entries.length;
      for (const [, f] of entries) {
        const rec = dec.decode(f[1]!);
        if (rec.k === 'lost') throw new Error('no loss expected');
        const sym = rec.e.symbol;
        expect(shardOf(sym, 4)).toBe(s);
        const list = seen.get(sym) ?? [];
        seen.set(sym, list);
        if (rec.k === 'depth') {
          list.push({ kind: rec.e.kind, seq: rec.e.lastSeq, tsMs: tb.toEpochMs(rec.e.ts - 86_400_000 * 1e6), nb: rec.e.nBids });
          expect(rec.e.firstSeq).toBe(rec.e.lastSeq);
          expect(rec.e.seqRule).toBe('binance-spot');
        } else list.push({ kind: 'trade', seq: rec.e.id, tsMs: tb.toEpochMs(rec.e.ts - 86_400_000 * 1e6), nb: 0 });
      }
    }
    const sent = [...m.sent.values()].reduce((n, l) => n + l.length, 0);
    expect(total).toBe(sent);
    expect(ing.counts.written).toBe(sent);
    for (const s of symbols) {
      const want = m.sent.get(s)!;
      const got = seen.get(s)!;
      expect(got.map((g) => [g.kind, g.seq, g.tsMs])).toEqual(want.map((w) => [w.kind, w.seq, w.tsMs]));
      expect(got[0]!.nb).toBe(20);
    }
  });

  it('refuses a shard count other than the cluster\'s', async () => {
    const link = connectRedis(r.url, 'test-ingest-2');
    links.push(link);
    await until(() => link.ready(), 'redis ready');
    const ing = new ClusterIngest(link, TimeBase.ofEpochMs(Date.now()), { prefix: 'i1', shards: 8 });
    await expect(ing.start()).rejects.toThrow(/configured for 8 shards but the cluster under prefix "i1" has 4/);
  });

  it('Redis down: bounded queue, losses counted and announced in the stream, writes resume when it is back', async () => {
    // A user with a password: the URL carries credentials that must never show.
    await admin.call('ACL', 'SETUSER', 'flow', 'on', '>s3cret-pw', '~*', '&*', '+@all');
    const url = `redis://flow:s3cret-pw@127.0.0.1:${r.port}`;
    const link = connectRedis(url, 'test-ingest-3');
    links.push(link);
    await until(() => link.ready(), 'redis ready');
    expect(redactUrl(url)).toBe(`redis://***:***@127.0.0.1:${r.port}`);
    const tb = TimeBase.ofEpochMs(Date.now());
    const maxQueuedBytes = 40_000;
    const ing = new ClusterIngest(link, tb, { prefix: 'i2', shards: 2, maxQueuedBytes });
    await ing.start();
    const symbols = ['AAA', 'BBB', 'CCC'];
    const m = new Market(symbols, tb);
    const sink = ing.sink('test');
    for (const s of symbols) m.snapshot(s, sink);
    await ing.drained();
    await r.stop(true);
    await until(() => !link.ready(), 'the link to notice Redis is gone');
    let peak = 0;
    for (let k = 0; k < 2000; k++) {
      for (const s of symbols) m.step(s, sink);
      peak = Math.max(peak, ing.health()['queuedBytes'] as number);
    }
    const h = ing.health();
    expect(h['state']).toBe('redis-down');
    // Bounded: at most one event over the limit (the one that crossed it).
    expect(peak).toBeLessThan(maxQueuedBytes + 2000);
    const sent = [...m.sent.values()].reduce((n, l) => n + l.length, 0);
    expect(ing.counts.lost).toBeGreaterThan(0);
    expect(ing.counts.accepted + ing.counts.lost).toBe(sent);
    expect(JSON.stringify(h)).not.toContain('s3cret');
    expect(JSON.stringify(link.health())).not.toContain('s3cret');
    expect(link.health().url).toBe(`redis://***:***@127.0.0.1:${r.port}`);

    // Back (empty: no persistence in the test): the user again, then everything accepted goes in.
    await r.restart();
    const admin2 = new Redis(r.url);
    admin2.on('error', () => undefined);
    await admin2.call('ACL', 'SETUSER', 'flow', 'on', '>s3cret-pw', '~*', '&*', '+@all');
    await until(() => link.ready(), 'the link to reconnect');
    await ing.drained();
    for (const s of symbols) m.step(s, sink);
    await ing.drained();
    const keys = new ClusterKeys('i2');
    const dec = new InputDecoder(tb);
    let lostAnnounced = 0;
    let events = 0;
    const lostSyms = new Set<string>();
    for (let s = 0; s < 2; s++) {
      for (const [, f] of (await admin2.xrangeBuffer(keys.input(s), '-', '+')) as [Buffer, Buffer[]][]) {
        const rec = dec.decode(f[1]!);
        if (rec.k === 'lost') {
          lostAnnounced += rec.lost;
          lostSyms.add(rec.symbol);
        } else events++;
      }
    }
    // Only what was queued while Redis was down (before the restart) is in this empty Redis, plus the last steps.
    expect(lostAnnounced).toBe(ing.counts.lost);
    expect(lostSyms).toEqual(new Set(symbols));
    expect(events).toBe(ing.counts.written - ing.counts.lostRecords - 3);
    expect(ing.health()['state']).toBe('ok');
    admin2.disconnect();
  });
});
