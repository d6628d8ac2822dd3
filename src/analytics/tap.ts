/**
 * Wiring helpers: the analytics see every source event before the book builder does (so the
 * builder's book is the book before the event), and every row the builder makes, next to whatever
 * else consumes rows (the feature engine).
 */
import type { DepthEvent, MarketSink, OrderEvent, QuoteEvent, TradeEvent } from '../model/events.ts';
import type { BookRow, RowSink } from '../model/row.ts';

/** A MarketSink that hands each event to `first`, then to `then`. */
export function analyticsTap(first: MarketSink, then: MarketSink): MarketSink {
  return {
    onDepth(e: DepthEvent) {
      first.onDepth(e);
      then.onDepth(e);
    },
    onTrade(e: TradeEvent) {
      first.onTrade(e);
      then.onTrade(e);
    },
    onQuote(e: QuoteEvent) {
      first.onQuote?.(e);
      then.onQuote?.(e);
    },
    onOrder(e: OrderEvent) {
      first.onOrder?.(e);
      then.onOrder?.(e);
    },
  };
}

/** A RowSink feeding each row to every sink, in order. */
export function teeRows(...sinks: RowSink[]): RowSink {
  if (sinks.length === 1) return sinks[0]!;
  if (sinks.length === 2) {
    const [a, b] = sinks as [RowSink, RowSink];
    return { onRow(r: BookRow) { a.onRow(r); b.onRow(r); } };
  }
  return { onRow(r: BookRow) { for (const s of sinks) s.onRow(r); } };
}
