/**
 * The analyzer on a hand-built day: rows and prints written out below, every expected number worked
 * out in the comments (times in ms; 1 ms Kyle bars, a window of 2 bars, so lambda is a slope through
 * two points).
 *
 *   0.5  row r0   bid 99 x5 | ask 101 x5                mid 100
 *   1.5  buy 1 @ 101, its row r1  ask 101 x4            mid 100    bar 1: S = 1, mid change 100 - 100 = 0
 *   2.5  buy 3 @ 101, its row r2  bid 100 | ask 102 x1, 103 x4   mid 101    bar 2: S = 3, change 101 - 100 = 1
 *   3.2  row r3   same book                             mid 101    lambda over bars 1, 2 = (1 - 0) / (3 - 1) = 0.5
 *   3.5  buy 1 @ 102, row r4 (ask 103 x4); buy 1 @ 103, row r5 (ask 103 x3)   mid 101.5
 *   4.5  row r6   bid 101 | ask 103                     mid 102
 *   5.0  row r7   bid 102 | ask 104                     mid 103
 *
 * The order at 3.5 (two prints, size 2) met r3's book: walking 2 takes 1 @ 102 and 1 @ 103, VWAP
 * 102.5, 1.5 above the mid 101 and 0.5 above the touch; 103 keeps 3 so the ask becomes 103 and the
 * mid (100 + 103) / 2 = 101.5, a move of 0.5. Kyle: 0.5 * 2 = 1. Realised: prints VWAP 102.5, mid
 * after 101.5; at +1 ms (4.5) the last row at or before is r6, mid 102.
 */
import { describe, expect, it } from 'vitest';
import { ImpactAnalyzer } from '../../src/impact/analyzer.ts';
import { BookRow } from '../../src/model/row.ts';
import { TimeBase, TimeBaseRef } from '../../src/model/time.ts';

const MS = 1e6;
type Side = [number, number][];

function row(ts: number, bids: Side, asks: Side, trades: [number, number, number][] = []): BookRow {
  const r = new BookRow(3);
  r.symbol = 'X';
  r.ts = ts * MS;
  r.bidPx.fill(NaN);
  r.askPx.fill(NaN);
  bids.forEach(([p, s], i) => { r.bidPx[i] = p; r.bidSz[i] = s; });
  asks.forEach(([p, s], i) => { r.askPx[i] = p; r.askSz[i] = s; });
  r.nTrades = trades.length;
  trades.forEach(([p, s, sign], i) => { r.tradeTs[i] = ts * MS; r.tradePx[i] = p; r.tradeSz[i] = s; r.tradeSign[i] = sign; });
  return r;
}

/** Feeds the day; a print goes to the analyzer before the row that carries it, as the source tap does. */
function day(a: ImpactAnalyzer): void {
  const print = (ts: number, px: number, sz: number, sign: number): void => a.onTrade('X', ts * MS, px, sz, sign, false);
  const deep: Side = [[102, 1], [103, 4]];
  a.onRow(row(0.5, [[99, 5]], [[101, 5]]));
  print(1.5, 101, 1, 1);
  a.onRow(row(1.5, [[99, 5]], [[101, 4]], [[101, 1, 1]]));
  print(2.5, 101, 3, 1);
  a.onRow(row(2.5, [[100, 5]], deep, [[101, 3, 1]]));
  a.onRow(row(3.2, [[100, 5]], deep));
  print(3.5, 102, 1, 1);
  a.onRow(row(3.5, [[100, 5]], [[103, 4]], [[102, 1, 1]]));
  print(3.5, 103, 1, 1);
  a.onRow(row(3.5, [[100, 5]], [[103, 3]], [[103, 1, 1]]));
  a.onRow(row(4.5, [[101, 5]], [[103, 3]]));
  a.onRow(row(5.0, [[102, 5]], [[104, 3]]));
  a.finish();
}

const bps = (x: number, mid: number): number => (x / mid) * 1e4;

