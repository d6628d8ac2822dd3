/**
 * A Binance capture's bookTicker lines are not decoded when the sink takes no quotes (the features
 * path): depth and trades arrive exactly as when they are decoded, and a quote line's content is
 * then never looked at. A quote-taking sink still gets every quote and every error in them.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { BinanceLineParser } from '../../src/venues/binance/capture.ts';
import { BadInputPolicy } from '../../src/core/errors.ts';
import { TimeBaseRef } from '../../src/model/time.ts';
import type { DepthEvent, MarketSink, QuoteEvent, TradeEvent } from '../../src/model/events.ts';
import { USDM_FILE } from '../helpers.ts';

const lines = gunzipSync(readFileSync(USDM_FILE)).toString('utf8').split('\n').filter(Boolean).slice(0, 3000);

function parse(text: string[], quotes: boolean, policy = new BadInputPolicy()) {
  const seen: string[] = [];
  let nQuotes = 0;
  const sink: MarketSink = {
    onDepth: (e: DepthEvent) => { seen.push(`d ${e.symbol} ${e.ts} ${e.nBids} ${e.nAsks} ${e.bidPx[0]} ${e.askPx[0]}`); },
    onTrade: (t: TradeEvent) => { seen.push(`t ${t.symbol} ${t.ts} ${t.price} ${t.size} ${t.sign}`); },
    ...(quotes ? { onQuote: (_q: QuoteEvent) => { nQuotes++; } } : {}),
  };
  const tb = new TimeBaseRef();
  const p = new BinanceLineParser('usdm.jsonl', tb, policy, sink);
  text.forEach((l, i) => { const b = Buffer.from(l); p.line(b, 0, b.length, i + 1); });
  p.finish();
  return { seen, nQuotes, base: tb.get().baseNs, stats: p.stats };
}

describe('Binance: bookTicker lines nothing takes are not decoded', () => {
  const tickers = lines.filter((l) => l.includes('@bookTicker"')).length;

  it('depth and trades are the same with and without a quote sink', () => {
    expect(tickers).toBeGreaterThan(100);
    const withQ = parse(lines, true);
    const without = parse(lines, false);
    expect(withQ.nQuotes).toBe(tickers);
    expect(without.seen.length).toBeGreaterThan(100);
    expect(without.seen).toEqual(withQ.seen);
    expect(without.base).toBe(withQ.base);
  });

  it("a quote line's damaged content goes unseen only when nothing takes quotes; a cut line is reported either way", () => {
    const damaged = lines.map((l) => (l.includes('@bookTicker"') ? l.replace(/"b":"[^"]*"/, '"b":"x"') : l));
    expect(() => parse(damaged, true)).toThrow(/usdm\.jsonl:\d+: bookTicker needs s, u, b, B, a, A/);
    expect(parse(damaged, false).seen).toEqual(parse(lines, false).seen);
    const i = lines.findIndex((l) => l.includes('@bookTicker"'));
    const cut = [...lines];
    cut[i] = cut[i]!.slice(0, -5);
    expect(() => parse(cut, false)).toThrow(new RegExp(`usdm\\.jsonl:${i + 1}: invalid JSON`));
  });
});
