/**
 * An L2 order book: two ladders plus what a consumer needs to trust it: whether it is crossed,
 * and a repair that follows the newest information.
 */
import type { PriceLadder } from './ladder.ts';
import { PagedLadder } from './paged-ladder.ts';
import { TickLadder } from './tick-ladder.ts';
import { ASK, BID, type DepthEvent } from '../model/events.ts';

export interface ApplyResult {
  /** Levels removed by the crossed-book repair. */
  repairedLevels: number;
  /** Still crossed after repair (the book cannot be trusted). */
  crossed: boolean;
  /** Relative changes that named a level the book does not hold (order-level sources). */
  unknownLevels: number;
}

/**
 * Which ladder a book uses: a learned tick grid (full-depth venue books, where updates land
 * anywhere in thousands of levels and a grid write beats any search), sorted pages (K-level views
 * such as LOBSTER or Tardis book_snapshot_N rows: small books whose updates sit at the touch), or
 * `auto`, which decides from the first snapshot's depth. Measured in docs/benchmarks.md.
 */
export type LadderKind = 'tick' | 'paged' | 'auto';

/** Levels per side from which a snapshot counts as a full-depth book. */
const FULL_DEPTH = 100;

export class L2Book {
  bids: PriceLadder;
  asks: PriceLadder;
  private undecided: boolean;
  private readonly result: ApplyResult = { repairedLevels: 0, crossed: false, unknownLevels: 0 };

  constructor(kind: LadderKind = 'auto') {
    this.undecided = kind === 'auto';
    const grid = kind === 'tick';
    this.bids = grid ? new TickLadder(1) : new PagedLadder(1);
    this.asks = grid ? new TickLadder(-1) : new PagedLadder(-1);
  }

  /** The ladder kind in use (after `auto` has decided). */
  get ladderKind(): 'tick' | 'paged' {
    return this.bids instanceof TickLadder ? 'tick' : 'paged';
  }

  /** Decides `auto` from the first snapshot: full-depth books get the tick grid. */
  private decide(e: DepthEvent): void {
    this.undecided = false;
    if (Math.min(e.nBids, e.nAsks) >= FULL_DEPTH) {
      this.bids = new TickLadder(1);
      this.asks = new TickLadder(-1);
    }
  }

  clear(): void {
    this.bids.clear();
    this.asks.clear();
  }

  bestBid(): number {
    return this.bids.bestPrice();
  }

  bestAsk(): number {
    return this.asks.bestPrice();
  }

  isCrossed(): boolean {
    return this.bids.n > 0 && this.asks.n > 0 && this.bids.bestPrice() >= this.asks.bestPrice();
  }

  /**
   * Applies a snapshot (replacing the book) or a delta message, then repairs a crossed book.
   *
   * Repair policy ("newest wins"): a book can only cross when some level was missed (a lost delete,
   * a gap). The levels this message just set are current; levels on the opposite side priced
   * through them are stale and removed. If the book is still crossed after that (the message itself
   * is inconsistent, or a snapshot is crossed), `crossed` is reported and the caller must not
   * trust the book until the next snapshot.
   */
  apply(e: DepthEvent): ApplyResult {
    const r = this.result;
    r.repairedLevels = 0;
    r.crossed = false;
    r.unknownLevels = 0;
    if (e.kind === 'snapshot') {
      if (this.undecided) this.decide(e);
      this.bids.loadBestFirst(e.bidPx, e.bidSz, e.nBids);
      this.asks.loadBestFirst(e.askPx, e.askSz, e.nAsks);
      r.crossed = this.isCrossed();
      return r;
    }
    let maxBidSet = -Infinity;
    let minAskSet = Infinity;
    if (e.sizes === 'absolute') {
      for (let i = 0; i < e.nBids; i++) {
        const px = e.bidPx[i]!;
        const sz = e.bidSz[i]!;
        this.bids.set(px, sz);
        if (sz > 0 && px > maxBidSet) maxBidSet = px;
      }
      for (let i = 0; i < e.nAsks; i++) {
        const px = e.askPx[i]!;
        const sz = e.askSz[i]!;
        this.asks.set(px, sz);
        if (sz > 0 && px < minAskSet) minAskSet = px;
      }
    } else {
      for (let i = 0; i < e.nBids; i++) {
        const px = e.bidPx[i]!;
        const d = e.bidSz[i]!;
        if (Number.isNaN(this.bids.add(px, d))) r.unknownLevels++;
        else if (d > 0 && px > maxBidSet) maxBidSet = px;
      }
      for (let i = 0; i < e.nAsks; i++) {
        const px = e.askPx[i]!;
        const d = e.askSz[i]!;
        if (Number.isNaN(this.asks.add(px, d))) r.unknownLevels++;
        else if (d > 0 && px < minAskSet) minAskSet = px;
      }
    }
    // Only a level set at or through the opposite touch can cross the book; removals never do.
    // (The finiteness tests spare most messages, which touch one side, a look at the other side's best.)
    if (((maxBidSet !== -Infinity && maxBidSet >= this.asks.bestPrice()) || (minAskSet !== Infinity && minAskSet <= this.bids.bestPrice())) && this.isCrossed()) {
      if (maxBidSet >= this.asks.bestPrice()) r.repairedLevels += this.asks.removeThrough(maxBidSet);
      if (minAskSet <= this.bids.bestPrice()) r.repairedLevels += this.bids.removeThrough(minAskSet);
      r.crossed = this.isCrossed();
    }
    return r;
  }

  /** Top-k of both sides into the four arrays (missing levels: NaN price, size 0). */
  top(k: number, bidPx: Float64Array, bidSz: Float64Array, askPx: Float64Array, askSz: Float64Array, offset = 0): void {
    this.bids.top(k, bidPx, bidSz, offset);
    this.asks.top(k, askPx, askSz, offset);
  }

  side(s: typeof BID | typeof ASK): PriceLadder {
    return s === BID ? this.bids : this.asks;
  }

  /** Structural invariants (sorted, positive sizes, counts); used by tests and debug runs. */
  checkInvariants(): string | null {
    const b = this.bids.invariantError();
    if (b) return `bids: ${b}`;
    const a = this.asks.invariantError();
    return a ? `asks: ${a}` : null;
  }
}

