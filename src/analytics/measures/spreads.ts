/**
 * Effective and realised spreads and adverse selection at a horizon h, per trade, in basis points
 * of the prevailing mid m0 (the last mid stamped strictly before the trade: a venue's quote stream
 * can deliver the book the trade left behind before the trade itself), with q the aggressor sign,
 * p the trade price and m_h the mid in force h after the trade:
 *
 *   effective = 2 q (p - m0) / m0
 *   realised  = 2 q (p - m_h) / m0
 *   adverse   = 2 q (m_h - m0) / m0          (effective = realised + adverse, exactly)
 *
 * Averages are size-weighted over the trades of the trailing window whose horizon has passed (all
 * three over the same trades, so the identity holds for the averages too). Trades of unknown side
 * or with no mid yet are not counted.
 */
import { TimeWindowSums } from '../stats.ts';
import { R_PX, R_SIGN, R_SZ, R_TS } from '../detectors/context.ts';

const MID_RING = 64;

export const EFFECTIVE = 0;
export const REALISED = 1;
export const ADVERSE = 2;

export class SpreadDecomposition {
  private readonly horizonNs: number;
  private ts: Float64Array<ArrayBuffer> = new Float64Array(64);
  private px = new Float64Array(64);
  private sz = new Float64Array(64);
  private sg = new Float64Array(64);
  private m0 = new Float64Array(64);
  private first = 0;
  private next = 0;
  private mid = NaN;
  /** Recent mids and their times, to find the one in force before a trade. */
  private readonly midTs = new Float64Array(MID_RING);
  private readonly midV = new Float64Array(MID_RING);
  private midN = 0;
  /** Earliest time at which a pending trade's horizon ends (Infinity: none pending). */
  private nextDue = Infinity;
  private readonly window: TimeWindowSums;
  private readonly x = new Float64Array(3);
  /** Trades whose horizon passed (counted), all time. */
  resolved = 0;

  constructor(horizonMs: number, windowMs: number) {
    this.horizonNs = horizonMs * 1_000_000;
    this.window = new TimeWindowSums(windowMs * 1_000_000, 3);
  }

  /** The mid in force from time t on. */
  setMid(t: number, mid: number): void {
    if (t >= this.nextDue) this.advance(t);
    if (mid !== mid) return;
    this.mid = mid;
    const j = this.midN++ & (MID_RING - 1);
    this.midTs[j] = t;
    this.midV[j] = mid;
  }

  /** The last mid stamped strictly before t (NaN if none is remembered). */
  private midBefore(t: number): number {
    const stop = this.midN > MID_RING ? this.midN - MID_RING : 0;
    for (let k = this.midN - 1; k >= stop; k--) {
      const j = k & (MID_RING - 1);
      if (this.midTs[j]! < t) return this.midV[j]!;
    }
    return NaN;
  }

  /** Resolves the trades whose horizon ended at or before t, with the mid in force until t. */
  advance(t: number): void {
    const h = this.horizonNs;
    const cap = this.ts.length;
    const mh = this.mid;
    this.nextDue = Infinity;
    while (this.first < this.next) {
      const i = this.first % cap;
      if (this.ts[i]! + h > t) {
        this.nextDue = this.ts[i]! + h;
        break;
      }
      this.first++;
      const m0 = this.m0[i]!;
      const q = this.sg[i]!;
      const p = this.px[i]!;
      this.x[EFFECTIVE] = (2e4 * q * (p - m0)) / m0;
      this.x[REALISED] = (2e4 * q * (p - mh)) / m0;
      this.x[ADVERSE] = (2e4 * q * (mh - m0)) / m0;
      this.window.add(this.ts[i]!, this.sz[i]!, this.x);
      this.resolved++;
    }
    this.window.expire(t - h);
  }

  /** A print, from the register (R_TS, R_PX, R_SZ, R_SIGN). */
  onTrade(reg: Float64Array): void {
    const t = reg[R_TS]!;
    const price = reg[R_PX]!;
    const size = reg[R_SZ]!;
    const sign = reg[R_SIGN]!;
    this.advance(t);
    const m0 = this.midBefore(t);
    if (sign === 0 || m0 !== m0 || !(size > 0)) return;
    if (this.next - this.first === this.ts.length) this.grow();
    const i = this.next++ % this.ts.length;
    this.ts[i] = t;
    this.px[i] = price;
    this.sz[i] = size;
    this.sg[i] = sign;
    this.m0[i] = m0;
    if (t + this.horizonNs < this.nextDue) this.nextDue = t + this.horizonNs;
  }

  /** Size-weighted mean (bps) of EFFECTIVE, REALISED or ADVERSE over the window; NaN if empty. */
  mean(which: number): number {
    return this.window.mean(which);
  }

  get windowTrades(): number {
    return this.window.count;
  }

  private grow(): void {
    const cap = this.ts.length;
    const c = cap * 2;
    const re = (a: Float64Array): Float64Array<ArrayBuffer> => {
      const b = new Float64Array(c);
      for (let s = this.first; s < this.next; s++) b[s % c] = a[s % cap]!;
      return b;
    };
    this.ts = re(this.ts);
    this.px = re(this.px);
    this.sz = re(this.sz);
    this.sg = re(this.sg);
    this.m0 = re(this.m0);
  }
}
