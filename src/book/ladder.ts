/**
 * One side of an L2 book. Two implementations behind one interface, as in hftbacktest:
 *  - PagedLadder: sorted pages of levels; works for any prices, no tick size needed;
 *  - TickLadder: a dense tick grid around the touch (O(1) updates) with a PagedLadder for what
 *    falls outside it; needs the tick size, which it learns from the prices it sees.
 * Prices are returned exactly as they were given (never rebuilt from tick arithmetic).
 */
export interface PriceLadder {
  readonly sign: 1 | -1;
  /** Levels on this side. */
  readonly n: number;
  clear(): void;
  /** Sets a level's absolute size; size <= 0 removes it. Returns the previous size (0 if absent). */
  set(price: number, size: number): number;
  /** Adds a signed quantity; returns the new size, or NaN if the level is absent and delta < 0. */
  add(price: number, delta: number): number;
  sizeAt(price: number): number;
  bestPrice(): number;
  bestSize(): number;
  /** Price / size of level `level` (1 = best); NaN / 0 when absent. */
  priceAt(level: number): number;
  sizeAtLevel(level: number): number;
  /** The best k levels into px/sz from offset (missing: NaN price, size 0). */
  top(k: number, px: Float64Array, sz: Float64Array, offset?: number): void;
  /** Every level, best first. */
  forEachLevel(fn: (price: number, size: number) => void): void;
  /** Removes levels at or better than a price; returns how many. */
  removeThrough(price: number): number;
  /** Replaces the side with levels given best-first (sizes <= 0 skipped). */
  loadBestFirst(prices: Float64Array, sizes: Float64Array, count: number): void;
  isSorted(): boolean;
  /** Null when the structure's invariants hold, else what is wrong. */
  invariantError(): string | null;
}
