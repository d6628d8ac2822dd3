/**
 * Per-symbol ring buffers of the last rows of a book: the storage a SnapshotBatch is assembled
 * from. A row is copied in once (top LT levels, float64, exactly as the BookRow had them: missing
 * level = NaN price, size 0; levels beyond the source's depth count as missing) with its timestamp
 * and trade aggregates; the assembler then copies it once more, into the float32 tensor.
 */
import type { BookRow, RowSink } from '../model/row.ts';

/** Channels per level, in tensor order. */
export const CHANNELS = 4;
export const BID_PX = 0;
export const BID_SZ = 1;
export const ASK_PX = 2;
export const ASK_SZ = 3;

/** Most decimals looked for in prices and sizes (Binance quantities have up to 8). */
export const MAX_DECIMALS = 8;
const POW10 = Array.from({ length: MAX_DECIMALS + 1 }, (_, i) => 10 ** i);

/**
 * The fewest decimals, at least `d`, that make `v` a whole number (at most MAX_DECIMALS). Prices
 * and sizes are decimal quantities (ticks, lots); scaled by 10^decimals they become integers,
 * which float32 holds exactly up to 2^24.
 */
export function decimalsOf(v: number, d: number): number {
  for (; d < MAX_DECIMALS; d++) {
    const x = v * POW10[d]!;
    if (Math.abs(x - Math.round(x)) <= 1e-9 * (Math.abs(x) + 1)) return d;
  }
  return MAX_DECIMALS;
}

/** Per-row trade aggregates kept beside each book row (tensor channel order). */
export const TRADE_CHANNELS = ['trade_vol', 'trade_signed_vol', 'trade_count', 'trade_notional'] as const;

export class SnapshotRing {
  /** [capacity, levels, 4] float64: bid px, bid size, ask px, ask size per level. */
  book: Float64Array;
  /** Row time, ns since the run's TimeBase. */
  ts: Float64Array;
  /** [capacity, 4]: sum of size, sum of sign * size, number of trades, sum of price * size. */
  trades: Float64Array;
  /** Rows pushed since the ring was created (the stream index of the next row). */
  count = 0;
  /** Rows pushed since the owner last took them (see SnapshotRings.takeFresh). */
  fresh = 0;
  /** Decimals seen so far in prices and in sizes (see decimalsOf). */
  priceDecimals = 0;
  sizeDecimals = 0;

  constructor(
    readonly symbol: string,
    readonly symbolId: number,
    /** Rows kept (see grow). */
    public capacity: number,
    /** Levels per side kept. */
    readonly levels: number,
  ) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`ring capacity must be a positive integer, got ${capacity}`);
    this.book = new Float64Array(capacity * levels * CHANNELS);
    this.ts = new Float64Array(capacity);
    this.trades = new Float64Array(capacity * TRADE_CHANNELS.length);
  }

  /** Rows currently held (<= capacity). */
  get size(): number {
    return this.count < this.capacity ? this.count : this.capacity;
  }

  /** Slot of the row `back` rows before the newest (0 = newest). */
  slot(back: number): number {
    return (this.count - 1 - back) % this.capacity;
  }

  /** Keeps at least `capacity` rows from now on (existing rows stay). */
  grow(capacity: number): void {
    if (capacity <= this.capacity) return;
    const n = this.size;
    const L = this.levels * CHANNELS;
    const nt = TRADE_CHANNELS.length;
    const book = new Float64Array(capacity * L);
    const ts = new Float64Array(capacity);
    const trades = new Float64Array(capacity * nt);
    for (let i = this.count - n; i < this.count; i++) {
      const from = i % this.capacity, to = i % capacity;
      book.set(this.book.subarray(from * L, from * L + L), to * L);
      ts[to] = this.ts[from]!;
      trades.set(this.trades.subarray(from * nt, from * nt + nt), to * nt);
    }
    this.book = book;
    this.ts = ts;
    this.trades = trades;
    this.capacity = capacity;
  }

  push(row: BookRow): void {
    const slot = this.count % this.capacity;
    const o = slot * this.levels * CHANNELS;
    packLevels(row, this.levels, this.book, o);
    this.noteDecimals(o);
    this.ts[slot] = row.ts;
    tradeAggregates(row, this.trades, slot * TRADE_CHANNELS.length);
    this.count++;
  }

  /**
   * Appends a row packed as the ring holds it: `levels * 4` book values (a missing level: NaN
   * price, size 0), then the TRADE_CHANNELS aggregates, from `src[at]` on (packRow's layout: what
   * src/compute/offload.ts sends its kernel thread, one copy instead of two).
   */
  pushPacked(src: Float64Array, at: number, ts: number): void {
    const slot = this.count % this.capacity;
    const n = this.levels * CHANNELS;
    const o = slot * n;
    this.book.set(src.subarray(at, at + n), o);
    this.noteDecimals(o);
    this.ts[slot] = ts;
    const q = slot * TRADE_CHANNELS.length;
    for (let c = 0; c < TRADE_CHANNELS.length; c++) this.trades[q + c] = src[at + n + c]!;
    this.count++;
  }

  /** Widens the decimals seen to those of the row at book offset `o`. */
  private noteDecimals(o: number): void {
    const d = this.book;
    let pd = this.priceDecimals, sd = this.sizeDecimals;
    const pq = POW10[pd]!, sq = POW10[sd]!;
    for (let k = o, end = o + this.levels * CHANNELS; k < end; k += CHANNELS) {
      const bp = d[k]!, bs = d[k + 1]!, ap = d[k + 2]!, as = d[k + 3]!;
      // Most values are already whole at the current decimals; NaN (missing) prices are skipped.
      if (!isWhole(bp * pq)) pd = bp === bp ? decimalsOf(bp, pd) : pd;
      if (!isWhole(ap * pq)) pd = ap === ap ? decimalsOf(ap, pd) : pd;
      if (!isWhole(bs * sq)) sd = decimalsOf(bs, sd);
      if (!isWhole(as * sq)) sd = decimalsOf(as, sd);
    }
    this.priceDecimals = pd;
    this.sizeDecimals = sd;
  }
}

