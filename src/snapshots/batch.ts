/**
 * SnapshotBatch: B windows of book rows as one float32 tensor, the unit that crosses to a GPU.
 *
 *   book    [B, W, LT, 4]  bid px, bid size, ask px, ask size per level, in window units (below)
 *   ts      [B, W]         row time, ns since the run's TimeBase (float64; NaN on padding rows)
 *   trades  [B, W, 4]      trade_vol, trade_signed_vol, trade_count, trade_notional of the row
 *                          (natural units)
 *   tradeLots [B, W, 2]    trade_vol, trade_signed_vol in window units (lots, like book sizes):
 *                          what the kernels sum (kernels/dense.ts)
 *   refs    [B]            the window's reference price (float64, natural units)
 *   priceScale, sizeScale [B]  10^decimals of the window's prices and sizes
 *
 * Each window holds W = H + T rows of one symbol ending at a chosen row: H history rows (the 100
 * rows before it that the longest rolling column, rv_h100, reaches back over: kernels/dense.ts), then
 * the T rows whose features are produced. A window whose stream has fewer than W rows is
 * left-padded with empty rows (no levels, no trades), which the kernels read exactly like the
 * start of a stream. A model that wants the last T rows uses the tensor from row H on.
 *
 * Window units. A tensor price is price * priceScale - refUnits and a tensor size is size * sizeScale,
 * where the scales are 10^decimals of the symbol's prices and sizes (GOOG: 100 and 1; Binance
 * BTCUSDT futures: 10 and 1000) and ref is a price on that grid: the mid, rounded to the grid, of
 * the two-sided row nearest the middle of the window's output rows. So tensor values are whole
 * numbers of ticks from the reference and whole numbers of lots, which float32 holds exactly (up
 * to 2^24): spreads, OFI's price comparisons and size differences, depths and mid changes are exact
 * in float32, and only divisions, the log and the slope regression round. Absolute float32 would
 * hold $60,000 to ~0.004 dollars, a 4% error on a one-cent spread; a reference alone (without the
 * scaling) still loses 1e-4 of a one-cent spread when BTC moves $60 within a window. Sizes keep
 * their sign-free magnitudes; docs/compute.md has the measured errors.
 *
 * A missing level is price 0 (the reference) and size 0 in the tensor: GPU shader languages do not
 * preserve NaN, so presence is tested as size > 0.
 */
import { CHANNELS, SnapshotRing, TRADE_CHANNELS } from './ring.ts';
import { DENSE_HISTORY, KERNEL_COLUMNS } from '../../kernels/dense.ts';

/**
 * Most book values (B * W * LT * 4) and kernel output cells a batch may have: GPU kernels index in
 * float32, exact for integers up to 2^24 (419k rows at 10 levels; the DenseStream's blocks are far
 * smaller). Split larger work into several batches.
 */
export const MAX_BATCH_VALUES = 2 ** 24;

export interface BatchShape {
  /** B: windows (tensor capacity; fewer may be in use). */
  windows: number;
  /** T: output rows per window. */
  rows: number;
  /** H: history rows ahead of them (default DENSE_HISTORY, 100: what the kernel columns need). */
  history?: number;
  /** LT: levels per side. */
  levels: number;
}

export class SnapshotBatch {
  readonly B: number;
  readonly T: number;
  readonly H: number;
  readonly W: number;
  readonly levels: number;
  readonly book: Float32Array;
  readonly ts: Float64Array;
  readonly trades: Float32Array;
  readonly tradeLots: Float32Array;
  readonly refs: Float64Array;
  readonly priceScale: Float64Array;
  readonly sizeScale: Float64Array;
  /** refs * priceScale: the reference in price units (a whole number), and its float32 copy for kernels. */
  readonly refUnits: Float64Array;
  readonly refUnits32: Float32Array;
  /** Symbol of each window. */
  readonly symbols: string[];
  readonly symbolIds: Int32Array;
  /** Real rows at the end of each window (the rest, at the start, is padding). */
  readonly filled: Int32Array;
  /** Stream index (within its symbol) of each window's last row. */
  readonly lastIndex: Float64Array;
  /** Windows in use (the first n). */
  n = 0;

  constructor(shape: BatchShape) {
    const { windows: B, rows: T, levels } = shape;
    const H = shape.history ?? DENSE_HISTORY;
    for (const [k, v] of [['windows', B], ['rows', T], ['levels', levels]] as const) {
      if (!Number.isInteger(v) || v < 1) throw new RangeError(`batch ${k} must be a positive integer, got ${v}`);
    }
    if (!Number.isInteger(H) || H < 0) throw new RangeError(`batch history must be a non-negative integer, got ${H}`);
    const values = B * (H + T) * levels * CHANNELS;
    if (values > MAX_BATCH_VALUES || B * T * KERNEL_COLUMNS.length > MAX_BATCH_VALUES) {
      throw new RangeError(`batch ${B}x(${H}+${T})x${levels} has ${values} book values; the most kernels can index exactly is 2^24: split it`);
    }
    this.B = B;
    this.T = T;
    this.H = H;
    this.W = H + T;
    this.levels = levels;
    this.book = new Float32Array(B * this.W * levels * CHANNELS);
    this.ts = new Float64Array(B * this.W);
    this.trades = new Float32Array(B * this.W * TRADE_CHANNELS.length);
    this.tradeLots = new Float32Array(B * this.W * 2);
    this.refs = new Float64Array(B);
    this.priceScale = new Float64Array(B);
    this.sizeScale = new Float64Array(B);
    this.refUnits = new Float64Array(B);
    this.refUnits32 = new Float32Array(B);
    this.symbols = new Array<string>(B).fill('');
    this.symbolIds = new Int32Array(B);
    this.filled = new Int32Array(B);
    this.lastIndex = new Float64Array(B);
  }

