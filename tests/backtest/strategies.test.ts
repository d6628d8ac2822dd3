/**
 * The bundled strategies' pure parts on hand-built inputs, every expected value worked out here:
 * parameters and grids, TWAP / VWAP / POV schedules, the volume curve, implementation shortfall and
 * the book walk, the market maker's quotes and inventory rule, the execution step, the taker's rule.
 */
import { describe, expect, it } from 'vitest';
import type { BookView } from '../../src/backtest/strategy.ts';
import {
  Grid, ParamReader, StrategyParamError, micropriceOf, minLevelGap, onLot, onTick, parseDuration, parseTimeSpec, resolveTime, sizeStep,
} from '../../src/backtest/strategies/params.ts';
import { povTarget, scheduleTarget, sliceSizes, twapSchedule, vwapSchedule } from '../../src/backtest/strategies/schedule.ts';
import { buildVolumeCurve, curveMass, type VolumeCurve } from '../../src/backtest/strategies/volume-curve.ts';
import { immediateShortfall, implementationShortfall, walkBook } from '../../src/backtest/strategies/shortfall.ts';
import { AbsEwma, computeQuotes, ofiSignal, sideCapacity, type QuoteInput, type QuoteParams } from '../../src/backtest/strategies/quotes.ts';
import { executionStep, favour, type StepInput } from '../../src/backtest/strategies/execution.ts';
import { takerOrderQty, takerSignal } from '../../src/backtest/strategies/taker.ts';
import { builtinStrategies } from '../../src/backtest/strategies/index.ts';

const S = 1e9;
const MIN = 60 * S;
const H = 3600 * S;

function book(bids: [number, number][], asks: [number, number][]): BookView {
  return {
    symbol: 'X', ts: 0, nBids: bids.length, nAsks: asks.length,
    bidPx: bids.map((l) => l[0]), bidSz: bids.map((l) => l[1]), askPx: asks.map((l) => l[0]), askSz: asks.map((l) => l[1]),
  };
}

