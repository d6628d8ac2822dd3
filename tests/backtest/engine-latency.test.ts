/**
 * The engine's clock on the real LivePipeline, fed hand-built events: the strategy sees the book
 * after the feed latency, its order meets the book as it is after the entry latency, and the fill
 * reaches it after the response latency. Every time below is worked out by hand in the comments.
 */
import { describe, expect, it } from 'vitest';
import { DepthEvent, TradeEvent } from '../../src/model/events.ts';
import { TimeBase } from '../../src/model/time.ts';
import { resolveDepth } from '../../src/model/depth.ts';
import { LivePipeline } from '../../src/pipeline/live.ts';
import { MetricsRegistry } from '../../src/server/metrics.ts';
import { BacktestEngine, type LatencyModel } from '../../src/backtest/engine.ts';
import type { Strategy } from '../../src/backtest/strategy.ts';
import { testRiskAverse } from './engine-helpers.ts';

function book(ts: number, ask: number, tsLocal = NaN): DepthEvent {
  const e = new DepthEvent();
  e.symbol = 'X';
  e.kind = 'snapshot';
  e.sizes = 'absolute';
  e.ts = ts;
  e.tsLocal = tsLocal;
  e.pushBid(99.0, 100);
  e.pushAsk(ask, 100);
  return e;
}

function harness(strategy: Strategy, latency: LatencyModel) {
  const depth = resolveDepth(10);
  const engine = new BacktestEngine(strategy, { latency, queue: testRiskAverse, feeMakerBps: 0, feeTakerBps: 0 }, depth.rowLevels);
  const p = new LivePipeline({ depth, timeBase: TimeBase.ofEpochMs(Date.UTC(2024, 0, 2)), features: { vpinBucket: 1, vpinBucketBySymbol: {}, vpinBuckets: 50, barMs: 1000, barWindow: 300 } },
    engine.output, new MetricsRegistry(), { alerts: [engine.producer] });
  return { engine, h: p.addSource('hand', 'replay') };
}

describe('latency ordering', () => {
  it('an order sent at t fills against the book at t + entry, and is heard of at fill + response', () => {
    const seen: [number, number, number, number][] = [];
    const fills: [number, number, number][] = [];
    const orders: [number, string][] = [];
    let sent = false;
    const s: Strategy = {
      name: 'latency-probe',
      onBook(ctx, b) {
        seen.push([ctx.now(), b.ts, b.askPx[0]!, ctx.position('X')]);
        if (!sent) {
          sent = true;
          ctx.place({ symbol: 'X', side: 'buy', kind: 'market', qty: 50 });
        }
      },
      onFill: (ctx, f) => fills.push([ctx.now(), f.price, f.ts]),
      onOrder: (ctx, o) => orders.push([ctx.now(), o.status]),
    };
    const { engine, h } = harness(s, { feed: 1000, entry: 5000, response: 2000 });
    h.onDepth(book(0, 100.01));
    // The order is sent when the strategy sees the first book: 0 + 1000. It reaches the exchange
    // at 1000 + 5000 = 6000, where the book stamped 6000 has already been applied: ask 100.02.
    h.onDepth(book(6000, 100.02));
    h.onDepth(book(6500, 100.05));
    h.onDepth(book(9000, 100.06));
    engine.finish();
    expect(fills).toEqual([[8000, 100.02, 6000]]);
    expect(orders).toEqual([[8000, 'filled']]);
    // Books reach the strategy 1000 ns after their time; the position changes only once the fill is heard of (8000).
    expect(seen).toEqual([[1000, 0, 100.01, 0], [7000, 6000, 100.02, 0], [7500, 6500, 100.05, 0], [10000, 9000, 100.06, 50]]);
    expect(engine.record.fills[0]).toMatchObject({ price: 100.02, ts: 6000, seenAt: 8000, arrivalMid: (99 + 100.01) / 2 });
    expect(engine.exchangeState().positions).toEqual({ X: 50 });
  });

  it('with zero latencies an order still meets the book after its strategy saw it, never an earlier one', () => {
    const fills: number[] = [];
    let sent = false;
    const s: Strategy = {
      name: 'zero',
      onBook(ctx) {
        if (!sent) {
          sent = true;
          ctx.place({ symbol: 'X', side: 'buy', kind: 'market', qty: 10 });
        }
      },
      onFill: (_c, f) => fills.push(f.price),
    };
    const { engine, h } = harness(s, { feed: 0, entry: 0, response: 0 });
    h.onDepth(book(0, 100.01));
    h.onDepth(book(0, 100.02));
    h.onDepth(book(5, 100.03));
    engine.finish();
    // The strategy sees the book of time 0 once both events stamped 0 are applied (ask 100.02).
    expect(fills).toEqual([100.02]);
  });

  it('measured feed latency: each event arrives at its own tsLocal, never before an earlier one', () => {
    const at: number[] = [];
    const trades: number[] = [];
    const s: Strategy = { name: 'm', onBook: (ctx) => at.push(ctx.now()), onTrade: (ctx) => trades.push(ctx.now()) };
    const { engine, h } = harness(s, { feed: 'measured', entry: 0, response: 0 });
    h.onDepth(book(0, 100.01, 300));
    const t = new TradeEvent();
    t.symbol = 'X';
    t.ts = 500;
    t.tsLocal = 700;
    t.price = 100.01;
    t.size = 5;
    h.onTrade(t);
    h.onDepth(book(1000, 100.02, 1100));
    // tsLocal 900 < 1100 delivered before it: a feed delivers in order, so it comes at 1100.
    h.onDepth(book(1050, 100.03, 900));
    h.onDepth(book(2000, 100.04, 2050));
    engine.finish();
    expect(at).toEqual([300, 1100, 1100, 2050]);
    expect(trades).toEqual([700]);
    expect(engine.record.feedMeasured).toBe(5);
  });

  it('a passive order rests when it arrives and is filled by a later trade, heard of after the response latency', () => {
    const got: [number, number, string][] = [];
    let sent = false;
    const s: Strategy = {
      name: 'passive',
      onBook(ctx) {
        if (!sent) {
          sent = true;
          ctx.place({ symbol: 'X', side: 'buy', kind: 'limit', price: 99.0, qty: 40 });
        }
      },
      onOrder: (ctx, o) => got.push([ctx.now(), o.filled, o.status]),
      onFill: (ctx, f) => got.push([ctx.now(), f.qty, 'fill']),
    };
    const { engine, h } = harness(s, { feed: 10, entry: 20, response: 30 });
    h.onDepth(book(0, 100.01));
    // Arrives at 10 + 20 = 30 behind the 100 bid at 99: acked at 30 + 30 = 60.
    const t = new TradeEvent();
    t.symbol = 'X';
    t.ts = 100;
    t.price = 99.0;
    t.size = 120;
    t.sign = -1;
    h.onTrade(t);
    h.onDepth(book(200, 100.01));
    engine.finish();
    // The sell of 120 at 99 passes the 100 ahead and fills 20 of ours at 100, heard of at 130.
    expect(got).toEqual([[60, 0, 'open'], [130, 20, 'fill']]);
  });
});
