/**
 * Cluster benchmark (`npm run bench:cluster`), written into docs/benchmarks.md (section
 * bench:cluster) and docs/cluster.md (section bench:cluster:sizing-input). One run, side by side:
 *
 * 1. single process: `flowcast serve` (no Redis), a producer on /ingest, a subscriber on /feed;
 * 2. cluster, 1 compute: `flowcast serve --cluster ... --role ingest|compute|edge` as three processes
 *    and a redis-server of its own (Debian's), the producer on the ingest process, the subscriber on
 *    the edge;
 * 3. cluster, 2 compute: the same with two compute processes (the 16 shards split 8/8).
 *
 * Every setup: 100 symbols. Latency: each symbol updates 10 times a second (1,000 deltas/s and a
 * trade every third update), each delta timed from the producer's send to its features frame at the
 * subscriber (matched by symbol and the delta's ts, one clock), after a warm-up. Throughput: a
 * burst of deltas (and trades) sent as fast as the socket takes them, timed until the subscriber has
 * the frame of every symbol's last delta; events/s = events sent / that time. Around the burst:
 * each process's CPU time (/proc, all its threads), and Redis's INFO commandstats, cpu and memory,
 * so the cost per event of every role and of Redis itself is measured, not guessed.
 *
 *   npm run bench:cluster [-- --quick] [--no-doc]
 *   (BENCH_HZ: updates per symbol per second in the latency part, default 5; BENCH_ONLY=1: only the
 *   two-compute setup, no doc; BENCH_DEBUG=1: the compute processes' /healthz after the run)
 *
 * Producer and subscriber run in this process. All of it shares this machine's cores (2 here):
 * only ratios within one run mean much, and the machine's load is printed beside the numbers.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync, mkdtempSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import WebSocket from 'ws';
import { FeedClient } from '../src/client/feed-client.ts';
import { encodeMsgpack } from '../src/protocol/codec.ts';
import { disposeRedis, redisAvailable, startRedis, NO_REDIS, type TestRedis } from '../tests/cluster/redis-server.ts';
import { markdownTable, writeDocSection } from './lib/doc-section.ts';
import { machineLine, percentile } from './lib/stats.ts';

const quick = process.argv.includes('--quick');
const noDoc = process.argv.includes('--no-doc');
const SYMBOLS = 100;
const HZ = Number(process.env['BENCH_HZ'] ?? 5);
/** A snapshot every this many updates of a symbol: a book restarted after a shard moved resyncs from it (as a live venue's would). */
const SNAPSHOT_EVERY = 50;
const WARMUP_MS = 1500;
const LATENCY_S = quick ? 3 : 8;
const BURST_PER_SYMBOL = quick ? 100 : 300;
const SHARDS = 16;
const KEY = 'bench-cluster-key-0123456789';
const CLK_TCK = 100;
const syms = Array.from({ length: SYMBOLS }, (_, i) => `S${String(i).padStart(3, '0')}`);

interface Proc { name: string; p: ChildProcess; port: number; err: string }

function startProc(name: string, args: string[], cfgFile: string): Promise<Proc> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['bin/flowcast.js', 'serve', '--port', '0', '--no-replay', '--models', '', '--config', cfgFile, ...args], {
      env: { ...process.env, FLOWCAST_TSX: '1', FLOWCAST_API_KEY: `bench:${KEY}`, FLOWCAST_LOG: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const x: Proc = { name, p, port: 0, err: '' };
    let out = '';
    p.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      // The cluster banner names /healthz; the single server names its feed.
      const m = /http:\/\/127\.0\.0\.1:(\d+)\/healthz/.exec(out) ?? /ws:\/\/127\.0\.0\.1:(\d+)\//.exec(out);
      if (m && !x.port) { x.port = Number(m[1]); resolve(x); }
    });
    p.stderr!.on('data', (b: Buffer) => { x.err = (x.err + b.toString()).slice(-4000); });
    p.once('exit', (code) => { if (!x.port) reject(new Error(`${name} exited (${code}) before it served:\n${x.err}\n${out.slice(-2000)}`)); });
  });
}

async function stopProc(x: Proc): Promise<void> {
  if (x.p.exitCode !== null || x.p.signalCode !== null) return;
  await new Promise<void>((r) => { x.p.once('exit', () => r()); x.p.kill('SIGTERM'); });
}

