/**
 * The simulated exchange: pure matching of the strategy's orders against a market it cannot move.
 * No I/O, no clock of its own: the engine (engine.ts) calls it in exchange-time order and forwards
 * what it reports (order updates and fills) to the strategy after the response latency.
 *
 * The market is the recorded book (read through `ExchangeBooks`, the pipeline's own L2 books) and
 * its trades. Our orders are not in that book, so:
 *  - an aggressive order walks the visible levels of the other side and takes what is there, minus
 *    what our own earlier aggressive orders already took from the same level; that consumption is
 *    remembered until the next depth update of the level (its size changes), when the recorded size
 *    is the truth again;
 *  - a resting order sits at the back of its level as it was when the order arrived; the queue model
 *    (queue/model.ts) estimates what stands ahead of it; a recorded trade at our price against our
 *    side asks the model how much of ours it filled; a trade through our price (better for the
 *    aggressor) fills all that is left (it would have had to trade with us first); a recorded level
 *    of the other side at or through our price (the spread closing over us) fills us against its
 *    size, as maker at our price, because its owner would have traded with us on arrival.
 * Prices are kept on a 1e-8 grid so that a strategy's computed price (100.1 + 0.01) meets the
 * recorded level's price (parsed from text) exactly.
 */
import { ASK, BID, type OrderEvent, type Side } from '../model/events.ts';
import type { PriceLadder } from '../book/ladder.ts';
import type { QueueModel, QueueState } from './queue/model.ts';
import type { Fill, Liquidity, Order, OrderKind, OrderSide, TimeInForce } from './strategy.ts';

/** The market's book per symbol as the exchange reads it (the pipeline's builders' L2 books). */
export interface ExchangeBooks {
  /** A symbol's side, or undefined while it has no book. */
  side(symbol: string, side: Side): PriceLadder | undefined;
}

export interface ExchangeOptions {
  /** One queue model per symbol (the exact model keeps the symbol's order ids). */
  queue: (symbol: string) => QueueModel;
  /** Fees in basis points of notional; negative maker = rebate. */
  feeMakerBps: number;
  feeTakerBps: number;
}

/** What the exchange reports, in the order it happens; objects are the receiver's to keep. */
export interface ExchangeOutput {
  fill(f: Fill): void;
  /** An order's state after an exchange action (ack, reject, cancel, modify, final fill). */
  update(o: Order, ts: number): void;
}

export interface NewOrder {
  id: number;
  symbol: string;
  side: OrderSide;
  kind: OrderKind;
  tif: TimeInForce;
  price: number;
  qty: number;
  tag?: string;
  sentAt: number;
}

interface Resting {
  o: Order;
  side: Side;
  q: QueueState;
  model: QueueModel;
  /** The level's recorded size when the model last heard of it. */
  levelSize: number;
}

/**
 * What the exact model (queue/exact.ts) takes beyond the QueueModel interface: the order's side
 * (a price can hold venue orders of either side over a day) and a call when our order leaves.
 */
type SidedModel = QueueModel & {
  join(levelSize: number, qty: number, ts: number, price: number, side?: Side): QueueState;
  leave?(s: QueueState): void;
};

interface Consumed {
  /** Quantity our aggressive orders took from the level. */
  qty: number;
  /** The level's recorded size when we took it: a different size means a depth update came. */
  size: number;
}

/**
 * Quantities on a 1e-9 grid: sizes such as Binance's 0.001 lots do not add up exactly in binary
 * (0.1 + 0.2), and a remainder of 1e-17 would keep a filled order open.
 */
export function snapQty(q: number): number {
  return Math.round(q * 1e9) / 1e9;
}

/** Prices on a 1e-8 grid (the strategy's arithmetic meets the source's parsed prices). */
export function snapPrice(p: number): number {
  return Math.round(p * 1e8) / 1e8;
}

export interface ExchangeStats {
  ordersIn: number;
  rejected: number;
  cancelled: number;
  modifies: number;
  /** Cancels / modifies that came after their order was final (they cross a fill in flight). */
  late: number;
}

export class SimExchange {
  private readonly orders = new Map<number, Resting | { o: Order; side: Side; q: undefined }>();
  /** Resting (open) orders per symbol, in arrival order. */
  private readonly resting = new Map<string, Resting[]>();
  /** Per symbol, per side: price -> what our aggressive orders took there. */
  private readonly consumed = new Map<string, [Map<number, Consumed>, Map<number, Consumed>]>();
  private readonly models = new Map<string, QueueModel>();
  readonly stats: ExchangeStats = { ordersIn: 0, rejected: 0, cancelled: 0, modifies: 0, late: 0 };

