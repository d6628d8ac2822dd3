/**
 * The exact queue on hand-built order sequences. Our order joins behind every visible order at its
 * price; ahead shrinks only by those orders' cancels, deletes and executions; once nothing visible
 * is ahead, an execution at our price (of an order behind ours, or of hidden liquidity) is what the
 * aggressor would have taken from ours. Each message is followed, as in a LOBSTER row, by the trade
 * it prints (if an execution) passed to onTrade.
 */
import { describe, expect, it } from 'vitest';
import { ASK, BID, OrderEvent, OrderType, type Side } from '../../src/model/events.ts';
import { ExactQueueModel, queueModel, type ExactState } from '../../src/backtest/queue/index.ts';

const PX = 100.01;

function msg(m: ExactQueueModel, type: OrderType, orderId: number, size: number, side: Side = BID, price = PX): void {
  const e = new OrderEvent();
  e.type = type;
  e.orderId = orderId;
  e.size = size;
  e.side = side;
  e.price = price;
  m.onOrder(e);
}

/** An execution message and the trade it prints; returns our fill. */
function exec(m: ExactQueueModel, s: ExactState, orderId: number, size: number, hidden = false): number {
  msg(m, hidden ? OrderType.ExecuteHidden : OrderType.Execute, orderId, size);
  return m.onTrade(s, size, 0);
}