/**
 * A row's first `levels` levels as a ring holds them, (bid px, bid size, ask px, ask size) each,
 * into `out[o ..)`: levels past the row's usable ones missing (NaN price, size 0).
 */
export function packLevels(row: BookRow, levels: number, out: Float64Array, o: number): void {
  const usable = row.usableLevels;
  for (let l = 0; l < levels; l++, o += CHANNELS) {
    if (l < usable) {
      out[o] = row.bidPx[l]!;
      out[o + 1] = row.bidSz[l]!;
      out[o + 2] = row.askPx[l]!;
      out[o + 3] = row.askSz[l]!;
    } else {
      out[o] = NaN;
      out[o + 1] = 0;
      out[o + 2] = NaN;
      out[o + 3] = 0;
    }
  }
}

/** A row as SnapshotRing.pushPacked reads it: packLevels, then the trade aggregates; returns the offset past it. */
export function packRow(row: BookRow, levels: number, out: Float64Array, o: number): number {
  packLevels(row, levels, out, o);
  const q = o + levels * CHANNELS;
  tradeAggregates(row, out, q);
  return q + TRADE_CHANNELS.length;
}

/** A row's trade aggregates (TRADE_CHANNELS order) into `out[q..q + 4]`. */
export function tradeAggregates(row: BookRow, out: Float64Array, q: number): void {
  let vol = 0, signed = 0, notional = 0;
  for (let t = 0; t < row.nTrades; t++) {
    const sz = row.tradeSz[t]!;
    vol += sz;
    signed += row.tradeSign[t]! * sz;
    notional += row.tradePx[t]! * sz;
  }
  out[q] = vol;
  out[q + 1] = signed;
  out[q + 2] = row.nTrades;
  out[q + 3] = notional;
}

function isWhole(x: number): boolean {
  return Math.abs(x - Math.round(x)) <= 1e-9 * (Math.abs(x) + 1);
}

/**
 * One ring per symbol, fed as a RowSink. Counts the rows each symbol received since it was last
 * taken (`takeFresh`): what a server tick batches.
 */
export class SnapshotRings implements RowSink {
  private readonly byId: SnapshotRing[] = [];
  private readonly byName = new Map<string, SnapshotRing>();
  private readonly order: SnapshotRing[] = [];

  constructor(readonly capacity: number, readonly levels: number) {}

  onRow(row: BookRow): void {
    let r = this.byId[row.symbolId];
    if (r === undefined || r.symbol !== row.symbol) r = this.ring(row.symbol, row.symbolId);
    r.push(row);
    r.fresh++;
  }

  /** The ring of a symbol, created on first use. */
  ring(symbol: string, symbolId = this.byName.size): SnapshotRing {
    let r = this.byName.get(symbol);
    if (!r) {
      r = new SnapshotRing(symbol, symbolId, this.capacity, this.levels);
      this.byName.set(symbol, r);
      this.order.push(r);
    }
    this.byId[symbolId] = r;
    return r;
  }

  get(symbol: string): SnapshotRing | undefined {
    return this.byName.get(symbol);
  }

  /** All rings in order of first appearance. */
  rings(): readonly SnapshotRing[] {
    return this.order;
  }

  /** Rings with rows since the previous call, and how many each received; resets the counts. */
  takeFresh(): { rings: SnapshotRing[]; rows: number[] } {
    const rings: SnapshotRing[] = [];
    const rows: number[] = [];
    for (const r of this.order) {
      if (r.fresh > 0) {
        rings.push(r);
        rows.push(r.fresh);
        r.fresh = 0;
      }
    }
    return { rings, rows };
  }
}