describe('parameters and grids', () => {
  it('durations and times of day', () => {
    expect(parseDuration('30s')).toBe(30 * S);
    expect(parseDuration('5m')).toBe(5 * MIN);
    expect(parseDuration('1.5h')).toBe(1.5 * H);
    expect(parseDuration('250ms')).toBe(250e6);
    expect(parseDuration(2)).toBe(2 * S);
    expect(parseDuration('5 minutes')).toBeUndefined();
    expect(parseTimeSpec('10:30')).toEqual({ kind: 'timeOfDay', ns: 10.5 * H });
    expect(parseTimeSpec('09:30:15')).toEqual({ kind: 'timeOfDay', ns: 9.5 * H + 15 * S });
    expect(parseTimeSpec('+90s')).toEqual({ kind: 'offset', ns: 90 * S });
    expect(parseTimeSpec('25:00')).toBeUndefined();
    // A time of day lands on the anchor's own day; an offset counts from the anchor.
    expect(resolveTime({ kind: 'timeOfDay', ns: 10 * H }, 2 * 24 * H + 9 * H)).toBe(2 * 24 * H + 10 * H);
    expect(resolveTime({ kind: 'offset', ns: 5 * S }, 123)).toBe(123 + 5 * S);
  });

  it('prices land on the tick as the parsed decimal, sizes on the lot', () => {
    // 580.12 / 0.01 is 58011.99999999999 in doubles: a plain floor would give 580.11.
    expect(onTick(580.12, 0.01, 'down')).toBe(580.12);
    expect(onTick(580.125, 0.01, 'down')).toBe(580.12);
    expect(onTick(580.121, 0.01, 'up')).toBe(580.13);
    expect(onTick(100.1 + 0.01, 0.01, 'nearest')).toBe(100.11);
    expect(onTick(61737.66, 0.1, 'down')).toBe(61737.6);
    expect(onLot(33.9, 1)).toBe(33);
    expect(onLot(0.0339, 0.001)).toBe(0.033);
    expect(onLot(7.25, 0)).toBe(7.25);
  });

  it('tick and lot learnt from books', () => {
    const b = book([[580.1, 100], [580.08, 200]], [[580.13, 100], [580.15, 300]]);
    // Gaps: 0.02 (bids), 0.02 (asks), 0.03 (spread): the tick is at most 0.02 until a one-tick gap shows.
    expect(minLevelGap(b)).toBe(0.02);
    expect(sizeStep(b)).toBe(1);
    expect(sizeStep(book([[1, 0.012]], [[2, 1.5]]))).toBe(0.001);
    const g = new Grid();
    g.observe(b);
    expect(g.tick).toBe(0.02);
    g.observe(book([[580.1, 100], [580.09, 5]], [[580.13, 100]]));
    expect(g.tick).toBe(0.01);
    expect(g.lot).toBe(1);
    expect(new Grid(0.05, 10).tick).toBe(0.05);
  });

  it('microprice leans to the thinner queue', () => {
    // (100 * 300 + 100.10 * 100) / 400 = 100.025: the bid's queue is thinner, the price likelier to fall.
    expect(micropriceOf(book([[100, 100]], [[100.1, 300]]))).toBeCloseTo(100.025, 12);
  });

  it('a parameter error names the strategy and the parameter; unknown names are refused', () => {
    const r = new ParamReader('twap', { qty: 'ten', maxPositon: 5 });
    expect(() => r.num('qty', 1)).toThrow(/strategy twap: parameter qty: expected a number, got "ten"/);
    const r2 = new ParamReader('market-maker', { size: '2', maxPositon: 5 });
    expect(r2.num('size', 1)).toBe(2);
    r2.num('maxPosition', 10);
    expect(() => r2.done()).toThrow(StrategyParamError);
    expect(() => r2.done()).toThrow(/maxPositon: unknown/);
    expect(() => builtinStrategies['market-maker']!({ size: 0 })).toThrow(/market-maker: parameter size/);
    expect(() => builtinStrategies['twap']!({})).toThrow(/twap: parameter qty/);
    expect(() => builtinStrategies['vwap']!({ qty: 10 })).toThrow(/vwap: parameter curve/);
    expect(() => builtinStrategies['market-maker']!({ ofiColumn: 'imb_1' })).toThrow(/ofiColumn/);
  });
});

describe('schedules', () => {
  it('TWAP: equal slices that sum to the quantity', () => {
    const s = twapSchedule(1000, 0, 10 * MIN, MIN);
    expect(s.times).toHaveLength(10);
    expect(sliceSizes(s)).toEqual(Array(10).fill(100));
    expect(scheduleTarget(s, -1)).toBe(0);
    expect(scheduleTarget(s, 0)).toBe(100);
    expect(scheduleTarget(s, 2.5 * MIN)).toBe(300);
    expect(scheduleTarget(s, 9 * MIN)).toBe(1000);
    expect(scheduleTarget(s, 20 * MIN)).toBe(1000);
  });

  it('TWAP: a short last slice gets a proportional share; lots round the cumulative down, the last is exact', () => {
    // 10 min at 3 min: slices of 3, 3, 3 and 1 minutes, weights 0.3, 0.3, 0.3, 0.1.
    const s = twapSchedule(1000, 0, 10 * MIN, 3 * MIN);
    expect(s.times).toEqual([0, 3 * MIN, 6 * MIN, 9 * MIN]);
    expect(s.cum).toEqual([300, 600, 900, 1000]);
    // 10 shares in 3 equal slices: cumulative 3.33 -> 3, 6.67 -> 6, then exactly 10.
    const t = twapSchedule(10, 0, 3 * MIN, MIN, 1);
    expect(sliceSizes(t)).toEqual([3, 3, 4]);
    expect(sliceSizes(t).reduce((a, b) => a + b, 0)).toBe(10);
  });

  it('VWAP: slices by the curve volume in each interval', () => {
    // Hourly buckets from 09:00: half the volume 09-10, a quarter 10-11 and 11-12.
    const curve: VolumeCurve = { bucketNs: H, originNs: 9 * H, share: [0.5, 0.25, 0.25] };
    // 09:30-10:30 holds half of bucket 0 and half of bucket 1: 0.25 + 0.125 = 0.375;
    // 10:30-11:30: 0.125 + 0.125 = 0.25. Of 1000: 1000 * 0.375 / 0.625 = 600, then the rest.
    const s = vwapSchedule(1000, 9.5 * H, 11.5 * H, H, curve);
    expect(s.cum).toEqual([600, 1000]);
    expect(s.note).toBeUndefined();
    // A window the curve never traded in falls back to TWAP and says so.
    const n = vwapSchedule(1000, 20 * H, 22 * H, H, curve);
    expect(n.cum).toEqual([500, 1000]);
    expect(n.note).toMatch(/no volume/);
  });

  it('POV: a fraction of the market volume, on the lot, capped at the parent', () => {
    expect(povTarget(1000, 0.1, 1234, 1)).toBe(123);
    expect(povTarget(1000, 0.1, 1234)).toBeCloseTo(123.4, 12);
    expect(povTarget(100, 0.25, 1000, 1)).toBe(100);
    expect(() => povTarget(100, 0, 1000)).toThrow(/rate/);
  });
});

