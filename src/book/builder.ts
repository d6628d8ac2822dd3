/**
 * BookBuilder: the stage between sources and everything that consumes books. It keeps one L2 book
 * per symbol, enforces the venue's sequencing (snapshot sync, gap detection, resync from the next
 * snapshot), repairs or quarantines crossed books, assigns trades to rows, and emits a BookRow
 * after every event that makes one. A book that cannot be trusted never produces a row: such rows
 * are withheld and counted.
 */
import { L2Book } from './l2-book.ts';
import { BookRow, TradeQueue, type RowSink } from '../model/row.ts';
import { NO_SEQUENCE, type SeqRule } from '../model/sequence.ts';
import { DepthEvent, TradeEvent, type MarketSink, type QuoteEvent, type OrderEvent } from '../model/events.ts';
import { BadInputPolicy, InputError, InputErrorCode } from '../core/errors.ts';
import { logger } from '../core/log.ts';
import { Fifo } from '../core/fifo.ts';

const log = logger('book');

export type SyncStatus = 'awaiting-snapshot' | 'awaiting-first-diff' | 'synced' | 'out-of-sync';

/**
 * Every row-making depth event ends in exactly one of rows, rowsWithheld, diffsDropped and
 * diffsStale, and is counted when it arrives: so rows + those three = what the input offered.
 */
export interface SymbolCounters {
  rows: number;
  /** Diffs that arrived before the book's first sync and were not usable (rule 'none', or older than the snapshot). */
  diffsDropped: number;
  /** Diffs older than the book's state (repeated or older sequence numbers), ignored. */
  diffsStale: number;
  /** Snapshots no newer than the synced book (the venue's rule says so), ignored. */
  snapshotsStale: number;
  /**
   * Row-making events the book could not vouch for: out of sync (a gap, a crossed book), or time
   * going backwards. Counted on arrival; one a later snapshot releases as a row moves to `rows`.
   */
  rowsWithheld: number;
  gaps: number;
  resyncs: number;
  /** Messages that left the book crossed, and levels removed to repair them. */
  crossedMessages: number;
  repairedLevels: number;
  /** Relative changes naming a level the book does not hold. */
  unknownLevels: number;
  trades: number;
  /** Trades still waiting for a row at the end of the stream (dropped per FEATURES.md). */
  tradesAfterLastRow: number;
  nonMonotonic: number;
}

export function zeroCounters(): SymbolCounters {
  return {
    rows: 0, diffsDropped: 0, diffsStale: 0, snapshotsStale: 0, rowsWithheld: 0, gaps: 0, resyncs: 0, crossedMessages: 0,
    repairedLevels: 0, unknownLevels: 0, trades: 0, tradesAfterLastRow: 0, nonMonotonic: 0,
  };
}

/** Why and where a book lost sync, and where (if anywhere) it got it back. */
export interface GapRecord {
  symbol: string;
  kind: typeof InputErrorCode.SequenceGap | typeof InputErrorCode.CrossedBook;
  line: number;
  detail: string;
  /** Line of the snapshot that resynced the book (for a sequenced book, once a diff continued it). */
  resyncedAtLine?: number;
  /** The input ended with the book still out of sync (no later snapshot to resync from). */
  unresolved?: boolean;
}

/**
 * Events held per symbol while out of sync, for the snapshot that will resync it (Binance: the
 * diffs after its lastUpdateId). At ~20 diffs/s (the bundled USD-M capture) that is over 8 minutes
 * of stream, far more than a REST snapshot takes; a producer's snapshot follows its own deltas, so
 * it needs none of them. Beyond it the oldest go first: a resync can only use the newest.
 */
export const OUT_OF_SYNC_BUFFER = 10_000;
/** Sync losses kept in `gaps` (the counters keep counting): a server runs for months. */
const MAX_GAP_RECORDS = 1000;

