/**
 * LOBSTER ground truth: orderbook row i is the book after message i. Two checks.
 *
 * (a) Step check: apply message i to row i-1 exactly as the file gives it and compare with row i on
 *     the levels that remain known. A K-level view loses certainty at its far end: when a level is
 *     removed, the level that comes into view was never described, so only the first K-1 levels
 *     compare. Hidden executions (type 5), cross trades (6) and halts (7) leave the visible book alone.
 * (b) Continuous rebuild: start from row 0 and apply every message to a book of our own, never
 *     re-reading the file. LOBSTER writes a message only for "events causing an update of the limit
 *     order book in the requested price range" (its ReadMe): what happens deeper than K levels is
 *     never written. So the rebuilt book's deeper levels drift from the truth, and when the book is
 *     swept they come into view at the touch with a history no message describes. The report says
 *     when level 1 first diverges and which level caused it, and, re-seeding from the file at every
 *     divergence, how often that happens and how long exact stretches last.
 */
import { L2Book } from '../../book/l2-book.ts';
import type { MarketSource } from '../../sources/source.ts';
import type { LobsterSource } from './capture.ts';
import type { BookCheckOptions, BookCheckResult } from '../venue.ts';
import { ASK, BID, DepthEvent, OrderType, type DepthEvent as Depth, type MarketSink, type OrderEvent, type TradeEvent } from '../../model/events.ts';

export interface StepMismatch {
  row: number;
  line: number;
  detail: string;
}

export interface ContinuousReport {
  rows: number;
  /** Time of the first row, seconds after midnight (exchange local). */
  firstRowSeconds: number;
  /** Never re-reading the file: rows whose rebuilt level 1 (both sides, price and size) equals the file's. */
  level1ExactRows: number;
  /** ... and rows whose first K levels all equal the file's. */
  allLevelsExactRows: number;
  /** First row whose rebuilt level 1 differs, its time (seconds after midnight) and why. */
  firstDivergenceRow: number | null;
  firstDivergenceSeconds: number | null;
  firstDivergenceReason: string | null;
  /** Re-seeding from the file at every divergence: how many divergences, and how long exact stretches last. */
  reseeded: {
    divergences: number;
    /** Divergences by kind (see Rebuild.explain). */
    byKind: Record<DivergenceKind, number>;
    medianStretchSeconds: number;
    p90StretchSeconds: number;
    longestStretchSeconds: number;
  };
}

export interface LobsterVerifyResult {
  rows: number;
  steps: number;
  mismatches: number;
  examples: StepMismatch[];
  levels: number;
  continuous: ContinuousReport;
}

/** A K-level side as the file shows it: best first. */
class ViewSide {
  px: Float64Array;
  sz: Float64Array;
  n = 0;
  constructor(readonly k: number, readonly isBid: boolean) {
    this.px = new Float64Array(k + 1);
    this.sz = new Float64Array(k + 1);
  }
  load(px: Float64Array, sz: Float64Array, n: number): void {
    this.n = Math.min(n, this.k);
    for (let i = 0; i < this.n; i++) { this.px[i] = px[i]!; this.sz[i] = sz[i]!; }
  }
  better(a: number, b: number): boolean {
    return this.isBid ? a > b : a < b;
  }
  /**
   * Applies a size change; returns how many leading levels are still known after it, or -1 when the
   * message names a price inside the view that the view does not hold (an inconsistency).
   */
  apply(price: number, delta: number): number {
    let i = 0;
    while (i < this.n && this.px[i] !== price && this.better(this.px[i]!, price)) i++;
    const full = this.n === this.k;
    if (i < this.n && this.px[i] === price) {
      const s = this.sz[i]! + delta;
      if (s > 0) { this.sz[i] = s; return this.n; }
      if (s < 0) return -1;
      this.px.copyWithin(i, i + 1, this.n);
      this.sz.copyWithin(i, i + 1, this.n);
      this.n--;
      // A full view lost a level: what comes into view at the far end is unknown.
      return this.n;
    }
    if (delta <= 0) return i === this.n && full ? this.n : -1; // beyond the view: not visible
    if (i === this.n && full) return this.n; // new level beyond the view
    this.px.copyWithin(i + 1, i, this.n);
    this.sz.copyWithin(i + 1, i, this.n);
    this.px[i] = price;
    this.sz[i] = delta;
    if (this.n < this.k) this.n++;
    return this.n;
  }
}