  constructor(
    private readonly books: ExchangeBooks,
    private readonly opts: ExchangeOptions,
    private readonly out: ExchangeOutput,
  ) {}

  /** Best bid and ask of the recorded book (NaN when a side is empty). */
  mid(symbol: string): number {
    const b = this.books.side(symbol, BID);
    const a = this.books.side(symbol, ASK);
    if (!b || !a || b.n === 0 || a.n === 0) return NaN;
    return (b.bestPrice() + a.bestPrice()) / 2;
  }

  openOrders(symbol: string): readonly Resting[] {
    return this.resting.get(symbol) ?? [];
  }

  private model(symbol: string): QueueModel {
    let m = this.models.get(symbol);
    if (!m) this.models.set(symbol, (m = this.opts.queue(symbol)));
    return m;
  }

  // ---- the strategy's orders, as they reach the exchange ----

  submit(n: NewOrder, ts: number): void {
    this.stats.ordersIn++;
    const o: Order = {
      id: n.id, symbol: n.symbol, side: n.side, kind: n.kind, tif: n.kind === 'market' ? 'IOC' : n.tif,
      price: n.kind === 'market' ? NaN : snapPrice(n.price), qty: n.qty, filled: 0, status: 'pending', tag: n.tag, sentAt: n.sentAt,
    };
    const side: Side = n.side === 'buy' ? BID : ASK;
    this.orders.set(o.id, { o, side, q: undefined });
    if (!(o.qty > 0) || (o.kind === 'limit' && !(o.price > 0))) return this.reject(o, ts, `bad order: qty ${o.qty}, price ${o.price}`);
    if (!this.books.side(o.symbol, BID) || !this.books.side(o.symbol, ASK)) return this.reject(o, ts, `no book for ${o.symbol}`);
    this.arrive(o, side, ts);
  }

  /** An order (new, or replaced by a modify) meets the book: takes what it crosses, then rests or ends. */
  private arrive(o: Order, side: Side, ts: number): void {
    const other = this.books.side(o.symbol, side === BID ? ASK : BID)!;
    const crosses = other.n > 0 && (o.kind === 'market' || (side === BID ? other.bestPrice() <= o.price : other.bestPrice() >= o.price));
    if (o.tif === 'POST_ONLY' && crosses) return this.reject(o, ts, 'post-only would cross');
    if (crosses) this.take(o, side, other, ts);
    if (o.filled >= o.qty) {
      o.status = 'filled';
      this.out.update({ ...o }, ts);
      return;
    }
    if (o.kind === 'market' || o.tif === 'IOC') {
      o.status = 'cancelled';
      o.reason = o.kind === 'market' ? 'no liquidity left for the rest' : 'IOC remainder cancelled';
      this.stats.cancelled++;
      this.orders.set(o.id, { o, side, q: undefined });
      this.out.update({ ...o }, ts);
      return;
    }
    this.rest(o, side, ts);
    this.out.update({ ...o }, ts);
  }

  /** Taker fills: the other side's levels, best first, as far as the limit, less our earlier consumption. */
  private take(o: Order, side: Side, other: PriceLadder, ts: number): void {
    const cons = this.consumedOf(o.symbol)[side === BID ? ASK : BID];
    const limit = o.kind === 'market' ? NaN : o.price;
    for (let lvl = 1; lvl <= other.n && o.filled < o.qty; lvl++) {
      const px = other.priceAt(lvl);
      if (limit === limit && (side === BID ? px > limit : px < limit)) break;
      const size = other.sizeAtLevel(lvl);
      let c = cons.get(px);
      if (c && c.size !== size) {
        cons.delete(px);
        c = undefined;
      }
      const avail = size - (c ? c.qty : 0);
      if (avail <= 0) continue;
      const q = snapQty(Math.min(avail, o.qty - o.filled));
      if (c) c.qty += q;
      else cons.set(px, { qty: q, size });
      this.fill(o, px, q, 'taker', ts);
    }
  }

