/**
 * The book walk: what a market order of size Q would pay if it met only the visible levels and
 * nothing refilled while it ran. Pure functions over level arrays (best first), so the estimate
 * is the same whether the levels come from a live book row, a copy of one, or a test's literal.
 *
 * Signs: every impact here is in the order's own direction, so a positive number is a cost (a buy
 * paying above the mid, or a sell receiving below it, or the mid moving away from the aggressor).
 */

/** One side of a book, best level first. A missing level has price NaN (FEATURES.md) or size 0. */
export interface Levels {
  px: ArrayLike<number>;
  sz: ArrayLike<number>;
  /** Levels to read (the rest of the arrays is ignored). */
  n: number;
}

export interface WalkResult {
  /** What the visible levels could fill: min(Q, visible size). */
  filled: number;
  /** Volume-weighted price of the filled part; NaN when nothing is filled. */
  vwap: number;
  /** Price of the last level touched; NaN when nothing is filled. */
  lastPx: number;
  /** Levels touched (partly or wholly). */
  levels: number;
  /** True when the visible levels hold less than Q: the estimate then covers only `filled`. */
  exhausted: boolean;
  /**
   * The best price left on the walked side after the order: the last level touched if it kept
   * some size, else the next visible level; NaN when the walk took everything visible (the new
   * touch is then beyond what the source shows).
   */
  newTouch: number;
}

/**
 * Walks one side for qty. Levels are consumed in order; a level with NaN price or size <= 0 ends
 * the visible book (books here are dense from the touch: a gap means the source shows no more).
 */
export function walkLevels(side: Levels, qty: number): WalkResult {
  if (!(qty > 0)) throw new RangeError(`walk size must be positive, got ${qty}`);
  let left = qty;
  let notional = 0;
  let lastPx = NaN;
  let levels = 0;
  let i = 0;
  const n = side.n;
  for (; i < n && left > 0; i++) {
    const p = side.px[i]!;
    const s = side.sz[i]!;
    if (!(p === p) || !(s > 0)) break;
    const take = s < left ? s : left;
    notional += take * p;
    left -= take;
    lastPx = p;
    levels++;
    if (take < s) {
      // The order ended inside this level: it stays the touch.
      const filled = qty - left;
      return { filled, vwap: notional / filled, lastPx, levels, exhausted: false, newTouch: p };
    }
  }
  const filled = qty - left;
  // Every level touched was taken whole: the next visible one (if any) becomes the touch.
  let newTouch = NaN;
  if (left <= 0 && i < n) {
    const p = side.px[i]!;
    if (p === p && side.sz[i]! > 0) newTouch = p;
  }
  return {
    filled,
    vwap: filled > 0 ? notional / filled : NaN,
    lastPx,
    levels,
    exhausted: left > 0,
    newTouch,
  };
}

export interface WalkImpact {
  /** +1 buy (walks the asks), -1 sell (walks the bids). */
  sign: 1 | -1;
  qty: number;
  mid: number;
  /** The touch the order meets (best ask for a buy, best bid for a sell). */
  touch: number;
  walk: WalkResult;
  /** sign * (vwap - mid): the average cost per unit against the mid, in price. */
  costMid: number;
  /** sign * (vwap - touch): the cost beyond the touch, in price (0 when the touch level suffices). */
  costTouch: number;
  costMidBps: number;
  costTouchBps: number;
  /**
   * sign * (mid after the walk - mid before): the other side's touch stays, the walked side's touch
   * becomes `walk.newTouch`. NaN when the walk emptied the visible side. This is the prediction that
   * a realised mid move is compared with (the cost is compared with the prints' own VWAP).
   */
  midMove: number;
  midMoveBps: number;
}

/**
 * The impact of a market order of size qty on a book with these bids and asks (both best first).
 * NaN fields when the book has no two-sided touch (no mid to measure against).
 */
export function walkImpact(bids: Levels, asks: Levels, sign: 1 | -1, qty: number): WalkImpact {
  const bestBid = bids.n > 0 && bids.sz[0]! > 0 ? bids.px[0]! : NaN;
  const bestAsk = asks.n > 0 && asks.sz[0]! > 0 ? asks.px[0]! : NaN;
  const mid = (bestBid + bestAsk) / 2;
  const walked = sign > 0 ? asks : bids;
  const touch = sign > 0 ? bestAsk : bestBid;
  const walk = walkLevels(walked, qty);
  const costMid = sign * (walk.vwap - mid);
  const costTouch = sign * (walk.vwap - touch);
  const newMid = sign > 0 ? (bestBid + walk.newTouch) / 2 : (walk.newTouch + bestAsk) / 2;
  const midMove = sign * (newMid - mid);
  return {
    sign,
    qty,
    mid,
    touch,
    walk,
    costMid,
    costTouch,
    costMidBps: (costMid / mid) * 1e4,
    costTouchBps: (costTouch / mid) * 1e4,
    midMove,
    midMoveBps: (midMove / mid) * 1e4,
  };
}
