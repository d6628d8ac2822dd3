/**
 * The whole cluster as real processes of the real CLI (`flowcast serve --cluster ... --role ...`):
 * one ingest, two compute, two edge processes, a producer on /ingest and a client on each edge.
 * `kill -9` one compute process: its shards are taken over and the clients' seqs show no silent
 * gap (a takeover gap frame for its symbols). Kill an edge: its client resumes on the other edge
 * from its last seq with nothing missing.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { Redis } from 'ioredis';
import { IngestClient } from '../../src/client/ingest-client.ts';
import { shardOf } from '../../src/cluster/keys.ts';
import { NO_REDIS, disposeRedis, redisAvailable, startRedis, until, type TestRedis } from './redis-server.ts';

const HAVE = redisAvailable();
if (!HAVE) console.warn(`tests/cluster/processes: skipped: ${NO_REDIS}`);
const KEY = 'proc-write-key-0123456789';
const SHARDS = 4;
type Frame = Record<string, unknown>;

interface Proc {
  name: string;
  p: ChildProcess;
  port: number;
}

class Client {
  readonly frames: Frame[] = [];
  constructor(readonly ws: WebSocket) {
    ws.on('message', (d) => this.frames.push(JSON.parse(d.toString()) as Frame));
  }
  static async open(port: number): Promise<Client> {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/feed?format=json`);
    const c = new Client(ws);
    await new Promise<void>((resolve, reject) => { ws.once('open', () => resolve()); ws.once('error', reject); });
    return c;
  }
  data(topic: string): Frame[] {
    return this.frames.filter((f) => f['topic'] === topic && f['t'] === 'features');
  }
}

describe.skipIf(!HAVE)('cluster as processes', () => {
  let r: TestRedis;
  let admin: Redis;
  const procs: Proc[] = [];
  beforeAll(async () => {
    r = await startRedis();
    admin = new Redis(r.url);
    admin.on('error', () => undefined);
  });
  afterAll(async () => {
    for (const x of procs) if (x.p.exitCode === null) x.p.kill('SIGKILL');
    admin?.disconnect();
    if (r) await disposeRedis(r);
  });

  const serve = (name: string, role: string): Promise<Proc> => new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['bin/flowcast.js', 'serve', '--cluster', r.url, '--role', role, '--shards', String(SHARDS), '--port', '0', '--no-replay', '--models', ''], {
      env: { ...process.env, FLOWCAST_TSX: '1', FLOWCAST_API_KEY: `producer:${KEY}`, FLOWCAST_LOG: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    p.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      const m = /health http:\/\/127\.0\.0\.1:(\d+)\/healthz/.exec(out);
      if (m) {
        const x = { name, p, port: Number(m[1]) };
        procs.push(x);
        resolve(x);
      }
    });
    p.stderr!.on('data', (b: Buffer) => { err += b.toString(); });
    p.once('exit', (code) => reject(new Error(`${name} exited (${code}) before it served:\n${err.slice(-3000)}`)));
  });
  const health = async (x: Proc): Promise<Record<string, Record<string, unknown>>> =>
    ((await (await fetch(`http://127.0.0.1:${x.port}/healthz`)).json()) as { cluster: Record<string, Record<string, unknown>> }).cluster;

  it('1 ingest, 2 compute, 2 edges: kill -9 a compute process, then an edge; no silent gap, nothing missing', async () => {
    const [ing, ca, cb, e1, e2] = await Promise.all([serve('ingest', 'ingest'), serve('compute-a', 'compute'), serve('compute-b', 'compute'),
      serve('edge-1', 'edge'), serve('edge-2', 'edge')]);
    await until(async () => {
      const [a, b] = [await health(ca), await health(cb)];
      return (a['compute']!['owned'] as number[]).length === 2 && (b['compute']!['owned'] as number[]).length === 2;
    }, 'the shards split between the compute processes', 60_000);
    const symbols = Array.from({ length: 6 }, (_, i) => `P${i}`);
    const topics = symbols.map((s) => `features.${s}`);
    const c1 = await Client.open(e1.port);
    const c2 = await Client.open(e2.port);
    for (const c of [c1, c2]) c.ws.send(JSON.stringify({ op: 'subscribe', topics, id: 1 }));
    await until(() => [c1, c2].every((c) => c.frames.some((f) => f['t'] === 'subscribed')), 'subscribed');

    const prod = await IngestClient.connect({ url: `ws://127.0.0.1:${ing.port}/ingest`, key: KEY });
    const seq = new Map(symbols.map((s) => [s, 100]));
    let t = Date.now();
    let round = 0;
    const produce = async (n: number): Promise<void> => {
      for (let k = 0; k < n; k++, round++) {
        for (const s of symbols) {
          const q = seq.get(s)! + 1;
          seq.set(s, q);
          t += 1;
          if (round % 15 === 0) p(s, 'snapshot', q);
          else prod.send({ t: 'delta', sym: s, ts: t, seq: q, bids: [[100 - (q % 5) * 0.01, 1 + (q % 9)]], asks: [] });
        }
        await prod.flush();
      }
    };
    const p = (s: string, kind: 'snapshot', q: number): void => prod.send({ t: kind, sym: s, ts: t, seq: q,
      bids: Array.from({ length: 5 }, (_, i) => [100 - i * 0.01, 2 + i] as [number, number]), asks: Array.from({ length: 5 }, (_, i) => [100.01 + i * 0.01, 3 + i] as [number, number]) });
    await produce(30);
    await until(() => c1.data(topics[0]!).length > 5 && c2.data(topics[0]!).length > 5, 'frames on both edges');

    // kill -9 compute A; B takes over its shards. First the shares settle (two each, no handover
    // under way), so the shards A is killed with are the ones it holds.
    const owned = async (c: typeof ca): Promise<number[]> => (await health(c))['compute']!['owned'] as number[];
    await until(async () => (await owned(ca)).length === SHARDS / 2 && (await owned(cb)).length === SHARDS / 2, 'the shards shared two and two', 60_000);
    const aShards = await owned(ca);
    ca.p.kill('SIGKILL');
    await until(async () => { await produce(1); return ((await health(cb))['compute']!['owned'] as number[]).length === SHARDS; }, 'compute B to own every shard', 60_000);
    await produce(35);

    // kill -9 edge 1; its client resumes on edge 2 from its last seqs.
    await until(async () => topics.every((tp) => c1.data(tp).length > 0), 'edge 1 frames on every topic');
    e1.p.kill('SIGKILL');
    await until(() => c1.ws.readyState === WebSocket.CLOSED, 'edge 1 gone');
    const from = Object.fromEntries(topics.map((tp) => [tp, (c1.data(tp).at(-1)!['seq'] as number) + 1]));
    await produce(10);
    const c1b = await Client.open(e2.port);
    c1b.ws.send(JSON.stringify({ op: 'subscribe', topics, from, id: 2 }));
    await produce(10);
    await prod.close();
    const final = async (tp: string): Promise<number> => Number(await admin.hget('flowcast:seq', tp));
    await until(async () => {
      for (const tp of topics) if (c2.data(tp).at(-1)?.['seq'] !== await final(tp) || c1b.data(tp).at(-1)?.['seq'] !== await final(tp)) return false;
      return true;
    }, 'both clients at the final seqs', 60_000);

    for (const tp of topics) {
      const s2 = c2.data(tp).map((f) => f['seq'] as number);
      expect(s2, `${tp} on edge 2`).toEqual(s2.map((_, i) => s2[0]! + i));
      const s1 = [...c1.data(tp), ...c1b.data(tp)].map((f) => f['seq'] as number);
      expect(s1, `${tp}: client 1 across the edge kill`).toEqual(s1.map((_, i) => s1[0]! + i));
      // Same seq, same frame on both edges.
      const ts2 = new Map(c2.data(tp).map((f) => [f['seq'], f['ts']]));
      for (const f of [...c1.data(tp), ...c1b.data(tp)]) if (ts2.has(f['seq'])) expect(f['ts']).toBe(ts2.get(f['seq']));
      const sym = tp.slice('features.'.length);
      if (aShards.includes(shardOf(sym, SHARDS))) {
        expect(c2.frames.some((f) => f['t'] === 'gap' && f['topic'] === tp && f['reason'] === 'takeover'), `${tp}: takeover gap frame`).toBe(true);
      }
    }
    const takeovers = (await health(cb))['compute']!['takeovers'] as { reason: string; shard: number; silenceMs: number }[];
    console.log(`processes: takeovers ${JSON.stringify(takeovers.filter((x) => x.reason === 'takeover'))}`);
    expect(takeovers.filter((x) => x.reason === 'takeover').map((x) => x.shard).sort()).toEqual([...aShards].sort());
    for (const c of [c1b, c2]) c.ws.close();
  });
});
