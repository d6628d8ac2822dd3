/**
 * A source's entry into the live pipeline: each source (replay, exchange connector, ingest producer)
 * pushes normalised events into its own SourceHandle, which shows each to the alert producers (before
 * the book applies it) and passes it to its own book builder (sync rules, gaps, resync), whose rows go
 * on to the row stage (src/pipeline/rows.ts) marked as this source's. It keeps the source's counts,
 * lag and state for /healthz.
 */
import { zeroCounters, type BookBuilder, type GapRecord, type SyncStatus, type SymbolCounters } from '../book/builder.ts';
import type { BookRow, RowSink } from '../model/row.ts';
import type { DepthEvent, MarketSink, OrderEvent, QuoteEvent, TradeEvent } from '../model/events.ts';
import type { TimeBase } from '../model/time.ts';
import { BadInputPolicy } from '../core/errors.ts';
import { bookBuilder } from './book.ts';
import type { AlertProducer } from './plugins.ts';

/** What every source handle shares: where rows go, what taps events, the clock of entry. */
export interface SourceContext {
  readonly rowLevels: number;
  readonly rows: { onRow(from: SourceHandle, row: BookRow): void };
  readonly taps: readonly AlertProducer[];
  readonly tb: TimeBase;
  /** performance.now() when the event being handled entered the pipeline. */
  readonly clock: { enteredAt: number };
  readonly eventsIn: { labels(...values: string[]): { value: number } };
}

/** 'replay', 'ingest', or the id of the live venue it is fed by (src/venues/registry.ts). */
export type SourceKind = string;


/** What a source's books did with one depth event (the ingest protocol answers its producer with it). */
export interface DepthOutcome {
  /** The sync loss the event opened; undefined when it opened none (an open one goes on). */
  loss: GapRecord | undefined;
  /** The last seq applied before the event, and whether the event was the first diff after a snapshot. */
  prevSeq: number;
  firstDiff: boolean;
  /** Ignored as a repeated, older or dropped diff. */
  ignored: boolean;
  /** The event crossed the book: this many levels of the other side were removed as stale, leaving this top. */
  crossed: boolean;
  repairedLevels: number;
  bestBid: number;
  bestAsk: number;
}

/** One source's entry into the pipeline: counts, lag, and its own book builder. */
export class SourceHandle implements MarketSink {
  builder!: BookBuilder;
  /** A live connector's ear for its books' sync changes (src/venues/venue.ts ConnectorTarget). */
  onSyncStatus: ((symbol: string, status: SyncStatus) => void) | undefined;
  state = 'starting';
  detail = '';
  depthIn = 0;
  tradesIn = 0;
  /** Wall clock (epoch ms) of the last event, and how far behind the exchange time it arrived. */
  lastArrivalMs = NaN;
  lagMs = NaN;
  /** Bad input is skipped and counted, never fatal: what the source's parser and books skipped (/healthz badInput). */
  readonly policy = BadInputPolicy.parse('all');
  /** A producer's messages refused with an error frame, by error code (/healthz refused; ingest only). */
  readonly refused = new Map<string, number>();
  private readonly past: SymbolCounters = zeroCounters();
  private readonly depthCounter: { value: number };
  private readonly tradeCounter: { value: number };
  readonly symbols = new Set<string>();
  private readonly outcome: DepthOutcome = {
    loss: undefined, prevSeq: NaN, firstDiff: false, ignored: false, crossed: false, repairedLevels: 0, bestBid: NaN, bestAsk: NaN,
  };

  /** The builder's rows, carrying the source they came from (a symbol's rows are its owner's alone). */
  private readonly rows: RowSink;

  constructor(readonly name: string, readonly kind: SourceKind, private readonly ctx: SourceContext) {
    this.depthCounter = ctx.eventsIn.labels(name, 'depth');
    this.tradeCounter = ctx.eventsIn.labels(name, 'trade');
    this.rows = { onRow: (row) => ctx.rows.onRow(this, row) };
    this.newSession();
  }

  /** A fresh book builder (after a reconnect or a replay loop); counters carry over. */
  newSession(): void {
    if (this.builder) {
      // What the old session still held for a resync is released and counted, not carried.
      this.builder.finish();
      const t = this.builder.totals();
      for (const k of Object.keys(t) as (keyof SymbolCounters)[]) this.past[k] += t[k];
    }
    this.builder = bookBuilder({
      levels: this.ctx.rowLevels,
      sink: this.rows,
      policy: this.policy,
      sourceName: this.name,
      onStatus: (symbol, status) => this.onSyncStatus?.(symbol, status),
    });
  }

