/**
 * The bundled strategies run through the backtest engine (runBacktest) over real data: the GOOG
 * day (LOBSTER) and the Binance USD-M BTCUSDT capture (344.8 s). What is checked are properties the
 * strategies promise, read from the engine's record of exchange-side fills (not from the
 * strategies' own view): the market maker's position never past its limit; a parent order done
 * exactly, by its end, never over-executed; POV never ahead of its share of the market volume; the
 * shortfall the strategy reports equal to the one recomputed from the engine's fills.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { runBacktest, type BacktestResult } from '../../src/backtest/run.ts';
import { queueModel } from '../../src/backtest/queue/index.ts';
import { builtinStrategies } from '../../src/backtest/strategies/index.ts';
import { createExecution, type ExecutionStrategy } from '../../src/backtest/strategies/execution.ts';
import type { MarketMaker } from '../../src/backtest/strategies/market-maker.ts';
import { implementationShortfall } from '../../src/backtest/strategies/shortfall.ts';
import { volumeCurveFromSource } from '../../src/backtest/strategies/volume-curve-source.ts';
import { openSource } from '../../src/sources/spec.ts';
import { GOOG, SPOT, USDM } from '../../src/sources/samples.ts';
import type { Strategy } from '../../src/backtest/strategy.ts';

const MS = 1e6;
const S = 1e9;
const LONG = 300_000;

function run(spec: string, s: Strategy, queue = 'risk-averse'): Promise<BacktestResult> {
  return runBacktest(spec, s, {
    queue: () => queueModel(queue), feeMakerBps: -0.5, feeTakerBps: 2, latency: { feed: 1 * MS, entry: 2 * MS, response: 2 * MS },
  });
}

/** Signed position after each exchange fill, in fill order. */
function positions(r: BacktestResult): number[] {
  let p = 0;
  return r.record.fills.map((f) => (p += f.side === 'buy' ? f.qty : -f.qty));
}

describe('market maker over the GOOG day', () => {
  let r: BacktestResult;
  let mm: MarketMaker;
  beforeAll(async () => {
    mm = builtinStrategies['market-maker']!({ size: 100, maxPosition: 300 }) as MarketMaker;
    r = await run(GOOG, mm);
  }, LONG);

  it('trades both sides and never holds more than its limit at the exchange', () => {
    const pos = positions(r);
    expect(r.record.fills.length).toBeGreaterThan(50);
    expect(r.record.fills.some((f) => f.side === 'buy')).toBe(true);
    expect(r.record.fills.some((f) => f.side === 'sell')).toBe(true);
    expect(Math.max(...pos.map(Math.abs))).toBeLessThanOrEqual(300);
    // The limit binds at some point of the day, so the check above is not vacuous.
    expect(mm.stats.limitedSides).toBeGreaterThan(0);
  });

  it('only rests post-only limit orders, and is only ever a maker', () => {
    for (const o of r.record.orders.values()) expect([o.kind, o.tif]).toEqual(['limit', 'POST_ONLY']);
    expect(r.record.fills.every((f) => f.liquidity === 'maker')).toBe(true);
  });

  it('moves its quotes by modify, not by a new order each time', () => {
    // Orders are few beside the quote changes: each side keeps one order while it can.
    expect(mm.stats.requotes).toBeGreaterThan(r.record.orders.size);
  });
});

