/**
 * The simulated exchange's fill rules on hand-built books (real L2Books), each answer worked out
 * here by hand. The queue model is a minimal risk-averse one kept for these tests only
 * (tests/backtest/engine-helpers.ts; the project's models live in src/backtest/queue/).
 */
import { describe, expect, it } from 'vitest';
import { L2Book } from '../../src/book/l2-book.ts';
import { ASK, BID, DepthEvent } from '../../src/model/events.ts';
import { SimExchange, type NewOrder } from '../../src/backtest/exchange.ts';
import type { QueueState } from '../../src/backtest/queue/model.ts';
import { testRiskAverse } from './engine-helpers.ts';
import type { Fill, Order } from '../../src/backtest/strategy.ts';

function snapshot(bids: [number, number][], asks: [number, number][]): DepthEvent {
  const e = new DepthEvent();
  e.symbol = 'X';
  e.kind = 'snapshot';
  for (const [p, s] of bids) e.pushBid(p, s);
  for (const [p, s] of asks) e.pushAsk(p, s);
  return e;
}

function setLevel(book: L2Book, side: 0 | 1, px: number, sz: number): void {
  const e = new DepthEvent();
  e.symbol = 'X';
  e.kind = 'delta';
  e.sizes = 'absolute';
  if (side === BID) e.pushBid(px, sz);
  else e.pushAsk(px, sz);
  book.apply(e);
}

function setup(fees = { maker: 0, taker: 0 }) {
  const book = new L2Book('paged');
  book.apply(snapshot([[100.0, 500], [99.99, 400], [99.98, 300]], [[100.01, 100], [100.02, 200], [100.03, 300]]));
  const fills: Fill[] = [];
  const updates: Order[] = [];
  const models: QueueState[] = [];
  const x = new SimExchange({ side: (s, side) => (s === 'X' ? book.side(side) : undefined) }, {
    queue: () => {
      const m = testRiskAverse();
      const join = m.join;
      return { ...m, join: (...a: Parameters<typeof join>) => { const s = join(...a); models.push(s); return s; } };
    },
    feeMakerBps: fees.maker,
    feeTakerBps: fees.taker,
  }, { fill: (f) => fills.push(f), update: (o) => updates.push(o) });
  let id = 1;
  const order = (o: Partial<NewOrder>): NewOrder => ({ id: id++, symbol: 'X', side: 'buy', kind: 'limit', tif: 'GTC', price: NaN, qty: 0, sentAt: 0, ...o });
  return { book, x, fills, updates, models, order };
}

const last = (u: Order[]): Order => u[u.length - 1]!;

describe('market orders', () => {
  it('walk the levels at exact prices; the VWAP is the walk\'s', () => {
    const { x, fills, updates, order } = setup();
    x.submit(order({ kind: 'market', qty: 250 }), 10);
    expect(fills.map((f) => [f.price, f.qty, f.liquidity])).toEqual([[100.01, 100, 'taker'], [100.02, 150, 'taker']]);
    const vwap = fills.reduce((a, f) => a + f.price * f.qty, 0) / 250;
    // (100 * 100.01 + 150 * 100.02) / 250 = (10001 + 15003) / 250 = 100.016
    expect(vwap).toBeCloseTo(100.016, 10);
    expect(last(updates)).toMatchObject({ status: 'filled', filled: 250, tif: 'IOC' });
  });

  it('two market orders do not take the same liquidity until the level is updated', () => {
    const { x, book, fills, order } = setup();
    x.submit(order({ kind: 'market', qty: 250 }), 10);
    fills.length = 0;
    // 50 left at 100.02 (200 - 150), then 300 at 100.03.
    x.submit(order({ kind: 'market', qty: 100 }), 11);
    expect(fills.map((f) => [f.price, f.qty])).toEqual([[100.02, 50], [100.03, 50]]);
    fills.length = 0;
    // A depth update of 100.02 (to 180): the recorded size is the truth again; 100.01 was not updated (still all ours).
    setLevel(book, ASK, 100.02, 180);
    x.onBook('X', 12);
    x.submit(order({ kind: 'market', qty: 200 }), 13);
    expect(fills.map((f) => [f.price, f.qty])).toEqual([[100.02, 180], [100.03, 20]]);
  });

  it('a market order larger than the visible book is cancelled for the rest', () => {
    const { x, fills, updates, order } = setup();
    x.submit(order({ kind: 'market', side: 'sell', qty: 1500 }), 10);
    expect(fills.map((f) => [f.price, f.qty])).toEqual([[100.0, 500], [99.99, 400], [99.98, 300]]);
    expect(last(updates)).toMatchObject({ status: 'cancelled', filled: 1200 });
  });
});