  private rest(o: Order, side: Side, ts: number): void {
    o.status = 'open';
    const ladder = this.books.side(o.symbol, side)!;
    const levelSize = ladder.sizeAt(o.price);
    const model = this.model(o.symbol) as SidedModel;
    const r: Resting = { o, side, q: model.join(levelSize, o.qty - o.filled, ts, o.price, side), model, levelSize };
    this.orders.set(o.id, r);
    let list = this.resting.get(o.symbol);
    if (!list) this.resting.set(o.symbol, (list = []));
    list.push(r);
  }

  cancel(id: number, ts: number): void {
    const r = this.orders.get(id);
    if (!r || r.o.status !== 'open') {
      this.stats.late++;
      return;
    }
    this.unrest(r as Resting);
    r.o.status = 'cancelled';
    r.o.reason = 'cancelled by the strategy';
    this.stats.cancelled++;
    this.out.update({ ...r.o }, ts);
  }

  /**
   * A same-price reduction keeps the queue place (the model is told, or the remaining is cut);
   * anything else (a new price, more quantity) is a cancel-replace: the order arrives again, at the
   * back of its new level, and may cross.
   */
  modify(id: number, change: { price?: number; qty?: number }, ts: number): void {
    const r = this.orders.get(id);
    if (!r || r.o.status !== 'open') {
      this.stats.late++;
      return;
    }
    this.stats.modifies++;
    const res = r as Resting;
    const o = res.o;
    const price = change.price === undefined ? o.price : snapPrice(change.price);
    const qty = change.qty === undefined ? o.qty : change.qty;
    if (!(qty > 0) || !(price > 0)) {
      this.stats.late++;
      return;
    }
    if (price === o.price && qty <= o.qty) {
      o.qty = qty;
      const rem = snapQty(qty - o.filled);
      if (rem <= 0) {
        this.unrest(res);
        o.status = o.filled > 0 ? 'filled' : 'cancelled';
        if (o.status === 'cancelled') o.reason = 'modified to nothing';
      } else if (res.model.reduce) res.model.reduce(res.q, rem);
      else res.q.remaining = rem;
      this.out.update({ ...o }, ts);
      return;
    }
    this.unrest(res);
    o.price = price;
    o.qty = qty;
    if (o.filled >= qty) {
      o.status = 'filled';
      this.out.update({ ...o }, ts);
      return;
    }
    this.arrive(o, res.side, ts);
  }

  private unrest(r: Resting): void {
    (r.model as SidedModel).leave?.(r.q);
    const list = this.resting.get(r.o.symbol);
    if (!list) return;
    const i = list.indexOf(r);
    if (i >= 0) list.splice(i, 1);
  }

  // ---- the recorded market, in exchange-time order ----

  /** Order-level messages go to the symbol's queue model from the first one on (the exact one keeps the venue's queue). */
  onOrder(e: OrderEvent): void {
    this.model(e.symbol).onOrder?.(e);
  }

  /** A recorded trade (before the depth update that follows it). sign: aggressor, 0 unknown. */
  onTrade(symbol: string, price: number, size: number, sign: number, hidden: boolean, ts: number): void {
    const list = this.resting.get(symbol);
    if (!list || list.length === 0) return;
    let s = sign;
    if (s === 0) {
      // Unknown aggressor: a print at or below the bid was a sell, at or above the ask a buy.
      const b = this.books.side(symbol, BID);
      const a = this.books.side(symbol, ASK);
      if (b && b.n > 0 && price <= b.bestPrice()) s = -1;
      else if (a && a.n > 0 && price >= a.bestPrice()) s = 1;
      else return;
    }
    // A sell aggressor trades against bids, a buy aggressor against asks.
    const hits: Side = s < 0 ? BID : ASK;
    // Several of our orders at the trade's price share it, in the order they joined: what one of
    // them took is not there for the next (each L2 model alone would hand every one the whole trade).
    let left = size;
    for (let i = 0; i < list.length; i++) {
      const r = list[i]!;
      if (r.side !== hits) continue;
      const o = r.o;
      const through = hits === BID ? price < o.price : price > o.price;
      let q = 0;
      if (through) q = o.qty - o.filled;
      // Executions against hidden liquidity at our price count too: displayed orders have priority
      // (NASDAQ), so one happening means the visible queue ahead had gone, and a validation against
      // the exact LOBSTER queue finds every model later without them (docs/backtest.md, queue block).
      else if (price === o.price && left > 0) {
        q = r.model.onTrade(r.q, left, ts);
        left -= Math.min(q, o.qty - o.filled);
      }
      if (q > 0) {
        this.fill(o, o.price, snapQty(Math.min(q, o.qty - o.filled)), 'maker', ts);
        if (through) r.q.remaining = 0;
        if (o.filled >= o.qty) i -= this.finish(r, ts);
      }
    }
  }