/** A continuously rebuilt book plus what it needs to explain a divergence. */
class Rebuild {
  readonly book = new L2Book();
  private readonly delta = new DepthEvent();
  /** Row of the last message naming each price, per side, since the last seed. */
  readonly named = [new Map<number, number>(), new Map<number, number>()];
  seededAtRow = 0;
  seededAtSeconds = 0;

  constructor() {
    this.delta.kind = 'delta';
    this.delta.sizes = 'relative';
  }

  seed(e: Depth, row: number, seconds: number): void {
    this.book.apply(e);
    this.named[0]!.clear();
    this.named[1]!.clear();
    this.seededAtRow = row;
    this.seededAtSeconds = seconds;
  }

  apply(m: Msg, row: number): void {
    const delta = visibleDelta(m);
    if (delta === 0) return;
    this.named[m.side]!.set(m.price, row);
    const d = this.delta;
    d.reset();
    if (m.side === BID) d.pushBid(m.price, delta);
    else d.pushAsk(m.price, delta);
    this.book.apply(d);
  }

  /** Level 1 of both sides equals the file row's. */
  level1Matches(e: Depth): boolean {
    return this.sideMatches(e, BID) && this.sideMatches(e, ASK);
  }

  sideMatches(e: Depth, side: 0 | 1): boolean {
    const lad = side === BID ? this.book.bids : this.book.asks;
    const n = side === BID ? e.nBids : e.nAsks;
    const px = n > 0 ? (side === BID ? e.bidPx[0]! : e.askPx[0]!) : NaN;
    const sz = n > 0 ? (side === BID ? e.bidSz[0]! : e.askSz[0]!) : 0;
    return same(lad.bestPrice(), px) && lad.bestSize() === sz;
  }

  /**
   * Why level 1 differs from the file row. Each kind is a change made while the level was deeper
   * than the file's K levels, where LOBSTER writes no message:
   * `undescribed-level`: the file's touch is a level missing from the rebuilt book;
   * `vanished-level`: the rebuilt touch is a level the file no longer has;
   * `undescribed-size`: same price, a different size.
   */
  explain(e: Depth, firstSeen: Map<number, { row: number; level: number }>[]): { text: string; kind: DivergenceKind } {
    for (const side of [BID, ASK] as const) {
      if (this.sideMatches(e, side)) continue;
      const name = side === BID ? 'bid' : 'ask';
      const lad = side === BID ? this.book.bids : this.book.asks;
      const n = side === BID ? e.nBids : e.nAsks;
      const fpx = n > 0 ? (side === BID ? e.bidPx[0]! : e.askPx[0]!) : NaN;
      const fsz = n > 0 ? (side === BID ? e.bidSz[0]! : e.askSz[0]!) : 0;
      const bpx = lad.bestPrice();
      const better = (a: number, b: number): boolean => (side === BID ? a > b : a < b);
      if (bpx === bpx && (fpx !== fpx || better(bpx, fpx))) {
        return {
          kind: 'vanished-level',
          text: `the rebuilt best ${name} ${bpx} x ${lad.bestSize()} is not in the file, which shows ${fpx} x ${fsz}: ` +
            'its orders were removed while it lay deeper than the file\'s levels, where no message is written',
        };
      }
      if (fpx === fpx && bpx === fpx) {
        return {
          kind: 'undescribed-size',
          text: `the ${name} at ${fpx} holds ${lad.bestSize()} in the rebuilt book, the file shows ${fsz}: its size changed while it lay deeper than the file's levels, where no message is written`,
        };
      }
      const seen = firstSeen[side]!.get(fpx);
      const where = seen ? `; it entered the file's view at row ${seen.row}, as level ${seen.level}` : '';
      const named = this.named[side]!.has(fpx);
      return {
        kind: 'undescribed-level',
        text: `the file's best ${name} ${fpx} x ${fsz} is missing from the rebuilt book (${named ? 'only partly' : 'never'} named by a message since row ${this.seededAtRow})${where}: ` +
          'it was built up while deeper than the file\'s levels, where no message is written, and the sweep brought it to the touch',
      };
    }
    return { text: 'level 1 matches', kind: 'undescribed-size' };
  }
}

