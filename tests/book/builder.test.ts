import { describe, expect, it } from 'vitest';
import { DepthEvent, TradeEvent } from '../../src/model/events.ts';
import { BadInputPolicy } from '../../src/core/errors.ts';
import type { BookRow } from '../../src/model/row.ts';
import { bookBuilder } from '../../src/pipeline/book.ts';

function snapshot(bids: [number, number][], asks: [number, number][], ts = 0): DepthEvent {
  const e = new DepthEvent();
  e.symbol = 'S';
  e.kind = 'snapshot';
  e.ts = ts;
  for (const [p, q] of bids) e.pushBid(p, q);
  for (const [p, q] of asks) e.pushAsk(p, q);
  return e;
}

function delta(bids: [number, number][], asks: [number, number][], ts: number, line = 0): DepthEvent {
  const e = snapshot(bids, asks, ts);
  e.kind = 'delta';
  e.line = line;
  return e;
}

function collect(policy?: BadInputPolicy) {
  const rows: { bid: number; ask: number; trades: number }[] = [];
  const b = bookBuilder({ levels: 5, policy, sourceName: 'synthetic', sink: { onRow: (r: BookRow) => rows.push({ bid: r.bidPx[0]!, ask: r.askPx[0]!, trades: r.nTrades }) } });
  return { b, rows };
}

describe('BookBuilder', () => {
  it('repairs a book crossed by a missed delete (newest wins) and counts it', () => {
    const { b, rows } = collect();
    b.onDepth(snapshot([[99, 1]], [[100, 1], [101, 1]]));
    b.onDepth(delta([[100, 3]], [], 1)); // a bid at 100: the ask at 100 must be gone
    expect(rows.at(-1)).toEqual({ bid: 100, ask: 101, trades: 0 });
    expect(b.totals().crossedMessages).toBe(1);
    expect(b.totals().repairedLevels).toBe(1);
  });

  it('a crossed snapshot stops the run by default and is withheld when skipped', () => {
    const { b } = collect();
    expect(() => b.onDepth(snapshot([[101, 1]], [[100, 1]]))).toThrow(/synthetic: snapshot for S is crossed/);
    const skip = collect(BadInputPolicy.parse('crossed-book'));
    skip.b.onDepth(snapshot([[101, 1]], [[100, 1]]));
    skip.b.onDepth(delta([[99, 1]], [], 1));
    expect(skip.rows.length).toBe(0);
    expect(skip.b.totals().rowsWithheld).toBe(2);
    skip.b.onDepth(snapshot([[99, 1]], [[100, 1]], 2)); // the next snapshot restores trust
    expect(skip.rows.length).toBe(1);
  });

  it('trades wait for the next row; those after the last row are dropped and counted', () => {
    const { b, rows } = collect();
    const t = new TradeEvent();
    t.symbol = 'S';
    t.size = 1;
    b.onTrade(t);
    b.onDepth(snapshot([[99, 1]], [[100, 1]]));
    b.onTrade(t);
    b.onTrade(t);
    b.onDepth(delta([[99, 2]], [], 1));
    b.onTrade(t);
    b.finish();
    expect(rows.map((r) => r.trades)).toEqual([1, 2]);
    expect(b.totals().tradesAfterLastRow).toBe(1);
  });

  it('diffs before any snapshot of an unsequenced source make no rows', () => {
    const { b, rows } = collect();
    b.onDepth(delta([[99, 1]], [[100, 1]], 0));
    expect(rows.length).toBe(0);
    expect(b.totals().diffsDropped).toBe(1);
  });
});
