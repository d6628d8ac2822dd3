/**
 * Roll's (1984) effective spread from the serial covariance of trade price changes: with bid-ask
 * bounce alone, cov(dp_t, dp_{t-1}) = -s^2 / 4, so
 *
 *   roll = 2 sqrt(-cov(dp_t, dp_{t-1}))   when the covariance is negative, NaN otherwise,
 *
 * over the last `window` price changes. Fed with aggregated trades (the fills of one aggressive
 * order, same time and side, are one trade at their VWAP): fills of one order at one price would
 * add zero changes that pull the covariance toward 0.
 */
export class RollSpread {
  private readonly dp: Float64Array;
  private count = 0;
  private last = NaN;
  /** Running sums over the pairs (x_t, x_{t-1}) in the window; rebuilt from the ring now and then. */
  private sx = 0;
  private sy = 0;
  private sxy = 0;
  private sinceRebuild = 0;

  constructor(readonly window: number) {
    this.dp = new Float64Array(window);
  }

  addPrice(price: number): void {
    if (this.last === this.last) this.addChange(price - this.last);
    this.last = price;
  }

  /** First-order autocovariance of the price changes in the window (NaN with fewer than 3 changes). */
  covariance(): number {
    const n = this.count < this.window ? this.count : this.window;
    if (n < 3) return NaN;
    const m = n - 1;
    return this.sxy / m - (this.sx / m) * (this.sy / m);
  }

  /** Roll's spread in price units; NaN when the covariance is not negative. */
  value(): number {
    const cov = this.covariance();
    return cov < 0 ? 2 * Math.sqrt(-cov) : NaN;
  }

  private addChange(x: number): void {
    const W = this.window;
    const c = this.count;
    if (c >= W) {
      // The oldest pair (dp[c-W+1], dp[c-W]) leaves the window.
      const x0 = this.dp[(c - W + 1) % W]!;
      const y0 = this.dp[(c - W) % W]!;
      this.sx -= x0;
      this.sy -= y0;
      this.sxy -= x0 * y0;
    }
    if (c >= 1) {
      const y = this.dp[(c - 1) % W]!;
      this.sx += x;
      this.sy += y;
      this.sxy += x * y;
    }
    this.dp[c % W] = x;
    this.count++;
    if (++this.sinceRebuild >= 8 * W) this.rebuild();
  }

  /** Recomputes the sums from the ring, so rounding cannot pile up over a long day. */
  private rebuild(): void {
    this.sinceRebuild = 0;
    const W = this.window;
    const n = this.count < W ? this.count : W;
    this.sx = this.sy = this.sxy = 0;
    for (let t = this.count - n + 1; t < this.count; t++) {
      const x = this.dp[t % W]!;
      const y = this.dp[(t - 1) % W]!;
      this.sx += x;
      this.sy += y;
      this.sxy += x * y;
    }
  }
}