describe('volume curve', () => {
  it('buckets trades by time of day from any day', () => {
    const day = 24 * H;
    // Two days' clocks: the second trade is on day 1 but at 09:04 of its day.
    const trades = [
      { ts: 9 * H + 10 * S, size: 100 },
      { ts: day + 9 * H + 4 * MIN, size: 300 },
      { ts: 9 * H + 12 * MIN, size: 600 },
      { ts: 9 * H + 13 * MIN, size: 0 },
    ];
    const c = buildVolumeCurve(trades, 5 * MIN, 'hand');
    expect(c.originNs).toBe(9 * H);
    // 09:00-09:05: 400, 09:05-09:10: 0, 09:10-09:15: 600, of 1000.
    expect(c.share).toEqual([0.4, 0, 0.6]);
    expect(c.volume).toBe(1000);
    // Half of the first bucket, all of the empty one, a fifth of the last: 0.2 + 0 + 0.12.
    expect(curveMass(c, 9 * H + 2.5 * MIN, 9 * H + 11 * MIN)).toBeCloseTo(0.32, 12);
    // The same window on another day has the same mass.
    expect(curveMass(c, 3 * day + 9 * H + 2.5 * MIN, 3 * day + 9 * H + 11 * MIN)).toBeCloseTo(0.32, 12);
    expect(() => buildVolumeCurve([], MIN)).toThrow(/no trades/);
  });

  it('a window across midnight is split at it', () => {
    const c: VolumeCurve = { bucketNs: H, originNs: 0, share: Array.from({ length: 24 }, () => 1 / 24) };
    // 23:30 to 00:30: half of the last bucket and half of the first.
    expect(curveMass(c, 23.5 * H, 24.5 * H)).toBeCloseTo(1 / 24, 12);
  });
});

