/**
 * Tardis.dev CSV: `incremental_book_L2`, `book_snapshot_N`, `quotes` (book files) and `trades`,
 * recognised by their header. `tardis:BOOK[,TRADES]` merges a trades file into the book file's
 * stream by `local_timestamp` (the capture order); a trade at the same local time as a book row
 * goes to that row ("at or after").
 *
 *  - incremental_book_L2: consecutive lines with the same local_timestamp form one message and one
 *    row; a run of is_snapshot=true lines replaces the book (one row). Amounts are absolute (0 deletes).
 *    The row's exchange time is the `timestamp` of the group's last line.
 *  - book_snapshot_N / quotes: every line is a book image and a row (quotes: one level per side).
 *  - trades: `side` is the aggressor (buy +1, sell -1, anything else 0 = unknown).
 * Times are µs since the epoch.
 */
import { DepthEvent, TradeEvent, type MarketSink } from '../../model/events.ts';
import { LineReader, openInput, type ByteSource } from '../../sources/input.ts';
import { parseDecimal, parseUint, splitFields } from '../../sources/bytes.ts';
import { CHUNK_LINES, countIgnored, emptyStats, type MarketSource, type SourceOptions, type SourceStats } from '../../sources/source.ts';
import { BadInputPolicy, InputError, InputErrorCode } from '../../core/errors.ts';
import { TimeBaseRef, type TimeBase } from '../../model/time.ts';
import { NO_SEQUENCE } from '../../model/sequence.ts';

export type TardisSchema = 'incremental_book_L2' | 'book_snapshot' | 'quotes' | 'trades';

interface Header {
  schema: TardisSchema;
  col: Map<string, number>;
  /** book_snapshot_N: N; quotes: 1. */
  depth: number;
  fields: number;
  /** Field indices every line reads, looked up once. */
  iLocal: number;
  iTs: number;
  iSymbol: number;
  /** book_snapshot_N: per level, the fields of ask price, ask amount, bid price, bid amount. */
  levels: Int32Array;
}

export function detectTardisSchema(headerLine: string, file: string): Header {
  const cols = headerLine.trim().split(',');
  const col = new Map(cols.map((c, i) => [c, i] as const));
  const has = (...names: string[]) => names.every((n) => col.has(n));
  const base = has('exchange', 'symbol', 'timestamp', 'local_timestamp');
  const header = (schema: TardisSchema, depth: number, levels = new Int32Array(0)): Header => ({
    schema, col, depth, fields: cols.length, levels,
    iLocal: col.get('local_timestamp')!, iTs: col.get('timestamp')!, iSymbol: col.get('symbol')!,
  });
  if (base && has('is_snapshot', 'side', 'price', 'amount')) return header('incremental_book_L2', Infinity);
  if (base && has('id', 'side', 'price', 'amount')) return header('trades', 0);
  if (base && has('ask_amount', 'ask_price', 'bid_price', 'bid_amount')) return header('quotes', 1);
  if (base && has('asks[0].price', 'asks[0].amount', 'bids[0].price', 'bids[0].amount')) {
    let n = 0;
    while (col.has(`asks[${n}].price`) && col.has(`bids[${n}].price`)) n++;
    const levels = new Int32Array(4 * n);
    for (let i = 0; i < n; i++) {
      levels.set([col.get(`asks[${i}].price`)!, col.get(`asks[${i}].amount`)!, col.get(`bids[${i}].price`)!, col.get(`bids[${i}].amount`)!], 4 * i);
    }
    return header('book_snapshot', n, levels);
  }
  throw new InputError(InputErrorCode.Format, file, 1,
    `unrecognised Tardis CSV header (expected incremental_book_L2, book_snapshot_N, quotes or trades columns), got "${headerLine.slice(0, 160)}"`);
}

/** Reads one Tardis CSV file, line by line, into events. */
class TardisFileReader {
  readonly r: LineReader;
  header!: Header;
  private readonly bounds: Int32Array;
  /** local_timestamp and timestamp (µs) of the line ready to be consumed, NaN when none. */
  localUs = NaN;
  tsUs = NaN;
  symbol = '';
  private lastLocalUs = -Infinity;
  exhausted = false;

  constructor(readonly src: ByteSource, private readonly policy: BadInputPolicy, private readonly stats: SourceStats) {
    this.r = new LineReader(src);
    this.bounds = new Int32Array(2 * 256);
  }

  async readHeader(): Promise<void> {
    if (!(await this.r.ensure())) throw new InputError(InputErrorCode.Format, this.src.name, undefined, 'empty file: expected a Tardis CSV header');
    this.r.next();
    this.header = detectTardisSchema(this.r.text(), this.src.name);
  }

  get name(): string {
    return this.src.name;
  }

  get line(): number {
    return this.r.lineNo;
  }

