/**
 * What the cluster tests share: a synthetic market whose true books the test knows (symbols with
 * snapshots, sequenced deltas and trades, as an /ingest producer sends them), the live pipeline's
 * options, and a reader of result streams that is independent of the edge.
 */
import { Redis } from 'ioredis';
import { DepthEvent, TradeEvent, type MarketSink } from '../../src/model/events.ts';
import { resolveDepth } from '../../src/model/depth.ts';
import type { TimeBase } from '../../src/model/time.ts';
import { INGEST_SEQUENCE } from '../../src/venues/ingest/index.ts';
import { packr } from '../../src/protocol/codec.ts';
import type { LivePipelineOptions } from '../../src/pipeline/live.ts';

export function pipelineOptions(): Omit<LivePipelineOptions, 'timeBase'> {
  return {
    depth: resolveDepth(10, { bookLevels: 10 }),
    features: { vpinBucket: 5, vpinBucketBySymbol: {}, vpinBuckets: 10, barMs: 1000, barWindow: 30 },
  };
}

/** xorshift32: the same market on every run. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x100000000;
  };
}

/** One event as the test remembers it: its time (epoch ms), and after it the true top 10 of the book. */
export interface Sent {
  kind: 'snapshot' | 'delta' | 'trade';
  tsMs: number;
  seq: number;
  bids: [number, number][];
  asks: [number, number][];
}

export class Market {
  private readonly rand: () => number;
  private readonly books = new Map<string, { bids: Map<number, number>; asks: Map<number, number>; seq: number; mid: number }>();
  readonly sent = new Map<string, Sent[]>();
  private readonly depth = new DepthEvent();
  private readonly trade = new TradeEvent();
  private tMs: number;

  constructor(readonly symbols: string[], private readonly tb: TimeBase, seed = 7, startMs = Date.now()) {
    this.rand = rng(seed);
    this.tMs = Math.floor(startMs);
    symbols.forEach((s, i) => {
      const mid = 100 + i;
      const bids = new Map<number, number>();
      const asks = new Map<number, number>();
      for (let l = 1; l <= 20; l++) {
        bids.set(round(mid - l * 0.01), 1 + l);
        asks.set(round(mid + l * 0.01), 1 + l);
      }
      this.books.set(s, { bids, asks, seq: 1000 * (i + 1), mid });
      this.sent.set(s, []);
    });
  }

  private top(m: Map<number, number>, desc: boolean): [number, number][] {
    return [...m].sort((a, b) => (desc ? b[0] - a[0] : a[0] - b[0])).slice(0, 10);
  }

  private remember(sym: string, kind: Sent['kind'], seq: number): void {
    const b = this.books.get(sym)!;
    this.sent.get(sym)!.push({ kind, tsMs: this.tMs, seq, bids: this.top(b.bids, true), asks: this.top(b.asks, false) });
  }

  /** A snapshot of `sym` (seq = its last delta's) into `sink`. */
  snapshot(sym: string, sink: MarketSink): void {
    const b = this.books.get(sym)!;
    const e = this.depth;
    this.tMs += 1;
    e.reset();
    e.symbol = sym;
    e.kind = 'snapshot';
    e.sizes = 'absolute';
    e.makesRow = false;
    e.ts = this.tb.fromEpochMs(this.tMs);
    e.seqRule = INGEST_SEQUENCE.id;
    e.firstSeq = e.lastSeq = b.seq;
    for (const [px, sz] of [...b.bids].sort((x, y) => y[0] - x[0])) e.pushBid(px, sz);
    for (const [px, sz] of [...b.asks].sort((x, y) => x[0] - y[0])) e.pushAsk(px, sz);
    this.remember(sym, 'snapshot', b.seq);
    sink.onDepth(e);
  }

  /** A delta changing one to three levels near the top, and now and then a trade. */
  step(sym: string, sink: MarketSink): void {
    const b = this.books.get(sym)!;
    const e = this.depth;
    this.tMs += 1;
    e.reset();
    e.symbol = sym;
    e.kind = 'delta';
    e.sizes = 'absolute';
    e.makesRow = true;
    e.ts = this.tb.fromEpochMs(this.tMs);
    e.seqRule = INGEST_SEQUENCE.id;
    e.firstSeq = e.lastSeq = ++b.seq;
    const n = 1 + Math.floor(this.rand() * 3);
    for (let i = 0; i < n; i++) {
      const bid = this.rand() < 0.5;
      const l = 1 + Math.floor(this.rand() * 12);
      const px = round(bid ? b.mid - l * 0.01 : b.mid + l * 0.01);
      const sz = this.rand() < 0.15 ? 0 : Math.round(this.rand() * 50 * 100) / 100 + 0.01;
      const side = bid ? b.bids : b.asks;
      if (sz === 0) side.delete(px);
      else side.set(px, sz);
      if (bid) e.pushBid(px, sz);
      else e.pushAsk(px, sz);
    }
    this.remember(sym, 'delta', b.seq);
    sink.onDepth(e);
    if (this.rand() < 0.2) {
      const t = this.trade;
      this.tMs += 1;
      t.symbol = sym;
      t.ts = this.tb.fromEpochMs(this.tMs);
      t.price = b.mid;
      t.size = 1;
      t.sign = this.rand() < 0.5 ? 1 : -1;
      t.id = b.seq;
      this.remember(sym, 'trade', b.seq);
      sink.onTrade(t);
    }
  }
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}

export interface OutEntry {
  seq: number;
  /** 0: the frame of `seq`; k >= 1: the k-th gap notice after it. */
  sub: number;
  frame?: Record<string, unknown>;
  notice?: Record<string, unknown>;
}

/** A result stream read whole, straight from Redis. */
export async function readTopic(redis: Redis, prefix: string, topic: string): Promise<OutEntry[]> {
  const raw = (await redis.xrangeBuffer(`${prefix}:out:${topic}`, '-', '+')) as [Buffer, Buffer[]][];
  return raw.map(([id, f]) => {
    const [seq, sub] = id.toString().split('-').map(Number) as [number, number];
    const field = f[0]!.toString();
    return field === 'f'
      ? { seq, sub, frame: packr.unpack(f[1]!) as Record<string, unknown> }
      : { seq, sub, notice: JSON.parse(f[1]!.toString()) as Record<string, unknown> };
  });
}