describe('implementation shortfall', () => {
  it('a buy: price cost and fees against the arrival mid', () => {
    // 60 @ 10.02 + 40 @ 10.05 = 601.2 + 402 = 1003.2 against 100 x 10.00: 3.2 of price, 0.15 of fees.
    const s = implementationShortfall('buy', 10, 100, [{ price: 10.02, qty: 60, fee: 0.1 }, { price: 10.05, qty: 40, fee: 0.05 }]);
    expect(s.executed).toBe(100);
    expect(s.avgPrice).toBeCloseTo(10.032, 12);
    expect(s.execution).toBeCloseTo(3.2, 9);
    expect(s.fees).toBeCloseTo(0.15, 12);
    expect(s.opportunity).toBe(0);
    expect(s.total).toBeCloseTo(3.35, 9);
    // 3.35 / (10 x 100) = 33.5 bps.
    expect(s.bps).toBeCloseTo(33.5, 6);
  });

  it('a sell below arrival is a cost; above it a gain (negative shortfall)', () => {
    // Sold 50 @ 9.98 from arrival 10: 50 x 0.02 = 1 of cost, 20 bps of 500.
    expect(implementationShortfall('sell', 10, 50, [{ price: 9.98, qty: 50, fee: 0 }]).bps).toBeCloseTo(20, 9);
    expect(implementationShortfall('sell', 10, 50, [{ price: 10.01, qty: 50, fee: 0 }]).total).toBeCloseTo(-0.5, 9);
  });

  it('what was not executed pays the move of the mid to the end', () => {
    // 60 of 100 bought at 10.02 (1.2), the mid ends at 10.10: 40 x 0.10 = 4 of opportunity; 5.2 = 52 bps.
    const s = implementationShortfall('buy', 10, 100, [{ price: 10.02, qty: 60, fee: 0 }], 10.1);
    expect(s.opportunity).toBeCloseTo(4, 9);
    expect(s.total).toBeCloseTo(5.2, 9);
    expect(s.bps).toBeCloseTo(52, 6);
  });

  it('immediate execution walks the book at arrival', () => {
    const b = book([[9.99, 500]], [[10.01, 50], [10.02, 30], [10.04, 100]]);
    // 50 x 10.01 + 30 x 10.02 + 20 x 10.04 = 500.5 + 300.6 + 200.8 = 1001.9 for 100.
    const w = walkBook(b, 'buy', 100);
    expect(w).toMatchObject({ filled: 100, short: 0, levels: 3, lastPrice: 10.04 });
    expect(w.avgPrice).toBeCloseTo(10.019, 12);
    const im = immediateShortfall(b, 'buy', 100);
    expect(im.arrival).toBe(10);
    expect(im.total).toBeCloseTo(1.9, 9);
    expect(im.bps).toBeCloseTo(19, 6);
    // With a 10 bps taker fee: 1001.9 x 0.001 = 1.0019 more.
    expect(immediateShortfall(b, 'buy', 100, 0.001).total).toBeCloseTo(2.9019, 9);
    // 200 is more than the visible 180: the last 20 are priced at the last level (10.04).
    const short = immediateShortfall(b, 'buy', 200);
    expect(short.walk).toMatchObject({ filled: 180, short: 20 });
    // 50 x 10.01 + 30 x 10.02 + 100 x 10.04 = 1805.1 for the visible 180, 20 more at 10.04 = 200.8:
    // 2005.9 against 2000 at arrival.
    expect(short.total).toBeCloseTo(5.9, 9);
    expect(walkBook(b, 'sell', 100)).toMatchObject({ filled: 100, levels: 1, avgPrice: 9.99 });
  });
});

