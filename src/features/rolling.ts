/**
 * Fixed-capacity history of a per-row series for "sum over the last h rows" columns. Sums are
 * recomputed from the window on demand (oldest to newest) rather than kept as a running total:
 * windows here are at most 100 rows, and a running total drifts by rounding over a long day, so
 * the direct sum is both exact to the definition and cheap.
 */
export class RowHistory {
  private readonly buf: Float64Array;
  private readonly mask: number;
  /** Values pushed so far. */
  count = 0;

  constructor(maxWindow: number) {
    let cap = 1;
    while (cap < maxWindow) cap <<= 1;
    this.buf = new Float64Array(cap);
    this.mask = cap - 1;
  }

  push(v: number): void {
    this.buf[this.count & this.mask] = v;
    this.count++;
  }

  /** Sum of the last h values (fewer at the start: expanding window). */
  sumLast(h: number): number {
    const n = h < this.count ? h : this.count;
    let s = 0;
    const end = this.count;
    for (let i = end - n; i < end; i++) s += this.buf[i & this.mask]!;
    return s;
  }

  /** Sum of squares of the last h values, NaN terms skipped; NaN if every term is NaN. */
  sumSquaresSkipNaN(h: number): number {
    const n = h < this.count ? h : this.count;
    let s = 0;
    let seen = false;
    const end = this.count;
    for (let i = end - n; i < end; i++) {
      const v = this.buf[i & this.mask]!;
      if (v === v) {
        s += v * v;
        seen = true;
      }
    }
    return seen ? s : NaN;
  }

  /** The value pushed `back` rows ago (0 = latest). */
  at(back: number): number {
    return this.buf[(this.count - 1 - back) & this.mask]!;
  }
}