/** A process's CPU seconds so far (user + system, every thread). */
function cpuSeconds(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(rest[11]) + Number(rest[12])) / CLK_TCK;
}

async function health(x: Proc): Promise<Record<string, Record<string, unknown>>> {
  return ((await (await fetch(`http://127.0.0.1:${x.port}/healthz`)).json()) as { cluster: Record<string, Record<string, unknown>> }).cluster;
}

async function waitFor(cond: () => Promise<boolean> | boolean, what: string, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function info(text: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const l of text.split('\r\n')) {
    const i = l.indexOf(':');
    if (i > 0 && !l.startsWith('#')) m.set(l.slice(0, i), l.slice(i + 1));
  }
  return m;
}

interface RedisSnap { calls: Map<string, { calls: number; usec: number }>; cpu: number; mem: number }
async function redisSnap(r: Redis): Promise<RedisSnap> {
  const cs = info(await r.info('commandstats'));
  const calls = new Map<string, { calls: number; usec: number }>();
  for (const [k, v] of cs) {
    const m = /calls=(\d+),usec=(\d+)/.exec(v);
    if (m) calls.set(k.replace('cmdstat_', ''), { calls: Number(m[1]), usec: Number(m[2]) });
  }
  const cpu = info(await r.info('cpu'));
  const mem = info(await r.info('memory'));
  return { calls, cpu: Number(cpu.get('used_cpu_user')) + Number(cpu.get('used_cpu_sys')), mem: Number(mem.get('used_memory')) };
}

interface Measured {
  setup: string;
  latency?: { samples: number; p50: number; p99: number; rate: number };
  events: number;
  frames: number;
  seconds: number;
  rate: number;
  /** CPU microseconds per event by process (burst only). */
  cpuUs: Record<string, number>;
  /** Shard takeovers and handovers seen by the compute processes (health, the last 10 each). */
  moves?: number;
  /** usecPerEvent: commandstats time outside evalsha (its nested calls are counted under their own names). */
  redis?: { usecPerEvent: number; cpuUsPerEvent: number; bytesPerEvent: number; top: [string, number, number][] };
}

