/**
 * A book row: the L2 book after one source event has been fully applied (FEATURES.md), with the
 * trades assigned to it. The interface between the book and everything downstream (features,
 * snapshot rings, analytics). A flyweight: consumers copy what they keep.
 */
export class BookRow {
  symbol = '';
  /** Dense id of the symbol within the run (order of first appearance). */
  symbolId = 0;
  /** 0-based index of this row among the symbol's rows. */
  index = 0;
  /** Exchange time, ns since the run's TimeBase. */
  ts = 0;
  tsLocal = NaN;
  /** Source line of the event that made the row. */
  line = 0;
  /** Venue update id of the row's event (Binance u), NaN if none. */
  seq = NaN;
  /** Levels per side the source can show (a 5-level file: 5; a full-depth feed: Infinity). */
  depthLimit = Infinity;
  readonly bidPx: Float64Array;
  readonly bidSz: Float64Array;
  readonly askPx: Float64Array;
  readonly askSz: Float64Array;

  nTrades = 0;
  tradeTs: Float64Array = new Float64Array(16);
  tradePx: Float64Array = new Float64Array(16);
  tradeSz: Float64Array = new Float64Array(16);
  tradeSign: Int8Array = new Int8Array(16);

  constructor(readonly levels: number) {
    this.bidPx = new Float64Array(levels);
    this.bidSz = new Float64Array(levels);
    this.askPx = new Float64Array(levels);
    this.askSz = new Float64Array(levels);
  }

  /** Number of levels actually usable on each side: min(view, source depth). */
  get usableLevels(): number {
    return this.depthLimit < this.levels ? this.depthLimit : this.levels;
  }
}

/** Trades waiting for the next row of a symbol, in arrival order (columnar, reused). */
export class TradeQueue {
  n = 0;
  ts: Float64Array = new Float64Array(16);
  px: Float64Array = new Float64Array(16);
  sz: Float64Array = new Float64Array(16);
  sign: Int8Array = new Int8Array(16);

  push(ts: number, px: number, sz: number, sign: number): void {
    if (this.n === this.ts.length) {
      const c = this.n * 2;
      this.ts = growF(this.ts, c);
      this.px = growF(this.px, c);
      this.sz = growF(this.sz, c);
      const s = new Int8Array(c);
      s.set(this.sign);
      this.sign = s;
    }
    this.ts[this.n] = ts;
    this.px[this.n] = px;
    this.sz[this.n] = sz;
    this.sign[this.n++] = sign;
  }

  /** Moves the queued trades into a row and empties the queue. */
  drainInto(row: BookRow): void {
    const n = this.n;
    if (row.tradeTs.length < n) {
      let c = row.tradeTs.length;
      while (c < n) c *= 2;
      row.tradeTs = new Float64Array(c);
      row.tradePx = new Float64Array(c);
      row.tradeSz = new Float64Array(c);
      row.tradeSign = new Int8Array(c);
    }
    row.tradeTs.set(this.ts.subarray(0, n));
    row.tradePx.set(this.px.subarray(0, n));
    row.tradeSz.set(this.sz.subarray(0, n));
    row.tradeSign.set(this.sign.subarray(0, n));
    row.nTrades = n;
    this.n = 0;
  }
}

function growF(a: Float64Array, c: number): Float64Array {
  const b = new Float64Array(c);
  b.set(a);
  return b;
}

export interface RowSink {
  onRow(row: BookRow): void;
}