describe('market maker quotes', () => {
  const p: QuoteParams = { size: 3, maxPosition: 10, halfSpread: 1, microWeight: 1, ofiSkew: 0, inventorySkew: 0, vpinWiden: 0 };
  // Bid 100.00 x 100, ask 100.10 x 300: mid 100.05, market half-spread h = 0.05, microprice 100.025.
  const q: QuoteInput = {
    bidPx: 100, bidSz: 100, askPx: 100.1, askSz: 300, tick: 0.01, lot: 1, ofi: 0, ofiScale: 0, vpin: NaN, position: 0, otherBuy: 0, otherSell: 0,
  };

  it('around the microprice, one market half-spread out, rounded outwards to the tick', () => {
    // 100.025 -/+ 0.05: 99.975 down to 99.97 (behind the bid: the price leans down), 100.075 up to 100.08.
    const r = computeQuotes(q, p);
    expect(r.fair).toBeCloseTo(100.025, 12);
    expect(r.half).toBeCloseTo(0.05, 12);
    expect(r.bid).toEqual({ price: 99.97, qty: 3 });
    expect(r.ask).toEqual({ price: 100.08, qty: 3 });
    // microWeight 0 quotes around the mid: exactly the touch, 100.00 / 100.10.
    const m = computeQuotes(q, { ...p, microWeight: 0 });
    expect([m.bid!.price, m.ask!.price]).toEqual([100, 100.1]);
  });

  it('VPIN widens, OFI leans, inventory skews', () => {
    // VPIN 0.5, widen 2: half = 0.05 x (1 + 1) = 0.10 -> 99.925 down to 99.92, 100.125 up to 100.13.
    const v = computeQuotes({ ...q, vpin: 0.5 }, { ...p, vpinWiden: 2 });
    expect(v.half).toBeCloseTo(0.1, 12);
    expect([v.bid!.price, v.ask!.price]).toEqual([99.92, 100.13]);
    // OFI at its scale: tanh(1) = 0.761594; 2 half-spreads of skew: +0.0761594 -> fair 100.1011594;
    // 100.0511594 down to 100.05, 100.1511594 up to 100.16.
    expect(ofiSignal(50, 50)).toBeCloseTo(Math.tanh(1), 12);
    const o = computeQuotes({ ...q, ofi: 50, ofiScale: 50 }, { ...p, ofiSkew: 2 });
    expect(o.fair).toBeCloseTo(100.025 + 0.1 * Math.tanh(1), 12);
    expect([o.bid!.price, o.ask!.price]).toEqual([100.05, 100.16]);
    // Long 5 of 10, inventory skew 2: fair - 2 x 0.05 x 0.5 = 99.975; 99.925 -> 99.92, 100.025 -> 100.03.
    const i = computeQuotes({ ...q, position: 5 }, { ...p, inventorySkew: 2 });
    expect([i.bid!.price, i.ask!.price]).toEqual([99.92, 100.03]);
  });

  it('never at or through the other touch', () => {
    // Long 5 of 10 with skew 4: fair 99.925, the ask would be 99.98, under the bid: held at 100.01.
    const i = computeQuotes({ ...q, position: 5 }, { ...p, inventorySkew: 4 });
    expect([i.bid!.price, i.ask!.price]).toEqual([99.87, 100.01]);
    // One-tick spread 100.00 / 100.01 (h = 0.005), saturated OFI with skew 5: fair 100.005 + 0.025 =
    // 100.03; the bid would be 100.02, over the ask: held one tick under it (100.00); ask 100.04.
    const r = computeQuotes({ ...q, bidPx: 100, askPx: 100.01, bidSz: 100, askSz: 100, ofi: 1e9, ofiScale: 1 }, { ...p, ofiSkew: 5 });
    expect(r.bid!.price).toBe(100);
    expect(r.ask!.price).toBe(100.04);
  });

  it('inventory limit: a side is cut to what the limit leaves, then withdrawn', () => {
    expect(sideCapacity('buy', 9, 0, 10)).toBe(1);
    expect(sideCapacity('sell', 9, 0, 10)).toBe(19);
    expect(sideCapacity('sell', -4, 3, 10)).toBe(3);
    expect(computeQuotes({ ...q, position: 9 }, p).bid).toEqual({ price: 99.97, qty: 1 });
    expect(computeQuotes({ ...q, position: 10 }, p).bid).toBeUndefined();
    expect(computeQuotes({ ...q, position: 10 }, p).ask!.qty).toBe(3);
    // An open sell of 8 elsewhere leaves 2 of the short limit.
    expect(computeQuotes({ ...q, otherSell: 8 }, p).ask!.qty).toBe(2);
    expect(computeQuotes({ ...q, position: -10 }, p).ask).toBeUndefined();
  });

  it('the OFI scale is a running mean of |OFI|', () => {
    const e = new AbsEwma(1);
    // Half-life 1: weight 0.5, but the first values average plainly (1/n is larger).
    expect(e.push(-4)).toBe(4);
    expect(e.push(2)).toBe(3);
    expect(e.push(NaN)).toBe(3);
    expect(e.push(1)).toBe(2);
  });
});