async function measure(setup: string, ingestPort: number, feedPort: number, procs: Proc[], redis?: Redis): Promise<Measured> {
  const sub = await FeedClient.connect({ url: `ws://127.0.0.1:${feedPort}/feed` });
  const t0 = Math.floor(Date.now() / 1000) * 1000;
  const sentAt = new Map<string, Map<number, number>>(syms.map((s) => [s, new Map()]));
  const lastSeen = new Map<string, number>();
  const lat: number[] = [];
  let counting = false;
  let framesInBurst = 0;
  let burst = false;
  let waiter: { want: Map<string, number>; resolve: () => void } | undefined;
  const check = (): void => {
    if (waiter && [...waiter.want].every(([s, k]) => (lastSeen.get(s) ?? -1) >= k)) { const w = waiter; waiter = undefined; w.resolve(); }
  };
  sub.on('features', (f) => {
    const k = Math.round(f.ts - t0);
    const now = performance.now();
    if (burst) framesInBurst++;
    const at = sentAt.get(f.sym)?.get(k);
    if (at !== undefined) {
      if (counting) lat.push(now - at);
      sentAt.get(f.sym)!.delete(k);
    }
    if (k > (lastSeen.get(f.sym) ?? -1)) lastSeen.set(f.sym, k);
    check();
  });
  const until = (want: Map<string, number>, ms: number): Promise<boolean> => new Promise((resolve) => {
    const t = setTimeout(() => { waiter = undefined; resolve(false); }, ms);
    waiter = { want, resolve: () => { clearTimeout(t); resolve(true); } };
    check();
  });
  await sub.subscribe(syms.map((s) => `features.${s}`));
  const prod = new WebSocket(`ws://127.0.0.1:${ingestPort}/ingest`, { headers: { authorization: `Bearer ${KEY}` }, perMessageDeflate: false });
  await new Promise((r, j) => { prod.once('open', r); prod.once('error', j); });
  const next = new Map(syms.map((s) => [s, 1]));
  let events = 0;
  const snapshot = (s: string, ts: number): void => {
    prod.send(encodeMsgpack({ t: 'snapshot', sym: s, ts, bids: Array.from({ length: 10 }, (_, i) => [100 - i * 0.01, 5 + i]), asks: Array.from({ length: 10 }, (_, i) => [100.01 + i * 0.01, 5 + i]) }));
  };
  const send = (s: string, timed: boolean): number => {
    const k = next.get(s)!;
    next.set(s, k + 1);
    if (k % SNAPSHOT_EVERY === 0) { snapshot(s, t0 + k - 0.5); events++; }
    const jitter = ((k * 7919) % 10) * 0.01;
    if (timed) sentAt.get(s)!.set(k, performance.now());
    prod.send(encodeMsgpack({ t: 'delta', sym: s, ts: t0 + k, bids: [[100 - jitter, 5 + (k % 7)]], asks: [[100.01 + jitter, 6 + (k % 5)]] }));
    events++;
    if (k % 3 === 0) { prod.send(encodeMsgpack({ t: 'trade', sym: s, ts: t0 + k, px: 100.01, sz: 1, side: k % 2 ? 'buy' : 'sell' })); events++; }
    return k;
  };
  for (const s of syms) snapshot(s, t0);
  // Primed: a frame from every symbol.
  const prime = new Map(syms.map((s) => [s, send(s, false)]));
  if (!(await until(prime, 60_000))) throw new Error(`${setup}: no frame from every symbol within 60 s`);

  // Latency: paced sends (a timer, not a spin: the producer must leave the cores to the servers).
  const total = Math.floor(((LATENCY_S * 1000 + WARMUP_MS) / 1000) * HZ * SYMBOLS);
  const interval = 1000 / (HZ * SYMBOLS);
  const start = performance.now();
  let i = 0;
  const lastK = new Map<string, number>();
  await new Promise<void>((resolve) => {
    const pump = (): void => {
      const now = performance.now();
      counting = now - start > WARMUP_MS;
      while (i < total && start + i * interval <= now) {
        const s = syms[i % SYMBOLS]!;
        lastK.set(s, send(s, now - start > WARMUP_MS));
        i++;
      }
      if (i < total) setTimeout(pump, Math.max(0, start + i * interval - performance.now()));
      else resolve();
    };
    pump();
  });
  // Each symbol closed with a snapshot and one more delta: its frame arrives even if the shard moved meanwhile.
  const closeOut = (): Map<string, number> => new Map(syms.map((s) => { snapshot(s, t0 + next.get(s)! - 0.5); events++; return [s, send(s, false)]; }));
  await until(closeOut(), 30_000);
  counting = false;
  const sorted = Float64Array.from(lat).sort();
  const latency = { samples: sorted.length, p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99), rate: (events / (performance.now() - start)) * 1000 };

  // Throughput: a burst as fast as the socket takes it.
  const cpu0 = procs.map((x) => cpuSeconds(x.p.pid!));
  const r0 = redis ? await redisSnap(redis) : undefined;
  const ev0 = events;
  burst = true;
  const b0 = performance.now();
  for (let k = 0; k < BURST_PER_SYMBOL; k++) {
    for (const s of syms) send(s, false);
    // Flow control: wait for the socket to drain below 1 MiB.
    while (prod.bufferedAmount > 1 << 20) await new Promise((r) => setImmediate(r));
  }
  const done = await until(closeOut(), 120_000);
  const seconds = (performance.now() - b0) / 1000;
  burst = false;
  const burstEvents = events - ev0;
  const cpuUs: Record<string, number> = {};
  procs.forEach((x, j) => { cpuUs[x.name] = ((cpuSeconds(x.p.pid!) - cpu0[j]!) * 1e6) / burstEvents; });
  let redisCost: Measured['redis'];
  if (redis && r0) {
    const r1 = await redisSnap(redis);
    const top: [string, number, number][] = [];
    let usec = 0;
    for (const [k, v] of r1.calls) {
      const b = r0.calls.get(k) ?? { calls: 0, usec: 0 };
      const du = v.usec - b.usec;
      if (k === 'info') continue;
      if (k !== 'evalsha') usec += du;
      if (v.calls - b.calls > 0) top.push([k, (v.calls - b.calls) / burstEvents, du / burstEvents]);
    }
    top.sort((a, b) => b[2] - a[2]);
    redisCost = { usecPerEvent: usec / burstEvents, cpuUsPerEvent: ((r1.cpu - r0.cpu) * 1e6) / burstEvents, bytesPerEvent: (r1.mem - r0.mem) / burstEvents, top: top.slice(0, 6) };
  }
  prod.close();
  await sub.close();
  if (!done) process.stderr.write(`${setup}: the burst's last frames did not all arrive within 120 s (${framesInBurst} frames)\n`);
  return { setup, latency, events: burstEvents, frames: framesInBurst, seconds, rate: burstEvents / seconds, cpuUs, redis: redisCost };
}

