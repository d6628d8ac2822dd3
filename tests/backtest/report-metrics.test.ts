/** The report's metrics on hand-worked fills and equity series (every number below is worked out in its comment). */
import { describe, expect, it } from 'vitest';
import { fillRatio, maxDrawdown, minuteEquity, pnl, roundTrips, sharpe, slippage, feeBreakdown, type MetricFill } from '../../src/backtest/report/metrics.ts';

const f = (side: 'buy' | 'sell', qty: number, price: number, fee: number, extra: Partial<MetricFill> = {}): MetricFill =>
  ({ symbol: 'X', side, qty, price, fee, liquidity: 'taker', ts: 0, arrivalMid: NaN, mid: NaN, ...extra });

// Buy 10 @100, buy 10 @102 (avg 101), sell 15 @103 (realises 15 x 2 = 30), sell 10 @100 (closes 5 at
// 100 - 101 = -5 each: -5; opens 5 short at 100). Fees 0.1 + 0.1 + 0.15 + 0.1 = 0.45.
const FILLS = [f('buy', 10, 100, 0.1), f('buy', 10, 102, 0.1), f('sell', 15, 103, 0.15), f('sell', 10, 100, 0.1)];

describe('pnl', () => {
  it('realised by average cost, unrealised at the last mid, total = cash + position x mid', () => {
    const r = pnl(FILLS, { X: 99 });
    expect(r.realised).toBeCloseTo(25, 10);
    // Short 5 from 100, marked at 99: +5.
    expect(r.unrealised).toBeCloseTo(5, 10);
    expect(r.fees).toBeCloseTo(0.45, 10);
    expect(r.total).toBeCloseTo(29.55, 10);
    // The same through cash: -1000 - 1020 + 1545 + 1000 - 0.45 = 524.55; plus -5 x 99 = -495: 29.55.
    expect(r.position).toEqual({ X: -5 });
    expect(r.maxAbsPosition).toBe(20);
  });
});

describe('fractional lots', () => {
  it('0.1 + 0.2 bought and 0.3 sold is flat (binary sums would leave 5.6e-17)', () => {
    const fills = [f('buy', 0.1, 100, 0), f('buy', 0.2, 100, 0), f('sell', 0.3, 101, 0)];
    expect(pnl(fills, { X: 101 }).position).toEqual({ X: 0 });
    expect(roundTrips(fills).trips).toBe(1);
    expect(roundTrips(fills).pnls[0]).toBeCloseTo(0.3, 10);
  });
});

describe('round trips', () => {
  it('flat to flat, a fill through zero closes one and opens the next; fees in', () => {
    // Trip 1: -1000.1 - 1020.1 + 1544.85 + (5 of the last sell: 500 - 0.05) = 24.6, a win.
    // Trip 2: the other 5 sold at 100 (+500 - 0.05), bought back 5 @101 fee 0.05 (-505.05): -5.1, a loss.
    const r = roundTrips([...FILLS, f('buy', 5, 101, 0.05)]);
    expect(r.trips).toBe(2);
    expect(r.pnls[0]).toBeCloseTo(24.6, 10);
    expect(r.pnls[1]).toBeCloseTo(-5.1, 10);
    expect(r).toMatchObject({ wins: 1, losses: 1, winRate: 0.5 });
    expect(r.avgWin).toBeCloseTo(24.6, 10);
  });
});

describe('equity series', () => {
  const S = 1e9;
  const pts = [{ ts: 0, equity: 0 }, { ts: 30 * S, equity: 5 }, { ts: 60 * S, equity: 10 }, { ts: 90 * S, equity: 4 }, { ts: 150 * S, equity: 12 }];

  it('minute sampling: the first point, then the last value of each minute', () => {
    // [0,60): 5; [60,120): 4; [120,180): 12.
    expect(minuteEquity(pts)).toEqual([0, 5, 4, 12]);
  });

  it('Sharpe of per-minute changes, annualised by the session', () => {
    // Changes 5, -1, 8: mean 4, sample variance (1 + 25 + 16) / 2 = 21.
    const r = sharpe(pts, 'equities');
    expect(r.minutes).toBe(3);
    expect(r.sharpe).toBeCloseTo((4 / Math.sqrt(21)) * Math.sqrt(252 * 390), 8);
    expect(sharpe(pts, 'crypto').sharpe).toBeCloseTo((4 / Math.sqrt(21)) * Math.sqrt(365 * 1440), 8);
    expect(sharpe([{ ts: 0, equity: 1 }], 'crypto').sharpe).toBeNull();
  });

  it('max drawdown from the running peak', () => {
    // Peak 10 at 60 s, then 4 at 90 s: 6.
    expect(maxDrawdown(pts)).toEqual({ maxDrawdown: 6, peakTs: 60 * S, troughTs: 90 * S });
  });
});

describe('orders and fills', () => {
  it('fill ratio over orders that reached the book', () => {
    const r = fillRatio([{ qty: 100, filled: 50, status: 'open' }, { qty: 10, filled: 10, status: 'filled' }, { qty: 5, filled: 0, status: 'rejected' }]);
    expect(r).toEqual({ orders: 2, qtyRatio: 60 / 110, ordersWithFill: 2, filledQty: 60, orderedQty: 110 });
  });

  it('slippage vs arrival and vs mid, a cost positive, quantity-weighted', () => {
    const fills = [
      f('buy', 10, 100.1, 0, { arrivalMid: 100, mid: 100.05 }),
      f('sell', 30, 99.9, 0, { arrivalMid: 100, mid: 99.95 }),
    ];
    const r = slippage(fills);
    // Both 0.1 worse than arrival on 100: 10 bps; in money 10 x 0.1 + 30 x 0.1 = 4.
    expect(r.vsArrivalBps).toBeCloseTo(10, 10);
    expect(r.vsArrival).toBeCloseTo(4, 10);
    // vs mid: 0.05 / 100.05 and 0.05 / 99.95, weights 10 and 30.
    expect(r.vsMidBps).toBeCloseTo((10 * (0.05 / 100.05) * 1e4 + 30 * (0.05 / 99.95) * 1e4) / 40, 8);
    expect(r.vsMid).toBeCloseTo(2, 10);
  });

  it('fees by liquidity', () => {
    const r = feeBreakdown([f('buy', 10, 100, 0.5), f('sell', 10, 100, -0.2, { liquidity: 'maker' })]);
    expect(r).toEqual({ total: 0.3, maker: -0.2, taker: 0.5, makerQty: 10, takerQty: 10 });
  });
});
