/**
 * The exact queue on order-level data (LOBSTER, from NASDAQ TotalView-ITCH): the model keeps the
 * venue's resting orders by side and price from every order message, and our simulated order joins
 * behind every visible order at its price. Nothing is estimated: what stands ahead shrinks only by
 * the cancels, deletes and executions of those orders. Reading of the rules and its limits:
 * docs/backtest.md (queue block).
 */
import { ASK, BID, OrderType, type OrderEvent, type Side } from '../../model/events.ts';
import type { QueueModel, QueueState } from './model.ts';

/**
 * Prices as map keys: the exchange and the source compute the same float for the same tick, but
 * a key rounded to 1e-9 also survives a price that took another arithmetic path (580.12 typed by a
 * strategy vs 5801200 / 10000 from the file).
 */
export function priceKey(price: number): number {
  return Math.round(price * 1e9);
}

interface VenueOrder {
  side: Side;
  key: number;
  size: number;
}

export interface ExactState extends QueueState {
  readonly side: Side;
  readonly key: number;
  /** Known venue orders that rested at the price when the order joined, and still do. */
  aheadIds: Set<number>;
  /**
   * Visible quantity ahead that no order message introduced: orders resting before the file's
   * first message (a LOBSTER day starts with a book, not with its Add messages), or added while
   * the level was deeper than the file's levels.
   */
  unknownAhead: number;
  /** The largest order id in any message before the join: an unknown id above it arrived after us (see apply). */
  readonly maxIdAtJoin: number;
  /** Fill the latest order message says the order would have got; collected by the next onTrade. */
  pending: number;
  pendingSeq: number;
  tracked: boolean;
}

/** Counts of what the order feed could not explain, for the validation's honesty column. */
export interface ExactStats {
  /** An execution of an order behind ours while visible quantity was still ahead of ours. */
  execBehindWhileAhead: number;
  /** A depth update showing the level smaller than the quantity the order map puts ahead. */
  depthBelowAhead: number;
  /** Order messages for ids the model never saw added. */
  unknownIds: number;
  /** Joins where the known orders at the price summed to more than the visible level. */
  staleAtJoin: number;
}

export interface ExactOptions {
  /**
   * Our orders at one price share an execution that reaches them, in the order they joined (true,
   * default: one trading account). false: each order is an independent what-if that sees the whole
   * execution (the validation, whose orders stand for separate experiments).
   */
  shareExecutions?: boolean;
}

export class ExactQueueModel implements QueueModel<ExactState> {
  readonly name = 'exact';
  private readonly share: boolean;

  constructor(opts: ExactOptions = {}) {
    this.share = opts.shareExecutions ?? true;
  }

  readonly stats: ExactStats = { execBehindWhileAhead: 0, depthBelowAhead: 0, unknownIds: 0, staleAtJoin: 0 };
  private readonly orders = new Map<number, VenueOrder>();
  /** Per side, price key -> ids resting there in arrival order (a Set iterates in insertion order). */
  private readonly levels: [Map<number, Set<number>>, Map<number, Set<number>>] = [new Map(), new Map()];
  /** Per side, price key -> our live orders there. */
  private readonly live: [Map<number, Set<ExactState>>, Map<number, Set<ExactState>>] = [new Map(), new Map()];
  private maxSeenId = -Infinity;
  /** Counts order messages: a pending fill belongs to the message that produced it only. */
  private seq = 0;

