import type { PriceLadder } from './ladder.ts';
/**
 * One side of an L2 book: price levels in sorted pages of at most PAGE levels, pages in order,
 * the best level at the END of the last page. Keys are prices for bids and negated prices for asks,
 * so both sides sort ascending toward their best.
 *
 * Why pages: a full-depth venue book (Binance sends updates across thousands of levels) makes a
 * single sorted array shift ~500 elements per insert or delete; within a page a shift is at most
 * PAGE elements, and finding the page is a binary search over page maxima. The top-K view walks back
 * from the last page, so reading the touch costs nothing extra.
 */
const PAGE = 128;
const FILL = 96; // pages a snapshot loads are 3/4 full, leaving room for inserts

class Page {
  readonly keys = new Float64Array(PAGE);
  readonly sizes = new Float64Array(PAGE);
  n = 0;
}

export class PagedLadder implements PriceLadder {
  /** Pages in ascending key order; never empty ones. */
  private pages: Page[] = [];
  /** dirMax[i] = largest key of pages[i]: the page search runs over contiguous memory. */
  private dirMax = new Float64Array(64);
  private readonly spare: Page[] = [];
  /** Levels on this side. */
  n = 0;
  // Result of the last locate(): page index and position (or insertion point) within it.
  private lp = 0;
  private li = 0;

  constructor(readonly sign: 1 | -1) {}

  clear(): void {
    for (const p of this.pages) this.recycle(p);
    this.pages = [];
    this.n = 0;
  }

