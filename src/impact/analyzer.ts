/**
 * Price impact of a market order of size Q, estimated from the book and checked against the
 * data's own aggressive orders. Pure computation: it is fed book rows and trades in source order
 * (src/impact/run.ts does the reading) and keeps what the report needs.
 *
 * Two estimates, both made from the book as it stood just before an order:
 *   - book walk (walk.ts): the VWAP of taking Q from the visible levels, against the mid and the
 *     touch, and the mid the book would show if nothing refilled;
 *   - Kyle's lambda x Q: lambda is the FEATURES.md `kyle_lambda` (OLS slope of bar mid change on
 *     bar signed volume, `barMs` bars, the last `barWindow` of them), computed by the same
 *     BarImpactState the feature engine and the analytics use, fed through feedSpecStates, so the
 *     number is the project's own column, not a second implementation.
 *
 * Realised impact (groups.ts): each aggressive order (a group of prints) whose size lies in
 * [bandLo * Q, bandHi * Q] is paired with both estimates made for its own size from the book before
 * its first print. Estimating at the order's own size (not at Q) compares like with like: the band
 * only decides which orders count as "of similar size".
 */
import type { BookRow } from '../model/row.ts';
import type { TimeBaseRef } from '../model/time.ts';
import { BarImpactState } from '../features/bars.ts';
import { feedSpecStates } from '../features/engine.ts';
import { walkImpact, type Levels, type WalkImpact } from './walk.ts';
import { TradeGrouper, type GrouperCounters, type TradeGroup } from './groups.ts';

export interface ImpactOptions {
  /** Order sizes Q to study, in the source's size unit. */
  sizes: number[];
  /** An order of size q is "of similar size" to Q when bandLo * Q <= q <= bandHi * Q. */
  bandLo: number;
  bandHi: number;
  /** Horizons after the order for the realised mid move (ms): they separate temporary from permanent impact. */
  horizonsMs: number[];
  /** Kyle lambda's bar length (ms) and window (bars), as FEATURES.md `--bar-ms` / `--bar-window`. */
  barMs: number;
  barWindow: number;
  /** Time series: one sample of the estimates per symbol every this many ms of exchange time (0: none). */
  everyMs: number;
  /** Levels per side the walk may read (what the row carries; the source may show fewer). */
  levels: number;
}

export const DEFAULT_IMPACT_OPTIONS: Omit<ImpactOptions, 'sizes'> = {
  bandLo: 0.5,
  bandHi: 2,
  horizonsMs: [1000, 10_000],
  barMs: 1000,
  barWindow: 300,
  everyMs: 60_000,
  levels: 50,
};

/** The book of one row, copied (rows are flyweights), with the Kyle lambda as of that row. */
export class BookSnap {
  readonly bids: Levels;
  readonly asks: Levels;
  ts = 0;
  mid = NaN;
  kyle = NaN;

  constructor(levels: number) {
    this.bids = { px: new Float64Array(levels), sz: new Float64Array(levels), n: 0 };
    this.asks = { px: new Float64Array(levels), sz: new Float64Array(levels), n: 0 };
  }

  copyRow(row: BookRow, mid: number, kyle: number): void {
    const n = Math.min(row.usableLevels, (this.bids.px as Float64Array).length);
    (this.bids.px as Float64Array).set(row.bidPx.subarray(0, n));
    (this.bids.sz as Float64Array).set(row.bidSz.subarray(0, n));
    (this.asks.px as Float64Array).set(row.askPx.subarray(0, n));
    (this.asks.sz as Float64Array).set(row.askSz.subarray(0, n));
    this.bids.n = n;
    this.asks.n = n;
    this.ts = row.ts;
    this.mid = mid;
    this.kyle = kyle;
  }

  copy(o: BookSnap): void {
    (this.bids.px as Float64Array).set(o.bids.px as Float64Array);
    (this.bids.sz as Float64Array).set(o.bids.sz as Float64Array);
    (this.asks.px as Float64Array).set(o.asks.px as Float64Array);
    (this.asks.sz as Float64Array).set(o.asks.sz as Float64Array);
    this.bids.n = o.bids.n;
    this.asks.n = o.asks.n;
    this.ts = o.ts;
    this.mid = o.mid;
    this.kyle = o.kyle;
  }
}

/** One aggressive order of similar size to Q, with both estimates and the realised moves (all bps of the pre mid, in the order's direction). */
export interface MatchedOrder {
  symbol: string;
  q: number;
  ts: number;
  sign: 1 | -1;
  size: number;
  prints: number;
  hiddenSize: number;
  /** Estimates at the order's size from the book before it. */
  walkCostBps: number;
  walkCostTouchBps: number;
  walkMidMoveBps: number;
  walkLevels: number;
  walkExhausted: boolean;
  kyleBps: number;
  /** sign * (prints' VWAP - pre mid). */
  realCostBps: number;
  /** sign * (after mid - pre mid). */
  realMoveBps: number;
  /** sign * (horizon mid - pre mid), one per horizon. */
  realHorizonBps: number[];
}

