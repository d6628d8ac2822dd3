/** What a detector needs from the engine: whose it is, the event at hand, and where alerts go. */
import type { AlertKind, Evidence, Severity } from '../alerts.ts';

export interface DetectorContext {
  readonly symbol: string;
  /** The symbol's feed carries order-level (L3) messages: an add is one order, not a level growing. */
  readonly l3: boolean;
  /**
   * The event being processed, written once by the engine and read by each detector (R_* slots).
   * Numbers travel in a typed array rather than as arguments: a double passed to a function that is
   * not inlined is boxed, and with several detectors per event that is the main per-event allocation.
   */
  readonly reg: Float64Array;
  emit(ts: number, kind: AlertKind, severity: Severity, message: string, evidence: Evidence): void;
  /** A single detection below the alert level (validation scores detections, not just episode alerts). */
  detected(kind: 'print' | 'refill', ts: number, side: number, price: number): void;
}

/** Exchange time of the event (ns since the TimeBase). */
export const R_TS = 0;
export const R_PX = 1;
/** Size added, cancelled, executed or printed. */
export const R_SZ = 2;
/** Order key: the order id (L3) or the signed price (L2: +price bids, -price asks). */
export const R_KEY = 3;
/** Side of the resting order or level: 0 bid, 1 ask. */
export const R_SIDE = 4;
/** Aggressor sign of a print: +1 buyer-initiated, -1 seller-initiated, 0 unknown. */
export const R_SIGN = 5;
/** Best price on the event's side before it (NaN if unknown). */
export const R_BEST = 6;
/** Level size: before an execution, after an add; NaN for an add with no trusted book to read it from. */
export const R_LEVEL = 7;
/** Best bid and ask in force (prints). */
export const R_BID = 8;
export const R_ASK = 9;
/** Print size at this price and side since the book last changed, this print included. */
export const R_CUM = 10;
/** Displayed size at the print's price and side before it; NaN when the print cannot be set against a book (none trusted, or no aggressor side). */
export const R_DISP = 11;
/** Spoofing's "large" threshold for this add (NaN while warming up). */
export const R_THR = 12;
/** An aggressive order (its fills aggregated): R_PX its VWAP, R_SZ its size, R_SIGN; how many fills, the last fill's price, the mid before it. */
export const R_FILLS = 13;
export const R_LAST = 14;
export const R_MID = 15;
/** The book after a row: size within liquidity.bps of the mid and in the top liquidity.levels levels, per side (R_BID, R_ASK the touch). */
export const R_NEAR_BID = 16;
export const R_NEAR_ASK = 17;
export const R_TOP_BID = 18;
export const R_TOP_ASK = 19;
export const R_SLOTS = 20;

export { NS_PER_MS } from '../../model/time.ts';

/** Side names for evidence and messages. */
export const SIDE_NAME = ['bid', 'ask'] as const;

/** Rounds for evidence: keeps JSON short without losing meaningful digits. */
export function r6(x: number): number {
  return Number.isFinite(x) ? Number(x.toPrecision(6)) : x;
}
