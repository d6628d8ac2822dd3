/**
 * The compute role: owns shards, reads their input streams through the consumer group `compute`,
 * feeds the events into one LivePipeline (a SourceHandle per symbol) and writes what comes out to
 * the result streams (output.ts). docs/cluster.md has the semantics; in short:
 *
 * - Ownership is a lease per shard (SET NX PX, renewed every leaseMs/3) whose value is a fencing
 *   token. A process reads a shard only while its lease is valid with a margin, and every write of
 *   results is a Lua call that first checks the token, then gives each frame its topic's next seq
 *   and acknowledges the input entries that made them: results and acks land together or not at
 *   all, and a process that lost its lease (paused, cut off) can write nothing more.
 * - Shares: each live member (heartbeat within leaseMs) takes up to ceil(shards / members) shards
 *   and gives back any above that (a handover). A shard whose owner stopped renewing is free after
 *   leaseMs; the next tick of a survivor takes it, XAUTOCLAIMs the old owner's pending entries and
 *   processes them first: the takeover takes at most leaseMs + leaseMs/3 + one read (blockMs).
 * - Books start (and restart after a takeover, a handover or a `lost` record from ingest) at the
 *   symbol's next snapshot; each restart puts a gap notice on the symbol's topics, after their last
 *   seq, so a subscriber is told, never left with a silent hole.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { LivePipeline, type LivePipelineOptions, type LivePlugins, type PipelineMetrics } from '../pipeline/live.ts';
import type { SourceHandle } from '../pipeline/source.ts';
import { TimeBase } from '../model/time.ts';
import { backoffMs } from '../core/backoff.ts';
import { logger } from '../core/log.ts';
import { InputDecoder } from './events.ts';
import { COMPUTE_GROUP, ClusterKeys, shardOf } from './keys.ts';
import { ClusterOutput, type GapNotice, type OutRecord } from './output.ts';
import { agreeShards, LuaScript, sleep, type RedisLink } from './redis.ts';

const log = logger('cluster');

/** Checks the token, writes each record with its topic's next seq (or after its last, for a notice), acks the inputs. */
const COMMIT = new LuaScript('commit', `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return redis.error_reply('FENCED ' .. KEYS[1] .. ' is not held by this token')
end
local nAcks = tonumber(ARGV[4])
local maxlen = ARGV[3]
local i = 5 + nAcks
local frames = 0
while i <= #ARGV do
  local key = KEYS[tonumber(ARGV[i])]
  local topic = ARGV[i + 2]
  if ARGV[i + 1] == 'f' then
    local seq = redis.call('HINCRBY', KEYS[3], topic, 1)
    redis.call('XADD', key, 'MAXLEN', '~', maxlen, seq .. '-0', 'f', ARGV[i + 3])
    frames = frames + 1
  else
    local seq = redis.call('HGET', KEYS[3], topic) or '0'
    redis.call('XADD', key, 'MAXLEN', '~', maxlen, seq .. '-*', 'g', ARGV[i + 3])
  end
  i = i + 4
end
if nAcks > 0 then
  redis.call('XACK', KEYS[2], ARGV[2], unpack(ARGV, 5, 4 + nAcks))
end
return frames
`);

const RENEW = new LuaScript('renew', `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
`);

const RELEASE = new LuaScript('release', `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('SET', KEYS[2], ARGV[2])
  return 1
end
return 0
`);

export interface ComputeOptions {
  prefix?: string;
  shards: number;
  /** This process's consumer name (default: host, pid and a random part). */
  consumer?: string;
  /** Lease time: a dead process's shards are free this long after its last renewal. */
  leaseMs?: number;
  /** Longest blocking read (XREADGROUP BLOCK); shard changes take effect after it. */
  blockMs?: number;
  /** Input entries per read. */
  batch?: number;
  /** Entries each result stream keeps at least (XADD MAXLEN ~): how far back a subscriber can resume. */
  outMaxLen?: number;
  bookLevels?: number;
  bookIntervalMs?: number;
  pipeline: Omit<LivePipelineOptions, 'timeBase'>;
  plugins?: LivePlugins;
}

export interface Takeover {
  shard: number;
  from: string;
  reason: GapNotice['reason'];
  /** Epoch ms of the takeover. */
  at: number;
  /** Pending entries of the old owner claimed (XAUTOCLAIM), and those already trimmed away. */
  claimed: number;
  deleted: number;
  /** From the old owner's last heartbeat to this takeover (ms): the failover time. */
  silenceMs: number | null;
  symbols: string[];
}