  join(levelSize: number, qty: number, _ts: number, price: number, side?: Side): ExactState {
    if (!(qty > 0) || !Number.isFinite(qty)) throw new RangeError(`queue model exact: join with order quantity ${qty} (expected > 0)`);
    if (!(levelSize >= 0)) throw new RangeError(`queue model exact: join with level size ${levelSize} (expected >= 0)`);
    const key = priceKey(price);
    let sd = side;
    if (sd === undefined) {
      if (this.levels[BID].get(key)?.size) sd = BID;
      else if (this.levels[ASK].get(key)?.size) sd = ASK;
      else throw new Error(`queue model exact: join at ${price} without a side, and no venue order rests there to tell it (pass the side)`);
    }
    const ids = this.levels[sd].get(key);
    let known = 0;
    if (ids) for (const id of ids) known += this.orders.get(id)!.size;
    // Every visible order at the price is ahead: the known ones by id, the rest of the visible size
    // as a lump of unknown orders (they can only have arrived before us). Known orders summing to
    // more than the level means some left without a message: a LOBSTER file carries no message for
    // a price beyond its levels, so an order that was cancelled while its price lay there stays in
    // the map. Which ones is unknown, but they can never send a message again, so taking the visible
    // size as what is ahead and letting the messages of the real ones take it down stays exact.
    const unknownAhead = Math.max(0, levelSize - known);
    if (known > levelSize) this.stats.staleAtJoin++;
    const s: ExactState = {
      ahead: Math.min(known, levelSize) + unknownAhead,
      remaining: qty,
      side: sd,
      key,
      aheadIds: new Set(ids),
      unknownAhead,
      maxIdAtJoin: this.maxSeenId,
      pending: 0,
      pendingSeq: -1,
      tracked: true,
    };
    let set = this.live[sd].get(key);
    if (!set) this.live[sd].set(key, (set = new Set()));
    set.add(s);
    return s;
  }

  onOrder(e: OrderEvent): void {
    this.seq++;
    // Hidden executions carry no order id (0 in LOBSTER).
    if (e.orderId > this.maxSeenId && e.type !== OrderType.ExecuteHidden) this.maxSeenId = e.orderId;
    switch (e.type) {
      case OrderType.Add: {
        const key = priceKey(e.price);
        this.orders.set(e.orderId, { side: e.side, key, size: e.size });
        let ids = this.levels[e.side].get(key);
        if (!ids) this.levels[e.side].set(key, (ids = new Set()));
        ids.add(e.orderId);
        // An order arriving now is behind every order of ours already there.
        return;
      }
      case OrderType.Cancel:
      case OrderType.Delete:
      case OrderType.Execute: {
        const o = this.orders.get(e.orderId);
        if (!o) this.stats.unknownIds++;
        const side = o ? o.side : e.side;
        const key = o ? o.key : priceKey(e.price);
        // A delete removes what is left of the order, whatever size the message carries.
        const size = o ? (e.type === OrderType.Delete ? o.size : Math.min(e.size, o.size)) : e.size;
        const states = this.live[side].get(key);
        if (states) {
          // Several of our orders at one price stand in the order they joined (a Set iterates in
          // insertion order): an execution that reaches them fills the first before the next, and
          // never more in all than its own size.
          let left = e.type === OrderType.Execute ? e.size : 0;
          for (const s of states) {
            const f = this.apply(s, e, o !== undefined, size, left);
            if (this.share) left -= f;
          }
        }
        if (o) {
          o.size -= size;
          if (e.type === OrderType.Delete || o.size <= 0) {
            this.orders.delete(e.orderId);
            const ids = this.levels[side].get(key);
            if (ids) {
              ids.delete(e.orderId);
              if (ids.size === 0) this.levels[side].delete(key);
            }
          }
        }
        return;
      }
      case OrderType.ExecuteHidden: {
        // Hidden liquidity at a price trades after every displayed order at that price (NASDAQ's
        // display priority). An execution of it at our price with nothing visible ahead would have
        // met our displayed order first.
        const states = this.live[e.side].get(priceKey(e.price));
        if (states) {
          let left = e.size;
          for (const s of states) {
            const f = this.setPending(s, s.ahead <= 0 ? left : 0);
            if (this.share) left -= f;
          }
        }
        return;
      }
      default:
        // Cross (auction) and halt messages move no resting order.
        return;
    }
  }