async function single(cfgFile: string): Promise<Measured> {
  const s = await startProc('server', [], cfgFile);
  try {
    return await measure('single process', s.port, s.port, [s]);
  } finally {
    await stopProc(s);
  }
}

async function cluster(r: TestRedis, admin: Redis, cfgFile: string, computes: number): Promise<Measured> {
  await admin.flushall();
  const c = ['--cluster', r.url, '--shards', String(SHARDS)];
  const procs = await Promise.all([
    startProc('ingest', [...c, '--role', 'ingest'], cfgFile),
    ...Array.from({ length: computes }, (_, k) => startProc(computes > 1 ? `compute-${k + 1}` : 'compute', [...c, '--role', 'compute'], cfgFile)),
    startProc('edge', [...c, '--role', 'edge'], cfgFile),
  ]);
  try {
    const comp = procs.filter((x) => x.name.startsWith('compute'));
    // The shards shared out (one compute: all 16; two: 8 each) before anything is sent.
    await waitFor(async () => {
      for (const x of comp) if (((await health(x))['compute']!['owned'] as number[]).length !== SHARDS / computes) return false;
      return true;
    }, `the shards split over ${computes} compute process(es)`);
    const from = Date.now();
    const m = await measure(`cluster, ${computes} compute`, procs[0]!.port, procs.at(-1)!.port, procs, admin);
    // Shards that changed hands during the run (each restarts its books at the next snapshot).
    for (const x of comp) {
      const h = (await health(x))['compute']!;
      m.moves = (m.moves ?? 0) + (h['takeovers'] as { at: number }[]).filter((t) => t.at >= from).length;
      if (process.env['BENCH_DEBUG']) process.stderr.write(`${x.name}: ${JSON.stringify(h)}\n`);
    }
    return m;
  } finally {
    await Promise.all(procs.map(stopProc));
  }
}

const fmt = (v: number | undefined, d = 1): string => (v === undefined || !Number.isFinite(v) ? '-' : v.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }));
const int = (v: number): string => Math.round(v).toLocaleString('en-US');