/** `withheld`: counted in rowsWithheld when it arrived (out of sync), so a replay moves it, not adds it. */
type Buffered = { t: 'depth'; e: DepthEvent; withheld: boolean } | { t: 'trade'; e: TradeEvent };

class SymbolState {
  readonly book = new L2Book();
  status: SyncStatus = 'awaiting-snapshot';
  lastSeq = NaN;
  snapshotSeq = NaN;
  /** Line of the snapshot a sequenced book is syncing from (where a resync is said to happen). */
  snapshotLine = 0;
  lastRowTs = -Infinity;
  depthLimit = Infinity;
  readonly trades = new TradeQueue();
  /** Events held while the book syncs; its oldest is dropped in O(1) (a flood must not cost a copy per event). */
  readonly buffer = new Fifo<Buffered>();
  openGap: GapRecord | undefined;
  readonly c: SymbolCounters = zeroCounters();
  constructor(readonly symbol: string, readonly id: number) {}
}

export interface BookBuilderOptions {
  /** Levels per side copied into each row (at least what the features need). */
  levels: number;
  sink: RowSink;
  /**
   * The sequence rule of an event's `seqRule` id (the venues' registry; pipeline/book.ts passes it):
   * given, not imported, so the book stays below the venues that use it.
   */
  rules: (id: string) => SeqRule;
  /**
   * Told each time a symbol's sync status changes (first when the symbol is first seen), inside the
   * call that changed it: how a live connector learns when to fetch a snapshot without asking after
   * every diff.
   */
  onStatus?: (symbol: string, status: SyncStatus) => void;
  /** Only these symbols are built (others are ignored); all when absent. */
  symbols?: ReadonlySet<string>;
  /** What to do with gaps, crossed books and time going backwards; default: stop with an error. */
  policy?: BadInputPolicy;
  /** Name of the input, for error messages. */
  sourceName?: string;
  /** Events held per symbol while waiting for a snapshot (Binance: diffs buffered before the REST snapshot). */
  maxBuffered?: number;
  /** Events held per symbol while out of sync, for the resync (default OUT_OF_SYNC_BUFFER). */
  maxOutOfSync?: number;
  /** Called after every applied depth event, synced or not (verification hooks). */
  onApplied?: (state: { symbol: string; book: L2Book; status: SyncStatus }, e: DepthEvent) => void;
  /** Receives quotes and order-level events as they pass (analytics, verification). */
  passThrough?: Pick<MarketSink, 'onQuote' | 'onOrder'>;
}

export class BookBuilder implements MarketSink {
  private readonly states = new Map<string, SymbolState>();
  private readonly row: BookRow;
  private readonly policy: BadInputPolicy;
  private readonly maxBuffered: number;
  private readonly maxOutOfSync: number;
  /** Sync losses (gaps, crossed books), oldest first; the last MAX_GAP_RECORDS. */
  readonly gaps: GapRecord[] = [];

  constructor(private readonly opts: BookBuilderOptions) {
    const quotes = opts.passThrough?.onQuote ? opts.passThrough : undefined;
    if (quotes) this.onQuote = (e) => quotes.onQuote!(e);
    this.row = new BookRow(opts.levels);
    this.policy = opts.policy ?? new BadInputPolicy();
    this.maxBuffered = opts.maxBuffered ?? 100_000;
    this.maxOutOfSync = opts.maxOutOfSync ?? OUT_OF_SYNC_BUFFER;
  }

  private state(symbol: string): SymbolState | undefined {
    let s = this.states.get(symbol);
    if (!s) {
      if (this.opts.symbols && !this.opts.symbols.has(symbol)) return undefined;
      s = new SymbolState(symbol, this.states.size);
      this.states.set(symbol, s);
      this.opts.onStatus?.(symbol, s.status);
    }
    return s;
  }

  symbols(): string[] {
    return [...this.states.keys()];
  }

  book(symbol: string): L2Book | undefined {
    return this.states.get(symbol)?.book;
  }

