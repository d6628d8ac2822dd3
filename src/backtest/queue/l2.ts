/**
 * Queue-position models for L2 (market-by-price) data: they see only the level's visible size and
 * the trades at the order's price, and estimate how much visible quantity stands ahead of the order.
 * The approach is hftbacktest's (nkaz001/hftbacktest, src/backtest/models/queue.rs and
 * docs/order_fill.rst), re-derived here; formulas and where we depart from it: docs/backtest.md.
 */
import type { QueueModel, QueueState } from './model.ts';

export interface L2Options {
  /**
   * Fills are rounded to whole lots (nearest, as hftbacktest does), so a fractional estimate of the
   * quantity ahead does not turn into fractional shares. 0 (default): no rounding.
   */
  lot?: number;
}

/**
 * Turns the overshoot of a trade past the front of the queue into a fill. `ahead` has already had
 * the trade taken off; a negative value is the part of the trade that reached the order.
 */
function settleFill(s: QueueState, size: number, lot: number): number {
  if (s.ahead >= 0) return 0;
  const over = -s.ahead;
  // The trade consumed everything ahead: the order is at the front now whatever it fills, and the
  // unfilled rest of it keeps that place.
  s.ahead = 0;
  let fill = lot > 0 ? Math.round(over / lot) * lot : over;
  // Rounding to the nearest lot may overshoot the trade itself by up to half a lot.
  if (fill > size) fill = lot > 0 ? Math.floor(size / lot) * lot : size;
  if (fill > s.remaining) fill = s.remaining;
  if (fill <= 0) return 0;
  s.remaining -= fill;
  return fill;
}

function checkJoin(name: string, levelSize: number, qty: number): void {
  if (!(levelSize >= 0) || !Number.isFinite(levelSize)) {
    throw new RangeError(`queue model ${name}: join with level size ${levelSize} (expected a finite size >= 0)`);
  }
  if (!(qty > 0) || !Number.isFinite(qty)) {
    throw new RangeError(`queue model ${name}: join with order quantity ${qty} (expected > 0)`);
  }
}

function reduceTo(name: string, s: QueueState, newRemaining: number): void {
  if (!(newRemaining >= 0) || newRemaining > s.remaining) {
    throw new RangeError(`queue model ${name}: reduce to ${newRemaining} from ${s.remaining} (a reduce that keeps the place only lowers the quantity)`);
  }
  // The place in the queue is unchanged: what stands ahead stays ahead.
  s.remaining = newRemaining;
}

/**
 * Risk-averse: the order only moves up when trades print at its price (every traded share was ahead
 * of it until the front is reached), and when the level shrinks below the estimate (the level cannot
 * hold more ahead of the order than it holds). Cancels are assumed to come from behind the order,
 * so it is the model that fills latest.
 */
export class RiskAverseModel implements QueueModel {
  readonly name = 'risk-averse';
  private readonly lot: number;

  constructor(opts: L2Options = {}) {
    this.lot = opts.lot ?? 0;
  }

  join(levelSize: number, qty: number, _ts?: number, _price?: number): QueueState {
    checkJoin(this.name, levelSize, qty);
    return { ahead: levelSize, remaining: qty };
  }

  onTrade(s: QueueState, size: number, _ts?: number): number {
    if (!(size > 0) || s.remaining <= 0) return 0;
    s.ahead -= size;
    return settleFill(s, size, this.lot);
  }

  onDepth(s: QueueState, _before: number, after: number, _ts?: number): void {
    // Trades already took their share off `ahead`; a shrink they do not explain is a cancel, which
    // this model puts behind the order unless the level is now smaller than the estimate. No tally
    // of trades is needed: min() cannot count a decrease twice.
    if (after < s.ahead) s.ahead = Math.max(0, after);
  }

  reduce(s: QueueState, newRemaining: number): void {
    reduceTo(this.name, s, newRemaining);
  }
}

/** State of the probabilistic models: the trade quantity not yet matched by a depth update. */
export interface ProbState extends QueueState {
  tradedSinceDepth: number;
}

/**
 * The share of an unexplained decrease that falls behind the order, from the quantity ahead and
 * behind it. It must be 1 at the front (nothing ahead can be cancelled) and tend to 0 at the back.
 */