  /** Advances to the next valid line; sets localUs. False at the end. */
  async advance(): Promise<boolean> {
    for (;;) {
      if (!this.r.ready() && !(await this.r.ensure())) {
        this.exhausted = true;
        this.localUs = NaN;
        return false;
      }
      this.r.next();
      if (this.r.end === this.r.start) continue;
      const n = splitFields(this.r.buf, this.r.start, this.r.end, this.bounds);
      if (n !== this.header.fields) {
        this.bad(InputErrorCode.Malformed, `expected ${this.header.fields} fields (${this.header.schema}), got ${n}`);
        continue;
      }
      const h = this.header;
      const lu = this.uintAt(h.iLocal);
      const ts = this.uintAt(h.iTs);
      if (Number.isNaN(lu) || Number.isNaN(ts)) {
        this.bad(InputErrorCode.Malformed, 'timestamp and local_timestamp must be integers (µs since the epoch)');
        continue;
      }
      if (lu < this.lastLocalUs) {
        this.bad(InputErrorCode.NonMonotonic, `local_timestamp ${lu} is before the previous line's ${this.lastLocalUs}`);
        continue;
      }
      this.lastLocalUs = lu;
      this.localUs = lu;
      this.tsUs = ts;
      this.symbol = this.textAt(h.iSymbol);
      return true;
    }
  }

  text(name: string): string {
    return this.textAt(this.header.col.get(name)!);
  }

  textAt(i: number): string {
    return this.r.buf.toString('latin1', this.bounds[2 * i]!, this.bounds[2 * i + 1]!);
  }

  num(name: string): number {
    return this.numAt(this.header.col.get(name)!);
  }

  numAt(i: number): number {
    return parseDecimal(this.r.buf, this.bounds[2 * i]!, this.bounds[2 * i + 1]!);
  }

  uintAt(i: number): number {
    return parseUint(this.r.buf, this.bounds[2 * i]!, this.bounds[2 * i + 1]!);
  }

  bad(code: InputErrorCode, detail: string): void {
    this.policy.report(new InputError(code, this.src.name, this.r.lineNo, detail));
    countIgnored(this.stats, code);
  }
}

export class TardisSource implements MarketSource {
  readonly kind = 'tardis' as const;
  readonly timeBase: TimeBaseRef;
  private readonly policy: BadInputPolicy;
  private inputs: ByteSource[] = [];
  private readonly inSnapshot = new Map<string, boolean>();

  private constructor(readonly spec: string, readonly files: readonly string[], opts: SourceOptions) {
    this.policy = opts.policy ?? new BadInputPolicy();
    this.timeBase = opts.timeBase ?? new TimeBaseRef();
  }

  static async open(spec: string, files: string[], opts: SourceOptions = {}): Promise<TardisSource> {
    if (files.length < 1 || files.length > 2) {
      throw new InputError(InputErrorCode.Format, files.join(','), undefined, 'tardis: expects BOOKFILE or BOOKFILE,TRADESFILE');
    }
    const s = new TardisSource(spec, files, opts);
    for (const f of files) s.inputs.push(await openInput(f));
    return s;
  }

  get totalBytes(): number {
    return this.inputs.reduce((a, s) => a + s.diskBytes, 0);
  }

  bytesRead(): number {
    return this.inputs.reduce((a, s) => a + s.diskBytesRead(), 0);
  }

  async run(sink: MarketSink, pause?: () => Promise<void> | void): Promise<SourceStats> {
    const stats = emptyStats();
    const readers = this.inputs.map((i) => new TardisFileReader(i, this.policy, stats));
    try {
      return await this.stream(sink, pause, stats, readers);
    } finally {
      // Closes the files when the run stops early (an error, a consumer that has read enough); a no-op at their end.
      await Promise.all(readers.map((r) => r.r.close()));
    }
  }

  private async stream(sink: MarketSink, pause: (() => Promise<void> | void) | undefined, stats: SourceStats, readers: TardisFileReader[]): Promise<SourceStats> {
    for (const r of readers) await r.readHeader();
    let book = readers[0]!;
    let trades = readers[1];
    if (readers.length === 2) {
      // Accept the two files in either order, but exactly one book file and one trades file.
      if (book.header.schema === 'trades' && trades!.header.schema !== 'trades') [book, trades] = [trades!, book];
      if (trades!.header.schema !== 'trades') {
        throw new InputError(InputErrorCode.MixedFormat, trades!.name, 1, `expected a trades file as the second input, got ${trades!.header.schema}`);
      }
    }
    if (book.header.schema === 'trades' && !trades) {
      // A trades file alone: trades only, no rows (useful for analytics over prints).
      trades = book;
    }
    const tb = (first: TardisFileReader): TimeBase => this.timeBase.ensureMs(first.localUs / 1000);
    const tradeEv = new TradeEvent();
    const emitTrade = (t: TardisFileReader): void => {
      const base = tb(t);
      const side = t.text('side');
      const price = t.num('price');
      const amount = t.num('amount');
      if (!(price > 0) || !(amount > 0)) {
        t.bad(InputErrorCode.Malformed, 'trade needs price > 0 and amount > 0');
        return;
      }
      tradeEv.symbol = t.symbol;
      tradeEv.ts = base.fromEpochUs(t.tsUs);
      tradeEv.tsLocal = base.fromEpochUs(t.localUs);
      tradeEv.price = price;
      tradeEv.size = amount;
      tradeEv.sign = side === 'buy' ? 1 : side === 'sell' ? -1 : 0;
      const id = Number(t.text('id'));
      tradeEv.id = Number.isFinite(id) ? id : NaN;
      tradeEv.line = t.line;
      stats.trades++;
      sink.onTrade(tradeEv);
    };

    if (trades) await trades.advance();
    const onlyTrades = trades === book;
    if (onlyTrades) {
      while (!trades!.exhausted) {
        emitTrade(trades!);
        await trades!.advance();
      }
    } else {
      await book.advance();
      const depth = new DepthEvent();
      let nextPause = CHUNK_LINES;
      while (!book.exhausted) {
        if (pause && book.line >= nextPause) {
          nextPause = book.line + CHUNK_LINES;
          await pause();
        }
        const rowLocal = book.localUs;
        // Trades received at or before this row's local time belong to it (or to an earlier row).
        while (trades && !trades.exhausted && trades.localUs <= rowLocal) {
          emitTrade(trades);
          await trades.advance();
        }
        const base = tb(book);
        if (book.header.schema === 'incremental_book_L2') {
          await this.incrementalGroup(book, depth, base, sink, stats);
        } else {
          this.imageLine(book, depth, base);
          stats.depthEvents++;
          sink.onDepth(depth);
          await book.advance();
        }
      }
      // Trades after the last row: emitted all the same; the book builder drops them (FEATURES.md).
      while (trades && !trades.exhausted) {
        emitTrade(trades);
        await trades.advance();
      }
    }
    for (const r of readers) stats.lines[r.name] = r.line;
    return stats;
  }

