/**
 * The ingest role: every source's normalised events go into the input stream of their symbol's
 * shard (keys.ts shardOf), one entry per event, written with pipelined XADDs in arrival order.
 *
 * Memory is bounded: events wait in one queue of at most `maxQueuedBytes` while Redis is slow or
 * down. Past that an event is not queued: it is counted as lost for its symbol (never a crash, never
 * an unbounded heap), and once the queue has room again a `lost` record goes into the symbol's
 * stream ahead of its next event, so the compute process that owns it drops the book and resyncs
 * from the next snapshot instead of building on a hole. `writable()` / `whenWritable()` let a
 * producer that can wait (a replay) wait instead.
 *
 * A batch that fails halfway (the connection lost mid-pipeline) is sent again whole: what of it was
 * written comes twice, and the reader skips the copies by their writer id and count (events.ts).
 */
import { randomBytes } from 'node:crypto';
import type { DepthEvent, MarketSink, TradeEvent } from '../model/events.ts';
import type { TimeBase } from '../model/time.ts';
import { backoffMs } from '../core/backoff.ts';
import { logger } from '../core/log.ts';
import { encodeDepth, encodeLost, encodeTrade } from './events.ts';
import { ClusterKeys, shardOf } from './keys.ts';
import { agreeShards, type RedisLink } from './redis.ts';

const log = logger('cluster');

export interface IngestOptions {
  prefix?: string;
  shards: number;
  /** Entries each input stream keeps at least (XADD MAXLEN ~): what a compute process that falls this far behind has lost. */
  maxLen?: number;
  /** Bytes of encoded events that may wait for Redis; past it events are counted as lost. */
  maxQueuedBytes?: number;
  /** XADDs per pipeline round trip. */
  batch?: number;
  /** This writer's id (default: random); a restart is a new writer. */
  writer?: string;
}

interface Pending {
  shard: number;
  buf: Buffer;
}

export class ClusterIngest {
  readonly keys: ClusterKeys;
  readonly writer: string;
  readonly shards: number;
  private readonly maxLen: number;
  private readonly maxQueuedBytes: number;
  private readonly batch: number;
  private readonly inputKeys: string[];
  private queue: Pending[] = [];
  private head = 0;
  private queuedBytes = 0;
  private n = 0;
  private pumping = false;
  private closed = false;
  private attempt = 0;
  private lastError: string | null = null;
  /** Events not queued since the symbol's last `lost` record (the record goes out with the next room). */
  private readonly lostPending = new Map<string, number>();
  private readonly waiters: (() => void)[] = [];
  private readonly drainWaiters: (() => void)[] = [];
  readonly counts = { accepted: 0, written: 0, lost: 0, lostRecords: 0, resent: 0, failedBatches: 0 };
  readonly writtenByShard: number[];
  private readonly sources = new Map<string, { depth: number; trades: number }>();

  constructor(private readonly link: RedisLink, private readonly tb: TimeBase, opts: IngestOptions) {
    this.keys = new ClusterKeys(opts.prefix);
    this.shards = opts.shards;
    this.maxLen = opts.maxLen ?? 1_000_000;
    this.maxQueuedBytes = opts.maxQueuedBytes ?? 64 << 20;
    this.batch = opts.batch ?? 512;
    this.writer = opts.writer ?? `ingest-${randomBytes(4).toString('hex')}`;
    this.inputKeys = Array.from({ length: this.shards }, (_, s) => this.keys.input(s));
    this.writtenByShard = new Array<number>(this.shards).fill(0);
  }

  /** Checks the shard count against the cluster's (keys.ts meta); waits for Redis. */
  async start(): Promise<void> {
    await this.link.untilReady();
    await agreeShards(this.link.redis, this.keys, this.shards);
  }

  /** Where a source pushes its events (a connector's or replay's SourceHandle stand-in). */
  sink(source: string): MarketSink {
    const c = { depth: 0, trades: 0 };
    this.sources.set(source, c);
    return {
      onDepth: (e: DepthEvent) => {
        c.depth++;
        this.offer(e.symbol, (n) => encodeDepth(e, this.tb, this.writer, n));
      },
      onTrade: (e: TradeEvent) => {
        c.trades++;
        this.offer(e.symbol, (n) => encodeTrade(e, this.tb, this.writer, n));
      },
    };
  }

  /** Whether the queue has room (a producer that can wait should, while this is false). */
  writable(): boolean {
    return this.queuedBytes < this.maxQueuedBytes;
  }

  whenWritable(): Promise<void> {
    return this.writable() ? Promise.resolve() : new Promise((r) => this.waiters.push(r));
  }