describe('ImpactAnalyzer', () => {
  it('pairs an order of similar size with both estimates from the book before it and its realised moves', () => {
    const a = new ImpactAnalyzer({ sizes: [2], bandLo: 0.9, bandHi: 1.1, horizonsMs: [1], barMs: 1, barWindow: 2, everyMs: 0, levels: 3 }, new TimeBaseRef(new TimeBase(0n)));
    day(a);
    expect(a.counts('X')).toEqual({ prints: 4, unsigned: 0, noBook: 0, groups: 3, horizonPastEnd: 0, rows: 8 });
    expect([...a.groupSizes('X')]).toEqual([1, 3, 2]);
    expect(a.matched[0]).toHaveLength(1); // sizes 1 and 3 lie outside 1.8..2.2
    const m = a.matched[0]![0]!;
    expect(m).toMatchObject({ symbol: 'X', q: 2, ts: 3.5 * MS, sign: 1, size: 2, prints: 2, hiddenSize: 0, walkLevels: 2, walkExhausted: false });
    expect(m.walkCostBps).toBeCloseTo(bps(1.5, 101), 9);
    expect(m.walkCostTouchBps).toBeCloseTo(bps(0.5, 101), 9);
    expect(m.walkMidMoveBps).toBeCloseTo(bps(0.5, 101), 9);
    expect(m.kyleBps).toBeCloseTo(bps(1, 101), 9);
    expect(m.realCostBps).toBeCloseTo(bps(1.5, 101), 9);
    expect(m.realMoveBps).toBeCloseTo(bps(0.5, 101), 9);
    expect(m.realHorizonBps[0]).toBeCloseTo(bps(1, 101), 9);
  });

  it('samples the estimates for Q at each time boundary from the last row before it', () => {
    const a = new ImpactAnalyzer({ sizes: [2], horizonsMs: [1], barMs: 1, barWindow: 2, everyMs: 1, levels: 3 }, new TimeBaseRef(new TimeBase(0n)));
    day(a);
    const s = a.series[0]!;
    // Rows at 1.5, 2.5, 3.2, 4.5 and 5.0 cross the 1, 2, 3, 4 and 5 ms boundaries; each sample reads the row before.
    expect(s.map((x) => [x.ts / MS, x.bookTs / MS])).toEqual([[1, 0.5], [2, 1.5], [3, 2.5], [4, 3.5], [5, 4.5]]);
    // At 1 ms (r0): a buy of 2 pays 101 against the mid 100 = 100 bps; a sell 99 = 100 bps; one level, the touch keeps 3.
    expect(s[0]!.buy.costMidBps).toBeCloseTo(100, 9);
    expect(s[0]!.sell.costMidBps).toBeCloseTo(100, 9);
    expect(s[0]!.buy.midMoveBps).toBe(0);
    // Kyle is NaN until 2 bars have closed; as of r5 (3.5 ms, mid 101.5) it is 0.5, so lambda * Q = 1.
    expect(s[2]!.kyle).toBeNaN();
    expect(s[3]!.kyle).toBeCloseTo(0.5, 12);
    expect(s[3]!.kyleBps).toBeCloseTo(bps(1, 101.5), 9);
    // At 3 ms (r2's book: ask 102 x1, 103 x4): the buy walks two levels, the sell of 2 stays at bid 100.
    expect(s[2]!.buy.walk.levels).toBe(2);
    expect(s[2]!.buy.costTouchBps).toBeCloseTo(bps(0.5, 101), 9);
    expect(s[2]!.sell.costMidBps).toBeCloseTo(bps(1, 101), 9);
  });

  it('an out-of-sync book gives the next prints no book, until a row comes', () => {
    const a = new ImpactAnalyzer({ sizes: [1], everyMs: 0, levels: 3, horizonsMs: [] }, new TimeBaseRef(new TimeBase(0n)));
    a.onRow(row(0.5, [[99, 5]], [[101, 5]]));
    a.invalidate('X');
    a.onTrade('X', 1 * MS, 101, 1, 1, false);
    a.onRow(row(1.5, [[99, 5]], [[101, 4]], [[101, 1, 1]]));
    a.onTrade('X', 2 * MS, 101, 1, 1, false);
    a.onRow(row(2.5, [[99, 5]], [[101, 3]], [[101, 1, 1]]));
    a.finish();
    expect(a.counts('X')).toMatchObject({ prints: 2, noBook: 1, groups: 1 });
    expect(a.matched[0]).toHaveLength(1);
  });

  it('places a print in exchange time: a row received before it but stamped later is its after row, not its book', () => {
    // Binance spot sends depth diffs every 100 ms; a diff stamped after a trade can reach the capture first.
    const a = new ImpactAnalyzer({ sizes: [1], everyMs: 0, levels: 3, horizonsMs: [] }, new TimeBaseRef(new TimeBase(0n)));
    a.onRow(row(1, [[99, 5]], [[101, 5]]));   // mid 100
    a.onRow(row(5, [[100, 5]], [[102, 5]]));  // mid 101, already holds the trade's effect
    a.onTrade('X', 3 * MS, 101, 1, 1, false); // the trade at 3 met the book at 1
    a.onRow(row(9, [[101, 5]], [[103, 5]], [[101, 1, 1]]));  // mid 102
    a.finish();
    const m = a.matched[0]![0]!;
    // Walk on the book at 1: 1 @ 101 against the mid 100 = 100 bps; realised mid move to the row at 5: 100 -> 101 = 100 bps.
    expect(m.walkCostBps).toBeCloseTo(100, 9);
    expect(m.realCostBps).toBeCloseTo(100, 9);
    expect(m.realMoveBps).toBeCloseTo(100, 9);
    // A print older than every kept row has no book.
    const b = new ImpactAnalyzer({ sizes: [1], everyMs: 0, levels: 3, horizonsMs: [] }, new TimeBaseRef(new TimeBase(0n)));
    b.onRow(row(5, [[100, 5]], [[102, 5]]));
    b.onTrade('X', 3 * MS, 101, 1, 1, false);
    b.finish();
    expect(b.counts('X')).toMatchObject({ prints: 1, noBook: 1, groups: 0 });
  });

  it('refuses sizes and bands that make no sense', () => {
    const tb = new TimeBaseRef(new TimeBase(0n));
    expect(() => new ImpactAnalyzer({ sizes: [] }, tb)).toThrow(/at least one size/);
    expect(() => new ImpactAnalyzer({ sizes: [-1] }, tb)).toThrow(/positive/);
    expect(() => new ImpactAnalyzer({ sizes: [1], bandLo: 2, bandHi: 1 }, tb)).toThrow(/band/);
  });
});
