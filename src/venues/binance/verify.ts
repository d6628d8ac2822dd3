/**
 * Binance ground truth: a bookTicker whose update id `u` equals the final `u` of an applied depth
 * diff shows the venue's best bid/ask right after that diff. The rebuilt book at that diff must
 * show the same prices and sizes.
 */
import type { BookRow, RowSink } from '../../model/row.ts';
import type { QuoteEvent } from '../../model/events.ts';
import type { MarketSource } from '../../sources/source.ts';
import type { BookCheckOptions, BookCheckResult } from '../venue.ts';

export interface TickerMismatch {
  symbol: string;
  u: number;
  line: number;
  book: [number, number, number, number];
  ticker: [number, number, number, number];
}

export interface BinanceVerifyResult {
  rows: number;
  checks: number;
  mismatches: number;
  examples: TickerMismatch[];
  /** bookTickers seen, and how many named an id that no applied diff ended on (no ground truth then). */
  tickers: number;
  tickersWithoutDiff: number;
}

type Top = [number, number, number, number];

/** Matches rebuilt tops and tickers by update id, in either arrival order, with bounded memory. */
export class BinanceTickerCheck implements RowSink {
  private readonly tops = new Map<string, Map<number, Top>>();
  private readonly tickers = new Map<string, Map<number, { top: Top; line: number }>>();
  private readonly maxKept: number;
  readonly r: BinanceVerifyResult = { rows: 0, checks: 0, mismatches: 0, examples: [], tickers: 0, tickersWithoutDiff: 0 };

  constructor(maxKept = 200_000) {
    this.maxKept = maxKept;
  }

  onRow(row: BookRow): void {
    this.r.rows++;
    const top: Top = [row.bidPx[0]!, row.bidSz[0]!, row.askPx[0]!, row.askSz[0]!];
    const waiting = this.tickers.get(row.symbol)?.get(row.seq);
    if (waiting) {
      this.tickers.get(row.symbol)!.delete(row.seq);
      this.compare(row.symbol, row.seq, waiting.line, top, waiting.top);
      return;
    }
    put(this.tops, row.symbol, row.seq, top, this.maxKept);
  }

  onQuote(q: QuoteEvent): void {
    this.r.tickers++;
    const t: Top = [q.bidPx, q.bidSz, q.askPx, q.askSz];
    const built = this.tops.get(q.symbol)?.get(q.seq);
    if (built) {
      this.compare(q.symbol, q.seq, q.line, built, t);
      return;
    }
    put(this.tickers, q.symbol, q.seq, { top: t, line: q.line }, this.maxKept);
  }

  finish(): BinanceVerifyResult {
    for (const m of this.tickers.values()) this.r.tickersWithoutDiff += m.size;
    return this.r;
  }

  private compare(symbol: string, u: number, line: number, book: Top, ticker: Top): void {
    this.r.checks++;
    if (book[0] === ticker[0] && book[1] === ticker[1] && book[2] === ticker[2] && book[3] === ticker[3]) return;
    this.r.mismatches++;
    if (this.r.examples.length < 10) this.r.examples.push({ symbol, u, line, book, ticker });
  }
}

function put<T>(maps: Map<string, Map<number, T>>, sym: string, key: number, v: T, max: number): void {
  let m = maps.get(sym);
  if (!m) maps.set(sym, (m = new Map()));
  m.set(key, v);
  if (m.size > max) m.delete(m.keys().next().value!);
}

/** flowcast verify-book on a Binance capture: the rebuilt top of book at each bookTicker that names an applied diff. */
export async function verifyBinanceBook(src: MarketSource, o: BookCheckOptions): Promise<BookCheckResult> {
  const check = new BinanceTickerCheck();
  const builder = o.books({ levels: 1, sink: check, passThrough: check, sourceName: o.spec });
  await src.run(builder);
  builder.finish();
  const r = check.finish();
  const t = builder.totals();
  o.out(`verify-book ${o.spec}`);
  o.out(`  rows (applied depth diffs): ${r.rows.toLocaleString('en-US')}; diffs dropped before sync: ${t.diffsDropped}; gaps: ${t.gaps}; crossed repairs: ${t.crossedMessages}`);
  o.out(`  bookTickers: ${r.tickers.toLocaleString('en-US')}, of which ${r.checks} name the final u of an applied diff (checked); ${r.tickersWithoutDiff.toLocaleString('en-US')} fall between diffs (no ground truth)`);
  o.out(`  best bid/ask price and size equal the ticker's at ${r.checks - r.mismatches} of ${r.checks} checks: ${r.mismatches} mismatches`);
  for (const m of r.examples) o.out(`    mismatch at line ${m.line} (u=${m.u}): book ${m.book.join(' ')} vs ticker ${m.ticker.join(' ')}`);
  return { rows: r.rows, checks: r.checks, mismatches: r.mismatches };
}
