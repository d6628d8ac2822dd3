/**
 * A price ladder on a dense tick grid: sizes live in an array indexed by tick, so an update is an
 * array write, and an occupancy bitmap finds the next level below the best in a few word scans.
 * The grid covers a window of WINDOW ticks around the touch; levels outside it (and prices off the
 * tick) live in a PagedLadder. When the touch leaves the window, the window is re-centred.
 *
 * The tick is learned: it starts as the GCD of the price gaps the ladder sees, in integer units of
 * 1e-8, and shrinks (with a rebuild) if a price off the current grid appears. Slots are oriented so
 * that a higher slot is a better price on both sides (asks use negated ticks).
 */
import type { PriceLadder } from './ladder.ts';
import { PagedLadder } from './paged-ladder.ts';

const UNIT = 1e8;
const WINDOW_BITS = 16;
const WINDOW = 1 << WINDOW_BITS;

function units(price: number): number {
  return Math.round(price * UNIT);
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

export class TickLadder implements PriceLadder {
  private readonly size = new Float64Array(WINDOW);
  private readonly px = new Float64Array(WINDOW);
  private readonly occ = new Uint32Array(WINDOW >> 5);
  private readonly overflow: PagedLadder;
  /** Tick in units of 1e-8; 0 until two distinct prices have been seen. */
  private tickUnits = 0;
  /** A price on the grid (units), anchoring the GCD. */
  private refUnits = NaN;
  /** Oriented tick index of slot 0. */
  private base = 0;
  private gridReady = false;
  /** Best occupied slot, -1 if the grid is empty. */
  private best = -1;
  private gn = 0;
  /** Levels that reached this side before a tick was known. */
  private readonly pending: PagedLadder;
  rebuilds = 0;

  constructor(readonly sign: 1 | -1, tickHint = 0) {
    this.overflow = new PagedLadder(sign);
    this.pending = new PagedLadder(sign);
    if (tickHint > 0) this.tickUnits = units(tickHint);
  }

  get n(): number {
    return this.gn + this.overflow.n + this.pending.n;
  }

  /** The tick this ladder currently uses (NaN until known). */
  get tick(): number {
    return this.tickUnits > 0 ? this.tickUnits / UNIT : NaN;
  }

  clear(): void {
    this.clearGrid();
    this.overflow.clear();
    this.pending.clear();
  }

  /** Empties the grid touching only occupied slots (a LOBSTER source reloads the book every row). */
  private clearGrid(): void {
    let left = this.gn;
    for (let w = this.best >> 5; w >= 0 && left > 0; w--) {
      let bits = this.occ[w]!;
      if (bits === 0) continue;
      this.occ[w] = 0;
      while (bits !== 0) {
        const b = 31 - Math.clz32(bits);
        this.size[(w << 5) + b] = 0;
        bits &= ~(1 << b);
        left--;
      }
    }
    this.gn = 0;
    this.best = -1;
  }

  /** Slot of a price in the window, or -1 (outside, off-grid, or no grid yet). */
  private slotOf(price: number): number {
    if (!this.gridReady) return -1;
    const u = units(price);
    const t = this.tickUnits;
    const q = (u - this.refUnits) / t;
    const g = Math.round(q);
    if (g !== q) return -2; // off the grid
    const s = this.sign * g - this.base;
    return s >= 0 && s < WINDOW ? s : -1;
  }

  set(price: number, size: number): number {
    let s = this.slotOf(price);
    if (s === -2) {
      this.learnTick(price);
      s = this.slotOf(price);
    }
    if (s >= 0) return this.setSlot(s, price, size);
    if (!this.gridReady) return this.setBeforeGrid(price, size);
    const prev = this.overflow.set(price, size);
    if (size > 0 && prev === 0) this.maybeRecenter();
    return prev;
  }

  add(price: number, delta: number): number {
    const cur = this.sizeAt(price);
    if (cur === 0 && delta <= 0) return NaN;
    const next = cur + delta;
    this.set(price, next > 0 ? next : 0);
    return next > 0 ? next : 0;
  }

  sizeAt(price: number): number {
    const s = this.slotOf(price);
    if (s >= 0) return this.size[s]!;
    if (!this.gridReady) return this.pending.sizeAt(price);
    return this.overflow.sizeAt(price);
  }

  bestPrice(): number {
    const g = this.best >= 0 ? this.px[this.best]! : NaN;
    const o = this.gridReady ? this.overflow.bestPrice() : this.pending.bestPrice();
    if (g !== g) return o;
    if (o !== o) return g;
    return this.sign * o > this.sign * g ? o : g;
  }

  bestSize(): number {
    const g = this.best >= 0 ? this.px[this.best]! : NaN;
    const lad = this.gridReady ? this.overflow : this.pending;
    const o = lad.bestPrice();
    if (g === g && (o !== o || this.sign * g > this.sign * o)) return this.size[this.best]!;
    return lad.bestSize();
  }

  private readonly tmpPx = new Float64Array(64);
  private readonly tmpSz = new Float64Array(64);

  top(k: number, px: Float64Array, sz: Float64Array, offset = 0): void {
    const lad = this.gridReady ? this.overflow : this.pending;
    if (lad.n === 0) {
      this.gridTop(k, px, sz, offset);
      return;
    }
    // Merge the grid with the overflow (usually the overflow only holds far levels).
    let opx = this.tmpPx;
    let osz = this.tmpSz;
    if (k > opx.length) { opx = new Float64Array(k); osz = new Float64Array(k); }
    lad.top(k, opx, osz);
    const s = this.sign;
    let slot = this.best;
    let oi = 0;
    for (let i = 0; i < k; i++) {
      const gp = slot >= 0 ? this.px[slot]! : NaN;
      const op = opx[oi]!;
      if (gp === gp && (op !== op || s * gp > s * op)) {
        px[offset + i] = gp;
        sz[offset + i] = this.size[slot]!;
        slot = this.below(slot - 1);
      } else if (op === op) {
        px[offset + i] = op;
        sz[offset + i] = osz[oi]!;
        oi++;
      } else {
        px[offset + i] = NaN;
        sz[offset + i] = 0;
      }
    }
  }

  private gridTop(k: number, px: Float64Array, sz: Float64Array, offset: number): void {
    let slot = this.best;
    let i = 0;
    const size = this.size;
    const p = this.px;
    while (i < k && slot >= 0) {
      px[offset + i] = p[slot]!;
      sz[offset + i] = size[slot]!;
      i++;
      if (i < k) slot = this.below(slot - 1);
    }
    for (; i < k; i++) {
      px[offset + i] = NaN;
      sz[offset + i] = 0;
    }
  }

  /** Highest occupied slot at or below s, -1 if none. */
  private below(s: number): number {
    if (s < 0) return -1;
    const occ = this.occ;
    let w = s >> 5;
    let bits = occ[w]! & (0xffffffff >>> (31 - (s & 31)));
    while (bits === 0) {
      if (--w < 0) return -1;
      bits = occ[w]!;
    }
    return (w << 5) + 31 - Math.clz32(bits);
  }

  priceAt(level: number): number {
    return this.nth(level, true);
  }

  sizeAtLevel(level: number): number {
    const v = this.nth(level, false);
    return v === v ? v : 0;
  }

  private nth(level: number, price: boolean): number {
    if (level > this.n) return NaN;
    const px = new Float64Array(level);
    const sz = new Float64Array(level);
    this.top(level, px, sz);
    return price ? px[level - 1]! : sz[level - 1]!;
  }

  forEachLevel(fn: (price: number, size: number) => void): void {
    const all = this.n;
    const px = new Float64Array(all);
    const sz = new Float64Array(all);
    this.top(all, px, sz);
    for (let i = 0; i < all; i++) fn(px[i]!, sz[i]!);
  }

  removeThrough(price: number): number {
    let removed = 0;
    const s = this.sign;
    for (;;) {
      const b = this.bestPrice();
      if (!(b === b) || s * b < s * price) break;
      this.set(b, 0);
      removed++;
    }
    return removed;
  }

  loadBestFirst(prices: Float64Array, sizes: Float64Array, count: number): void {
    this.clear();
    for (let i = 0; i < count; i++) if (sizes[i]! > 0) this.learnFrom(prices[i]!);
    for (let i = 0; i < count; i++) this.set(prices[i]!, sizes[i]! > 0 ? sizes[i]! : 0);
  }

  isSorted(): boolean {
    let prev = Infinity;
    let ok = true;
    this.forEachLevel((p) => {
      if (!(this.sign * p < prev)) ok = false;
      prev = this.sign * p;
    });
    return ok;
  }

  invariantError(): string | null {
    let count = 0;
    let top = -1;
    for (let s = 0; s < WINDOW; s++) {
      const occupied = (this.occ[s >> 5]! >>> (s & 31)) & 1;
      if ((this.size[s]! > 0) !== (occupied === 1)) return `slot ${s}: size ${this.size[s]} but bitmap ${occupied}`;
      if (occupied) { count++; top = s; }
    }
    if (count !== this.gn) return `grid count ${this.gn} but ${count} slots occupied`;
    if (top !== this.best) return `best slot ${this.best} but highest occupied ${top}`;
    if (!this.isSorted()) return 'levels not strictly sorted';
    return this.overflow.invariantError() ?? this.pending.invariantError();
  }

  // --- internals

  private setSlot(s: number, price: number, size: number): number {
    const prev = this.size[s]!;
    if (size > 0) {
      if (prev === 0) {
        this.occ[s >> 5]! |= 1 << (s & 31);
        this.px[s] = price;
        this.gn++;
        if (s > this.best) this.best = s;
      }
      this.size[s] = size;
    } else if (prev > 0) {
      this.size[s] = 0;
      this.occ[s >> 5]! &= ~(1 << (s & 31));
      this.gn--;
      if (s === this.best) this.best = this.below(s - 1);
    }
    return prev;
  }

  /** Before a tick is known, levels wait in a paged ladder; two distinct prices fix the grid. */
  private setBeforeGrid(price: number, size: number): number {
    const prev = this.pending.set(price, size);
    if (size > 0) this.learnFrom(price);
    return prev;
  }

  /** Folds a price into the tick estimate; builds the grid once a tick is known. */
  private learnFrom(price: number): void {
    const u = units(price);
    if (this.refUnits !== this.refUnits) {
      this.refUnits = u;
      if (this.tickUnits > 0) this.buildGrid();
      return;
    }
    const d = Math.abs(u - this.refUnits);
    if (d === 0) return;
    const t = this.tickUnits > 0 ? gcd(this.tickUnits, d) : d;
    if (t !== this.tickUnits) {
      this.tickUnits = t;
      this.buildGrid();
    } else if (!this.gridReady) {
      this.buildGrid();
    }
  }

  /** A price off the current grid: the tick is smaller than thought. */
  private learnTick(price: number): void {
    const d = Math.abs(units(price) - this.refUnits);
    this.tickUnits = gcd(this.tickUnits, d);
    this.buildGrid();
  }

  private maybeRecenter(): void {
    // The touch left the window (the overflow holds a level better than the grid's best).
    const o = this.overflow.bestPrice();
    const g = this.best >= 0 ? this.px[this.best]! : NaN;
    if (o === o && (g !== g || this.sign * o > this.sign * g)) this.buildGrid(o);
  }

  /**
   * (Re)builds the grid around a price (default: the current best) with the current tick, moving
   * every level to the grid or the overflow.
   */
  private buildGrid(center = this.bestPrice()): void {
    if (!(this.tickUnits > 0) || this.refUnits !== this.refUnits) return;
    const levels: [number, number][] = [];
    const collect = (p: number, s: number) => levels.push([p, s]);
    if (this.gridReady) {
      for (let s = this.best; s >= 0; s = this.below(s - 1)) collect(this.px[s]!, this.size[s]!);
      this.overflow.forEachLevel(collect);
    }
    this.pending.forEachLevel(collect);
    this.clearGrid();
    this.overflow.clear();
    this.pending.clear();
    const c = center === center ? center : this.refUnits / UNIT;
    const g = Math.round((units(c) - this.refUnits) / this.tickUnits);
    // The best sits in the upper part of the window: most of the book is below the touch.
    this.base = this.sign * g - (WINDOW - (WINDOW >> 3));
    this.gridReady = true;
    this.rebuilds++;
    for (const [p, s] of levels) {
      const slot = this.slotOf(p);
      if (slot >= 0) this.setSlot(slot, p, s);
      else if (slot === -2) {
        this.tickUnits = gcd(this.tickUnits, Math.abs(units(p) - this.refUnits));
        this.buildGridFrom(levels, c);
        return;
      } else this.overflow.set(p, s);
    }
  }

  private buildGridFrom(levels: [number, number][], center: number): void {
    for (const [p, s] of levels) this.pending.set(p, s);
    this.clearGrid();
    this.overflow.clear();
    this.gridReady = false;
    this.buildGrid(center);
  }
}