  status(symbol: string): SyncStatus | undefined {
    return this.states.get(symbol)?.status;
  }

  counters(symbol: string): SymbolCounters | undefined {
    return this.states.get(symbol)?.c;
  }

  /** Events held for a coming snapshot (before the first one, or out of sync). */
  buffered(symbol: string): number {
    return this.states.get(symbol)?.buffer.length ?? 0;
  }

  /** The last update id applied (or the snapshot's, before the first diff); NaN if none. */
  lastSeq(symbol: string): number {
    return this.states.get(symbol)?.lastSeq ?? NaN;
  }

  /** Why the symbol's book is not synced, until a snapshot resyncs it. */
  syncLoss(symbol: string): GapRecord | undefined {
    return this.states.get(symbol)?.openGap;
  }

  /** Sums of every symbol's counters. */
  totals(): SymbolCounters {
    const t = zeroCounters();
    for (const s of this.states.values()) for (const k of Object.keys(t) as (keyof SymbolCounters)[]) t[k] += s.c[k];
    return t;
  }

  /**
   * Present only when passThrough takes quotes: a source may then skip decoding quote messages
   * nothing reads (Binance bookTicker lines in a features run).
   */
  readonly onQuote?: (e: QuoteEvent) => void;

  onOrder(e: OrderEvent): void {
    this.opts.passThrough?.onOrder?.(e);
  }

  onTrade(e: TradeEvent): void {
    const s = this.state(e.symbol);
    if (!s) return;
    if (s.buffer.length > 0) {
      // Keep the trade in order with buffered diffs so it is assigned to the right row on replay.
      this.bufferEvent(s, { t: 'trade', e: cloneTrade(e) });
      return;
    }
    s.c.trades++;
    s.trades.push(e.ts, e.price, e.size, e.sign);
  }

  onDepth(e: DepthEvent): void {
    const s = this.state(e.symbol);
    if (!s) return;
    if (e.kind === 'snapshot') {
      this.onSnapshot(s, e);
      return;
    }
    switch (s.status) {
      case 'awaiting-snapshot':
        if (e.seqRule === NO_SEQUENCE) s.c.diffsDropped++;
        else this.bufferEvent(s, { t: 'depth', e: e.clone(), withheld: false });
        return;
      case 'out-of-sync':
        // Sequenced: held for the snapshot that resyncs the book. Unsequenced: still applied (the
        // book stays as close as it can), but nothing downstream sees it.
        if (e.seqRule !== NO_SEQUENCE) {
          if (e.makesRow) s.c.rowsWithheld++;
          this.bufferEvent(s, { t: 'depth', e: e.clone(), withheld: e.makesRow });
          return;
        }
        this.applyDelta(s, e);
        return;
      case 'awaiting-first-diff': {
        const rule = this.opts.rules(e.seqRule);
        const v = rule.firstAfterSnapshot(s.snapshotSeq, e);
        if (v === 'stale') { s.c.diffsDropped++; return; }
        if (v === 'gap') { this.gap(s, e, rule.expectation(s.snapshotSeq, e, true)); return; }
        this.setStatus(s, 'synced');
        if (s.openGap) { s.openGap.resyncedAtLine = s.snapshotLine; s.openGap = undefined; s.c.resyncs++; }
        this.applyDelta(s, e);
        return;
      }
      case 'synced': {
        const rule = this.opts.rules(e.seqRule);
        const v = rule.nextAfter(s.lastSeq, e);
        if (v === 'stale') { s.c.diffsStale++; return; }
        if (v === 'gap') { this.gap(s, e, rule.expectation(s.lastSeq, e, false)); return; }
        this.applyDelta(s, e);
        return;
      }
    }
  }