describe('execution algorithms over the Binance USD-M capture', () => {
  // The capture starts at 23:54:13 UTC: the parent order runs from 20 s in for 260 s (an offset end counts from the start).
  const base = { side: 'buy', qty: 0.5, start: '+20s', end: '+260s', lot: 0.001 };
  const results = new Map<string, { r: BacktestResult; s: ExecutionStrategy }>();
  let trades: { ts: number; size: number }[] = [];

  beforeAll(async () => {
    const curve = await volumeCurveFromSource(SPOT, 30 * S);
    for (const [algo, extra] of [['twap', {}], ['vwap', {}], ['pov', { rate: 0.02 }], ['immediate', {}]] as const) {
      const s = createExecution(algo, { ...base, ...extra }, { curve });
      results.set(algo, { r: await run(USDM, s), s });
    }
    const src = await openSource(USDM);
    await src.run({ onDepth() {}, onTrade: (e) => void trades.push({ ts: e.ts, size: e.size }) });
  }, LONG);

  it('every algorithm executes the parent exactly, by its end, never more', () => {
    for (const [algo, { r, s }] of results) {
      const sum = s.summary();
      const executed = r.record.fills.reduce((a, f) => a + f.qty, 0);
      expect(executed, algo).toBeCloseTo(0.5, 9);
      expect(Math.max(...positions(r)), algo).toBeLessThanOrEqual(0.5 + 1e-9);
      expect(sum.executed, algo).toBeCloseTo(0.5, 9);
      // Done before the end, give or take the response latency that brings the last fill back.
      expect(sum.doneAt, algo).toBeLessThanOrEqual(sum.end + 2 * MS);
      expect(r.record.fills.every((f) => f.side === 'buy')).toBe(true);
    }
  });

  it('TWAP: equal slices that sum to the parent; most of it passive', () => {
    const { s } = results.get('twap')!;
    const sum = s.summary();
    expect(sum.schedule?.slices).toBe(10);
    expect(sum.passiveQty + sum.takerQty).toBeCloseTo(0.5, 9);
    expect(sum.passiveQty).toBeGreaterThan(0);
  });

  it('POV is never ahead of its share of the market volume before the finish window', () => {
    const { r, s } = results.get('pov')!;
    const sum = s.summary();
    const finishFrom = sum.end - 0.05 * (sum.end - sum.start);
    let done = 0, checked = 0;
    for (const f of r.record.fills) {
      done += f.qty;
      if (f.ts >= finishFrom) break;
      const v = trades.filter((t) => t.ts >= sum.start && t.ts < f.ts).reduce((a, t) => a + t.size, 0);
      expect(done).toBeLessThanOrEqual(0.02 * v + 1e-9);
      checked++;
    }
    // Most of the order is done on schedule, not by the final cross.
    expect(checked).toBeGreaterThan(5);
    expect(sum.marketVolume).toBeGreaterThan(0);
  });

  it('the reported shortfall is the one the engine fills give, against the arrival mid', () => {
    for (const [algo, { r, s }] of results) {
      const sum = s.summary();
      const again = implementationShortfall('buy', sum.arrival, 0.5, r.record.fills, sum.endMid);
      expect(sum.shortfall!.total, algo).toBeCloseTo(again.total, 6);
      expect(sum.immediate!.arrival, algo).toBe(sum.arrival);
      // Every fill pays or earns the engine's fee: taker 2 bps, maker -0.5 bps of notional.
      for (const f of r.record.fills) expect(f.fee).toBeCloseTo((f.price * f.qty * (f.liquidity === 'maker' ? -0.5 : 2)) / 1e4, 9);
    }
  });

  it('VWAP slices by the spot market\'s volume curve of the same minutes', () => {
    const sum = results.get('vwap')!.s.summary();
    expect(sum.schedule).toEqual({ slices: 10 });
  });

  it('immediate crosses at once; the schedules spread the order over the window', () => {
    const im = results.get('immediate')!.s.summary();
    expect(im.takerQty).toBeCloseTo(0.5, 9);
    expect(im.doneAt - im.start).toBeLessThan(1 * S);
    const tw = results.get('twap')!.s.summary();
    expect(tw.doneAt - tw.start).toBeGreaterThan(200 * S);
  });
});

describe('taker on goog-gbdt over the GOOG test rows', () => {
  let r: BacktestResult;
  let emitted = 0;
  let testFrom = 0;
  beforeAll(async () => {
    const { precomputePredictions, PrecomputedPredictor } = await import('../../src/backtest/strategies/model-predictions.ts');
    const pre = await precomputePredictions('models/goog-gbdt', GOOG);
    testFrom = pre.testFrom;
    const pred = new PrecomputedPredictor(pre, pre.testFrom);
    const t = builtinStrategies['taker']!({ size: 100, maxPosition: 200, threshold: 0.55, hold: '5s', model: 'goog-gbdt' });
    r = await runBacktest(GOOG, t, {
      queue: () => queueModel('exact'), feeMakerBps: 0, feeTakerBps: 0.05, latency: { feed: 1 * MS, entry: 1 * MS, response: 1 * MS }, predictor: pred,
    });
    emitted = pred.emitted;
  }, LONG);

  it('gets one prediction per test row and trades only market orders after the first of them', () => {
    // The model reads one row: every test row has a prediction.
    expect(testFrom).toBeGreaterThan(100_000);
    expect(emitted).toBe(r.record.rows - testFrom);
    expect(r.record.fills.length).toBeGreaterThan(10);
    for (const o of r.record.orders.values()) expect(o.kind).toBe('market');
    const firstTestTs = Math.min(...r.record.fills.map((f) => f.ts));
    expect(firstTestTs).toBeGreaterThan(r.record.firstTs);
  });

  it('never holds more than its limit, and keeps a position at least the holding period', () => {
    let pos = 0, openedSeen = -Infinity;
    for (const f of r.record.fills) {
      const before = pos;
      pos += f.side === 'buy' ? f.qty : -f.qty;
      expect(Math.abs(pos)).toBeLessThanOrEqual(200);
      const grows = Math.abs(pos) > Math.abs(before) && before * pos >= 0;
      // A fill that reduces or reverses the position comes from an order sent once the hold was over.
      if (!grows) expect(f.ts - openedSeen).toBeGreaterThanOrEqual(5 * S);
      // The strategy's clock of the hold restarts when it hears of a fill that opens or grows a position.
      if (grows || before * pos < 0) openedSeen = f.seenAt;
    }
  });
});
