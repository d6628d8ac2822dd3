/**
 * `vpinBucket: auto`: each symbol's VPIN bucket volume from a first pass over its trades, the same
 * for the batch features and analytics, the server's replays and the benchmarks.
 */
import type { MarketSink, TradeEvent } from '../model/events.ts';
import { autoBucketVolume } from '../features/vpin.ts';

/** Total traded volume per symbol over one pass of `source` (only `symbols`, when given). */
export async function tradedVolume(source: { run(sink: MarketSink): Promise<unknown> }, symbols?: ReadonlySet<string>): Promise<Map<string, number>> {
  const vol = new Map<string, number>();
  const sink: MarketSink = {
    onDepth() {},
    onTrade(t: TradeEvent) {
      if (symbols && !symbols.has(t.symbol)) return;
      vol.set(t.symbol, (vol.get(t.symbol) ?? 0) + t.size);
    },
  };
  await source.run(sink);
  return vol;
}

/**
 * Sizes the VPIN bucket of every symbol that traded in `source` (autoBucketVolume of its volume) into
 * `into`, leaving the ones already there (configured) as they are; returns `into`.
 */
export async function autoVpinBuckets(
  source: { run(sink: MarketSink): Promise<unknown> },
  into: Record<string, number>,
  symbols?: ReadonlySet<string>,
): Promise<Record<string, number>> {
  for (const [sym, v] of await tradedVolume(source, symbols)) {
    const b = autoBucketVolume(v);
    if (b > 0) into[sym] ??= b;
  }
  return into;
}