  /**
   * End of input: trades that never got a row are dropped (FEATURES.md), and counted; what was
   * held for a snapshot that never came is released (and counted); a book still out of sync has its
   * loss marked unresolved: the input had no later snapshot to resync from.
   */
  finish(): void {
    for (const s of this.states.values()) {
      for (const b of s.buffer.drain()) {
        if (b.t === 'trade') s.c.tradesAfterLastRow++;
        else if (!b.withheld) s.c.diffsDropped++;
      }
      s.c.tradesAfterLastRow += s.trades.n;
      s.trades.n = 0;
      if (s.openGap && !s.openGap.unresolved) {
        s.openGap.unresolved = true;
        log.warn('ended out of sync: no later snapshot came to resync the book', { symbol: s.symbol, since: s.openGap.line, rowsWithheld: s.c.rowsWithheld });
      }
    }
  }

  private onSnapshot(s: SymbolState, e: DepthEvent): void {
    const wasSynced = s.status === 'synced';
    if (wasSynced && e.seqRule !== NO_SEQUENCE && this.opts.rules(e.seqRule).snapshotIsStale?.(s.lastSeq, e.lastSeq)) {
      s.c.snapshotsStale++;
      log.debug('snapshot older than the synced book: ignored', { symbol: s.symbol, line: e.line, snapshot: e.lastSeq, book: s.lastSeq });
      return;
    }
    const r = s.book.apply(e);
    s.depthLimit = e.depthLimit;
    this.opts.onApplied?.({ symbol: s.symbol, book: s.book, status: s.status }, e);
    if (r.crossed) {
      this.setStatus(s, 'out-of-sync');
      const detail = `snapshot for ${s.symbol} is crossed or locked (best bid ${s.book.bestBid()} >= best ask ${s.book.bestAsk()})`;
      s.c.crossedMessages++;
      // A sequenced snapshot only seeds the book: it would have made no row to withhold.
      if (e.makesRow && e.seqRule === NO_SEQUENCE) s.c.rowsWithheld++;
      this.lost(s, InputErrorCode.CrossedBook, e.line, detail);
      this.policy.report(new InputError(InputErrorCode.CrossedBook, this.name(), e.line, detail));
      return;
    }
    if (e.seqRule === NO_SEQUENCE) {
      if (s.status === 'out-of-sync' && s.openGap) { s.openGap.resyncedAtLine = e.line; s.openGap = undefined; s.c.resyncs++; }
      this.setStatus(s, 'synced');
      s.lastSeq = e.lastSeq;
      if (e.makesRow) this.emitRow(s, e);
      return;
    }
    s.snapshotSeq = e.lastSeq;
    s.snapshotLine = e.line;
    s.lastSeq = e.lastSeq;
    this.setStatus(s, 'awaiting-first-diff');
    if (wasSynced) log.debug('snapshot while synced: re-initialising', { symbol: s.symbol, line: e.line });
    const c = s.c;
    for (const b of s.buffer.drain()) {
      if (b.t === 'trade') this.onTrade(b.e);
      else if (!b.withheld) this.onDepth(b.e);
      else {
        // Counted withheld on arrival: what it becomes now (a row, withheld again) replaces that
        // count; one older than the snapshot stays a withheld row, not a diff dropped before sync.
        const dropped = c.diffsDropped;
        const stale = c.diffsStale;
        this.onDepth(b.e);
        if (c.diffsDropped !== dropped || c.diffsStale !== stale) {
          c.diffsDropped = dropped;
          c.diffsStale = stale;
        } else c.rowsWithheld--;
      }
    }
  }