export type DivergenceKind = 'undescribed-level' | 'vanished-level' | 'undescribed-size';

type Msg = { type: number; side: 0 | 1; price: number; size: number };

function visibleDelta(m: Msg): number {
  if (m.type === OrderType.Add) return m.size;
  if (m.type === OrderType.Cancel || m.type === OrderType.Delete || m.type === OrderType.Execute) return -m.size;
  return 0;
}

export class LobsterVerifier implements MarketSink {
  private readonly prevBid: ViewSide;
  private readonly prevAsk: ViewSide;
  private readonly cont = new Rebuild();
  private readonly reseed = new Rebuild();
  private readonly stretches: number[] = [];
  private readonly firstSeen = [new Map<number, { row: number; level: number }>(), new Map<number, { row: number; level: number }>()];
  private msg: Msg | null = null;
  private rows = 0;
  private steps = 0;
  private mismatches = 0;
  private readonly examples: StepMismatch[] = [];
  private readonly c: ContinuousReport = {
    rows: 0, firstRowSeconds: NaN, level1ExactRows: 0, allLevelsExactRows: 0, firstDivergenceRow: null,
    firstDivergenceSeconds: null, firstDivergenceReason: null,
    reseeded: { divergences: 0, byKind: { 'undescribed-level': 0, 'vanished-level': 0, 'undescribed-size': 0 }, medianStretchSeconds: NaN, p90StretchSeconds: NaN, longestStretchSeconds: NaN },
  };
  private readonly top: { bp: Float64Array; bs: Float64Array; ap: Float64Array; as: Float64Array };

  constructor(readonly levels: number, private readonly dayOffsetNs: number) {
    this.prevBid = new ViewSide(levels, true);
    this.prevAsk = new ViewSide(levels, false);
    this.top = { bp: new Float64Array(levels), bs: new Float64Array(levels), ap: new Float64Array(levels), as: new Float64Array(levels) };
  }

  onOrder(e: OrderEvent): void {
    this.msg = { type: e.type, side: e.side, price: e.price, size: e.size };
  }

  onTrade(_e: TradeEvent): void {}

  onDepth(e: Depth): void {
    const m = this.msg;
    this.msg = null;
    const seconds = (e.ts - this.dayOffsetNs) / 1e9;
    this.noteFirstSeen(e);
    if (this.rows > 0 && m) {
      this.steps++;
      const detail = this.step(m, e);
      if (detail) {
        this.mismatches++;
        if (this.examples.length < 10) this.examples.push({ row: this.rows, line: e.line, detail });
      }
      this.cont.apply(m, this.rows);
      this.reseed.apply(m, this.rows);
    } else {
      this.cont.seed(e, 0, seconds);
      this.reseed.seed(e, 0, seconds);
      this.c.firstRowSeconds = seconds;
    }
    this.compareContinuous(e, seconds);
    this.prevBid.load(e.bidPx, e.bidSz, e.nBids);
    this.prevAsk.load(e.askPx, e.askSz, e.nAsks);
    this.rows++;
  }

  private noteFirstSeen(e: Depth): void {
    const K = this.levels;
    for (let i = 0; i < Math.min(K, e.nBids); i++) if (!this.firstSeen[BID]!.has(e.bidPx[i]!)) this.firstSeen[BID]!.set(e.bidPx[i]!, { row: this.rows, level: i + 1 });
    for (let i = 0; i < Math.min(K, e.nAsks); i++) if (!this.firstSeen[ASK]!.has(e.askPx[i]!)) this.firstSeen[ASK]!.set(e.askPx[i]!, { row: this.rows, level: i + 1 });
  }