  /**
   * The recorded book of a symbol changed (a depth event was applied): resting orders' levels that
   * changed go to the queue model; the other side closing over a resting order fills it; our
   * consumption of a level is forgotten once the level's recorded size is new.
   */
  onBook(symbol: string, ts: number, touched?: TouchedLevels): void {
    const cons = this.consumed.get(symbol);
    if (cons) {
      for (let s = 0; s < 2; s++) {
        const m = cons[s]!;
        if (m.size === 0) continue;
        const ladder = this.books.side(symbol, s as Side);
        for (const [px, c] of m) if (!ladder || ladder.sizeAt(px) !== c.size) m.delete(px);
      }
    }
    const list = this.resting.get(symbol);
    if (!list || list.length === 0) return;
    for (let i = 0; i < list.length; i++) {
      const r = list[i]!;
      const own = this.books.side(symbol, r.side)!;
      const now = own.sizeAt(r.o.price);
      // Every update of the order's level goes to the model, its size changed or not: the L2 models
      // settle their tally of traded quantity there (a trade and a new order cancelling out exactly
      // must not leave the trade to be counted again at a later update).
      if (now !== r.levelSize || (touched !== undefined && touches(r.side === BID ? touched.bid : touched.ask, r.o.price))) {
        r.model.onDepth(r.q, r.levelSize, now, ts);
        r.levelSize = now;
      }
      const other = this.books.side(symbol, r.side === BID ? ASK : BID)!;
      if (other.n > 0 && (r.side === BID ? other.bestPrice() <= r.o.price : other.bestPrice() >= r.o.price)) {
        this.crossedOver(r, other, ts);
        if (r.o.filled >= r.o.qty) i -= this.finish(r, ts);
      }
    }
  }

  /** The other side's levels at or through our resting price fill us (maker, at our price), less what we took of them. */
  private crossedOver(r: Resting, other: PriceLadder, ts: number): void {
    const o = r.o;
    const cons = this.consumedOf(o.symbol)[r.side === BID ? ASK : BID];
    for (let lvl = 1; lvl <= other.n && o.filled < o.qty; lvl++) {
      const px = other.priceAt(lvl);
      if (r.side === BID ? px > o.price : px < o.price) break;
      const size = other.sizeAtLevel(lvl);
      const c = cons.get(px);
      const avail = size - (c && c.size === size ? c.qty : 0);
      if (avail <= 0) continue;
      const q = snapQty(Math.min(avail, o.qty - o.filled));
      if (c && c.size === size) c.qty += q;
      else cons.set(px, { qty: q, size });
      this.fill(o, o.price, q, 'maker', ts);
    }
    r.q.remaining = snapQty(o.qty - o.filled);
  }

  /** A resting order filled completely: out of the book; returns 1 (it left the list being walked). */
  private finish(r: Resting, ts: number): number {
    this.unrest(r);
    r.o.status = 'filled';
    this.out.update({ ...r.o }, ts);
    return 1;
  }

  private fill(o: Order, price: number, qty: number, liquidity: Liquidity, ts: number): void {
    o.filled = snapQty(o.filled + qty);
    const bps = liquidity === 'maker' ? this.opts.feeMakerBps : this.opts.feeTakerBps;
    this.out.fill({
      orderId: o.id, symbol: o.symbol, side: o.side, price, qty, fee: (price * qty * bps) / 1e4, liquidity, ts, seenAt: ts, tag: o.tag,
    });
  }

  private reject(o: Order, ts: number, reason: string): void {
    o.status = 'rejected';
    o.reason = reason;
    this.stats.rejected++;
    this.out.update({ ...o }, ts);
  }

  private consumedOf(symbol: string): [Map<number, Consumed>, Map<number, Consumed>] {
    let c = this.consumed.get(symbol);
    if (!c) this.consumed.set(symbol, (c = [new Map(), new Map()]));
    return c;
  }
}

/** The price levels a depth event listed, by side (what the engine saw it update). */
export interface TouchedLevels {
  bid: number[];
  ask: number[];
}

function touches(prices: readonly number[], price: number): boolean {
  const eps = 1e-9 * Math.max(1, Math.abs(price));
  for (let i = 0; i < prices.length; i++) if (Math.abs(prices[i]! - price) <= eps) return true;
  return false;
}
