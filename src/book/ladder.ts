/**
 * One side of an L2 book: price levels in a sorted typed array with the best level at the END.
 * Keys are prices for bids and negated prices for asks, so both sides sort ascending toward their
 * best. Most updates land near the touch, i.e. near the end of the array, so an insert or delete
 * shifts only the few levels between it and the best. Lookup is a binary search.
 */
export class Ladder {
  keys: Float64Array;
  sizes: Float64Array;
  n = 0;

  constructor(readonly sign: 1 | -1, capacity = 256) {
    this.keys = new Float64Array(capacity);
    this.sizes = new Float64Array(capacity);
  }

  clear(): void {
    this.n = 0;
  }

  /** Index of the key, or -(insertion point) - 1 if absent. */
  find(key: number): number {
    const keys = this.keys;
    let lo = 0;
    let hi = this.n - 1;
    // Probe the top first: most updates touch the best few levels.
    if (hi >= 0 && key > keys[hi]!) return -(hi + 1) - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const k = keys[mid]!;
      if (k < key) lo = mid + 1;
      else if (k > key) hi = mid - 1;
      else return mid;
    }
    return -lo - 1;
  }

  /** Sets a level's absolute size; size <= 0 removes it. Returns the previous size (0 if absent). */
  set(price: number, size: number): number {
    const key = this.sign * price;
    const i = this.find(key);
    if (i >= 0) {
      const prev = this.sizes[i]!;
      if (size > 0) this.sizes[i] = size;
      else this.removeAt(i);
      return prev;
    }
    if (size > 0) this.insertAt(-i - 1, key, size);
    return 0;
  }

  /**
   * Adds a signed quantity to a level (order-level sources). Returns the new size, or NaN when the
   * level is absent and the change is negative (the book does not know that level).
   */
  add(price: number, delta: number): number {
    const key = this.sign * price;
    const i = this.find(key);
    if (i >= 0) {
      const s = this.sizes[i]! + delta;
      if (s > 0) this.sizes[i] = s;
      else this.removeAt(i);
      return s > 0 ? s : 0;
    }
    if (delta > 0) {
      this.insertAt(-i - 1, key, delta);
      return delta;
    }
    return NaN;
  }

  sizeAt(price: number): number {
    const i = this.find(this.sign * price);
    return i >= 0 ? this.sizes[i]! : 0;
  }

  /** Best price (NaN if empty). */
  bestPrice(): number {
    return this.n > 0 ? this.sign * this.keys[this.n - 1]! : NaN;
  }

  bestSize(): number {
    return this.n > 0 ? this.sizes[this.n - 1]! : 0;
  }

  /** Price of level `i` (1 = best), NaN if absent. */
  priceAt(level: number): number {
    return level <= this.n ? this.sign * this.keys[this.n - level]! : NaN;
  }

  sizeAtLevel(level: number): number {
    return level <= this.n ? this.sizes[this.n - level]! : 0;
  }

  /** Writes the best `k` levels (missing: NaN price, size 0) into px/sz at offset. */
  top(k: number, px: Float64Array, sz: Float64Array, offset = 0): void {
    const n = this.n;
    const m = k < n ? k : n;
    const keys = this.keys;
    const sizes = this.sizes;
    const s = this.sign;
    for (let i = 0; i < m; i++) {
      px[offset + i] = s * keys[n - 1 - i]!;
      sz[offset + i] = sizes[n - 1 - i]!;
    }
    for (let i = m; i < k; i++) {
      px[offset + i] = NaN;
      sz[offset + i] = 0;
    }
  }

  /**
   * Removes levels at or better than a price (the crossed part when the other side moved through
   * it). Returns how many levels were removed.
   */
  removeThrough(price: number): number {
    const key = this.sign * price;
    let removed = 0;
    while (this.n > 0 && this.keys[this.n - 1]! >= key) {
      this.n--;
      removed++;
    }
    return removed;
  }

  /** Loads levels sorted best-first (a snapshot), replacing the side. Sizes <= 0 are skipped. */
  loadBestFirst(prices: Float64Array, sizes: Float64Array, count: number): void {
    this.n = 0;
    this.ensure(count);
    // Best-first input: write from the end so the array ends up ascending in key.
    let w = 0;
    for (let i = count - 1; i >= 0; i--) {
      const sz = sizes[i]!;
      if (!(sz > 0)) continue;
      this.keys[w] = this.sign * prices[i]!;
      this.sizes[w++] = sz;
    }
    this.n = w;
    if (!this.isSorted()) this.sortInPlace();
  }

  isSorted(): boolean {
    const keys = this.keys;
    for (let i = 1; i < this.n; i++) if (!(keys[i - 1]! < keys[i]!)) return false;
    return true;
  }

  private sortInPlace(): void {
    const idx = Array.from({ length: this.n }, (_, i) => i).sort((a, b) => this.keys[a]! - this.keys[b]!);
    const k = idx.map((i) => this.keys[i]!);
    const s = idx.map((i) => this.sizes[i]!);
    // Duplicate prices in one image: the later entry wins, as if applied in order.
    let w = 0;
    for (let i = 0; i < k.length; i++) {
      if (w > 0 && this.keys[w - 1] === k[i]) this.sizes[w - 1] = s[i]!;
      else { this.keys[w] = k[i]!; this.sizes[w++] = s[i]!; }
    }
    this.n = w;
  }

  private ensure(cap: number): void {
    if (cap <= this.keys.length) return;
    let c = this.keys.length;
    while (c < cap) c *= 2;
    const k = new Float64Array(c);
    k.set(this.keys.subarray(0, this.n));
    const s = new Float64Array(c);
    s.set(this.sizes.subarray(0, this.n));
    this.keys = k;
    this.sizes = s;
  }

  private insertAt(i: number, key: number, size: number): void {
    if (this.n === this.keys.length) this.ensure(this.n + 1);
    if (i < this.n) {
      this.keys.copyWithin(i + 1, i, this.n);
      this.sizes.copyWithin(i + 1, i, this.n);
    }
    this.keys[i] = key;
    this.sizes[i] = size;
    this.n++;
  }

  private removeAt(i: number): void {
    if (i < this.n - 1) {
      this.keys.copyWithin(i, i + 1, this.n);
      this.sizes.copyWithin(i, i + 1, this.n);
    }
    this.n--;
  }
}