  /** (a) One step; returns a description of the mismatch, or null. */
  private step(m: Msg, e: Depth): string | null {
    const side = m.side === BID ? this.prevBid : this.prevAsk;
    const bidComplete = this.prevBid.n < this.levels;
    const askComplete = this.prevAsk.n < this.levels;
    let knownBid = this.prevBid.n;
    let knownAsk = this.prevAsk.n;
    const delta = visibleDelta(m);
    if (delta !== 0) {
      const k = side.apply(m.price, delta);
      if (k < 0) return `message type ${m.type} ${m.side === BID ? 'bid' : 'ask'} ${m.size} @ ${m.price} names a level the previous row does not hold`;
      if (m.side === BID) knownBid = k;
      else knownAsk = k;
    }
    const cmp = (v: ViewSide, complete: boolean, known: number, px: Float64Array, sz: Float64Array, n: number, name: string): string | null => {
      const upTo = Math.min(known, n);
      for (let i = 0; i < upTo; i++) {
        if (v.px[i] !== px[i] || v.sz[i] !== sz[i]) {
          return `${name} level ${i + 1}: expected ${v.sz[i]} @ ${v.px[i]} after message type ${m.type}, file has ${sz[i]} @ ${px[i]}`;
        }
      }
      // A side thinner than K levels was shown whole, so its level count must match too.
      if (complete && n !== v.n) return `${name}: the book has ${v.n} levels after the message, the file shows ${n}`;
      return null;
    };
    return cmp(this.prevBid, bidComplete, knownBid, e.bidPx, e.bidSz, e.nBids, 'bid') ??
      cmp(this.prevAsk, askComplete, knownAsk, e.askPx, e.askSz, e.nAsks, 'ask');
  }

  /** (b) Compares both rebuilt books with the file row. */
  private compareContinuous(e: Depth, seconds: number): void {
    const c = this.c;
    const K = this.levels;
    c.rows++;
    const l1 = this.cont.level1Matches(e);
    if (l1) {
      c.level1ExactRows++;
      const t = this.top;
      this.cont.book.top(K, t.bp, t.bs, t.ap, t.as);
      let all = true;
      for (let i = 1; all && i < K; i++) {
        all = same(t.bp[i]!, i < e.nBids ? e.bidPx[i]! : NaN) && t.bs[i] === (i < e.nBids ? e.bidSz[i]! : 0) &&
          same(t.ap[i]!, i < e.nAsks ? e.askPx[i]! : NaN) && t.as[i] === (i < e.nAsks ? e.askSz[i]! : 0);
      }
      if (all) c.allLevelsExactRows++;
    } else if (c.firstDivergenceRow === null) {
      c.firstDivergenceRow = this.rows;
      c.firstDivergenceSeconds = seconds;
      c.firstDivergenceReason = this.cont.explain(e, this.firstSeen).text;
    }
    if (!this.reseed.level1Matches(e)) {
      const r = c.reseeded;
      r.divergences++;
      r.byKind[this.reseed.explain(e, this.firstSeen).kind]++;
      this.stretches.push(seconds - this.reseed.seededAtSeconds);
      this.reseed.seed(e, this.rows, seconds);
    }
  }

  result(): LobsterVerifyResult {
    const s = [...this.stretches].sort((a, b) => a - b);
    const q = (p: number): number => (s.length ? s[Math.min(s.length - 1, Math.floor(p * s.length))]! : NaN);
    this.c.reseeded.medianStretchSeconds = q(0.5);
    this.c.reseeded.p90StretchSeconds = q(0.9);
    this.c.reseeded.longestStretchSeconds = s.length ? s[s.length - 1]! : NaN;
    return { rows: this.rows, steps: this.steps, mismatches: this.mismatches, examples: this.examples, levels: this.levels, continuous: this.c };
  }
}