/** The estimates for size Q at one sampled time (the book as of the last row before the sample time). */
export interface ImpactSample {
  symbol: string;
  /** The sample time (a multiple of everyMs), ns since the time base. */
  ts: number;
  /** Time of the row whose book was used. */
  bookTs: number;
  q: number;
  mid: number;
  buy: WalkImpact;
  sell: WalkImpact;
  /** Kyle lambda (price per unit of signed size) as of that row, and lambda * Q in price and bps. */
  kyle: number;
  kyleImpact: number;
  kyleBps: number;
}

export interface ImpactOutputs {
  onSample?(s: ImpactSample): void;
}

/**
 * Rows kept per symbol to place a print in exchange time. A Binance trade can reach the capture after
 * a depth diff stamped later than it (spot diffs come every 100 ms and can already hold the trade's
 * fill): the book the order met is the last row at or before the print's time, not the last row
 * received. LOBSTER rows never run ahead of its messages, so there it is always the last row.
 */
const RECENT_ROWS = 16;

class SymbolImpact {
  readonly grouper: TradeGrouper<BookSnap>;
  /** The last RECENT_ROWS rows, `newest` the index of the latest; `count` of them valid (0 after a sync loss). */
  readonly recent: BookSnap[];
  newest = -1;
  count = 0;
  rows = 0;
  bars: BarImpactState;
  nextSample = NaN;
  /** Groups by size, counted whether or not a band takes them (for the report's size table). */
  groupSizes: number[] = [];

  constructor(readonly name: string, readonly key: number, opts: ImpactOptions, timeBase: TimeBaseRef, onGroup: (g: TradeGroup<BookSnap>) => void) {
    this.grouper = new TradeGrouper<BookSnap>(key, opts.horizonsMs.map((h) => h * 1e6), onGroup);
    this.recent = Array.from({ length: RECENT_ROWS }, () => new BookSnap(opts.levels));
    this.bars = new BarImpactState(timeBase.get(), opts.barMs, opts.barWindow, 0);
  }

  get book(): BookSnap | undefined {
    return this.count > 0 ? this.recent[this.newest] : undefined;
  }

  push(row: BookRow, mid: number, kyle: number): void {
    this.newest = (this.newest + 1) % RECENT_ROWS;
    this.recent[this.newest]!.copyRow(row, mid, kyle);
    if (this.count < RECENT_ROWS) this.count++;
  }

  /**
   * The book before a print at ts: the latest kept row at or before ts, and the mid of the row
   * received after it (a row already past ts), or undefined. `pre` undefined: no row to vouch for
   * (none kept, or every kept row is later than the print).
   */
  locate(ts: number): { pre: BookSnap | undefined; after: number | undefined } {
    for (let k = 0; k < this.count; k++) {
      const i = (this.newest - k + RECENT_ROWS) % RECENT_ROWS;
      const r = this.recent[i]!;
      if (r.ts <= ts) return { pre: r, after: k > 0 ? this.recent[(i + 1) % RECENT_ROWS]!.mid : undefined };
    }
    return { pre: undefined, after: undefined };
  }
}

export interface SymbolSummaryCounts extends GrouperCounters {
  rows: number;
}

export class ImpactAnalyzer {
  readonly opts: ImpactOptions;
  private readonly bySymbol = new Map<string, SymbolImpact>();
  private readonly symbolsList: SymbolImpact[] = [];
  /** Per Q (index into opts.sizes): the matched orders. */
  readonly matched: MatchedOrder[][];
  /** Per Q: samples' estimates, kept for the summary (the full samples go to onSample). */
  readonly series: ImpactSample[][];

  constructor(opts: Partial<ImpactOptions> & { sizes: number[] }, private readonly timeBase: TimeBaseRef, private readonly out: ImpactOutputs = {}) {
    this.opts = { ...DEFAULT_IMPACT_OPTIONS, ...opts };
    const o = this.opts;
    if (o.sizes.length === 0) throw new RangeError('impact: at least one size is needed');
    for (const q of o.sizes) if (!(q > 0 && Number.isFinite(q))) throw new RangeError(`impact: sizes must be positive, got ${q}`);
    if (!(o.bandLo >= 0 && o.bandHi >= o.bandLo)) throw new RangeError(`impact: the size band must satisfy 0 <= lo <= hi, got ${o.bandLo}..${o.bandHi}`);
    if (!(o.everyMs >= 0)) throw new RangeError(`impact: everyMs must be >= 0, got ${o.everyMs}`);
    if (!(o.levels >= 1 && Number.isInteger(o.levels))) throw new RangeError(`impact: levels must be a positive integer, got ${o.levels}`);
    this.matched = o.sizes.map(() => []);
    this.series = o.sizes.map(() => []);
  }

