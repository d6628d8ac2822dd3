/**
 * The I/O side of `flowcast impact`: source -> (trade tap) -> book builder -> rows -> ImpactAnalyzer.
 * Everything else in src/impact is pure; this file only opens the source and wires it.
 *
 * The tap sees each trade before the builder does, so the analyzer's "last row" at that moment is
 * the book the trade met (LOBSTER emits an execution's trade before its book row; Binance and
 * Tardis trades fall between two depth messages), and it keeps the `hidden` flag (LOBSTER type 5),
 * which rows do not carry.
 */
import { openSource } from '../sources/spec.ts';
import type { MarketSink } from '../model/events.ts';
import type { MarketSource, SourceStats } from '../sources/source.ts';
import type { SymbolCounters } from '../book/builder.ts';
import { bookBuilder } from '../pipeline/book.ts';
import { BadInputPolicy } from '../core/errors.ts';
import { ImpactAnalyzer, type ImpactOptions, type ImpactOutputs } from './analyzer.ts';

export interface ImpactRunOptions {
  options: Partial<ImpactOptions> & { sizes: number[] };
  symbols?: string[];
  policy?: BadInputPolicy;
  /** Called at the source's pause points (every CHUNK_LINES lines). */
  onProgress?: (rows: number, bytesRead: number, totalBytes: number) => void;
  /** Called once the source is open (the time base exists), before any event: where outputs that need it are made. */
  onStart?: (source: MarketSource) => void;
}

export interface ImpactRunResult {
  source: MarketSource;
  sourceStats: SourceStats;
  book: SymbolCounters;
  analyzer: ImpactAnalyzer;
  seconds: number;
}

export async function runImpact(spec: string, run: ImpactRunOptions, outputs: ImpactOutputs = {}): Promise<ImpactRunResult> {
  const t0 = performance.now();
  const policy = run.policy ?? new BadInputPolicy();
  const filter = run.symbols?.length ? new Set(run.symbols) : undefined;
  const source = await openSource(spec, { policy });
  const analyzer = new ImpactAnalyzer(run.options, source.timeBase, outputs);
  let rows = 0;
  const builder = bookBuilder({
    levels: analyzer.opts.levels,
    sink: { onRow: (r) => { rows++; analyzer.onRow(r); } },
    symbols: filter,
    policy,
    sourceName: source.spec,
    onStatus: (sym, status) => { if (status !== 'synced') analyzer.invalidate(sym); },
  });
  const sink: MarketSink = {
    onDepth: (e) => builder.onDepth(e),
    onTrade: (e) => {
      if (!filter || filter.has(e.symbol)) analyzer.onTrade(e.symbol, e.ts, e.price, e.size, e.sign, e.hidden);
      builder.onTrade(e);
    },
    // No quote or order-level handlers: the book needs neither, and a source skips parsing what no one takes.
  };
  run.onStart?.(source);
  const pause = run.onProgress ? () => run.onProgress!(rows, source.bytesRead(), source.totalBytes) : undefined;
  const sourceStats = await source.run(sink, pause);
  builder.finish();
  analyzer.finish();
  return { source, sourceStats, book: builder.totals(), analyzer, seconds: (performance.now() - t0) / 1000 };
}