describe('limit orders', () => {
  it('IOC fills to its limit and the remainder is cancelled', () => {
    const { x, fills, updates, order } = setup();
    x.submit(order({ price: 100.02, qty: 400, tif: 'IOC' }), 10);
    expect(fills.map((f) => [f.price, f.qty])).toEqual([[100.01, 100], [100.02, 200]]);
    expect(last(updates)).toMatchObject({ status: 'cancelled', filled: 300, reason: 'IOC remainder cancelled' });
    expect(x.openOrders('X')).toHaveLength(0);
  });

  it('a marketable GTC takes to its limit and rests the rest at its price', () => {
    const { x, fills, updates, models, order } = setup();
    x.submit(order({ price: 100.01, qty: 150 }), 10);
    expect(fills.map((f) => [f.price, f.qty])).toEqual([[100.01, 100]]);
    expect(last(updates)).toMatchObject({ status: 'open', filled: 100 });
    // It rests on the bid side at 100.01, where the recorded book has nothing: first in line, 50 left.
    expect(models[0]).toEqual({ ahead: 0, remaining: 50 });
  });

  it('POST_ONLY is rejected when it would cross, rests otherwise', () => {
    const { x, fills, updates, order } = setup();
    x.submit(order({ price: 100.01, qty: 10, tif: 'POST_ONLY' }), 10);
    expect(last(updates)).toMatchObject({ status: 'rejected', reason: 'post-only would cross' });
    x.submit(order({ side: 'sell', price: 100.0, qty: 10, tif: 'POST_ONLY' }), 10);
    expect(last(updates)).toMatchObject({ status: 'rejected' });
    x.submit(order({ price: 100.0, qty: 10, tif: 'POST_ONLY' }), 10);
    expect(last(updates)).toMatchObject({ status: 'open' });
    expect(fills).toHaveLength(0);
  });

  it('a passive order fills by the queue model: partially at its price, the rest on a trade through', () => {
    const { x, fills, updates, models, order } = setup();
    x.submit(order({ price: 100.0, qty: 100 }), 10);
    expect(models[0]).toEqual({ ahead: 500, remaining: 100 });
    // A buy aggressor does not touch bids.
    x.onTrade('X', 100.0, 300, 1, false, 11);
    expect(fills).toHaveLength(0);
    // Sell 300 at our price: 500 ahead -> 200 ahead, nothing for us.
    x.onTrade('X', 100.0, 300, -1, false, 12);
    expect(fills).toHaveLength(0);
    expect(models[0]).toEqual({ ahead: 200, remaining: 100 });
    // Sell 250: 200 ahead go, 50 of ours fill (a partial fill, maker, at our price).
    x.onTrade('X', 100.0, 250, -1, false, 13);
    expect(fills.map((f) => [f.price, f.qty, f.liquidity, f.ts])).toEqual([[100.0, 50, 'maker', 13]]);
    expect(x.openOrders('X')[0]!.o).toMatchObject({ status: 'open', filled: 50 });
    // A hidden execution of 30 at our price with nothing visible ahead: displayed orders trade
    // first, so 30 of our remaining 50 fill.
    x.onTrade('X', 100.0, 30, -1, true, 14);
    expect(fills.map((f) => [f.price, f.qty])).toEqual([[100.0, 50], [100.0, 30]]);
    // A sell at 99.99, through our price: our remaining 20 would have traded first.
    x.onTrade('X', 99.99, 10, -1, false, 15);
    expect(fills.map((f) => [f.price, f.qty])).toEqual([[100.0, 50], [100.0, 30], [100.0, 20]]);
    expect(last(updates)).toMatchObject({ status: 'filled', filled: 100 });
    expect(x.openOrders('X')).toHaveLength(0);
  });

  it('a depth update of the order\'s level reaches its queue model even when the size comes out unchanged', () => {
    const { book, x, order } = setup();
    const seen: [number, number][] = [];
    x.submit(order({ price: 100.0, qty: 100 }), 10);
    // Spy on the resting order's model: the exchange made it through setup's queue factory.
    const rest = (x as unknown as { resting: Map<string, { model: { onDepth: (...a: unknown[]) => void } }[]> }).resting.get('X')![0]!;
    const inner = rest.model.onDepth.bind(rest.model);
    rest.model = { ...rest.model, onDepth: (q: unknown, before: unknown, after: unknown, ts: unknown) => { seen.push([before as number, after as number]); inner(q, before, after, ts); } };
    // A trade of 100 and a new order of 100 at 100.00: the level's size is 500 again.
    setLevel(book, BID, 100.0, 500);
    x.onBook('X', 11, { bid: [100.0], ask: [] });
    expect(seen).toEqual([[500, 500]]);
    // An update elsewhere with our level unchanged: nothing for our model.
    setLevel(book, BID, 99.99, 350);
    x.onBook('X', 12, { bid: [99.99], ask: [] });
    expect(seen).toEqual([[500, 500]]);
    // A change of our level's size reaches it whatever the event listed.
    setLevel(book, BID, 100.0, 450);
    x.onBook('X', 13);
    expect(seen).toEqual([[500, 500], [500, 450]]);
  });

  it('two of our orders at one price share a trade in the order they joined', () => {
    const { x, fills, models, order } = setup();
    x.submit(order({ price: 100.0, qty: 100 }), 10);
    x.submit(order({ price: 100.0, qty: 100 }), 11);
    // Sell 550: 500 ahead of each go; the first order takes 50, and only the 0 left after that reaches the second.
    x.onTrade('X', 100.0, 550, -1, false, 12);
    expect(fills.map((f) => [f.orderId, f.qty])).toEqual([[1, 50]]);
    expect(models[1]).toEqual({ ahead: 0, remaining: 100 });
    // Sell 80: the first order's last 50, then 30 for the second.
    x.onTrade('X', 100.0, 80, -1, false, 13);
    expect(fills.map((f) => [f.orderId, f.qty])).toEqual([[1, 50], [1, 50], [2, 30]]);
  });

  it('the other side closing over a resting order fills it as maker at its price', () => {
    const { x, book, fills, order } = setup();
    // Inside the spread: nothing recorded at 100.005.
    x.submit(order({ price: 100.005, qty: 50 }), 10);
    setLevel(book, ASK, 100.005, 30);
    x.onBook('X', 11);
    expect(fills.map((f) => [f.price, f.qty, f.liquidity])).toEqual([[100.005, 30, 'maker']]);
    // The same 30 are not taken twice while that level is unchanged.
    x.onBook('X', 12);
    expect(fills).toHaveLength(1);
  });

  it('a level shrinking moves the risk-averse estimate up only below what is ahead', () => {
    const { x, book, models, order } = setup();
    x.submit(order({ price: 100.0, qty: 100 }), 10);
    setLevel(book, BID, 100.0, 600);
    x.onBook('X', 11);
    expect(models[0]!.ahead).toBe(500);
    setLevel(book, BID, 100.0, 120);
    x.onBook('X', 12);
    expect(models[0]!.ahead).toBe(120);
  });
});