export type BehindShare = (ahead: number, behind: number) => number;

/** hftbacktest's PowerProbQueueFunc / LogProbQueueFunc form: f(behind) / (f(behind) + f(ahead)). */
export function behindShareOf(f: (x: number) => number): BehindShare {
  return (ahead, behind) => {
    const fb = f(behind);
    const d = fb + f(ahead);
    // Nothing ahead and nothing behind: only our own order is there, so nothing can be cancelled
    // ahead of it.
    return d > 0 ? fb / d : 1;
  };
}

/**
 * Probabilistic: a decrease of the level that trades do not explain (a cancel) is split between the
 * quantity ahead of the order and the quantity behind it, the share behind being
 * p = f(behind) / (f(behind) + f(ahead)). With f(x) = x^n a larger n pushes cancels towards the
 * larger side more strongly; f(x) = log(1 + x) depends on the level's total size as well as on the
 * ratio. Trades seen since the last depth update are subtracted from that update's decrease, so a
 * trade and the depth update that reports it move the order once.
 */
export class ProbQueueModel implements QueueModel<ProbState> {
  private readonly lot: number;

  constructor(readonly name: string, private readonly behindShare: BehindShare, opts: L2Options = {}) {
    this.lot = opts.lot ?? 0;
  }

  join(levelSize: number, qty: number, _ts?: number, _price?: number): ProbState {
    checkJoin(this.name, levelSize, qty);
    return { ahead: levelSize, remaining: qty, tradedSinceDepth: 0 };
  }

  onTrade(s: ProbState, size: number, _ts?: number): number {
    if (!(size > 0)) return 0;
    // The level's next depth update will show this trade's size gone; remember it even once the
    // order is done, so that update is not read as a cancel.
    s.tradedSinceDepth += size;
    if (s.remaining <= 0) return 0;
    s.ahead -= size;
    return settleFill(s, size, this.lot);
  }

  onDepth(s: ProbState, before: number, after: number, _ts?: number): void {
    const traded = s.tradedSinceDepth;
    const cancelled = before - after - traded;
    s.tradedSinceDepth = 0;
    if (cancelled <= 0) {
      // The level grew (net of trades): new orders join behind us; the front does not move. The
      // level can still be smaller than the estimate when the feed's sizes and trades disagree.
      if (after < s.ahead) s.ahead = Math.max(0, after);
      return;
    }
    const ahead = s.ahead;
    // The trades already came off `ahead` (and, past the front, off the quantity behind), so what
    // stood behind the order when the cancel happened is the level net of those trades, less what is
    // ahead. hftbacktest takes before - ahead, which counts the traded quantity as behind and so
    // puts a little more of each cancel there than the queue can hold.
    const behind = Math.max(0, before - traded - ahead);
    const p = this.behindShare(ahead, behind);
    // Split the cancelled quantity, each side capped at what it holds, the overflow going to the
    // other side. hftbacktest caps only the behind side, so its estimate can go below 0 when more
    // than the quantity ahead is assigned there, and a later trade would then fill the order by
    // that excess; capping both keeps a cancel from ever filling the order.
    let fromBehind = p * cancelled;
    let fromAhead = cancelled - fromBehind;
    if (fromBehind > behind) {
      fromAhead += fromBehind - behind;
      fromBehind = behind;
    }
    if (fromAhead > ahead) fromAhead = ahead;
    s.ahead = Math.max(0, Math.min(ahead - fromAhead, after));
  }

  reduce(s: ProbState, newRemaining: number): void {
    reduceTo(this.name, s, newRemaining);
  }
}

export function powerModel(n: number, opts: L2Options = {}): ProbQueueModel {
  if (!(n > 0) || !Number.isFinite(n)) throw new RangeError(`queue model prob-power:${n}: the exponent must be a finite number > 0`);
  return new ProbQueueModel(`prob-power:${n}`, behindShareOf((x) => Math.pow(x, n)), opts);
}

export function logModel(opts: L2Options = {}): ProbQueueModel {
  return new ProbQueueModel('prob-log', behindShareOf((x) => Math.log1p(x)), opts);
}