  private applyDelta(s: SymbolState, e: DepthEvent): void {
    const r = s.book.apply(e);
    s.lastSeq = e.lastSeq;
    s.c.unknownLevels += r.unknownLevels;
    if (r.repairedLevels > 0 || r.crossed) {
      s.c.crossedMessages++;
      s.c.repairedLevels += r.repairedLevels;
    }
    this.opts.onApplied?.({ symbol: s.symbol, book: s.book, status: s.status }, e);
    if (r.crossed) {
      const detail = `book for ${s.symbol} stays crossed after repair (best bid ${s.book.bestBid()} >= best ask ${s.book.bestAsk()})`;
      if (s.status !== 'out-of-sync') this.lost(s, InputErrorCode.CrossedBook, e.line, detail);
      this.setStatus(s, 'out-of-sync');
      // Counted before the report, which throws unless crossed books are skipped.
      if (e.makesRow) s.c.rowsWithheld++;
      this.policy.report(new InputError(InputErrorCode.CrossedBook, this.name(), e.line, detail));
      return;
    }
    if (s.status !== 'synced') {
      if (e.makesRow) s.c.rowsWithheld++;
      return;
    }
    if (e.makesRow) this.emitRow(s, e);
  }

  private setStatus(s: SymbolState, status: SyncStatus): void {
    if (s.status === status) return;
    s.status = status;
    this.opts.onStatus?.(s.symbol, status);
  }

  private gap(s: SymbolState, e: DepthEvent, detail: string): void {
    s.c.gaps++;
    this.policy.report(new InputError(InputErrorCode.SequenceGap, this.name(), e.line, `sequence gap in ${s.symbol}: ${detail}`));
    log.warn('sequence gap: rows withheld until the next snapshot', { symbol: s.symbol, line: e.line, detail });
    this.setStatus(s, 'out-of-sync');
    this.lost(s, InputErrorCode.SequenceGap, e.line, detail);
    if (e.makesRow) s.c.rowsWithheld++;
    this.bufferEvent(s, { t: 'depth', e: e.clone(), withheld: e.makesRow });
  }

  /** Records why the book lost sync (the open loss until a snapshot resyncs it). */
  private lost(s: SymbolState, kind: GapRecord['kind'], line: number, detail: string): void {
    s.openGap = { symbol: s.symbol, kind, line, detail };
    if (this.gaps.length >= MAX_GAP_RECORDS) this.gaps.shift();
    this.gaps.push(s.openGap);
  }

  private bufferEvent(s: SymbolState, b: Buffered): void {
    if (s.buffer.length >= (s.status === 'out-of-sync' ? this.maxOutOfSync : this.maxBuffered)) {
      // Keep the newest: a resync can only use diffs at or after the coming snapshot. A withheld
      // diff stays counted as withheld; one from before the first sync is a diff dropped.
      const old = s.buffer.shift()!;
      if (old.t === 'trade') { s.c.trades++; s.trades.push(old.e.ts, old.e.price, old.e.size, old.e.sign); }
      else if (!old.withheld) s.c.diffsDropped++;
    }
    s.buffer.push(b);
  }

  private emitRow(s: SymbolState, e: DepthEvent): void {
    if (e.ts < s.lastRowTs) {
      s.c.nonMonotonic++;
      this.policy.report(new InputError(InputErrorCode.NonMonotonic, this.name(), e.line,
        `time goes backwards for ${s.symbol}: ${e.ts} ns after ${s.lastRowTs} ns (relative to the run's time base)`));
      s.c.rowsWithheld++;
      return;
    }
    s.lastRowTs = e.ts;
    const row = this.row;
    row.symbol = s.symbol;
    row.symbolId = s.id;
    row.index = s.c.rows++;
    row.ts = e.ts;
    row.tsLocal = e.tsLocal;
    row.line = e.line;
    row.seq = e.lastSeq;
    row.depthLimit = Math.min(s.depthLimit, e.depthLimit);
    s.book.top(row.levels, row.bidPx, row.bidSz, row.askPx, row.askSz);
    s.trades.drainInto(row);
    this.opts.sink.onRow(row);
  }

  private name(): string {
    return this.opts.sourceName ?? 'input';
  }
}

function cloneTrade(e: TradeEvent): TradeEvent {
  const t = new TradeEvent();
  t.copyFrom(e);
  return t;
}