  /** Applies one message to one of our orders; returns the fill it would give that order. */
  private apply(s: ExactState, e: OrderEvent, known: boolean, size: number, left: number): number {
    let isAhead: boolean;
    if (known) isAhead = s.aheadIds.has(e.orderId);
    // An id never added: resting before the file began or added while its level lay deeper than the
    // file shows. NASDAQ assigns order reference numbers in increasing order (on these days only the
    // opening cross re-adds lower ids, at 09:30:00.19-09:30:00.21), so an id at most the largest added before
    // our join was resting at our price when we joined (orders never change price; a replace gets a
    // new id), hence ahead; a larger one arrived after us.
    else isAhead = e.orderId <= s.maxIdAtJoin;
    if (isAhead) {
      if (!known) {
        // It was part of the unknown lump, or, with the lump used up, it stood where a known order
        // that silently left was counted.
        s.unknownAhead = Math.max(0, s.unknownAhead - size);
      } else if (e.type === OrderType.Delete || size >= this.orders.get(e.orderId)!.size) {
        s.aheadIds.delete(e.orderId);
      }
      s.ahead = Math.max(0, s.ahead - size);
      return this.setPending(s, 0);
    }
    if (e.type !== OrderType.Execute) return this.setPending(s, 0);
    // An order behind ours traded at our price. With nothing visible ahead, the aggressor would have
    // met ours first: this execution's size (less what our earlier orders here took) is what it
    // would have filled of ours.
    if (s.ahead <= 0) return this.setPending(s, left);
    this.stats.execBehindWhileAhead++;
    return this.setPending(s, 0);
  }

  private setPending(s: ExactState, fill: number): number {
    s.pending = Math.max(0, Math.min(fill, s.remaining));
    s.pendingSeq = this.seq;
    return s.pending;
  }

  onTrade(s: ExactState, size: number, _ts?: number): number {
    // Only the trade that reports the latest order message can collect its fill: a pending fill
    // left by a message whose trade the caller did not pass on must not attach to a later trade.
    if (s.pendingSeq !== this.seq || s.pending <= 0 || !(size > 0)) return 0;
    const fill = Math.min(s.pending, size, s.remaining);
    s.pending = 0;
    s.remaining -= fill;
    if (s.remaining <= 0) this.leave(s);
    return fill;
  }

  onDepth(s: ExactState, _before: number, after: number, _ts?: number): void {
    if (after >= s.ahead) return;
    // The order map puts more ahead than the level shows. Only the unknown lump can be wrong here
    // (a pre-file order that left without a message, or an estimate from a stale level size); the
    // visible level is the bound.
    this.stats.depthBelowAhead++;
    const excess = s.ahead - Math.max(0, after);
    const fromUnknown = Math.min(excess, s.unknownAhead);
    s.unknownAhead -= fromUnknown;
    s.ahead = Math.max(0, after);
  }

  reduce(s: ExactState, newRemaining: number): void {
    if (!(newRemaining >= 0) || newRemaining > s.remaining) {
      throw new RangeError(`queue model exact: reduce to ${newRemaining} from ${s.remaining} (a reduce that keeps the place only lowers the quantity)`);
    }
    s.remaining = newRemaining;
    if (s.pending > s.remaining) s.pending = s.remaining;
    if (newRemaining === 0) this.leave(s);
  }

  leave(s: ExactState): void {
    if (!s.tracked) return;
    s.tracked = false;
    const set = this.live[s.side].get(s.key);
    if (set) {
      set.delete(s);
      if (set.size === 0) this.live[s.side].delete(s.key);
    }
  }

  /** The unknown lump of an order's state (for code that holds it as a plain QueueState). */
  unknownOf(s: QueueState): number {
    return (s as ExactState).unknownAhead ?? 0;
  }

  /** Venue orders resting at a price (diagnostics and tests). */
  restingAt(side: Side, price: number): number[] {
    return [...(this.levels[side].get(priceKey(price)) ?? [])];
  }
}