describe('execution step', () => {
  // A buyer; bid 10.00 x 100, ask 10.02 x 300: microprice 10.005, mid 10.01, half-spread 0.01: favour +0.5.
  const base: StepInput = {
    side: 'buy', now: 100, end: 1000, parentQty: 1000, filled: 200, target: 300, children: [],
    bidPx: 10, bidSz: 100, askPx: 10.02, askSz: 300, lot: 1,
  };
  const p = { urgency: 0.1, finishWindow: 50, minFavour: 0 };

  it('favour is the microprice lean in half-spreads', () => {
    expect(favour('buy', 10, 100, 10.02, 300)).toBeCloseTo(0.5, 9);
    expect(favour('sell', 10, 100, 10.02, 300)).toBeCloseTo(-0.5, 9);
    expect(favour('buy', 10, 100, 10.02, 100)).toBeCloseTo(0, 9);
  });

  it('behind, microprice our way: a passive child for the deficit at our touch', () => {
    expect(executionStep(base, p)).toEqual([{ k: 'passive', qty: 100, price: 10 }]);
    // A seller with the same book sees the price leaving: no child.
    expect(executionStep({ ...base, side: 'sell' }, p)).toEqual([]);
    // A live child already covers 60 of the 100: 40 more.
    const child = { id: 7, passive: true, price: 10, remaining: 60, inflight: false };
    expect(executionStep({ ...base, children: [child] }, p)).toEqual([{ k: 'passive', qty: 40, price: 10 }]);
  });

  it('a passive child follows our touch', () => {
    const child = { id: 7, passive: true, price: 9.99, remaining: 100, inflight: false };
    expect(executionStep({ ...base, children: [child] }, p)).toEqual([{ k: 'reprice', id: 7, price: 10 }]);
    expect(executionStep({ ...base, children: [{ ...child, inflight: true }] }, p)).toEqual([]);
  });

  it('behind by more than the urgency: pull the passive children, cross the rest of the deficit', () => {
    // Target 500, filled 200: 300 behind > 0.1 x 1000. A passive child of 120 is open: it may still
    // fill until its cancel lands, so the cross is capped at 1000 - 200 - 120 = 680, more than the 300.
    const child = { id: 7, passive: true, price: 10, remaining: 120, inflight: false };
    expect(executionStep({ ...base, target: 500, children: [child] }, p)).toEqual([{ k: 'cancel', id: 7 }, { k: 'cross', qty: 300 }]);
    // A cross of 250 is already on its way: 50 more.
    const taker = { id: 8, passive: false, price: NaN, remaining: 250, inflight: true };
    expect(executionStep({ ...base, target: 500, children: [taker] }, p)).toEqual([{ k: 'cross', qty: 50 }]);
  });

  it('near the end: everything left crosses, never more than the parent', () => {
    // 950 >= 1000 - 50: want 800; a passive child of 700 still counts: 1000 - 200 - 700 = 100 now.
    const child = { id: 7, passive: true, price: 10, remaining: 700, inflight: false };
    expect(executionStep({ ...base, now: 950, children: [child] }, p)).toEqual([{ k: 'cancel', id: 7 }, { k: 'cross', qty: 100 }]);
    expect(executionStep({ ...base, now: 950 }, p)).toEqual([{ k: 'cross', qty: 800 }]);
  });

  it('done: leftovers are cancelled', () => {
    const child = { id: 7, passive: true, price: 10, remaining: 5, inflight: false };
    expect(executionStep({ ...base, filled: 1000, target: 1000, children: [child] }, p)).toEqual([{ k: 'cancel', id: 7 }]);
  });
});

