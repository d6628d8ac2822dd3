/**
 * The market maker's quote rule, pure so every term is tested on its own. With h the market's
 * half-spread ((ask - bid) / 2) as the unit, so one set of defaults fits a one-tick BTC book and a
 * GOOG book fifteen ticks wide:
 *
 *   fair  = mid + microWeight * (microprice - mid)           lean to the thinner queue's side
 *              + ofiSkew * h * tanh(ofi / ofiScale)           lean with the order flow
 *              - inventorySkew * h * position / maxPosition   lean to unwind inventory
 *   half  = halfSpread * h * (1 + vpinWiden * vpin)           wider when flow is toxic
 *   bid   = fair - half rounded down to the tick, at most one tick under the best ask
 *   ask   = fair + half rounded up to the tick,   at least one tick over the best bid
 *
 * halfSpread 1 with no lean quotes at the touch: joining the queues, not improving on them, where a
 * quote alone inside a wide spread would be the first thing every informed order hits. A side is
 * not quoted when a fill of its quote could take the position past the limit; its size is cut to
 * what the limit leaves.
 */
import { onLot, onTick } from './params.ts';

export interface QuoteParams {
  /** Quote size per side. */
  size: number;
  /** Absolute position limit. */
  maxPosition: number;
  /** Half-spread of the quotes in market half-spreads (> 0). */
  halfSpread: number;
  /** Weight of the microprice's offset from the mid in the fair price (0 = quote around the mid, 1 = around the microprice). */
  microWeight: number;
  /** Fair-price shift, in market half-spreads, at a saturated OFI signal. */
  ofiSkew: number;
  /** Fair-price shift, in market half-spreads, at the position limit (towards unwinding). */
  inventorySkew: number;
  /** Relative widening of the half-spread per unit of VPIN. */
  vpinWiden: number;
}

export interface QuoteInput {
  bidPx: number;
  bidSz: number;
  askPx: number;
  askSz: number;
  tick: number;
  lot: number;
  /** OFI over the chosen window (size units). */
  ofi: number;
  /** Typical |OFI| the signal is scaled by (<= 0: no OFI term). */
  ofiScale: number;
  /** VPIN in [0, 1]; NaN (not yet computed) counts as 0. */
  vpin: number;
  /** Signed position. */
  position: number;
  /**
   * What other open orders could still add on each side (remaining buy / sell quantity not counting
   * the quote being priced), so a fill of everything open stays within the limit.
   */
  otherBuy: number;
  otherSell: number;
}

export interface Quote {
  price: number;
  qty: number;
}

export interface Quotes {
  fair: number;
  half: number;
  bid?: Quote;
  ask?: Quote;
}

export function microprice(bidPx: number, bidSz: number, askPx: number, askSz: number): number {
  return bidSz + askSz > 0 ? (bidPx * askSz + askPx * bidSz) / (bidSz + askSz) : (bidPx + askPx) / 2;
}

/** OFI in [-1, 1]: tanh keeps one burst of flow from pushing the quotes arbitrarily far. */
export function ofiSignal(ofi: number, scale: number): number {
  return scale > 0 && Number.isFinite(ofi) ? Math.tanh(ofi / scale) : 0;
}

/** The quantity a side may quote without a full fill taking |position| past the limit. */
export function sideCapacity(side: 'buy' | 'sell', position: number, other: number, maxPosition: number): number {
  return side === 'buy' ? maxPosition - position - other : maxPosition + position - other;
}

export function computeQuotes(q: QuoteInput, p: QuoteParams): Quotes {
  const mid = (q.bidPx + q.askPx) / 2;
  const micro = microprice(q.bidPx, q.bidSz, q.askPx, q.askSz);
  const vpin = Number.isFinite(q.vpin) ? Math.min(1, Math.max(0, q.vpin)) : 0;
  const inv = p.maxPosition > 0 ? Math.max(-1, Math.min(1, q.position / p.maxPosition)) : 0;
  const h = (q.askPx - q.bidPx) / 2;
  const fair = mid + p.microWeight * (micro - mid) + p.ofiSkew * h * ofiSignal(q.ofi, q.ofiScale) - p.inventorySkew * h * inv;
  const half = p.halfSpread * h * (1 + p.vpinWiden * vpin);
  // Never at or through the other side's touch: a post-only quote there would be refused.
  const bidPx = Math.min(onTick(fair - half, q.tick, 'down'), onTick(q.askPx - q.tick, q.tick, 'nearest'));
  const askPx = Math.max(onTick(fair + half, q.tick, 'up'), onTick(q.bidPx + q.tick, q.tick, 'nearest'));
  const out: Quotes = { fair, half };
  const bidQty = onLot(Math.min(p.size, sideCapacity('buy', q.position, q.otherBuy, p.maxPosition)), q.lot);
  const askQty = onLot(Math.min(p.size, sideCapacity('sell', q.position, q.otherSell, p.maxPosition)), q.lot);
  if (bidQty > 0 && bidPx > 0) out.bid = { price: bidPx, qty: bidQty };
  if (askQty > 0) out.ask = { price: askPx, qty: askQty };
  return out;
}

/**
 * Running mean of |x| (exponentially weighted), the OFI signal's scale: OFI is in size units, so
 * what counts as a strong flow differs per instrument and per hour.
 */
export class AbsEwma {
  value = 0;
  private n = 0;

  constructor(readonly halfLife: number) {}

  push(x: number): number {
    if (!Number.isFinite(x)) return this.value;
    const a = Math.abs(x);
    this.n++;
    // The first observations average plainly, so the scale is not dominated by the zero start.
    const w = Math.max(1 - Math.pow(0.5, 1 / this.halfLife), 1 / this.n);
    this.value += w * (a - this.value);
    return this.value;
  }
}
