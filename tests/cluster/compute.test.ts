/**
 * The compute role against a real redis-server. One process: every delta of every symbol becomes
 * one features frame and one book frame, in order, with gapless per-topic seqs, and the books are
 * the true books. Failover: a compute child process (its own Node process, killed with SIGKILL) and
 * an in-process compute instance with its own Redis connections share the shards; the child's
 * shards are taken over, its pending entries claimed, and every subscriber-visible stream keeps
 * gapless seqs, never one seq twice, no event computed twice, and a gap notice before any hole.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { TimeBase } from '../../src/model/time.ts';
import { ClusterIngest } from '../../src/cluster/ingest.ts';
import { ClusterCompute } from '../../src/cluster/compute.ts';
import { shardOf } from '../../src/cluster/keys.ts';
import { connectRedis, type RedisLink } from '../../src/cluster/redis.ts';
import { MetricsRegistry } from '../../src/server/metrics.ts';
import { Market, pipelineOptions, readTopic, type OutEntry, type Sent } from './fixtures.ts';
import { NO_REDIS, disposeRedis, redisAvailable, startRedis, until, type TestRedis } from './redis-server.ts';

const HAVE = redisAvailable();
if (!HAVE) console.warn(`tests/cluster/compute: skipped: ${NO_REDIS}`);

/** Whether every shard's group has read everything and has nothing pending. */
async function consumed(admin: Redis, prefix: string, shards: number): Promise<boolean> {
  for (let s = 0; s < shards; s++) {
    const groups = (await admin.xinfo('GROUPS', `${prefix}:in:${s}`).catch(() => [])) as unknown[][];
    const g = groups.map((a) => Object.fromEntries(Array.from({ length: a.length / 2 }, (_, i) => [a[2 * i], a[2 * i + 1]])))[0];
    if (!g || g['pending'] !== 0 || g['lag'] !== 0) return false;
  }
  return true;
}

/**
 * Checks one symbol's features and book streams against what was sent; returns the notices seen.
 * Every seq from 1 on has exactly one frame; frames follow the deltas in order, each delta at most
 * once; a delta is missing only after a gap notice, until a snapshot; each book frame is the true book.
 */
function checkSymbol(sym: string, sent: Sent[], features: OutEntry[], books: OutEntry[]): { notices: Record<string, unknown>[]; frames: number } {
  const frames = features.filter((e) => e.sub === 0);
  expect(frames.map((e) => e.seq), `${sym}: features seqs`).toEqual(frames.map((_, i) => i + 1));
  const byTs = new Map(sent.map((s, i) => [s.tsMs, i]));
  const firstSnap = sent.findIndex((s) => s.kind === 'snapshot');
  let at = firstSnap;
  let noticeSince = false;
  const notices: Record<string, unknown>[] = [];
  for (const e of features) {
    if (e.sub > 0) {
      notices.push(e.notice!);
      noticeSince = true;
      continue;
    }
    const i = byTs.get(e.frame!['ts'] as number);
    expect(i, `${sym}: features frame at ts ${e.frame!['ts']} matches a sent delta`).toBeDefined();
    expect(sent[i!]!.kind).toBe('delta');
    expect(i!, `${sym}: frames in order, none twice`).toBeGreaterThan(at);
    const skipped = sent.slice(at + 1, i!).filter((s) => s.kind === 'delta');
    if (skipped.length > 0) {
      expect(noticeSince, `${sym}: ${skipped.length} deltas missing before seq ${e.seq} with no gap notice`).toBe(true);
      // Resumed from a snapshot sent after the hole began.
      const snapIdx = sent.slice(at + 1, i!).findIndex((s) => s.kind === 'snapshot');
      expect(snapIdx, `${sym}: resumed at seq ${e.seq} without a snapshot`).toBeGreaterThanOrEqual(0);
    }
    noticeSince = false;
    at = i!;
  }
  const bookFrames = books.filter((e) => e.sub === 0);
  expect(bookFrames.map((e) => e.seq)).toEqual(bookFrames.map((_, i) => i + 1));
  for (const b of bookFrames) {
    const s = sent[byTs.get(b.frame!['ts'] as number)!]!;
    expect(b.frame!['bids'], `${sym}: book at ts ${s.tsMs}`).toEqual(s.bids);
    expect(b.frame!['asks'], `${sym}: book at ts ${s.tsMs}`).toEqual(s.asks);
  }
  return { notices, frames: frames.length };
}