describe('taker rule', () => {
  const classes = ['down', 'flat', 'up'];
  const t = { buyClass: 'up', sellClass: 'down', buyThreshold: 0.5, sellThreshold: 0.6 };

  it('signals from class probabilities', () => {
    expect(takerSignal([0.1, 0.3, 0.6], classes, t)).toBe(1);
    expect(takerSignal([0.55, 0.1, 0.35], classes, t)).toBe(0);
    expect(takerSignal([0.65, 0.05, 0.3], classes, t)).toBe(-1);
    // Both above their thresholds (low thresholds): the larger wins.
    expect(takerSignal([0.45, 0.05, 0.5], classes, { ...t, buyThreshold: 0.4, sellThreshold: 0.4 })).toBe(1);
    expect(() => takerSignal([1], ['a'], t)).toThrow(/lack up/);
  });

  it('orders towards the position the signal wants, within the limit and the holding period', () => {
    const p = { size: 2, maxPosition: 5, hold: 10 };
    expect(takerOrderQty(1, 0, 0, p)).toBe(2);
    expect(takerOrderQty(1, 4, 0, p)).toBe(1);
    expect(takerOrderQty(1, 5, 0, p)).toBe(0);
    // Flat: close, once held long enough.
    expect(takerOrderQty(0, 4, 9, p)).toBe(0);
    expect(takerOrderQty(0, 4, 10, p)).toBe(-4);
    // Reversal: close the long 4 and open 2 short in one order, after the hold.
    expect(takerOrderQty(-1, 4, 3, p)).toBe(0);
    expect(takerOrderQty(-1, 4, 11, p)).toBe(-6);
    expect(takerOrderQty(0, 0, 0, p)).toBe(0);
  });
});

describe('precomputed predictions', () => {
  it('emits each row\'s prediction with its row, only in the range, and refuses rows that are not the predicted ones', async () => {
    const { PrecomputedPredictor } = await import('../../src/backtest/strategies/model-predictions.ts');
    // 4 rows, 3 classes; row 0 has no prediction (the model's window is not full yet).
    const probs = Float32Array.from([NaN, NaN, NaN, 0.2, 0.3, 0.5, 0.6, 0.3, 0.1, 0.1, 0.1, 0.8]);
    const pre = { model: 'm', symbol: 'X', classes: ['down', 'flat', 'up'], n: 4, probs, ts: Float64Array.from([0, 10, 25, 40]), testFrom: 2 };
    const got: { row: number; p: number[] }[] = [];
    const pp = new PrecomputedPredictor(pre, 2);
    const v = new Float64Array(0);
    // The replay's clock starts elsewhere: only the times relative to row 0 are compared.
    for (const [row, ts] of [[0, 1000], [1, 1010], [2, 1025], [3, 1040]] as const) pp.onFeatures('X', ts, row, v, 0, (p) => got.push({ row: p.row, p: Array.from(p.probs) }));
    pp.onFeatures('Y', 5, 0, v, 0, () => got.push({ row: -1, p: [] }));
    expect(got.map((g) => g.row)).toEqual([2, 3]);
    expect(got[0]!.p).toEqual([Float32Array.from([0.6])[0], Float32Array.from([0.3])[0], Float32Array.from([0.1])[0]]);
    expect(pp.emitted).toBe(2);
    const all = new PrecomputedPredictor(pre);
    const rows: number[] = [];
    all.onFeatures('X', 0, 0, v, 0, (p) => rows.push(p.row));
    all.onFeatures('X', 10, 1, v, 0, (p) => rows.push(p.row));
    expect(rows).toEqual([1]);
    // Row 2 of the replay 30 ns after row 0, of the predictions 25 ns: not the same rows (tolerance 1 µs).
    expect(() => all.onFeatures('X', 30_000, 2, v, 0, () => {})).toThrow(/row 2 is at 30000 ns in the replay, 25 ns in the predictions/);
    expect(() => all.onFeatures('X', 40, 4, v, 0, () => {})).toThrow(/replay has row 4, the predictions 4 rows/);
  });
});