  /** Tensor shape of `book`. */
  get shape(): [number, number, number, number] {
    return [this.B, this.W, this.levels, CHANNELS];
  }

  /** Output rows of the batch (all windows): B * T. */
  get outputRows(): number {
    return this.B * this.T;
  }

  /** Shape key for kernel caches. */
  get key(): string {
    return `${this.B}x${this.W}(${this.H}+${this.T})x${this.levels}`;
  }

  /** Starts a new assembly (windows are filled from 0). */
  clear(): this {
    this.n = 0;
    return this;
  }

  /**
   * Copies the window of `ring` that ends at stream index `last` (default: the newest row) into
   * window `this.n` and returns its index. Rows before the stream's start are padding. Only the
   * last `need` output rows (default T) must be right: the ring must hold them and their H rows of
   * history; older rows it no longer holds are padded (their outputs are not meant to be used).
   */
  add(ring: SnapshotRing, last = ring.count - 1, need = this.T): number {
    const b = this.n;
    if (b >= this.B) throw new RangeError(`batch is full (${this.B} windows)`);
    if (ring.levels < this.levels) throw new RangeError(`ring ${ring.symbol} keeps ${ring.levels} levels, batch needs ${this.levels}`);
    if (!(last < ring.count)) throw new RangeError(`ring ${ring.symbol} has no row ${last} (count ${ring.count})`);
    const W = this.W;
    const first = last - W + 1;
    const oldest = ring.count - ring.size;
    const required = Math.max(0, last - Math.min(need, this.T) - this.H + 1);
    if (required < oldest) {
      throw new RangeError(`ring ${ring.symbol} no longer holds row ${required} (holds ${oldest}..${ring.count - 1}; capacity ${ring.capacity})`);
    }
    // Rows before the stream's start (first < 0) or no longer held: padding.
    const pad = Math.max(0, oldest - first);
    const ps = 10 ** ring.priceDecimals;
    const ss = 10 ** ring.sizeDecimals;
    // The reference in price units, a whole number, so that price * ps - refUnits is whole too.
    const refUnits = Math.round(referencePrice(ring, first + pad, last, last - Math.floor(this.T / 2)) * ps);
    this.refs[b] = refUnits / ps;
    this.priceScale[b] = ps;
    this.sizeScale[b] = ss;
    this.refUnits[b] = refUnits;
    this.refUnits32[b] = refUnits;
    this.symbols[b] = ring.symbol;
    this.symbolIds[b] = ring.symbolId;
    this.filled[b] = W - pad;
    this.lastIndex[b] = last;

    const LT = this.levels;
    const RL = ring.levels;
    const rowStride = LT * CHANNELS;
    const out = this.book;
    const src = ring.book;
    const nt = TRADE_CHANNELS.length;
    let o = b * W * rowStride;
    if (pad > 0) {
      out.fill(0, o, o + pad * rowStride);
      this.ts.fill(NaN, b * W, b * W + pad);
      this.trades.fill(0, b * W * nt, (b * W + pad) * nt);
      this.tradeLots.fill(0, b * W * 2, (b * W + pad) * 2);
      o += pad * rowStride;
    }
    for (let w = pad; w < W; w++) {
      const slot = (first + w) % ring.capacity;
      let k = slot * RL * CHANNELS;
      for (let l = 0; l < LT; l++, k += CHANNELS, o += CHANNELS) {
        const bp = src[k]!, ap = src[k + 2]!;
        out[o] = bp === bp ? bp * ps - refUnits : 0;
        out[o + 1] = bp === bp ? src[k + 1]! * ss : 0;
        out[o + 2] = ap === ap ? ap * ps - refUnits : 0;
        out[o + 3] = ap === ap ? src[k + 3]! * ss : 0;
      }
      this.ts[b * W + w] = ring.ts[slot]!;
      const q = (b * W + w) * nt;
      const r = slot * nt;
      for (let c = 0; c < nt; c++) this.trades[q + c] = ring.trades[r + c]!;
      this.tradeLots[(b * W + w) * 2] = lots(ring.trades[r]! * ss);
      this.tradeLots[(b * W + w) * 2 + 1] = lots(ring.trades[r + 1]! * ss);
    }
    this.n = b + 1;
    return b;
  }
}

/**
 * A size in lots: a whole number (the float64 sums of decimal sizes leave 300.00000000000006 for
 * 0.1 + 0.2 BTC in 0.001 lots). Trade sizes finer than the book's lots (none of the sources here)
 * stay fractional and round once more, to float32.
 */
function lots(x: number): number {
  const w = Math.round(x);
  return Math.abs(x - w) <= 1e-9 * (Math.abs(x) + 1) ? w : x;
}

/**
 * The mid of the two-sided row nearest stream index `center` within [first, last], or failing
 * that the price of any present level, or 0 for an empty window.
 */
function referencePrice(ring: SnapshotRing, first: number, last: number, center: number): number {
  const stride = ring.levels * CHANNELS;
  const c = Math.min(Math.max(center, first), last);
  for (let d = 0; ; d++) {
    const lo = c - d, hi = c + d;
    if (lo < first && hi > last) break;
    for (const i of d === 0 ? [c] : [lo, hi]) {
      if (i < first || i > last) continue;
      const k = (i % ring.capacity) * stride;
      const bp = ring.book[k]!, ap = ring.book[k + 2]!;
      if (bp === bp && ap === ap) return (bp + ap) / 2;
    }
  }
  for (let i = first; i <= last; i++) {
    const k = (i % ring.capacity) * stride;
    for (let j = 0; j < stride; j += 2) {
      // Even channels are prices (bid px, ask px).
      const p = ring.book[k + j]!;
      if (p === p) return p;
    }
  }
  return 0;
}