  /** One group of consecutive incremental lines with the same local time (and snapshot flag). */
  private async incrementalGroup(r: TardisFileReader, ev: DepthEvent, base: TimeBase, sink: MarketSink, stats: SourceStats): Promise<void> {
    const local = r.localUs;
    const symbol = r.symbol;
    const iSnap = r.header.col.get('is_snapshot')!;
    const snap = r.textAt(iSnap) === 'true';
    // A snapshot spread over several local times continues the one before it (adds levels)
    // instead of replacing the book again with a part of it.
    const continues = snap && this.inSnapshot.get(symbol) === true;
    this.inSnapshot.set(symbol, snap);
    ev.reset();
    ev.symbol = symbol;
    ev.kind = snap && !continues ? 'snapshot' : 'delta';
    ev.sizes = 'absolute';
    ev.makesRow = true;
    ev.seqRule = NO_SEQUENCE;
    ev.depthLimit = Infinity;
    ev.tsLocal = base.fromEpochUs(local);
    ev.line = r.line;
    const iSide = r.header.col.get('side')!;
    const iPrice = r.header.col.get('price')!;
    const iAmount = r.header.col.get('amount')!;
    let lastTs = 0;
    do {
      const side = r.textAt(iSide);
      const px = r.numAt(iPrice);
      const amt = r.numAt(iAmount);
      if (!(px > 0) || !(amt >= 0) || (side !== 'bid' && side !== 'ask')) {
        r.bad(InputErrorCode.Malformed, `expected side bid|ask, price > 0, amount >= 0 (column ${iSide + 1}..${iAmount + 1})`);
      } else {
        if (side === 'bid') ev.pushBid(px, amt);
        else ev.pushAsk(px, amt);
        lastTs = r.tsUs;
      }
      await r.advance();
    } while (!r.exhausted && r.localUs === local && r.symbol === symbol && (r.textAt(iSnap) === 'true') === snap);
    ev.ts = base.fromEpochUs(lastTs);
    if (ev.nBids + ev.nAsks === 0) return;
    stats.depthEvents++;
    sink.onDepth(ev);
  }

  /** A book_snapshot_N or quotes line as a book image. */
  private imageLine(r: TardisFileReader, ev: DepthEvent, base: TimeBase): void {
    ev.reset();
    ev.symbol = r.symbol;
    ev.kind = 'snapshot';
    ev.sizes = 'absolute';
    ev.makesRow = true;
    ev.seqRule = NO_SEQUENCE;
    ev.depthLimit = r.header.depth;
    ev.ts = base.fromEpochUs(r.tsUs);
    ev.tsLocal = base.fromEpochUs(r.localUs);
    ev.line = r.line;
    if (r.header.schema === 'quotes') {
      const bp = r.num('bid_price');
      const bs = r.num('bid_amount');
      const ap = r.num('ask_price');
      const as = r.num('ask_amount');
      if (bp > 0 && bs > 0) ev.pushBid(bp, bs);
      if (ap > 0 && as > 0) ev.pushAsk(ap, as);
      return;
    }
    const lv = r.header.levels;
    for (let i = 0; i < lv.length; i += 4) {
      // Empty fields (levels the venue did not have) parse as NaN and are skipped.
      const ap = r.numAt(lv[i]!);
      const as = r.numAt(lv[i + 1]!);
      const bp = r.numAt(lv[i + 2]!);
      const bs = r.numAt(lv[i + 3]!);
      if (ap > 0 && as > 0) ev.pushAsk(ap, as);
      if (bp > 0 && bs > 0) ev.pushBid(bp, bs);
    }
  }
}