describe('exact queue (order-level)', () => {
  it('is what queueModel("exact") builds', () => {
    expect(queueModel('exact')).toBeInstanceOf(ExactQueueModel);
  });

  it('joins behind every visible order; only those orders move it; executions behind fill it once the front is reached', () => {
    const m = new ExactQueueModel();
    msg(m, OrderType.Add, 1, 200); // A
    msg(m, OrderType.Add, 2, 300); // B
    msg(m, OrderType.Add, 9, 400, ASK, 100.02); // another price, other side
    const s = m.join(500, 100, 0, PX, BID);
    expect(s.ahead).toBe(500);
    expect(s.unknownAhead).toBe(0);
    msg(m, OrderType.Add, 3, 100); // C, behind us
    expect(s.ahead).toBe(500);
    msg(m, OrderType.Cancel, 2, 100); // B partly cancelled: 400 ahead
    expect(s.ahead).toBe(400);
    expect(exec(m, s, 1, 200)).toBe(0); // A executed, all of it ahead of us: 200 ahead
    expect(s.ahead).toBe(200);
    msg(m, OrderType.Delete, 3, 100); // C (behind) gone: no change
    expect(s.ahead).toBe(200);
    msg(m, OrderType.Add, 4, 50); // D, behind
    expect(exec(m, s, 2, 150)).toBe(0); // B: 50 left ahead
    expect(exec(m, s, 2, 50)).toBe(0); // B done: at the front
    expect(s.ahead).toBe(0);
    expect(m.restingAt(BID, PX)).toEqual([4]);
    // D executes 30: the aggressor would have met our order first, so those 30 are ours.
    expect(exec(m, s, 4, 30)).toBe(30);
    expect(s.remaining).toBe(70);
    // Hidden liquidity at our price trades after displayed orders: 20 more of ours.
    expect(exec(m, s, 0, 20, true)).toBe(20);
    expect(s.remaining).toBe(50);
    // A second trade report without a new order message collects nothing.
    expect(m.onTrade(s, 20, 0)).toBe(0);
    expect(exec(m, s, 4, 20)).toBe(20);
    expect(s.remaining).toBe(30);
    // A bigger execution fills only what is left, and the order stops being tracked.
    msg(m, OrderType.Add, 5, 500);
    expect(exec(m, s, 5, 400)).toBe(30);
    expect(s.remaining).toBe(0);
    expect(s.tracked).toBe(false);
  });

  it('a pending fill belongs to its message: a trade passed after a later message collects nothing', () => {
    const m = new ExactQueueModel();
    const s = m.join(0, 100, 0, PX, BID);
    msg(m, OrderType.Add, 1, 50);
    msg(m, OrderType.Execute, 1, 50); // would fill 50 of ours...
    msg(m, OrderType.Add, 2, 10); // ...but its trade was never passed on before the next message
    expect(m.onTrade(s, 50, 0)).toBe(0);
    expect(s.remaining).toBe(100);
  });

  it('messages on the other side at our price, or at other prices, do not touch the queue', () => {
    const m = new ExactQueueModel();
    msg(m, OrderType.Add, 1, 100);
    const s = m.join(100, 100, 0, PX, BID);
    msg(m, OrderType.Add, 2, 100, ASK, PX);
    msg(m, OrderType.Execute, 2, 100, ASK, PX);
    expect(m.onTrade(s, 100, 0)).toBe(0);
    msg(m, OrderType.Add, 3, 100, BID, 100.0);
    msg(m, OrderType.Execute, 3, 100, BID, 100.0);
    expect(m.onTrade(s, 100, 0)).toBe(0);
    expect(s.ahead).toBe(100);
  });

  it('orders resting before the first message: the level size beyond the known orders is an unknown lump ahead', () => {
    const m = new ExactQueueModel();
    msg(m, OrderType.Add, 10, 100); // E, known
    const s = m.join(300, 100, 0, PX, BID);
    expect(s.ahead).toBe(300);
    expect(s.unknownAhead).toBe(200);
    // id 5 was never added and is below every id added before our join (10): it rested before us.
    expect(exec(m, s, 5, 150)).toBe(0);
    expect(s).toMatchObject({ ahead: 150, unknownAhead: 50 });
    // id 99 > 10, the largest id seen before our join, and never added: it came after us while out of view, so behind. Visible quantity is
    // still ahead of us, so its execution is an anomaly the model counts and does not fill on.
    expect(exec(m, s, 99, 10)).toBe(0);
    expect(m.stats.execBehindWhileAhead).toBe(1);
    msg(m, OrderType.Delete, 6, 50); // another unknown id below 10: the rest of the lump
    expect(s).toMatchObject({ ahead: 100, unknownAhead: 0 });
    // One more unknown id below 10: it too rested at our price before we joined, so it was ahead,
    // and the known E (100) must in part be gone without a message (an order whose level lay
    // deeper than the file shows). Ahead follows the real order; E's own messages cannot go below 0.
    expect(exec(m, s, 8, 30)).toBe(0);
    expect(s).toMatchObject({ ahead: 70, unknownAhead: 0 });
    expect(exec(m, s, 10, 100)).toBe(0);
    expect(s.ahead).toBe(0);
    expect(exec(m, s, 7, 40)).toBe(0); // below 10: ahead of us, even with nothing counted ahead
    expect(exec(m, s, 100, 40)).toBe(40); // above 10, never added: behind us, and nothing is ahead
  });

  it('two of our orders at one price: an execution reaching them fills the first before the second, and no more than its size in all', () => {
    const m = new ExactQueueModel();
    msg(m, OrderType.Add, 1, 100);
    const a = m.join(100, 100, 0, PX, BID);
    const b = m.join(100, 100, 0, PX, BID);
    msg(m, OrderType.Add, 2, 500);
    expect(exec(m, a, 1, 100)).toBe(0); // both at the front now
    msg(m, OrderType.Execute, 2, 150);
    expect(m.onTrade(a, 150, 0)).toBe(100);
    expect(m.onTrade(b, 150, 0)).toBe(50); // 150 - 100 taken by the first
    msg(m, OrderType.ExecuteHidden, 0, 30);
    expect(m.onTrade(b, 30, 0)).toBe(30);
    expect(b.remaining).toBe(20);
  });

  it('independent what-ifs (shareExecutions: false): each order sees the whole execution', () => {
    const m = new ExactQueueModel({ shareExecutions: false });
    const a = m.join(0, 100, 0, PX, BID);
    const b = m.join(0, 100, 0, PX, BID);
    msg(m, OrderType.Add, 2, 500);
    msg(m, OrderType.Execute, 2, 150);
    expect(m.onTrade(a, 150, 0)).toBe(100);
    expect(m.onTrade(b, 150, 0)).toBe(100);
  });

  it('reduce keeps the place; a later execution fills at most the reduced size', () => {
    const m = new ExactQueueModel();
    msg(m, OrderType.Add, 1, 100);
    const s = m.join(100, 100, 0, PX, BID);
    msg(m, OrderType.Add, 2, 300);
    m.reduce(s, 40);
    expect(s).toMatchObject({ ahead: 100, remaining: 40 });
    expect(exec(m, s, 1, 100)).toBe(0);
    expect(exec(m, s, 2, 300)).toBe(40);
    expect(s.tracked).toBe(false);
  });

  it('a level smaller than the order map says is ahead is taken off the unknown lump first', () => {
    const m = new ExactQueueModel();
    msg(m, OrderType.Add, 1, 100);
    const s = m.join(250, 100, 0, PX, BID); // 150 unknown
    m.onDepth(s, 250, 180, 0); // 70 of the lump left without a message
    expect(s).toMatchObject({ ahead: 180, unknownAhead: 80 });
    expect(m.stats.depthBelowAhead).toBe(1);
    m.onDepth(s, 180, 300, 0); // growth is behind
    expect(s.ahead).toBe(180);
  });

  it('leave stops tracking; the side is inferred from resting orders or must be given', () => {
    const m = new ExactQueueModel();
    msg(m, OrderType.Add, 1, 100, ASK);
    const s = m.join(100, 50, 0, PX);
    expect(s.side).toBe(ASK);
    m.leave(s);
    msg(m, OrderType.Delete, 1, 100, ASK);
    expect(s.ahead).toBe(100);
    expect(() => m.join(0, 50, 0, 99.5)).toThrow(/join at 99.5 without a side/);
  });
});
