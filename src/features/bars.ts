/**
 * Price-impact measures on epoch-aligned time bars (FEATURES.md `kyle_lambda`, `hasbrouck_lambda`,
 * `amihud`). Bar k covers [start_k, end_k); a trade belongs to the bar containing its own
 * timestamp. The mid at a bar's end is the mid of the last row strictly before that end, carried
 * forward. As of a row at time t, the completed bars are those with end <= t; the measures use the
 * last W of them, and are NaN until W bars exist (counting starts at the first bar whose previous
 * bar ends after the first row). Empty bars count (S_k = 0).
 *
 *   kyle      = cov(dmid, S) / var(S),        S_k = sum sign*size
 *   hasbrouck = cov(dlogmid, X) / var(X),     X_k = sum sign*sqrt(price*size)
 *   amihud    = mean over bars with value > 0 of |dlogmid_k| / value_k,  value_k = sum price*size
 *
 * Late trades: a trade can reach us after a row that already completed its bar (Binance trade
 * times vs depth event times differ by a few ms). The bar still gets it (the definition is by
 * timestamp), and the value for a row depends only on its bar index, so values are cached per bar
 * index and invalidated when a late trade changes a completed bar.
 */
import type { TimeBase } from '../model/time.ts';

export interface BarValues {
  kyle: number;
  hasbrouck: number;
  amihud: number;
}

export class BarImpactState {
  readonly barNs: number;
  private readonly phase: number;
  private readonly cap: number;
  private readonly mask: number;
  /** Per bar slot: signed volume, signed sqrt dollar volume, dollar volume, mid at the bar's end. */
  private readonly S: Float64Array;
  private readonly X: Float64Array;
  private readonly value: Float64Array;
  private readonly endMid: Float64Array;
  /** Per closed bar: mid change and log mid change since the previous bar's end (computed once, at close). */
  private readonly dMid: Float64Array;
  private readonly dLog: Float64Array;
  /** First counted bar (relative index); NaN until the first row. */
  private k0 = NaN;
  /** Highest bar whose slot is initialised. */
  private maxBar = -Infinity;
  /** Bars < closedUpTo have a known end mid. */
  private closedUpTo = -Infinity;
  private lastMid = NaN;
  private version = 0;
  private cacheBar = NaN;
  private cacheVersion = -1;
  private readonly cache: BarValues = { kyle: NaN, hasbrouck: NaN, amihud: NaN };
  /** Trades whose bar lies outside the ring (far too late, or far ahead of the rows), ignored. */
  tradesOutOfRange = 0;
  /** Trades that arrived after their bar had completed (still counted). */
  lateTrades = 0;

  constructor(timeBase: TimeBase, barMs: number, readonly window: number, settleNs = 0) {
    if (!(barMs > 0 && Number.isInteger(barMs))) throw new RangeError(`bar length must be a positive integer of ms, got ${barMs}`);
    if (!(window >= 2 && Number.isInteger(window))) throw new RangeError(`bar window must be an integer >= 2, got ${window}`);
    this.barNs = barMs * 1_000_000;
    this.phase = timeBase.barPhase(this.barNs);
    let cap = 1;
    while (cap < window + 2 + Math.ceil(settleNs / this.barNs) + 64) cap <<= 1;
    this.cap = cap;
    this.mask = cap - 1;
    this.S = new Float64Array(cap);
    this.X = new Float64Array(cap);
    this.value = new Float64Array(cap);
    this.endMid = new Float64Array(cap).fill(NaN);
    this.dMid = new Float64Array(cap).fill(NaN);
    this.dLog = new Float64Array(cap).fill(NaN);
  }

  /** Bar index (relative to the time base) of a time: exact, as both terms are exact integers < 2^53. */
  barOf(ts: number): number {
    return Math.floor((ts + this.phase) / this.barNs);
  }