  /**
   * Finds the page that holds (or would hold) a key; sets lp/li. Returns true when the key exists.
   * Requires at least one page.
   */
  private locate(key: number): boolean {
    const pages = this.pages;
    let pi = pages.length - 1;
    const last = pages[pi]!;
    // Most updates are near the touch: try the last page first.
    if (!(key >= last.keys[0]!)) {
      const dir = this.dirMax;
      let lo = 0;
      let hi = pi;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (dir[mid]! < key) lo = mid + 1;
        else hi = mid;
      }
      pi = lo;
    }
    const pg = pages[pi]!;
    const keys = pg.keys;
    let lo = 0;
    let hi = pg.n - 1;
    if (pi === pages.length - 1) {
      // Near the touch a short scan back from the best beats a binary search's mispredictions.
      const stop = hi - 8 > 0 ? hi - 8 : 0;
      let j = hi;
      while (j >= stop && keys[j]! > key) j--;
      if (j >= stop) {
        this.lp = pi;
        this.li = keys[j] === key ? j : j + 1;
        return keys[j] === key;
      }
      hi = stop - 1;
    }
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const k = keys[mid]!;
      if (k < key) lo = mid + 1;
      else if (k > key) hi = mid - 1;
      else {
        this.lp = pi;
        this.li = mid;
        return true;
      }
    }
    this.lp = pi;
    this.li = lo;
    return false;
  }

  /** Sets a level's absolute size; size <= 0 removes it. Returns the previous size (0 if absent). */
  set(price: number, size: number): number {
    const key = this.sign * price;
    if (this.pages.length === 0) {
      if (size > 0) this.insertFirst(key, size);
      return 0;
    }
    if (this.locate(key)) {
      const pg = this.pages[this.lp]!;
      const prev = pg.sizes[this.li]!;
      if (size > 0) pg.sizes[this.li] = size;
      else this.removeAt(this.lp, this.li);
      return prev;
    }
    if (size > 0) this.insertAt(this.lp, this.li, key, size);
    return 0;
  }

  /**
   * Adds a signed quantity to a level (order-level sources). Returns the new size, or NaN when the
   * level is absent and the change is negative (the book does not know that level).
   */
  add(price: number, delta: number): number {
    const key = this.sign * price;
    if (this.pages.length > 0 && this.locate(key)) {
      const pg = this.pages[this.lp]!;
      const s = pg.sizes[this.li]! + delta;
      if (s > 0) pg.sizes[this.li] = s;
      else this.removeAt(this.lp, this.li);
      return s > 0 ? s : 0;
    }
    if (delta <= 0) return NaN;
    if (this.pages.length === 0) this.insertFirst(key, delta);
    else this.insertAt(this.lp, this.li, key, delta);
    return delta;
  }

  sizeAt(price: number): number {
    if (this.pages.length === 0 || !this.locate(this.sign * price)) return 0;
    return this.pages[this.lp]!.sizes[this.li]!;
  }

  /** Best price (NaN if empty). */
  bestPrice(): number {
    const p = this.pages[this.pages.length - 1];
    return p ? this.sign * p.keys[p.n - 1]! : NaN;
  }

  bestSize(): number {
    const p = this.pages[this.pages.length - 1];
    return p ? p.sizes[p.n - 1]! : 0;
  }

  /** Price of level `level` (1 = best), NaN if absent. */
  priceAt(level: number): number {
    return this.walk(level, true);
  }

  sizeAtLevel(level: number): number {
    const v = this.walk(level, false);
    return v === v ? v : 0;
  }

  private walk(level: number, price: boolean): number {
    let left = level;
    for (let p = this.pages.length - 1; p >= 0; p--) {
      const pg = this.pages[p]!;
      if (left <= pg.n) {
        const i = pg.n - left;
        return price ? this.sign * pg.keys[i]! : pg.sizes[i]!;
      }
      left -= pg.n;
    }
    return NaN;
  }

  /** Writes the best `k` levels (missing: NaN price, size 0) into px/sz at offset. */
  top(k: number, px: Float64Array, sz: Float64Array, offset = 0): void {
    const s = this.sign;
    let i = 0;
    for (let p = this.pages.length - 1; p >= 0 && i < k; p--) {
      const pg = this.pages[p]!;
      const keys = pg.keys;
      const sizes = pg.sizes;
      for (let j = pg.n - 1; j >= 0 && i < k; j--, i++) {
        px[offset + i] = s * keys[j]!;
        sz[offset + i] = sizes[j]!;
      }
    }
    for (; i < k; i++) {
      px[offset + i] = NaN;
      sz[offset + i] = 0;
    }
  }

  /** Calls fn for every level, best first (exports, snapshots). */
  forEachLevel(fn: (price: number, size: number) => void): void {
    for (let p = this.pages.length - 1; p >= 0; p--) {
      const pg = this.pages[p]!;
      for (let j = pg.n - 1; j >= 0; j--) fn(this.sign * pg.keys[j]!, pg.sizes[j]!);
    }
  }

  /**
   * Removes levels at or better than a price (the crossed part when the other side moved through
   * it). Returns how many levels were removed.
   */
  removeThrough(price: number): number {
    const key = this.sign * price;
    let removed = 0;
    while (this.pages.length > 0) {
      const pg = this.pages[this.pages.length - 1]!;
      while (pg.n > 0 && pg.keys[pg.n - 1]! >= key) {
        pg.n--;
        removed++;
      }
      if (pg.n > 0) {
        this.dirMax[this.pages.length - 1] = pg.keys[pg.n - 1]!;
        break;
      }
      this.recycle(this.pages.pop()!);
    }
    this.n -= removed;
    return removed;
  }

  /** Loads levels given best-first (a snapshot), replacing the side. Sizes <= 0 are skipped. */
  loadBestFirst(prices: Float64Array, sizes: Float64Array, count: number): void {
    this.clear();
    const s = this.sign;
    let sorted = true;
    let prev = -Infinity;
    // Best-first input read backwards is ascending in key.
    for (let i = count - 1; i >= 0; i--) {
      if (!(sizes[i]! > 0)) continue;
      const key = s * prices[i]!;
      if (!(key > prev)) { sorted = false; break; }
      prev = key;
    }
    if (!sorted) {
      this.loadUnsorted(prices, sizes, count);
      return;
    }
    let pg: Page | undefined;
    for (let i = count - 1; i >= 0; i--) {
      const sz = sizes[i]!;
      if (!(sz > 0)) continue;
      if (!pg || pg.n === FILL) {
        pg = this.newPage();
        this.pushPage(pg);
      }
      const key = s * prices[i]!;
      pg.keys[pg.n] = key;
      pg.sizes[pg.n++] = sz;
      this.dirMax[this.pages.length - 1] = key;
      this.n++;
    }
  }

  /** Images in any order, duplicates resolved as if applied in order (the later entry wins). */
  private loadUnsorted(prices: Float64Array, sizes: Float64Array, count: number): void {
    for (let i = 0; i < count; i++) this.set(prices[i]!, sizes[i]! > 0 ? sizes[i]! : 0);
  }

  isSorted(): boolean {
    let prev = -Infinity;
    for (const pg of this.pages) {
      if (pg.n === 0) return false;
      for (let j = 0; j < pg.n; j++) {
        if (!(pg.keys[j]! > prev)) return false;
        prev = pg.keys[j]!;
      }
    }
    return true;
  }

  /** Structural invariants: sorted, positive sizes, counts consistent. Null when they hold. */
  invariantError(): string | null {
    if (!this.isSorted()) return 'levels not strictly sorted (or an empty page)';
    let count = 0;
    for (const pg of this.pages) {
      for (let j = 0; j < pg.n; j++) if (!(pg.sizes[j]! > 0)) return `size ${pg.sizes[j]} at price ${this.sign * pg.keys[j]!}`;
      count += pg.n;
    }
    return count === this.n ? null : `level count ${this.n} but pages hold ${count}`;
  }

  private newPage(): Page {
    const p = this.spare.pop() ?? new Page();
    p.n = 0;
    return p;
  }

  private recycle(p: Page): void {
    if (this.spare.length < 64) this.spare.push(p);
  }

  private insertFirst(key: number, size: number): void {
    const pg = this.newPage();
    pg.keys[0] = key;
    pg.sizes[0] = size;
    pg.n = 1;
    this.pushPage(pg);
    this.dirMax[0] = key;
    this.n = 1;
  }

  private pushPage(pg: Page): void {
    this.insertPage(this.pages.length, pg);
  }

  /** Inserts a page (and its directory slot) at index at. */
  private insertPage(at: number, pg: Page): void {
    const len = this.pages.length;
    if (len === this.dirMax.length) {
      const d = new Float64Array(len * 2);
      d.set(this.dirMax);
      this.dirMax = d;
    }
    if (at < len) this.dirMax.copyWithin(at + 1, at, len);
    this.pages.splice(at, 0, pg);
  }

  private insertAt(pi: number, i: number, key: number, size: number): void {
    let pg = this.pages[pi]!;
    if (pg.n === PAGE) {
      // Split: the upper half moves to a new page right after this one.
      const half = PAGE >> 1;
      const up = this.newPage();
      up.keys.set(pg.keys.subarray(half, PAGE));
      up.sizes.set(pg.sizes.subarray(half, PAGE));
      up.n = PAGE - half;
      pg.n = half;
      this.insertPage(pi + 1, up);
      this.dirMax[pi] = pg.keys[half - 1]!;
      this.dirMax[pi + 1] = up.keys[up.n - 1]!;
      if (i > half) {
        pg = up;
        pi++;
        i -= half;
      }
    }
    if (i < pg.n) {
      // A plain loop beats copyWithin's call overhead for the few dozen elements of a page.
      const keys = pg.keys;
      const sizes = pg.sizes;
      for (let j = pg.n; j > i; j--) {
        keys[j] = keys[j - 1]!;
        sizes[j] = sizes[j - 1]!;
      }
    } else {
      this.dirMax[pi] = key;
    }
    pg.keys[i] = key;
    pg.sizes[i] = size;
    pg.n++;
    this.n++;
  }

  private removeAt(pi: number, i: number): void {
    const pg = this.pages[pi]!;
    const keys = pg.keys;
    const sizes = pg.sizes;
    for (let j = i + 1; j < pg.n; j++) {
      keys[j - 1] = keys[j]!;
      sizes[j - 1] = sizes[j]!;
    }
    pg.n--;
    this.n--;
    if (pg.n === 0) {
      const len = this.pages.length;
      this.dirMax.copyWithin(pi, pi + 1, len);
      this.recycle(this.pages.splice(pi, 1)[0]!);
    } else if (i === pg.n) {
      this.dirMax[pi] = pg.keys[i - 1]!;
    }
  }
}
