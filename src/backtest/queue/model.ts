/**
 * Queue position of one resting order at one price level, as a model estimates it. The simulated
 * exchange (src/backtest/exchange) owns the orders and calls the model; the model only keeps the
 * estimate of what stands ahead and says how much of the order a trade at its price fills.
 *
 * L2 models see only level sizes and trades. The exact model (LOBSTER order-level data) sees every
 * order id and knows the queue. Formulas and the validation of the L2 models against the exact
 * queue: docs/backtest.md.
 */
import type { OrderEvent, Side } from '../../model/events.ts';

/** One order's estimate. Models may keep more fields in their own subtype. */
export interface QueueState {
  /** Visible quantity estimated ahead of the order (0 = at the front). */
  ahead: number;
  /** Quantity of the order still open. */
  remaining: number;
}

export interface QueueModel<S extends QueueState = QueueState> {
  /** The name users pick it by (`--queue risk-averse|prob-power:2|prob-log|exact`). */
  readonly name: string;
  /**
   * The order (qty) arrives at the back of a level whose visible size is `levelSize` at exchange
   * time `ts`. The exact model also needs the venue's order ids at that price, which it has from
   * its own onOrder feed, and the order's side (BID/ASK), so that an order message on the other
   * side at the same price is never mistaken for one in our queue. L2 models ignore `side`; the
   * exact model infers it from the orders resting at that price when it is left out.
   */
  join(levelSize: number, qty: number, ts: number, price: number, side?: Side): S;
  /**
   * A trade of `size` printed at the order's price against the order's side (a sell aggressor
   * into our bid level, a buy aggressor into our ask level). Returns the quantity of the order
   * that fills (0 ≤ fill ≤ remaining); the model updates `ahead` and `remaining`.
   * Trades through the price (better than it for the aggressor) are the exchange's business:
   * they fill the whole remaining order without asking the model.
   */
  onTrade(s: S, size: number, ts: number): number;
  /**
   * The level's visible size changed from `before` to `after` in a depth update. Quantity that
   * trades reported through onTrade since the previous depth update already took away must not be
   * counted twice (the model keeps that tally in its state). Call it for every depth update that
   * reports the order's level, also when the size did not change: that is when the tally of trades
   * is settled, and a tally left over would be subtracted from a later, unrelated decrease. Do not
   * call it when the level is outside the depth the feed shows (a 10-level LOBSTER file whose
   * 10th level is better than the order's price): its size is unknown there, not 0.
   */
  onDepth(s: S, before: number, after: number, ts: number): void;
  /** The order's own quantity was reduced in place (a modify that keeps the queue place). */
  reduce?(s: S, newRemaining: number): void;
  /**
   * Order-level models: every order message of the symbol, before depth and trades are reported.
   * An order-level model keeps one book of venue orders, so create one model per symbol.
   */
  onOrder?(e: OrderEvent): void;
  /**
   * The order left the book (cancelled, or filled to 0). Models that keep live orders (the exact
   * model indexes them by price to apply order messages) stop tracking it; L2 models keep nothing.
   */
  leave?(s: S): void;
}
