/**
 * The edge role: two uWS edges read the same result streams and publish the same seqs; a client of
 * a closed edge resumes on the other with `from` and misses nothing; a `from` older than retention
 * gets a `gap` frame naming the seqs that are gone; a compute handover reaches subscribers as a
 * `gap` frame. Real ingest, compute and edges in this process, each with its own Redis connections.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { Redis } from 'ioredis';
import { TimeBase } from '../../src/model/time.ts';
import { ClusterIngest } from '../../src/cluster/ingest.ts';
import { ClusterCompute } from '../../src/cluster/compute.ts';
import { ClusterEdge } from '../../src/cluster/edge.ts';
import { connectRedis, type RedisLink } from '../../src/cluster/redis.ts';
import { loadServerConfig } from '../../src/server/config.ts';
import { MetricsRegistry } from '../../src/server/metrics.ts';
import { Market, pipelineOptions, readTopic } from './fixtures.ts';
import { NO_REDIS, disposeRedis, redisAvailable, startRedis, until, type TestRedis } from './redis-server.ts';

const HAVE = redisAvailable();
if (!HAVE) console.warn(`tests/cluster/edge: skipped: ${NO_REDIS}`);

type Frame = Record<string, unknown>;

class Client {
  readonly frames: Frame[] = [];
  private constructor(readonly ws: WebSocket) {
    ws.on('message', (d) => this.frames.push(JSON.parse(d.toString()) as Frame));
  }
  static async open(port: number): Promise<Client> {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/feed?format=json`);
    const c = new Client(ws);
    await new Promise<void>((resolve, reject) => { ws.once('open', () => resolve()); ws.once('error', reject); });
    await until(() => c.frames.some((f) => f['t'] === 'hello'), 'hello');
    return c;
  }
  send(o: object): void {
    this.ws.send(JSON.stringify(o));
  }
  data(topic: string): Frame[] {
    return this.frames.filter((f) => f['topic'] === topic && f['t'] !== 'gap');
  }
  close(): void {
    this.ws.close();
  }
}

describe.skipIf(!HAVE)('cluster edge', () => {
  let r: TestRedis;
  let admin: Redis;
  const links: RedisLink[] = [];
  const link = (name: string): RedisLink => {
    const l = connectRedis(r.url, name);
    links.push(l);
    return l;
  };
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

  it('two edges, the same seqs; resume on the other edge with from; retention and handover gaps said', async () => {
    const prefix = 'e1';
    const tb = TimeBase.ofEpochMs(Date.now());
    const ing = new ClusterIngest(link('ing'), tb, { prefix, shards: 2 });
    await ing.start();
    const m = new Market(['E1', 'E2'], tb, 3);
    const sink = ing.sink('test');
    const compute = (name: string): ClusterCompute => new ClusterCompute(link(`${name}-cmd`), link(`${name}-read`),
      { prefix, shards: 2, leaseMs: 5000, consumer: name, bookIntervalMs: 0, outMaxLen: 300, pipeline: pipelineOptions() }, new MetricsRegistry());
    const c1 = compute('C1');
    await c1.start();
    const cfg = loadServerConfig({ overrides: { port: 0, noReplay: true, models: '' } });
    const e1 = new ClusterEdge(cfg, link('e1-cmd'), link('e1-read'), { prefix, server: 'edge-1' });
    const e2 = new ClusterEdge(cfg, link('e2-cmd'), link('e2-read'), { prefix, server: 'edge-2' });
    await e1.start();
    await e2.start();
    const topic = 'features.E1';
    const produce = async (n: number, snapshotFirst = false): Promise<void> => {
      if (snapshotFirst) for (const s of ['E1', 'E2']) m.snapshot(s, sink);
      for (let k = 0; k < n; k++) for (const s of ['E1', 'E2']) m.step(s, sink);
      await ing.drained();
    };
    await produce(20, true);
    await until(async () => Number(await admin.hget(`${prefix}:seq`, topic)) >= 20, '20 frames computed');

    const a = await Client.open(e1.port);
    const b = await Client.open(e2.port);
    a.send({ op: 'subscribe', topics: [topic], id: 1 });
    b.send({ op: 'subscribe', topics: [topic], id: 1 });
    await until(() => a.data(topic).length > 0 && b.data(topic).length > 0, 'last values');
    await produce(30);
    await until(async () => {
      const last = Number(await admin.hget(`${prefix}:seq`, topic));
      return a.data(topic).at(-1)?.['seq'] === last && b.data(topic).at(-1)?.['seq'] === last;
    }, 'both clients at the last seq');
    // The same seq is the same frame on both edges, and the frame Redis holds for it.
    const stream = new Map((await readTopic(admin, prefix, topic)).filter((e) => e.sub === 0).map((e) => [e.seq, e.frame!]));
    for (const c of [a, b]) {
      const seqs = c.data(topic).map((f) => f['seq'] as number);
      expect(seqs).toEqual(seqs.map((_, i) => seqs[0]! + i));
      for (const f of c.data(topic)) expect(f['ts']).toBe(stream.get(f['seq'] as number)!['ts']);
    }

    // Edge 1 goes away; its client resumes on edge 2 from the seq after its last one.
    const lastA = a.data(topic).at(-1)!['seq'] as number;
    await e1.close();
    await until(() => a.ws.readyState === WebSocket.CLOSED, 'edge 1 to close its client');
    await produce(25);
    const a2 = await Client.open(e2.port);
    a2.send({ op: 'subscribe', topics: [topic], from: { [topic]: lastA + 1 }, id: 2 });
    await produce(5);
    await until(async () => a2.data(topic).at(-1)?.['seq'] === Number(await admin.hget(`${prefix}:seq`, topic)), 'the resumed client at the last seq');
    const resumed = a2.data(topic).map((f) => f['seq'] as number);
    expect(resumed[0]).toBe(lastA + 1);
    expect(resumed).toEqual(resumed.map((_, i) => lastA + 1 + i));
    expect(a2.frames.filter((f) => f['t'] === 'gap')).toEqual([]);
    for (const f of a2.data(topic)) expect(f['ts']).toBe((await readTopic(admin, prefix, topic)).find((e) => e.seq === f['seq'] && e.sub === 0)!.frame!['ts']);

    // Past retention: a resume from seq 1 is told which seqs are gone.
    await produce(400);
    await until(async () => (await admin.xlen(`${prefix}:out:${topic}`)) < Number(await admin.hget(`${prefix}:seq`, topic)), 'the stream trimmed');
    const old = await Client.open(e2.port);
    old.send({ op: 'subscribe', topics: [topic], from: { [topic]: 1 }, id: 3 });
    await until(() => old.frames.some((f) => f['t'] === 'subscribed'), 'subscribed');
    const gap = old.frames.find((f) => f['t'] === 'gap')!;
    const firstKept = (await readTopic(admin, prefix, topic))[0]!.seq;
    expect(gap).toMatchObject({ topic, reason: 'retention', missing: [1, firstKept - 1] });
    const replay = old.data(topic).map((f) => f['seq'] as number);
    expect(replay[0]).toBe(firstKept);
    expect(replay).toEqual(replay.map((_, i) => firstKept + i));

    // A compute handover: subscribers are told, in order, between the seqs.
    await c1.stop();
    const c2 = compute('C2');
    await c2.start();
    await produce(10, true);
    await produce(10);
    await until(() => b.frames.some((f) => f['t'] === 'gap' && f['reason'] === 'handover'), 'a handover gap frame');
    const g = b.frames.findIndex((f) => f['t'] === 'gap');
    await until(() => b.frames.slice(g + 1).some((f) => f['topic'] === topic), 'a frame after the gap');
    const before = b.frames.slice(0, g).filter((f) => f['topic'] === topic).at(-1)!;
    expect(b.frames[g]).toMatchObject({ topic, reason: 'handover', after: before['seq'] });
    const after = b.frames.slice(g + 1).find((f) => f['topic'] === topic)!;
    expect(after['seq']).toBe((before['seq'] as number) + 1);

    expect(a2.ws.readyState).toBe(WebSocket.OPEN);
    for (const c of [a2, b, old]) c.close();
    await c2.stop();
    await e2.close();
    await ing.close();
  });

  it('a resume whose stream read is overtaken by live frames still replays every seq up to the live ones', async () => {
    const prefix = 'e3';
    const tb = TimeBase.ofEpochMs(Date.now());
    const ing = new ClusterIngest(link('o-ing'), tb, { prefix, shards: 1 });
    await ing.start();
    const m = new Market(['O1'], tb, 17);
    const sink = ing.sink('test');
    const c = new ClusterCompute(link('o-cmd'), link('o-read'), { prefix, shards: 1, leaseMs: 5000, consumer: 'OC', bookIntervalMs: 0, pipeline: pipelineOptions() }, new MetricsRegistry());
    await c.start();
    const cfg = loadServerConfig({ overrides: { port: 0, noReplay: true, models: '' } });
    const cmd = link('o-e');
    const e = new ClusterEdge(cfg, cmd, link('o-e-read'), { prefix, server: 'edge-o' });
    await e.start();
    const topic = 'features.O1';
    const step = async (n: number): Promise<void> => {
      for (let k = 0; k < n; k++) m.step('O1', sink);
      await ing.drained();
    };
    m.snapshot('O1', sink);
    await step(20);
    // A subscriber keeps the edge reading the stream live.
    const live = await Client.open(e.port);
    live.send({ op: 'subscribe', topics: [topic], id: 1 });
    await until(async () => live.data(topic).at(-1)?.['seq'] === Number(await admin.hget(`${prefix}:seq`, topic)), 'the live client at the last seq');
    const resumeFrom = (live.data(topic).at(-1)!['seq'] as number) - 5;

    // The resume's first stream read answers with what the stream held when it was made, but only
    // after the edge has published newer frames from its live read (what a busy machine does).
    const real = cmd.redis.xrangeBuffer.bind(cmd.redis);
    let overtaken = 0;
    (cmd.redis as unknown as { xrangeBuffer: (...a: unknown[]) => Promise<unknown> }).xrangeBuffer = async (...a: unknown[]) => {
      const reply = (await (real as (...x: unknown[]) => Promise<[Buffer, Buffer[]][]>)(...a));
      if (overtaken === 0) {
        const held = reply.length;
        overtaken = held;
        await step(3);
        await until(() => (live.data(topic).at(-1)?.['seq'] as number) >= resumeFrom + held + 2, 'the edge to publish past the read');
      }
      return reply;
    };
    const a = await Client.open(e.port);
    a.send({ op: 'subscribe', topics: [topic], from: { [topic]: resumeFrom }, id: 2 });
    await until(() => a.frames.some((f) => f['t'] === 'subscribed'), 'subscribed');
    await step(3);
    await until(async () => a.data(topic).at(-1)?.['seq'] === Number(await admin.hget(`${prefix}:seq`, topic)), 'the resumed client at the last seq');
    expect(overtaken).toBeGreaterThan(0);
    const seqs = a.data(topic).map((f) => f['seq'] as number);
    expect(seqs[0]).toBe(resumeFrom);
    expect(seqs).toEqual(seqs.map((_, i) => resumeFrom + i));
    expect(a.frames.filter((f) => f['t'] === 'gap')).toEqual([]);
    for (const x of [a, live]) x.close();
    await e.close();
    await c.stop();
    await ing.close();
  });

  it('Redis restarted without its data: compute and edge recover, the subscriber is told and seqs start again', async () => {
    const prefix = 'e2';
    const tb = TimeBase.ofEpochMs(Date.now());
    const ing = new ClusterIngest(link('r-ing'), tb, { prefix, shards: 1 });
    await ing.start();
    const m = new Market(['R1'], tb, 31);
    const sink = ing.sink('test');
    const c = new ClusterCompute(link('r-cmd'), link('r-read'), { prefix, shards: 1, leaseMs: 1500, consumer: 'RC', bookIntervalMs: 0, pipeline: pipelineOptions() }, new MetricsRegistry());
    await c.start();
    const cfg = loadServerConfig({ overrides: { port: 0, noReplay: true, models: '' } });
    const e = new ClusterEdge(cfg, link('r-e'), link('r-e-read'), { prefix, server: 'edge-r' });
    await e.start();
    const topic = 'features.R1';
    m.snapshot('R1', sink);
    for (let k = 0; k < 20; k++) m.step('R1', sink);
    await ing.drained();
    await until(async () => Number(await admin.hget(`${prefix}:seq`, topic)) === 20, '20 frames');
    const cl = await Client.open(e.port);
    cl.send({ op: 'subscribe', topics: [topic], id: 1 });
    for (let k = 0; k < 10; k++) m.step('R1', sink);
    await ing.drained();
    await until(() => cl.data(topic).at(-1)?.['seq'] === 30, 'seq 30');

    await r.stop(true);
    await r.restart();
    // Keep producing (snapshots now and then) until the new stream's frames reach the client.
    for (let k = 0; !cl.data(topic).some((f) => f['seq'] === 5 && cl.frames.indexOf(f) > cl.frames.findIndex((g) => g['reason'] === 'restart')); k++) {
      if (k % 10 === 0) m.snapshot('R1', sink);
      m.step('R1', sink);
      await new Promise((res) => setTimeout(res, 10));
      if (k > 3000) throw new Error(`no recovery: ${JSON.stringify(cl.frames.slice(-3))} edge ${JSON.stringify(e.health())} compute ${JSON.stringify(c.health())}`);
    }
    const g = cl.frames.findIndex((f) => f['t'] === 'gap' && f['reason'] === 'restart');
    expect(cl.frames[g]).toMatchObject({ topic, after: 30 });
    const after = cl.frames.slice(g + 1).filter((f) => f['topic'] === topic && f['t'] !== 'gap').map((f) => f['seq']);
    expect(after.slice(0, 5)).toEqual([1, 2, 3, 4, 5]);
    // Compute says its books restarted (it lost its lease with the data, and took the shard again).
    expect(c.takeovers.some((t) => t.from === 'RC' && t.symbols.includes('R1'))).toBe(true);
    cl.close();
    await e.close();
    await c.stop();
    await ing.close();
  });

  it('validateRequest: from goes with subscribe, names subscribed topics, holds seqs', async () => {
    const { validateRequest } = await import('../../src/protocol/frames.ts');
    expect(validateRequest({ op: 'subscribe', topics: ['features.A'], from: { 'features.A': 5 } }, 10)).toMatchObject({ from: { 'features.A': 5 } });
    expect(() => validateRequest({ op: 'subscribe', topics: ['features.A'], from: { 'features.B': 5 } }, 10)).toThrow(/not in "topics"/);
    expect(() => validateRequest({ op: 'subscribe', topics: ['features.A'], from: { 'features.A': 0 } }, 10)).toThrow(/integer >= 1/);
    expect(() => validateRequest({ op: 'unsubscribe', topics: ['features.A'], from: {} }, 10)).toThrow(/goes with subscribe/);
  });
});