function same(a: number, b: number): boolean {
  return a === b || (a !== a && b !== b);
}

/**
 * flowcast verify-book on LOBSTER files: (a) each message applied to the previous orderbook row
 * must give the next row; (b) a continuous rebuild from the first row, how long it stays exact.
 */
export async function verifyLobsterBook(src: MarketSource, o: BookCheckOptions): Promise<BookCheckResult> {
  const lob = src as LobsterSource;
  const K = o.levels(lob.levels);
  if (K > lob.levels) o.usage(`--levels ${K}: the file has only ${lob.levels} levels`);
  let v: LobsterVerifier | undefined;
  await src.run({
    onOrder: (e) => v?.onOrder(e),
    onTrade: () => {},
    onDepth: (e) => {
      // Created at the first row, once the time base is fixed: it reports New York clock times.
      v ??= new LobsterVerifier(K, Number(lob.midnightNs - src.timeBase.get().baseNs));
      v.onDepth(e);
    },
  });
  if (!v) return o.usage('the source has no rows');
  const r = v.result();
  const c = r.continuous;
  const out = o.out;
  const pct = (a: number, b: number): string => (b ? ((100 * a) / b).toFixed(2) : '0') + '%';
  out(`verify-book ${o.spec} (${K} levels)`);
  out(`  (a) step check: ${r.steps.toLocaleString('en-US')} steps (message i applied to row i-1, compared with row i on the levels that stay known): ${r.mismatches} mismatches`);
  for (const m of r.examples) out(`    row ${m.row} (line ${m.line}): ${m.detail}`);
  out(`  (b) continuous rebuild from row 0 over ${c.rows.toLocaleString('en-US')} rows, never re-reading the file:`);
  out(`      level 1 exact on ${c.level1ExactRows.toLocaleString('en-US')} rows (${pct(c.level1ExactRows, c.rows)}); all ${K} levels exact on ${c.allLevelsExactRows.toLocaleString('en-US')} rows (${pct(c.allLevelsExactRows, c.rows)})`);
  if (c.firstDivergenceRow === null) out('      level 1 never diverged');
  else {
    out(`      level 1 first diverges at row ${c.firstDivergenceRow.toLocaleString('en-US')}, ${formatClock(c.firstDivergenceSeconds!)} New York time (${formatDuration(c.firstDivergenceSeconds! - c.firstRowSeconds)} after the first row)`);
    out(`      why: ${c.firstDivergenceReason}`);
  }
  const rs = c.reseeded;
  const k = rs.byKind;
  out(`      re-seeding from the file at each divergence: ${rs.divergences.toLocaleString('en-US')} divergences over the file: ${k['undescribed-level']} a file level missing from the rebuilt book, ` +
    `${k['vanished-level']} a rebuilt level the file no longer has, ${k['undescribed-size']} a size that differs at the touch;`);
  out(`      exact stretches last ${formatDuration(rs.medianStretchSeconds)} (median), ${formatDuration(rs.p90StretchSeconds)} (p90), ${formatDuration(rs.longestStretchSeconds)} (longest)`);
  out(`      so: LOBSTER writes messages only for changes within the requested ${K} levels, so a book rebuilt from them is exact at the touch only until a sweep`);
  out(`      brings up a level whose deeper history was never written. Use the orderbook rows as the book (flowcast features does) and the messages as order flow.`);
  return { rows: r.rows, checks: r.steps, mismatches: r.mismatches };
}

function formatClock(secondsAfterMidnight: number): string {
  const h = Math.floor(secondsAfterMidnight / 3600);
  const m = Math.floor((secondsAfterMidnight % 3600) / 60);
  const s = secondsAfterMidnight % 60;
  return `${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}:${s.toFixed(3).padStart(6, '0')}`;
}

function formatDuration(s: number): string {
  if (s < 60) return `${s.toFixed(3)} s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m} min ${(s - 60 * m).toFixed(0)} s` : `${Math.floor(m / 60)} h ${m % 60} min`;
}