  private symbol(name: string): SymbolImpact {
    let s = this.bySymbol.get(name);
    if (!s) {
      const key = this.symbolsList.length;
      s = new SymbolImpact(name, key, this.opts, this.timeBase, (g) => this.onGroup(this.symbolsList[g.symbolKey]!, g));
      this.bySymbol.set(name, s);
      this.symbolsList.push(s);
    }
    return s;
  }

  /** The book of this symbol can no longer be vouched for (out of sync): prints until its next row have no book. */
  invalidate(symbol: string): void {
    const s = this.bySymbol.get(symbol);
    if (s) s.count = 0;
  }

  onTrade(symbol: string, ts: number, px: number, size: number, sign: number, hidden: boolean): void {
    // A symbol with no row yet (its book not synced) still counts its prints, as prints with no book.
    const s = this.symbol(symbol);
    const { pre, after } = s.locate(ts);
    s.grouper.trade(ts, px, size, sign, hidden, () => {
      if (!pre) return undefined;
      const copy = new BookSnap(this.opts.levels);
      copy.copy(pre);
      return copy;
    }, pre ? pre.mid : NaN, after);
  }

  onRow(row: BookRow): void {
    const s = this.symbol(row.symbol);
    const bb = row.bidSz[0]! > 0 ? row.bidPx[0]! : NaN;
    const ba = row.askSz[0]! > 0 ? row.askPx[0]! : NaN;
    const mid = (bb + ba) / 2;
    // Samples read the book as it stood at the sample time: the previous row's, before this one applies.
    const book = s.book;
    if (this.opts.everyMs > 0 && book && row.ts >= s.nextSample) this.sample(s, book, Math.floor(row.ts / (this.opts.everyMs * 1e6)) * this.opts.everyMs * 1e6);
    if (this.opts.everyMs > 0 && !(row.ts < s.nextSample)) s.nextSample = (Math.floor(row.ts / (this.opts.everyMs * 1e6)) + 1) * this.opts.everyMs * 1e6;
    feedSpecStates(undefined, s.bars, row, s.rows === 0, mid);
    s.rows++;
    s.grouper.row(row.ts, mid);
    s.push(row, mid, s.bars.valuesAt(row.ts).kyle);
  }

  finish(): void {
    for (const s of this.symbolsList) s.grouper.finish();
  }

  symbols(): string[] {
    return this.symbolsList.map((s) => s.name);
  }

  counts(symbol: string): SymbolSummaryCounts | undefined {
    const s = this.bySymbol.get(symbol);
    return s && { ...s.grouper.counters, rows: s.rows };
  }

  /** Every group's size (all groups that had a book before them), per symbol: the report's size distribution. */
  groupSizes(symbol: string): readonly number[] {
    return this.bySymbol.get(symbol)?.groupSizes ?? [];
  }

  private sample(s: SymbolImpact, b: BookSnap, ts: number): void {
    for (let k = 0; k < this.opts.sizes.length; k++) {
      const q = this.opts.sizes[k]!;
      const kyleImpact = b.kyle * q;
      const smp: ImpactSample = {
        symbol: s.name,
        ts,
        bookTs: b.ts,
        q,
        mid: b.mid,
        buy: walkImpact(b.bids, b.asks, 1, q),
        sell: walkImpact(b.bids, b.asks, -1, q),
        kyle: b.kyle,
        kyleImpact,
        kyleBps: (kyleImpact / b.mid) * 1e4,
      };
      this.series[k]!.push(smp);
      this.out.onSample?.(smp);
    }
  }

  private onGroup(s: SymbolImpact, g: TradeGroup<BookSnap>): void {
    s.groupSizes.push(g.size);
    const pre = g.pre;
    const preMid = g.preMid;
    if (!Number.isFinite(preMid)) return;
    const o = this.opts;
    let walk: WalkImpact | undefined;
    for (let k = 0; k < o.sizes.length; k++) {
      const Q = o.sizes[k]!;
      if (g.size < o.bandLo * Q || g.size > o.bandHi * Q) continue;
      walk ??= walkImpact(pre.bids, pre.asks, g.sign, g.size);
      const toBps = (x: number): number => ((g.sign * (x - preMid)) / preMid) * 1e4;
      const exhausted = walk.walk.exhausted;
      this.matched[k]!.push({
        symbol: s.name,
        q: Q,
        ts: g.ts,
        sign: g.sign,
        size: g.size,
        prints: g.prints,
        hiddenSize: g.hiddenSize,
        // An exhausted walk prices only what the source shows: no estimate for the whole order.
        walkCostBps: exhausted ? NaN : walk.costMidBps,
        walkCostTouchBps: exhausted ? NaN : walk.costTouchBps,
        walkMidMoveBps: walk.midMoveBps,
        walkLevels: walk.walk.levels,
        walkExhausted: exhausted,
        kyleBps: ((pre.kyle * g.size) / preMid) * 1e4,
        realCostBps: toBps(g.notional / g.size),
        realMoveBps: toBps(g.afterMid),
        realHorizonBps: Array.from(g.horizonMid, toBps),
      });
    }
  }
}