  private ensureSlots(k: number): void {
    if (k <= this.maxBar) return;
    const from = Math.max(this.maxBar + 1, k - this.cap + 1);
    for (let j = from; j <= k; j++) {
      const i = j & this.mask;
      this.S[i] = 0;
      this.X[i] = 0;
      this.value[i] = 0;
      this.endMid[i] = NaN;
      this.dMid[i] = NaN;
      this.dLog[i] = NaN;
    }
    this.maxBar = k;
  }

  addTrade(ts: number, price: number, size: number, sign: number): void {
    if (Number.isNaN(this.k0)) return; // before the first row: never in a counted bar
    const k = this.barOf(ts);
    if (k < this.k0) return;
    if (k <= this.maxBar - this.cap || k > this.closedUpTo + (this.cap >> 1)) {
      this.tradesOutOfRange++;
      return;
    }
    this.ensureSlots(k);
    const i = k & this.mask;
    this.S[i] += sign * size;
    this.X[i] += sign * Math.sqrt(price * size);
    this.value[i] += price * size;
    if (k < this.closedUpTo) {
      this.lateTrades++;
      this.version++;
    }
  }

  /**
   * Call with the first row's time before adding that row's trades: it fixes the first counted bar
   * (trades assigned to the first row may still fall in counted bars).
   */
  start(ts: number): void {
    if (!Number.isNaN(this.k0)) return;
    const kt = this.barOf(ts);
    this.k0 = kt + 1;
    this.closedUpTo = kt;
  }

  /** A new row at ts with this mid (after its trades were added): closes the bars that ended at or before ts. */
  onRow(ts: number, mid: number): void {
    this.start(ts);
    const kt = this.barOf(ts);
    this.ensureSlots(kt);
    // Bars [closedUpTo, kt) end at or before ts and after the previous row: their end mid is the previous row's.
    const mask = this.mask;
    for (let k = Math.max(this.closedUpTo, kt - this.cap + 1); k < kt; k++) {
      const i = k & mask;
      const prev = this.endMid[(k - 1) & mask]!;
      this.endMid[i] = this.lastMid;
      this.dMid[i] = this.lastMid - prev;
      this.dLog[i] = Math.log(this.lastMid / prev);
    }
    if (kt > this.closedUpTo) this.closedUpTo = kt;
    this.lastMid = mid;
  }

  /** The measures as of a row at time ts (its bars must already be closed by onRow). */
  valuesAt(ts: number): BarValues {
    const kt = this.barOf(ts);
    if (kt === this.cacheBar && this.cacheVersion === this.version) return this.cache;
    const c = this.cache;
    this.cacheBar = kt;
    this.cacheVersion = this.version;
    const W = this.window;
    if (Number.isNaN(this.k0) || kt - W < this.k0) {
      c.kyle = c.hasbrouck = c.amihud = NaN;
      return c;
    }
    const mask = this.mask;
    const dMid = this.dMid;
    const dLog = this.dLog;
    let mS = 0, mX = 0, mD = 0, mL = 0;
    let am = 0, amN = 0;
    for (let k = kt - W; k < kt; k++) {
      const i = k & mask;
      const dl = dLog[i]!;
      mS += this.S[i]!;
      mX += this.X[i]!;
      mD += dMid[i]!;
      mL += dl;
      const v = this.value[i]!;
      if (v > 0) {
        am += Math.abs(dl) / v;
        amN++;
      }
    }
    mS /= W; mX /= W; mD /= W; mL /= W;
    let cSD = 0, vS = 0, cXL = 0, vX = 0;
    for (let k = kt - W; k < kt; k++) {
      const i = k & mask;
      const ds = this.S[i]! - mS;
      const dx = this.X[i]! - mX;
      cSD += ds * (dMid[i]! - mD);
      vS += ds * ds;
      cXL += dx * (dLog[i]! - mL);
      vX += dx * dx;
    }
    c.kyle = vS === 0 ? NaN : cSD / vS;
    c.hasbrouck = vX === 0 ? NaN : cXL / vX;
    c.amihud = amN > 0 ? am / amN : NaN;
    return c;
  }
}