async function main(): Promise<void> {
  if (!redisAvailable()) throw new Error(NO_REDIS);
  const dir = mkdtempSync(join(tmpdir(), 'flowcast-bench-cluster-'));
  const cfgFile = join(dir, 'config.json');
  // The same settings in every setup: a fixed VPIN bucket (no auto warm-up), a subscriber buffer that
  // holds a whole burst (a slow-consumer cut would end the run, not measure it).
  writeFileSync(cfgFile, JSON.stringify({ features: { vpinBucket: 1 }, feed: { maxBufferBytes: 256 << 20 } }));
  const load0 = loadavg()[0]!;
  const r = await startRedis();
  const admin = new Redis(r.url);
  const results: Measured[] = [];
  try {
    if (!process.env['BENCH_ONLY']) {
      results.push(await single(cfgFile));
      process.stderr.write(`single: ${JSON.stringify(results.at(-1))}\n`);
      results.push(await cluster(r, admin, cfgFile, 1));
      process.stderr.write(`cluster 1: ${JSON.stringify(results.at(-1))}\n`);
    }
    results.push(await cluster(r, admin, cfgFile, 2));
    process.stderr.write(`cluster 2: ${JSON.stringify(results.at(-1))}\n`);
  } finally {
    admin.disconnect();
    await disposeRedis(r);
    rmSync(dir, { recursive: true, force: true });
  }
  const load1 = loadavg()[0]!;
  if (process.env['BENCH_ONLY']) return;
  const [sp, c1, c2] = results as [Measured, Measured, Measured];
  const rows = results.map((m) => [
    m.setup, int(m.latency!.rate), fmt(m.latency!.p50, 2), fmt(m.latency!.p99, 2), int(m.events), `${int(m.frames)}`, fmt(m.seconds, 2), int(m.rate),
    `${fmt(m.rate / sp.rate, 2)}x`,
    fmt(Object.values(m.cpuUs).reduce((a, b) => a + b, 0) + (m.redis?.cpuUsPerEvent ?? 0), 0),
    m.moves === undefined ? '-' : String(m.moves),
  ]);
  const roleRows = [c1, c2].flatMap((m) => Object.entries(m.cpuUs).map(([k, v]) => [m.setup, k, fmt(v, 1), int(1e6 / v)]));
  roleRows.push([sp.setup, 'server', fmt(sp.cpuUs['server'], 1), int(1e6 / sp.cpuUs['server']!)]);
  for (const m of [c1, c2]) roleRows.push([m.setup, 'redis-server (INFO cpu)', fmt(m.redis!.cpuUsPerEvent, 1), int(1e6 / m.redis!.cpuUsPerEvent)]);
  const redisRows = [c1, c2].flatMap((m) => m.redis!.top.map(([k, calls, us]) => [m.setup, k, fmt(calls, 3), fmt(us, 2)]));
  const body = `### Cluster mode: single process vs Redis Streams roles (\`npm run bench:cluster\`)

Command: \`npm run bench:cluster${quick ? ' -- --quick' : ''}\`. Machine: ${machineLine()}; load average ${load0.toFixed(1)} at the start, ${load1.toFixed(1)} at the end (the machine is shared: two cores for every process here, other sessions' work included; only ratios within this run mean much).

${SYMBOLS} symbols, one producer on \`/ingest\` and one subscriber on \`/feed\` (features topics of every symbol), both in the bench's process. Single process: \`npx flowcast serve\`. Cluster: \`npx flowcast serve --cluster ... --role ingest\`, \`--role compute\` (x1 or x2), \`--role edge\` as separate processes, a private \`redis-server\` 7 (no persistence), ${SHARDS} shards. Each symbol gets a 10-level snapshot every ${SNAPSHOT_EVERY} updates (what a book restarted after its shard moved resyncs from); *shard moves*: takeovers and handovers between compute processes during the measurement (each costs its symbols' frames until their next snapshot: then *frames received* < deltas). **Latency**: each symbol updated ${HZ} times a second (deltas, a trade every third), ${LATENCY_S} s after a ${WARMUP_MS / 1000} s warm-up, from the producer's send to the delta's features frame at the subscriber. **Throughput**: a burst of ${int(BURST_PER_SYMBOL * SYMBOLS)} deltas (+ trades) sent as fast as the socket takes them, until the subscriber has every symbol's last frame. CPU per event: each process's user + system time over the burst (/proc, all threads) / events; the total adds Redis's own (INFO cpu).

${markdownTable(['setup', 'paced events/s', 'p50 ms', 'p99 ms', 'burst events', 'frames received', 'burst s', 'events/s', 'vs single', 'CPU µs / event (all processes)', 'shard moves'], rows)}

CPU per event by process over the burst, and what that is as a rate for one core (1e6 / µs):

${markdownTable(['setup', 'process', 'CPU µs / event', 'events/s per core'], roleRows)}

Redis's own cost per event over the burst (INFO commandstats: time inside commands, not network I/O; INFO memory: used_memory growth, i.e. the input and result stream entries the run keeps): ${[c1, c2].map((m) => `${m.setup}: ${fmt(m.redis!.cpuUsPerEvent, 1)} µs of redis-server CPU (INFO cpu, network I/O included), ${int(m.redis!.bytesPerEvent)} bytes of memory per event`).join('; ')}. The costliest commands by time inside them (INFO commandstats; the compute's Lua commit, \`evalsha\`, includes the XADD, HINCRBY and XACK it calls, which are counted again under their own names, so the rows do not add up):

${markdownTable(['setup', 'command', 'calls / event', 'µs / event'], redisRows)}
`;
  process.stdout.write(body + '\n');
  if (!noDoc) {
    writeDocSection('docs/benchmarks.md', 'bench:cluster', body);
    writeDocSection('docs/cluster.md', 'bench:cluster', body.replace(/^### /, '#### '));
  }
}

await main();
process.exit(0);