describe('cancel and modify', () => {
  it('a same-price size reduction keeps the queue place', () => {
    const { x, updates, models, order } = setup();
    x.submit(order({ price: 100.0, qty: 100 }), 10);
    x.onTrade('X', 100.0, 300, -1, false, 11);
    x.modify(1, { qty: 60 }, 12);
    expect(last(updates)).toMatchObject({ status: 'open', qty: 60, price: 100.0 });
    expect(models).toHaveLength(1);
    expect(models[0]).toEqual({ ahead: 200, remaining: 60 });
  });

  it('a new price (or more quantity) is a cancel-replace: back of the new level', () => {
    const { x, models, order } = setup();
    x.submit(order({ price: 100.0, qty: 100 }), 10);
    x.onTrade('X', 100.0, 300, -1, false, 11);
    x.modify(1, { price: 99.99 }, 12);
    expect(models[1]).toEqual({ ahead: 400, remaining: 100 });
    x.modify(1, { qty: 150 }, 13);
    expect(models[2]).toEqual({ ahead: 400, remaining: 150 });
    expect(x.openOrders('X')).toHaveLength(1);
    // Moving back to 100.00 joins behind the whole recorded 500, not the 200 it had before.
    x.modify(1, { price: 100.0 }, 14);
    expect(models[3]).toEqual({ ahead: 500, remaining: 150 });
  });

  it('a modify that crosses takes liquidity as a new order would', () => {
    const { x, fills, order } = setup();
    x.submit(order({ price: 100.0, qty: 100 }), 10);
    x.modify(1, { price: 100.01 }, 11);
    expect(fills.map((f) => [f.price, f.qty, f.liquidity])).toEqual([[100.01, 100, 'taker']]);
  });

  it('cancel takes the order out; a cancel after it is final changes nothing', () => {
    const { x, fills, updates, order } = setup();
    x.submit(order({ price: 100.0, qty: 100 }), 10);
    x.cancel(1, 11);
    expect(last(updates)).toMatchObject({ status: 'cancelled', reason: 'cancelled by the strategy' });
    x.onTrade('X', 99.0, 10, -1, false, 12);
    expect(fills).toHaveLength(0);
    const n = updates.length;
    x.cancel(1, 13);
    expect(updates).toHaveLength(n);
    expect(x.stats.late).toBe(1);
  });
});

describe('fees', () => {
  it('taker pays taker bps of notional, maker gets its rebate (negative fee)', () => {
    const { x, fills, order } = setup({ maker: -0.2, taker: 0.5 });
    x.submit(order({ kind: 'market', qty: 100 }), 10);
    // 100 * 100.01 = 10001 notional * 0.5 / 1e4 = 0.50005
    expect(fills[0]!.fee).toBeCloseTo(0.50005, 10);
    x.submit(order({ side: 'sell', price: 100.03, qty: 10 }), 11);
    x.onTrade('X', 100.04, 5, 1, false, 12);
    // 10 * 100.03 = 1000.3 * -0.2 / 1e4 = -0.020006
    expect(fills[1]).toMatchObject({ price: 100.03, qty: 10, liquidity: 'maker' });
    expect(fills[1]!.fee).toBeCloseTo(-0.020006, 10);
  });
});
