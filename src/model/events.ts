/**
 * The normalised market-event model every source produces and every consumer (book builder,
 * recorder, analytics) reads. Events are flyweights: a parser fills one instance per kind and hands
 * it to the sink, so parsing allocates no object per event. A sink that keeps anything copies it.
 *
 * Units: prices in the instrument's currency (float64); sizes in the source's unit; times in
 * nanoseconds since the run's TimeBase (see time.ts); NaN where the source has no value.
 */
import { NO_SEQUENCE } from './sequence.ts';

export const BID = 0;
export const ASK = 1;
export type Side = typeof BID | typeof ASK;

/** The id of the sequencing rule a depth stream follows (src/model/sequence.ts; venues register them). */
export type SequenceRule = string;

/** A full book image (`snapshot`) or one atomic message of level changes (`delta`). */
export class DepthEvent {
  symbol = '';
  kind: 'snapshot' | 'delta' = 'delta';
  /** `absolute`: sizes are the new level sizes (0 deletes). `relative`: sizes are added (LOBSTER messages). */
  sizes: 'absolute' | 'relative' = 'absolute';
  /** Exchange time of the event. */
  ts = 0;
  /** Local receive time; NaN when the source has none. */
  tsLocal = NaN;
  /** Venue sequence numbers: Binance U (first), u (last), pu (previous); a snapshot's lastUpdateId is `lastSeq`. */
  firstSeq = NaN;
  lastSeq = NaN;
  prevSeq = NaN;
  seqRule: SequenceRule = NO_SEQUENCE;
  /** Levels per side the source can show at most (a 10-level LOBSTER file: 10; a full-depth feed: Infinity). */
  depthLimit = Infinity;
  /**
   * Whether applying this event makes a book row (FEATURES.md). False for a REST snapshot, which
   * only seeds the book: rows start with the first diff applied on top of it.
   */
  makesRow = true;
  /** 1-based line in the source file (0 when not from a file). */
  line = 0;
  nBids = 0;
  nAsks = 0;
  bidPx: Float64Array;
  bidSz: Float64Array;
  askPx: Float64Array;
  askSz: Float64Array;

  constructor(capacity = 64) {
    this.bidPx = new Float64Array(capacity);
    this.bidSz = new Float64Array(capacity);
    this.askPx = new Float64Array(capacity);
    this.askSz = new Float64Array(capacity);
  }

  reset(): void {
    this.nBids = 0;
    this.nAsks = 0;
    this.firstSeq = NaN;
    this.lastSeq = NaN;
    this.prevSeq = NaN;
    this.tsLocal = NaN;
  }

  pushBid(px: number, sz: number): void {
    if (this.nBids === this.bidPx.length) {
      this.bidPx = grow(this.bidPx);
      this.bidSz = grow(this.bidSz);
    }
    this.bidPx[this.nBids] = px;
    this.bidSz[this.nBids++] = sz;
  }

  pushAsk(px: number, sz: number): void {
    if (this.nAsks === this.askPx.length) {
      this.askPx = grow(this.askPx);
      this.askSz = grow(this.askSz);
    }
    this.askPx[this.nAsks] = px;
    this.askSz[this.nAsks++] = sz;
  }

  /**
   * A deep copy (for buffering while a book waits for its snapshot), its levels in one allocation
   * sized to them: a book can hold thousands of these, and the parser's 64-level arrays would make
   * each ~2 KB whatever it holds.
   */
  clone(): DepthEvent {
    const c = new DepthEvent(0);
    c.copyFrom(this, true);
    return c;
  }

  /** `compact`: this event's level arrays are replaced by views of one buffer sized to o's levels. */
  copyFrom(o: DepthEvent, compact = false): void {
    this.symbol = o.symbol;
    this.kind = o.kind;
    this.sizes = o.sizes;
    this.ts = o.ts;
    this.tsLocal = o.tsLocal;
    this.firstSeq = o.firstSeq;
    this.lastSeq = o.lastSeq;
    this.prevSeq = o.prevSeq;
    this.seqRule = o.seqRule;
    this.depthLimit = o.depthLimit;
    this.makesRow = o.makesRow;
    this.line = o.line;
    this.nBids = 0;
    this.nAsks = 0;
    if (compact) {
      const nb = o.nBids;
      const na = o.nAsks;
      const buf = new Float64Array(2 * (nb + na));
      this.bidPx = buf.subarray(0, nb);
      this.bidSz = buf.subarray(nb, 2 * nb);
      this.askPx = buf.subarray(2 * nb, 2 * nb + na);
      this.askSz = buf.subarray(2 * nb + na);
    }
    for (let i = 0; i < o.nBids; i++) this.pushBid(o.bidPx[i]!, o.bidSz[i]!);
    for (let i = 0; i < o.nAsks; i++) this.pushAsk(o.askPx[i]!, o.askSz[i]!);
  }
}

/** A trade print. `sign` is the aggressor: +1 buyer-initiated, -1 seller-initiated, 0 unknown (some venues). */
export class TradeEvent {
  symbol = '';
  ts = 0;
  tsLocal = NaN;
  price = 0;
  size = 0;
  sign: -1 | 0 | 1 = 1;
  /** Venue trade id where numeric (NaN otherwise). */
  id = NaN;
  /** True for executions against hidden liquidity (LOBSTER type 5). */
  hidden = false;
  line = 0;

  copyFrom(o: TradeEvent): void {
    this.symbol = o.symbol;
    this.ts = o.ts;
    this.tsLocal = o.tsLocal;
    this.price = o.price;
    this.size = o.size;
    this.sign = o.sign;
    this.id = o.id;
    this.hidden = o.hidden;
    this.line = o.line;
  }
}

/** Best bid and offer as the venue publishes it (Binance bookTicker, Tardis quotes). */
export class QuoteEvent {
  symbol = '';
  ts = 0;
  tsLocal = NaN;
  /** Venue update id the quote reflects (Binance bookTicker `u`), NaN if none. */
  seq = NaN;
  bidPx = NaN;
  bidSz = 0;
  askPx = NaN;
  askSz = 0;
  line = 0;
}

/** Order-level (L3) message types, where the source has them (LOBSTER). */
export const OrderType = {
  Add: 1,
  Cancel: 2,
  Delete: 3,
  Execute: 4,
  ExecuteHidden: 5,
  Cross: 6,
  Halt: 7,
} as const;
export type OrderType = (typeof OrderType)[keyof typeof OrderType];

/** One order-level message: what LOBSTER's message file says happened to one order. */
export class OrderEvent {
  symbol = '';
  ts = 0;
  type: OrderType = OrderType.Add;
  orderId = 0;
  /** Side of the resting order (BID or ASK). */
  side: Side = BID;
  price = 0;
  size = 0;
  line = 0;
}

/** What a source pushes events into. Calls arrive in source order. */
export interface MarketSink {
  onDepth(e: DepthEvent): void;
  onTrade(e: TradeEvent): void;
  onQuote?(e: QuoteEvent): void;
  onOrder?(e: OrderEvent): void;
}

function grow(a: Float64Array): Float64Array {
  const b = new Float64Array(Math.max(8, a.length * 2));
  b.set(a);
  return b;
}
