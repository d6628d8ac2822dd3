/**
 * VPIN with bulk volume classification (Easley, López de Prado, O'Hara 2012, "Flow toxicity and
 * liquidity in a high-frequency world"): instead of signing each trade, each time bar's volume is
 * split by how far its price moved, in units of the typical move:
 *
 *   V_B = V * Z(dP / sigma_dP),   V_S = V - V_B
 *
 * with Z the standard normal CDF. Definitions used here (docs/analytics.md):
 *  - bars of `barMs` aligned to multiples of the bar length since the epoch (as the FEATURES.md
 *    bars); a trade belongs to the bar containing its timestamp (a trade stamped before the open bar,
 *    as Binance trades can be by a few ms, goes to the open bar);
 *  - P_k is the last trade price at the bar's end, carried forward over bars without trades; dP_k =
 *    P_k - P_{k-1}; only bars with volume are classified and enter sigma;
 *  - sigma_dP is the standard deviation of dP over the last `sigmaBars` bars with trades, the
 *    current one included; with fewer than 2 such bars, or sigma = 0, Z is taken at its limit
 *    (1 for dP > 0, 0 for dP < 0, 1/2 for dP = 0);
 *  - the classified volume fills buckets of V exactly as FEATURES.md `vpin` does, a bar's volume
 *    being split across buckets pro rata (its buy fraction is kept in every piece);
 *  - VPIN_BVC = sum over the last n completed buckets of |B - S| / (n V); NaN until n buckets.
 */
import { normalCdf } from '../stats.ts';
import { VpinState } from '../../features/vpin.ts';
import type { TimeBase } from '../../model/time.ts';

export class BvcVpinState {
  readonly barNs: number;
  private readonly phase: number;
  private bar = NaN;
  private barVolume = 0;
  private barLast = NaN;
  /** Last trade price at the end of the previous bar with trades (carried forward). */
  private prevPrice = NaN;
  private readonly dp: Float64Array;
  private dpCount = 0;
  /** The buckets, filled exactly as FEATURES.md `vpin` fills them. */
  private readonly buckets: VpinState;
  /** The last classified bar's buy fraction Z (NaN before the first). */
  lastBuyFraction = NaN;

  constructor(timeBase: TimeBase, barMs: number, readonly bucketVolume: number, readonly window = 50, readonly sigmaBars = 300) {
    if (!(bucketVolume > 0)) throw new RangeError(`BVC VPIN bucket volume must be > 0, got ${bucketVolume}`);
    this.barNs = barMs * 1_000_000;
    this.phase = timeBase.barPhase(this.barNs);
    this.dp = new Float64Array(sigmaBars);
    this.buckets = new VpinState(bucketVolume, window);
  }

  addTrade(ts: number, price: number, size: number): void {
    const k = Math.floor((ts + this.phase) / this.barNs);
    if (this.bar !== this.bar) this.bar = k;
    else if (k > this.bar) {
      this.closeBar();
      this.bar = k;
    }
    this.barVolume += size;
    this.barLast = price;
  }

  /** Closes the open bar if time has moved past its end (call with any event's time). */
  advance(ts: number): void {
    if (this.barVolume === 0 || ts + this.phase < (this.bar + 1) * this.barNs) return;
    this.closeBar();
    this.bar = Math.floor((ts + this.phase) / this.barNs);
  }

  /** Completed buckets so far. */
  get completed(): number {
    return this.buckets.completed;
  }

  value(): number {
    return this.buckets.value();
  }

  private closeBar(): void {
    const V = this.barVolume;
    if (V === 0) return;
    const d = this.prevPrice === this.prevPrice ? this.barLast - this.prevPrice : 0;
    this.prevPrice = this.barLast;
    this.dp[this.dpCount % this.sigmaBars] = d;
    this.dpCount++;
    const n = this.dpCount < this.sigmaBars ? this.dpCount : this.sigmaBars;
    let z: number;
    let sigma = 0;
    if (n >= 2) {
      let m = 0;
      for (let i = 0; i < n; i++) m += this.dp[i]!;
      m /= n;
      let v = 0;
      for (let i = 0; i < n; i++) {
        const e = this.dp[i]! - m;
        v += e * e;
      }
      sigma = Math.sqrt(v / (n - 1));
    }
    if (sigma > 0) z = normalCdf(d / sigma);
    else z = d > 0 ? 1 : d < 0 ? 0 : 0.5;
    this.lastBuyFraction = z;
    this.buckets.addVolume(V, z, 1 - z);
    this.barVolume = 0;
  }
}