  onDepth(e: DepthEvent): void {
    this.depthIn++;
    this.depthCounter.value++;
    this.arrived(e.ts);
    const taps = this.enter();
    for (let i = 0; i < taps.length; i++) taps[i]!.onDepth?.(e);
    this.builder.onDepth(e);
  }

  onTrade(e: TradeEvent): void {
    this.tradesIn++;
    this.tradeCounter.value++;
    this.arrived(e.ts);
    const taps = this.enter();
    for (let i = 0; i < taps.length; i++) taps[i]!.onTrade?.(e);
    this.builder.onTrade(e);
  }

  /**
   * onDepth, and what the books did with the event, read off the symbol's counters and open sync
   * loss before and after. The answer is one object, overwritten by the next call.
   */
  applyDepth(e: DepthEvent): DepthOutcome {
    const b = this.builder;
    const sym = e.symbol;
    const c0 = b.counters(sym);
    const ignored0 = c0 ? c0.diffsStale + c0.diffsDropped : 0;
    const crossed0 = c0 ? c0.crossedMessages : 0;
    const repaired0 = c0 ? c0.repairedLevels : 0;
    const loss0 = b.syncLoss(sym);
    const r = this.outcome;
    r.firstDiff = b.status(sym) === 'awaiting-first-diff';
    r.prevSeq = b.lastSeq(sym);
    this.onDepth(e);
    const c1 = b.counters(sym)!;
    const loss = b.syncLoss(sym);
    r.loss = loss !== loss0 ? loss : undefined;
    r.ignored = c1.diffsStale + c1.diffsDropped !== ignored0;
    r.crossed = c1.crossedMessages !== crossed0;
    r.repairedLevels = c1.repairedLevels - repaired0;
    r.bestBid = r.crossed ? b.book(sym)!.bestBid() : NaN;
    r.bestAsk = r.crossed ? b.book(sym)!.bestAsk() : NaN;
    return r;
  }

  /** Quotes and order-level messages make no rows; they go to the alert producers only. */
  onQuote(e: QuoteEvent): void {
    const taps = this.enter();
    for (let i = 0; i < taps.length; i++) taps[i]!.onQuote?.(e);
  }

  onOrder(e: OrderEvent): void {
    const taps = this.enter();
    for (let i = 0; i < taps.length; i++) taps[i]!.onOrder?.(e);
  }

  /** Marks when an event entered (the features' and predictions' latency run from it); returns the alert producers to tap. */
  private enter(): readonly AlertProducer[] {
    this.ctx.clock.enteredAt = performance.now();
    return this.ctx.taps;
  }

  /** A symbol's sync status (a producer's delta before any snapshot is refused with it). */
  status(symbol: string): SyncStatus | undefined {
    return this.builder.status(symbol);
  }

  private arrived(ts: number): void {
    const now = Date.now();
    this.lastArrivalMs = now;
    this.lagMs = now - this.ctx.tb.toEpochMs(ts);
  }

  counters(): SymbolCounters {
    const t = this.builder.totals();
    for (const k of Object.keys(t) as (keyof SymbolCounters)[]) t[k] += this.past[k];
    return t;
  }

  /** Events the books hold for a snapshot to come (bounded per symbol: OUT_OF_SYNC_BUFFER). */
  held(): number {
    let n = 0;
    for (const s of this.builder.symbols()) n += this.builder.buffered(s);
    return n;
  }

  /** Counts `n` of a producer's messages refused with `code`. */
  refuse(code: string, n = 1): void {
    this.refused.set(code, (this.refused.get(code) ?? 0) + n);
  }

  health(): Record<string, unknown> {
    const c = this.counters();
    const sync: Record<string, string> = {};
    for (const s of this.builder.symbols()) sync[s] = this.builder.status(s) ?? 'unknown';
    return {
      name: this.name,
      kind: this.kind,
      state: this.state,
      detail: this.detail || undefined,
      symbols: [...this.symbols],
      sync,
      eventsIn: { depth: this.depthIn, trades: this.tradesIn },
      rows: c.rows,
      gaps: c.gaps,
      resyncs: c.resyncs,
      rowsWithheld: c.rowsWithheld,
      diffsDropped: c.diffsDropped,
      diffsStale: c.diffsStale,
      snapshotsStale: c.snapshotsStale,
      crossedMessages: c.crossedMessages,
      repairedLevels: c.repairedLevels,
      held: this.held(),
      badInput: this.policy.summary(),
      refused: this.kind === 'ingest' ? Object.fromEntries(this.refused) : undefined,
      lagMs: Number.isFinite(this.lagMs) ? Math.round(this.lagMs * 1000) / 1000 : null,
      lastEventAgoMs: Number.isFinite(this.lastArrivalMs) ? Date.now() - this.lastArrivalMs : null,
    };
  }
}