class ShardState {
  readonly handles = new Map<string, SourceHandle>();
  /** Symbols whose books have had a snapshot since this process took the shard (events before are skipped). */
  readonly synced = new Set<string>();
  readonly known = new Set<string>();
  outbox: OutRecord[] = [];
  acks: string[] = [];
  /** Own pending entries are read (from this id on) before new ones. */
  pendingFrom: string | null = '0';
  readonly lastN = new Map<string, number>();
  /** Local time (performance.now) until which the lease is surely still ours. */
  validUntil = 0;
  releasing = false;
  constructor(readonly shard: number, readonly token: string, readonly key: string) {}
}

export class ClusterCompute {
  readonly keys: ClusterKeys;
  readonly consumer: string;
  readonly shards: number;
  readonly pipeline: LivePipeline;
  readonly output: ClusterOutput;
  private readonly leaseMs: number;
  private readonly blockMs: number;
  private readonly batch: number;
  private readonly outMaxLen: number;
  private readonly tb: TimeBase;
  private readonly decoder: InputDecoder;
  private readonly owned = new Map<number, ShardState>();
  /** Shards this process lost (lease lapsed, fenced) and has not had again since. */
  private readonly dropped = new Set<number>();
  /** Symbols this process has computed, by shard (a relapse after Redis lost its data still knows whom to tell). */
  private readonly seen = new Map<number, Set<string>>();
  private stopped = false;
  private tickTimer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;
  private loopDone: Promise<void> | undefined;
  private commitChain: Promise<void> = Promise.resolve();
  /** The read in flight: a shard is released only after it (its entries are processed and acked, not left pending). */
  private reading: Promise<void> = Promise.resolve();
  private members = 1;
  private lastError: string | null = null;
  readonly takeovers: Takeover[] = [];
  readonly counts = {
    entries: 0, duplicates: 0, awaitingSnapshot: 0, lostRecords: 0, trimmed: 0, badEntries: 0,
    commits: 0, framesWritten: 0, notices: 0, fenced: 0, leasesLost: 0, released: 0, acquired: 0,
  };
  /** Resolves listeners waiting for a shard to be acquired (tests, /healthz waits). */
  private readonly acquireListeners: ((s: number) => void)[] = [];

