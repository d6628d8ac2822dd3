/**
 * Implementation shortfall (Perold 1988): what executing a parent order cost against the arrival
 * price, the mid when the decision was made. For a buy, every unit bought above the arrival mid is
 * a cost; for a sell, every unit sold below it. Fees are costs too. Quantity left unexecuted is
 * charged at the move of the mid from arrival to the end (the opportunity cost), so an algorithm
 * cannot look cheap by not trading.
 *
 * The benchmark is immediate execution: one market order at arrival walking the visible book.
 */
import type { BookView, OrderSide } from '../strategy.ts';

export interface ShortfallFill {
  price: number;
  qty: number;
  /** Positive = paid. */
  fee: number;
}

export interface Shortfall {
  side: OrderSide;
  arrival: number;
  parentQty: number;
  executed: number;
  /** Volume-weighted fill price (NaN when nothing executed). */
  avgPrice: number;
  /** Price cost of the executed part against arrival, currency (positive = cost). */
  execution: number;
  fees: number;
  /** Unexecuted quantity times the adverse move of the mid from arrival to `endMid` (0 when all executed). */
  opportunity: number;
  /** execution + fees + opportunity. */
  total: number;
  /** total over the parent order's value at arrival, in basis points. */
  bps: number;
}

/** +1 for a buy, -1 for a sell: the sign that turns a price above arrival into a cost. */
export function sideSign(side: OrderSide): 1 | -1 {
  return side === 'buy' ? 1 : -1;
}

export function implementationShortfall(
  side: OrderSide,
  arrival: number,
  parentQty: number,
  fills: Iterable<ShortfallFill>,
  endMid = arrival,
): Shortfall {
  if (!(arrival > 0)) throw new RangeError(`implementation shortfall: arrival price must be > 0, got ${arrival}`);
  if (!(parentQty > 0)) throw new RangeError(`implementation shortfall: parent quantity must be > 0, got ${parentQty}`);
  const s = sideSign(side);
  let executed = 0, notional = 0, fees = 0;
  for (const f of fills) {
    executed += f.qty;
    notional += f.qty * f.price;
    fees += f.fee;
  }
  const execution = s * (notional - executed * arrival);
  const unexecuted = Math.max(0, parentQty - executed);
  // Only the part of the parent that was not done is exposed to the end price.
  const opportunity = unexecuted > 0 && Number.isFinite(endMid) ? s * (endMid - arrival) * unexecuted : 0;
  const total = execution + fees + opportunity;
  return {
    side,
    arrival,
    parentQty,
    executed,
    avgPrice: executed > 0 ? notional / executed : NaN,
    execution,
    fees,
    opportunity,
    total,
    bps: (total / (arrival * parentQty)) * 1e4,
  };
}

export interface BookWalk {
  /** Quantity the visible book could fill. */
  filled: number;
  /** Quantity beyond the visible depth (the book ran out). */
  short: number;
  avgPrice: number;
  /** Levels touched. */
  levels: number;
  /** The last (worst) price reached. */
  lastPrice: number;
}

/** A market order of `qty` walking the opposite side of the book, best level first. */
export function walkBook(book: BookView, side: OrderSide, qty: number): BookWalk {
  const px = side === 'buy' ? book.askPx : book.bidPx;
  const sz = side === 'buy' ? book.askSz : book.bidSz;
  const n = side === 'buy' ? book.nAsks : book.nBids;
  let left = qty, notional = 0, levels = 0, last = NaN;
  for (let i = 0; i < n && left > 0; i++) {
    const take = Math.min(left, sz[i]!);
    if (!(take > 0)) continue;
    notional += take * px[i]!;
    left -= take;
    levels++;
    last = px[i]!;
  }
  const filled = qty - left;
  return { filled, short: left, avgPrice: filled > 0 ? notional / filled : NaN, levels, lastPrice: last };
}

/**
 * The shortfall of immediate execution: the whole parent as one market order at arrival on the
 * book seen then, paying `takerFee` (a fraction of notional). What the visible book cannot fill is
 * priced at its last level: a lower bound of the real cost, flagged by `walk.short` > 0.
 */
export function immediateShortfall(book: BookView, side: OrderSide, qty: number, takerFee = 0): Shortfall & { walk: BookWalk } {
  const arrival = book.nBids > 0 && book.nAsks > 0 ? (book.bidPx[0]! + book.askPx[0]!) / 2 : NaN;
  const walk = walkBook(book, side, qty);
  const fills: ShortfallFill[] = [];
  if (walk.filled > 0) fills.push({ price: walk.avgPrice, qty: walk.filled, fee: takerFee * walk.avgPrice * walk.filled });
  if (walk.short > 0 && Number.isFinite(walk.lastPrice)) fills.push({ price: walk.lastPrice, qty: walk.short, fee: takerFee * walk.lastPrice * walk.short });
  return { ...implementationShortfall(side, arrival, qty, fills), walk };
}