describe.skipIf(!HAVE)('cluster compute', () => {
  let r: TestRedis;
  let admin: Redis;
  const links: RedisLink[] = [];
  const link = (name: string): RedisLink => {
    const l = connectRedis(r.url, name);
    links.push(l);
    return l;
  };
  const children: ChildProcess[] = [];
  beforeAll(async () => {
    r = await startRedis();
    admin = new Redis(r.url);
    admin.on('error', () => undefined);
  });
  afterAll(async () => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    for (const l of links) await l.close();
    admin?.disconnect();
    if (r) await disposeRedis(r);
  });

  it('one process: every delta once, in order, seqs gapless, books true', async () => {
    const tb = TimeBase.ofEpochMs(Date.now());
    const ing = new ClusterIngest(link('ing'), tb, { prefix: 'c1', shards: 4 });
    await ing.start();
    const symbols = Array.from({ length: 8 }, (_, i) => `S${i}`);
    const m = new Market(symbols, tb, 11);
    const sink = ing.sink('test');
    // Deltas before any snapshot are skipped (a book starts at a snapshot).
    for (const s of symbols) m.step(s, sink);
    for (const s of symbols) m.snapshot(s, sink);
    for (let k = 0; k < 60; k++) for (const s of symbols) m.step(s, sink);
    await ing.drained();
    const c = new ClusterCompute(link('c1-cmd'), link('c1-read'), { prefix: 'c1', shards: 4, leaseMs: 5000, bookIntervalMs: 0, pipeline: pipelineOptions() }, new MetricsRegistry());
    await c.start();
    await until(() => consumed(admin, 'c1', 4), 'compute to consume every shard');
    await c.commitAll();
    expect(c.ownedShards()).toEqual([0, 1, 2, 3]);
    for (const s of symbols) {
      const sent = m.sent.get(s)!;
      const res = checkSymbol(s, sent, await readTopic(admin, 'c1', `features.${s}`), await readTopic(admin, 'c1', `book.${s}`));
      expect(res.notices).toEqual([]);
      // Every delta after the snapshot made a frame.
      expect(res.frames).toBe(sent.slice(sent.findIndex((x) => x.kind === 'snapshot')).filter((x) => x.kind === 'delta').length);
    }
    // Each symbol's delta (and trade, if one came) before its snapshot.
    const before = symbols.reduce((n, s) => n + m.sent.get(s)!.findIndex((x) => x.kind === 'snapshot'), 0);
    expect(c.health()['awaitingSnapshot']).toBe(before);
    await c.stop();
    await ing.close();
  });

  it('failover: a SIGKILLed compute process\'s shards and pending entries are taken over; no seq twice, no silent hole', async () => {
    const prefix = 'c2';
    const shards = 4;
    const leaseMs = 2500;
    const tb = TimeBase.ofEpochMs(Date.now());
    const ing = new ClusterIngest(link('ing2'), tb, { prefix, shards });
    await ing.start();
    const symbols = Array.from({ length: 12 }, (_, i) => `F${i}`);
    const m = new Market(symbols, tb, 23);
    const sink = ing.sink('test');

    const script = fileURLToPath(new URL('./compute-child.ts', import.meta.url));
    const child = spawn(process.execPath, ['--import', 'tsx', script], {
      env: { ...process.env, REDIS_URL: r.url, PREFIX: prefix, SHARDS: String(shards), LEASE_MS: String(leaseMs), CONSUMER: 'child-A' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    children.push(child);
    let childOwns = '';
    child.stdout!.on('data', (b: Buffer) => {
      for (const line of b.toString().split('\n')) if (line.startsWith('owns ')) childOwns = line.slice(5);
    });
    await until(() => childOwns === '0,1,2,3', 'the child to own every shard', 60_000);

    // A second member: the child hands two shards over to it.
    const b = new ClusterCompute(link('b-cmd'), link('b-read'), { prefix, shards, leaseMs, consumer: 'B', bookIntervalMs: 0, pipeline: pipelineOptions() }, new MetricsRegistry());
    await b.start();
    await until(() => b.ownedShards().length === 2 && childOwns.split(',').length === 2, 'an even split');
    const childShards = childOwns.split(',').map(Number);

    let round = 0;
    const produce = async (rounds: number): Promise<void> => {
      for (let k = 0; k < rounds; k++, round++) {
        if (round % 25 === 0) for (const s of symbols) m.snapshot(s, sink);
        for (const s of symbols) m.step(s, sink);
        await ing.drained();
      }
    };
    await produce(60);
    const childSyms = symbols.filter((s) => childShards.includes(shardOf(s, shards)));
    expect(childSyms.length).toBeGreaterThan(0);
    await until(async () => (await admin.hget(`${prefix}:seq`, `features.${childSyms[0]}`)) !== null, 'the child to write results');

    child.kill('SIGKILL');
    // Events keep coming while nobody computes the child's shards.
    const taken = Promise.all(childShards.map((s) => b.whenOwns(s)));
    let done = false;
    void taken.then(() => { done = true; });
    while (!done) await produce(1);
    await produce(60);
    await until(() => consumed(admin, prefix, shards), 'every shard consumed');
    await b.commitAll();

    // On a loaded machine a lease may lapse and move more than once: every move is from the child, and covers its shards.
    const takeovers = b.takeovers.filter((t) => t.reason === 'takeover');
    expect(new Set(takeovers.map((t) => t.shard))).toEqual(new Set(childShards));
    for (const t of takeovers) expect(t.from).toBe('child-A');
    const handovers = b.takeovers.filter((t) => t.reason === 'handover');
    expect(handovers.length).toBeGreaterThanOrEqual(2);
    for (const t of handovers) expect(t.from).toBe('child-A');
    // The failover time, from the child's last heartbeat (a bound is leaseMs + a tick + a read; printed, not asserted: a busy machine).
    console.log(`failover: takeovers ${JSON.stringify(takeovers.map((t) => ({ shard: t.shard, silenceMs: t.silenceMs, claimed: t.claimed })))}`);

    let noticed = 0;
    for (const s of symbols) {
      const { notices } = checkSymbol(s, m.sent.get(s)!, await readTopic(admin, prefix, `features.${s}`), await readTopic(admin, prefix, `book.${s}`));
      if (childSyms.includes(s)) {
        expect(notices.some((n) => n['reason'] === 'takeover' && n['from'] === 'child-A'), `${s}: a takeover notice`).toBe(true);
        noticed++;
      }
    }
    expect(noticed).toBe(childSyms.length);
    expect(b.health()['fenced']).toBe(0);
    await b.stop();
    await ing.close();
  });

  it('fencing: a process whose lease went to another token writes nothing more and gives the shard up', async () => {
    const prefix = 'c3';
    const tb = TimeBase.ofEpochMs(Date.now());
    const ing = new ClusterIngest(link('ing3'), tb, { prefix, shards: 1 });
    await ing.start();
    const m = new Market(['Z1'], tb, 5);
    const sink = ing.sink('test');
    m.snapshot('Z1', sink);
    for (let k = 0; k < 20; k++) m.step('Z1', sink);
    await ing.drained();
    const c = new ClusterCompute(link('c3-cmd'), link('c3-read'), { prefix, shards: 1, leaseMs: 60_000, bookIntervalMs: 0, pipeline: pipelineOptions() }, new MetricsRegistry());
    await c.start();
    await until(() => consumed(admin, prefix, 1), 'the first events consumed');
    const before = (await readTopic(admin, prefix, 'features.Z1')).length;
    // Another process holds the lease now (as after this one paused past its lease).
    await admin.set(`${prefix}:lease:0`, 'someone-else:1', 'PX', 60_000);
    for (let k = 0; k < 20; k++) m.step('Z1', sink);
    await ing.drained();
    await until(() => c.health()['fenced'] === 1, 'the commit to be refused');
    expect(c.ownedShards()).toEqual([]);
    expect((await readTopic(admin, prefix, 'features.Z1')).length).toBe(before);
    // Not acknowledged: the entries wait, pending, for the lease holder.
    const pending = (await admin.xpending(`${prefix}:in:0`, 'compute')) as [number, ...unknown[]];
    expect(pending[0]).toBeGreaterThan(0);
    await c.stop();
    await ing.close();
  });

  it('Redis too slow for ingest: the lost events reach compute as a gap notice, the book restarts at the next snapshot', async () => {
    const prefix = 'c4';
    const tb = TimeBase.ofEpochMs(Date.now());
    const ing = new ClusterIngest(link('ing4'), tb, { prefix, shards: 2, maxQueuedBytes: 30_000 });
    await ing.start();
    const symbols = ['L1', 'L2', 'L3'];
    const m = new Market(symbols, tb, 9);
    const sink = ing.sink('test');
    const c = new ClusterCompute(link('c4-cmd'), link('c4-read'), { prefix, shards: 2, leaseMs: 5000, bookIntervalMs: 0, pipeline: pipelineOptions() }, new MetricsRegistry());
    await c.start();
    for (const s of symbols) m.snapshot(s, sink);
    for (let k = 0; k < 30; k++) for (const s of symbols) m.step(s, sink);
    await ing.drained();
    // Writes stall for a while (CLIENT PAUSE WRITE): the ingest queue fills and events are lost.
    await admin.call('CLIENT', 'PAUSE', '1000', 'WRITE');
    for (let k = 0; k < 400; k++) for (const s of symbols) m.step(s, sink);
    expect(ing.counts.lost).toBeGreaterThan(0);
    await ing.drained();
    for (let k = 0; k < 30; k++) {
      if (k === 10) for (const s of symbols) m.snapshot(s, sink);
      for (const s of symbols) m.step(s, sink);
    }
    await ing.drained();
    await until(() => consumed(admin, prefix, 2), 'every shard consumed');
    await c.commitAll();
    let lost = 0;
    for (const s of symbols) {
      const { notices } = checkSymbol(s, m.sent.get(s)!, await readTopic(admin, prefix, `features.${s}`), await readTopic(admin, prefix, `book.${s}`));
      for (const n of notices) {
        expect(n['reason']).toBe('ingest-lost');
        lost += n['lost'] as number;
      }
    }
    expect(lost).toBe(ing.counts.lost);
    await c.stop();
    await ing.close();
  });

  it('takeover claims the dead owner\'s pending entries (XAUTOCLAIM) and computes them first', async () => {
    const prefix = 'c5';
    const tb = TimeBase.ofEpochMs(Date.now());
    const ing = new ClusterIngest(link('ing5'), tb, { prefix, shards: 1 });
    await ing.start();
    const m = new Market(['P1'], tb, 13);
    const sink = ing.sink('test');
    m.snapshot('P1', sink);
    for (let k = 0; k < 40; k++) m.step('P1', sink);
    await ing.drained();
    // A consumer that read the first 25 entries and died before committing them; its lease has expired.
    await admin.xgroup('CREATE', `${prefix}:in:0`, 'compute', '0');
    await admin.xreadgroup('GROUP', 'compute', 'ghost', 'COUNT', 25, 'STREAMS', `${prefix}:in:0`, '>');
    await admin.set(`${prefix}:owner:0`, 'ghost');
    await admin.zadd(`${prefix}:members`, Date.now() - 60_000, 'ghost');
    const c = new ClusterCompute(link('c5-cmd'), link('c5-read'), { prefix, shards: 1, leaseMs: 5000, bookIntervalMs: 0, pipeline: pipelineOptions() }, new MetricsRegistry());
    await c.start();
    await until(() => consumed(admin, prefix, 1), 'every entry consumed');
    await c.commitAll();
    expect(c.takeovers).toMatchObject([{ shard: 0, from: 'ghost', reason: 'takeover', claimed: 25, deleted: 0 }]);
    // The claimed entries (the snapshot among them) were computed, in order: every delta has its frame.
    const { frames } = checkSymbol('P1', m.sent.get('P1')!, await readTopic(admin, prefix, 'features.P1'), await readTopic(admin, prefix, 'book.P1'));
    expect(frames).toBe(m.sent.get('P1')!.filter((x) => x.kind === 'delta').length);
    const consumers = (await admin.xinfo('CONSUMERS', `${prefix}:in:0`, 'compute')) as unknown[][];
    expect(consumers.map((x) => x[1])).toEqual([c.consumer]);
    await c.stop();
    await ing.close();
  });
});