  constructor(private readonly cmd: RedisLink, private readonly reader: RedisLink, opts: ComputeOptions, metrics: PipelineMetrics) {
    this.keys = new ClusterKeys(opts.prefix);
    this.shards = opts.shards;
    this.consumer = opts.consumer ?? `compute-${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
    this.leaseMs = opts.leaseMs ?? 3000;
    this.blockMs = opts.blockMs ?? Math.max(20, Math.min(200, Math.floor(this.leaseMs / 10)));
    this.batch = opts.batch ?? 256;
    this.outMaxLen = opts.outMaxLen ?? 10_000;
    if (this.blockMs * 3 >= this.leaseMs) throw new Error(`cluster compute: blockMs (${this.blockMs}) must be under a third of leaseMs (${this.leaseMs})`);
    this.tb = TimeBase.ofEpochMs(Date.now());
    this.decoder = new InputDecoder(this.tb);
    this.output = new ClusterOutput({ outbox: (sym) => this.owned.get(shardOf(sym, this.shards))?.outbox },
      this.tb, opts.bookLevels ?? opts.pipeline.depth.rowLevels, opts.bookIntervalMs ?? 100);
    this.pipeline = new LivePipeline({ ...opts.pipeline, timeBase: this.tb }, this.output, metrics, opts.plugins);
  }

  async start(): Promise<void> {
    await this.cmd.untilReady();
    await this.reader.untilReady();
    await agreeShards(this.cmd.redis, this.keys, this.shards);
    await this.tick();
    const every = Math.max(10, Math.floor(this.leaseMs / 3));
    this.tickTimer = setInterval(() => {
      if (!this.ticking) this.ticking = this.tick().finally(() => { this.ticking = undefined; });
    }, every);
    this.loopDone = this.loop();
  }

  ownedShards(): number[] {
    return [...this.owned.keys()].sort((a, b) => a - b);
  }

  /** Resolves when this process owns `shard` (now or later). */
  whenOwns(shard: number): Promise<void> {
    if (this.owned.has(shard)) return Promise.resolve();
    return new Promise((resolve) => {
      const l = (s: number): void => {
        if (s !== shard) return;
        this.acquireListeners.splice(this.acquireListeners.indexOf(l), 1);
        resolve();
      };
      this.acquireListeners.push(l);
    });
  }

  // ---- leases ----

  private async tick(): Promise<void> {
    const redis = this.cmd.redis;
    if (!this.cmd.ready()) return;
    try {
      const now = Date.now();
      const sent = performance.now();
      await redis.zadd(this.keys.members(), now, this.consumer);
      await redis.zremrangebyscore(this.keys.members(), '-inf', now - 20 * this.leaseMs);
      this.members = Math.max(1, await redis.zcount(this.keys.members(), now - this.leaseMs, '+inf'));
      for (const s of [...this.owned.values()]) {
        if (s.releasing) continue;
        const ok = await RENEW.run(redis, [this.keys.lease(s.shard)], [s.token, this.leaseMs]);
        if (ok === 1) s.validUntil = sent + this.leaseMs - this.blockMs;
        else {
          this.counts.leasesLost++;
          log.warn('lease lost: shard given up', { shard: s.shard, consumer: this.consumer });
          this.drop(s);
          this.dropped.add(s.shard);
        }
      }
      const fair = Math.ceil(this.shards / this.members);
      const mine = [...this.owned.values()].filter((s) => !s.releasing);
      if (mine.length > fair) {
        for (const s of mine.sort((a, b) => b.shard - a.shard).slice(0, mine.length - fair)) await this.release(s);
      }
      // Free shards: taken up to the fair share, and beyond it when nobody else has (an orphan is worse than an uneven split).
      const start = Number.parseInt(this.consumer.slice(-6), 16) || 0;
      for (let i = 0; i < this.shards; i++) {
        const shard = (start + i) % this.shards;
        if (this.owned.has(shard)) continue;
        const have = this.owned.size;
        if (have >= fair) {
          // Only orphans: a lease nobody holds while every member is at its share.
          if (await redis.exists(this.keys.lease(shard))) continue;
          if (this.members > 1 && !(await this.orphaned(shard))) continue;
        }
        await this.acquire(shard, sent);
      }
      this.lastError = null;
    } catch (e) {
      this.lastError = (e as Error).message;
    }
  }

  /** Whether a free shard has been free for a whole lease (no member is about to take it). */
  private async orphaned(shard: number): Promise<boolean> {
    const prev = await this.cmd.redis.get(this.keys.owner(shard));
    if (!prev) return true;
    const name = prev.startsWith('released:') ? prev.slice(9) : prev;
    const beat = await this.cmd.redis.zscore(this.keys.members(), name);
    return beat === null || Date.now() - Number(beat) > this.leaseMs;
  }

  private async acquire(shard: number, sent: number): Promise<void> {
    const redis = this.cmd.redis;
    const token = `${this.consumer}:${await redis.incr(this.keys.epoch())}`;
    const got = await redis.set(this.keys.lease(shard), token, 'PX', this.leaseMs, 'NX');
    if (got !== 'OK') return;
    const s = new ShardState(shard, token, this.keys.input(shard));
    s.validUntil = sent + this.leaseMs - this.blockMs;
    try {
      await redis.xgroup('CREATE', s.key, COMPUTE_GROUP, '0', 'MKSTREAM');
    } catch (e) {
      if (!String((e as Error).message).startsWith('BUSYGROUP')) throw e;
    }
    const prev = await redis.get(this.keys.owner(shard));
    await redis.set(this.keys.owner(shard), this.consumer);
    // Its own lease lapsed (a stall) and came back: the books it dropped restart too, and subscribers are told.
    // (prev is gone too when Redis came back empty.)
    const relapse = this.dropped.delete(shard) && (!prev || prev === this.consumer);
    if ((prev && prev !== this.consumer) || relapse) {
      const handover = !relapse && prev!.startsWith('released:');
      const from = relapse ? this.consumer : handover ? prev!.slice(9) : prev!;
      const beat = await redis.zscore(this.keys.members(), from);
      let claimed = 0;
      let deleted = 0;
      let cursor = '0-0';
      // Every pending entry of this shard's group is an old owner's: the lease says nobody else reads it now.
      do {
        const r = (await redis.xautoclaim(s.key, COMPUTE_GROUP, this.consumer, 0, cursor, 'COUNT', 1000, 'JUSTID')) as [string, string[], string[]?];
        cursor = r[0];
        claimed += r[1].length;
        deleted += r[2]?.length ?? 0;
      } while (cursor !== '0-0');
      if (!handover && !relapse) await redis.xgroup('DELCONSUMER', s.key, COMPUTE_GROUP, from).catch(() => 0);
      const symbols = [...new Set([...(await redis.smembers(this.keys.symbols(shard))), ...(relapse ? this.seen.get(shard) ?? [] : [])])];
      const t: Takeover = {
        shard, from, reason: handover ? 'handover' : 'takeover', at: Date.now(), claimed, deleted,
        silenceMs: beat === null ? null : Date.now() - Number(beat), symbols,
      };
      this.takeovers.push(t);
      if (this.takeovers.length > 100) this.takeovers.shift();
      this.counts.trimmed += deleted;
      for (const sym of symbols) {
        s.known.add(sym);
        this.notice(s, sym, {
          reason: t.reason, at: t.at, shard, from,
          message: `${sym}: shard ${shard} ${handover ? 'handed over' : 'taken over'} from ${from}` +
            `${deleted ? ` (${deleted} input entries already trimmed)` : ''}; the book restarts at the next snapshot`,
        });
      }
      log.warn(handover ? 'shard handed over' : 'shard taken over', { shard, from, to: this.consumer, claimed, deleted, silenceMs: t.silenceMs });
    }
    this.owned.set(shard, s);
    this.counts.acquired++;
    for (const l of [...this.acquireListeners]) l(shard);
  }

  private async release(s: ShardState): Promise<void> {
    s.releasing = true;
    await this.reading.catch(() => undefined);
    await this.commitAll();
    await RELEASE.run(this.cmd.redis, [this.keys.lease(s.shard), this.keys.owner(s.shard)], [s.token, `released:${this.consumer}`]);
    this.counts.released++;
    log.info('shard released to rebalance', { shard: s.shard, consumer: this.consumer });
    this.drop(s);
  }

  /** The shard leaves this process: its books go, its uncommitted results too (its next owner recomputes them). */
  private drop(s: ShardState): void {
    if (this.owned.get(s.shard) !== s) return;
    this.owned.delete(s.shard);
    for (const [sym, h] of s.handles) {
      this.pipeline.removeSource(h);
      this.output.forget(sym);
    }
    s.outbox = [];
    s.acks = [];
  }

  private notice(s: ShardState, sym: string, n: GapNotice): void {
    const payload = JSON.stringify(n);
    for (const topic of this.output.topicsOf(sym)) s.outbox.push({ kind: 'g', topic, payload });
    this.counts.notices++;
  }

  // ---- reading ----

  private async loop(): Promise<void> {
    let attempt = 0;
    while (!this.stopped) {
      try {
        await this.commitAll();
        const now = performance.now();
        const readable = [...this.owned.values()].filter((s) => !s.releasing && s.validUntil - now > this.blockMs);
        if (readable.length === 0) {
          await sleep(this.blockMs);
          continue;
        }
        const pending = readable.filter((s) => s.pendingFrom !== null);
        this.reading = pending.length > 0 ? this.read(pending, false) : this.read(readable, true);
        await this.reading;
        attempt = 0;
      } catch (e) {
        this.lastError = (e as Error).message;
        if (!this.stopped) await sleep(backoffMs(Math.min(attempt++, 6), 20, 1000));
      }
    }
  }

  private async read(states: ShardState[], fresh: boolean): Promise<void> {
    const args: (string | number)[] = ['GROUP', COMPUTE_GROUP, this.consumer, 'COUNT', this.batch];
    if (fresh) args.push('BLOCK', this.blockMs);
    args.push('STREAMS', ...states.map((s) => s.key), ...states.map((s) => (fresh ? '>' : s.pendingFrom!)));
    const reply = (await this.reader.redis.callBuffer('XREADGROUP', ...args)) as [Buffer, [Buffer, Buffer[] | null][]][] | null;
    if (!reply) return;
    const byKey = new Map(states.map((s) => [s.key, s]));
    for (const [k, entries] of reply) {
      const s = byKey.get(k.toString());
      // Gone while the read was out (lease lost, released): the entries stay pending for the next owner.
      if (!s || this.owned.get(s.shard) !== s) continue;
      if (!fresh && entries.length === 0) s.pendingFrom = null;
      for (const [idb, fields] of entries) {
        const id = idb.toString();
        if (!fresh) s.pendingFrom = id;
        s.acks.push(id);
        if (!fields) {
          this.counts.trimmed++;
          continue;
        }
        this.apply(s, fields);
      }
    }
    this.output.flushBooks(this.syms(states), Date.now());
  }

  private *syms(states: ShardState[]): Iterable<string> {
    for (const s of states) yield* s.handles.keys();
  }

  private apply(s: ShardState, fields: Buffer[]): void {
    this.counts.entries++;
    let buf: Buffer | undefined;
    for (let i = 0; i < fields.length; i += 2) if (fields[i]!.toString() === 'e') buf = fields[i + 1];
    let r;
    try {
      if (!buf) throw new Error('input entry without field e');
      r = this.decoder.decode(buf);
    } catch (e) {
      this.counts.badEntries++;
      log.warn('bad input entry skipped', { shard: s.shard, error: (e as Error).message });
      return;
    }
    const last = s.lastN.get(r.writer) ?? 0;
    if (r.n <= last) {
      this.counts.duplicates++;
      return;
    }
    s.lastN.set(r.writer, r.n);
    const sym = r.k === 'lost' ? r.symbol : r.e.symbol;
    if (r.k === 'lost') {
      this.counts.lostRecords++;
      if (s.synced.delete(sym)) {
        s.handles.get(sym)?.newSession();
        this.output.forget(sym);
      }
      this.notice(s, sym, {
        reason: 'ingest-lost', at: Date.now(), shard: s.shard, lost: r.lost,
        message: `${sym}: ${r.lost} events were lost at ingest (${r.writer}: Redis too slow or down); the book restarts at the next snapshot`,
      });
      return;
    }
    if (!s.synced.has(sym)) {
      if (r.k !== 'depth' || r.e.kind !== 'snapshot') {
        this.counts.awaitingSnapshot++;
        return;
      }
      s.synced.add(sym);
    }
    let h = s.handles.get(sym);
    if (!h) {
      h = this.pipeline.addSource(`cluster:${sym}`, 'cluster');
      h.state = 'running';
      s.handles.set(sym, h);
      let seen = this.seen.get(s.shard);
      if (!seen) this.seen.set(s.shard, (seen = new Set()));
      seen.add(sym);
      if (!s.known.has(sym)) {
        s.known.add(sym);
        void this.cmd.redis.sadd(this.keys.symbols(s.shard), sym).catch(() => 0);
      }
    }
    if (r.k === 'depth') h.onDepth(r.e);
    else h.onTrade(r.e);
  }

  // ---- writing ----

  /** Commits every shard's outbox and acks, one after another (one chain: a retried commit keeps its order). */
  commitAll(): Promise<void> {
    const run = this.commitChain.then(async () => {
      for (const s of [...this.owned.values()]) {
        if (s.outbox.length === 0 && s.acks.length === 0) continue;
        await this.commit(s);
      }
    });
    this.commitChain = run.catch(() => undefined);
    return run;
  }

  private async commit(s: ShardState): Promise<void> {
    const out = s.outbox;
    const acks = s.acks;
    s.outbox = [];
    s.acks = [];
    const keys = [this.keys.lease(s.shard), s.key, this.keys.seq()];
    const keyIndex = new Map<string, number>();
    const args: (string | Buffer | number)[] = [s.token, COMPUTE_GROUP, this.outMaxLen, acks.length, ...acks];
    for (const r of out) {
      let k = keyIndex.get(r.topic);
      if (k === undefined) {
        keys.push(this.keys.output(r.topic));
        keyIndex.set(r.topic, (k = keys.length));
      }
      args.push(k, r.kind, r.topic, r.payload);
    }
    try {
      const frames = (await COMMIT.run(this.cmd.redis, keys, args)) as number;
      this.counts.commits++;
      this.counts.framesWritten += frames;
    } catch (e) {
      if (String((e as Error).message).startsWith('FENCED')) {
        this.counts.fenced++;
        log.warn('results refused: the lease is no longer ours; shard given up', { shard: s.shard, consumer: this.consumer });
        this.drop(s);
        this.dropped.add(s.shard);
        return;
      }
      // Not written: kept, in front of anything newer, for the next try.
      s.outbox = out.concat(s.outbox);
      s.acks = acks.concat(s.acks);
      throw e;
    }
  }

  health(): Record<string, unknown> {
    return {
      consumer: this.consumer,
      shards: this.shards,
      owned: this.ownedShards(),
      members: this.members,
      leaseMs: this.leaseMs,
      state: !this.cmd.ready() || !this.reader.ready() ? 'redis-down' : this.lastError ? 'degraded' : 'ok',
      lastError: this.lastError,
      ...this.counts,
      framesQueued: [...this.owned.values()].reduce((n, s) => n + s.outbox.length, 0),
      orphanedFrames: this.output.counts.orphaned,
      takeovers: this.takeovers.slice(-10),
    };
  }

  /** Stops reading, commits what is done and gives the shards back (a handover, not a takeover). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.tickTimer);
    await this.ticking;
    await this.loopDone;
    this.pipeline.flush();
    try {
      for (const s of [...this.owned.values()]) await this.release(s);
      await this.cmd.redis.zrem(this.keys.members(), this.consumer);
    } catch (e) {
      log.warn('shards not released on stop (their leases expire)', { error: (e as Error).message });
    }
  }
}