  /** Resolves once everything accepted so far is in Redis. */
  drained(): Promise<void> {
    return this.queued() === 0 ? Promise.resolve() : new Promise((r) => this.drainWaiters.push(r));
  }

  queued(): number {
    return this.queue.length - this.head;
  }

  private offer(symbol: string, encode: (n: number) => Buffer): void {
    if (this.closed) return;
    if (!this.writable()) {
      this.counts.lost++;
      const had = this.lostPending.get(symbol) ?? 0;
      if (had === 0) log.warn('ingest queue full: events lost until Redis catches up', { symbol, queuedBytes: this.queuedBytes, error: this.lastError });
      this.lostPending.set(symbol, had + 1);
      return;
    }
    const shard = shardOf(symbol, this.shards);
    const lost = this.lostPending.get(symbol);
    if (lost) this.pushLost(symbol, lost);
    this.push(shard, encode(++this.n));
    this.counts.accepted++;
    if (!this.pumping) queueMicrotask(() => void this.pump());
  }

  private pushLost(symbol: string, lost: number): void {
    this.lostPending.delete(symbol);
    this.counts.lostRecords++;
    this.push(shardOf(symbol, this.shards), encodeLost(symbol, lost, this.writer, ++this.n));
  }

  private push(shard: number, buf: Buffer): void {
    this.queue.push({ shard, buf });
    this.queuedBytes += buf.length;
  }

  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (!this.closed) {
        if (this.queued() === 0 && this.lostPending.size > 0) {
          // Room again and the lost symbols have gone quiet: their books must still hear of the hole.
          for (const [sym, lost] of [...this.lostPending]) this.pushLost(sym, lost);
        }
        const n = Math.min(this.batch, this.queued());
        if (n === 0) break;
        if (!this.link.ready()) {
          await sleep(backoffMs(Math.min(this.attempt++, 6), 20, 1000));
          continue;
        }
        const p = this.link.redis.pipeline();
        for (let i = 0; i < n; i++) {
          const q = this.queue[this.head + i]!;
          p.xadd(this.inputKeys[q.shard]!, 'MAXLEN', '~', this.maxLen, '*', 'e', q.buf);
        }
        let res: [Error | null, unknown][] | null;
        try {
          res = await p.exec();
        } catch (e) {
          res = [[e as Error, null]];
        }
        const err = res?.find((r) => r[0])?.[0];
        if (err || !res) {
          this.lastError = err ? err.message : 'pipeline returned nothing';
          if (this.link.ready() && ++this.attempt > 8) {
            // Redis is up and keeps refusing these (a key of another type, out of memory): counted, not retried forever.
            log.error('input batch refused by redis: dropped', { entries: n, error: this.lastError });
            this.counts.failedBatches++;
            this.counts.lost += n;
            this.take(n, false);
            this.attempt = 0;
          } else {
            this.counts.resent += n;
            await sleep(backoffMs(Math.min(this.attempt, 6), 20, 1000));
          }
          continue;
        }
        this.attempt = 0;
        this.lastError = null;
        this.take(n, true);
      }
    } finally {
      this.pumping = false;
    }
    if (this.queued() === 0) for (const r of this.drainWaiters.splice(0)) r();
  }

  private take(n: number, written: boolean): void {
    for (let i = 0; i < n; i++) {
      const q = this.queue[this.head + i]!;
      this.queuedBytes -= q.buf.length;
      if (written) this.writtenByShard[q.shard]!++;
    }
    if (written) this.counts.written += n;
    this.head += n;
    if (this.head > 4096 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    if (this.writable()) for (const r of this.waiters.splice(0)) r();
  }

  health(): Record<string, unknown> {
    return {
      writer: this.writer,
      shards: this.shards,
      state: this.link.ready() ? (this.writable() ? 'ok' : 'backpressure') : 'redis-down',
      queued: this.queued(),
      queuedBytes: this.queuedBytes,
      maxQueuedBytes: this.maxQueuedBytes,
      ...this.counts,
      lostPendingSymbols: this.lostPending.size,
      lastError: this.lastError,
      sources: Object.fromEntries(this.sources),
    };
  }

  /** Writes what is queued (waiting at most `timeoutMs`), then stops; what is left is counted as lost. */
  async close(timeoutMs = 2000): Promise<void> {
    if (this.queued() > 0) {
      void this.pump();
      await Promise.race([this.drained(), sleep(timeoutMs)]);
    }
    this.closed = true;
    const left = this.queued();
    if (left > 0) {
      this.counts.lost += left;
      log.warn('ingest closed with events not written', { events: left });
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
