/**
 * Print grouping and realised moves on hand-written event sequences. Times are plain ns; the
 * snapshots are labels, so the test sees which book each group was paired with.
 */
import { describe, expect, it } from 'vitest';
import { TradeGrouper, type TradeGroup } from '../../src/impact/groups.ts';

function grouper(horizons: number[]) {
  const out: TradeGroup<string>[] = [];
  const g = new TradeGrouper<string>(0, horizons, (x) => out.push(x));
  return { g, out };
}
const snap = (label: string | undefined) => () => label;

describe('TradeGrouper', () => {
  it('groups same-sign prints at one timestamp across rows at that timestamp; after mid, horizons, order of release', () => {
    const { g, out } = grouper([1000]);
    g.row(0, 100);
    // One buy of 5 meeting two resting orders (LOBSTER: two executions, each its own row, same time).
    g.trade(10, 101, 2, 1, false, snap('A'), 100);
    g.row(10, 100.5);
    g.trade(10, 102, 3, 1, false, snap('never asked'), NaN);
    g.row(10, 101); // the first row after its last print: after mid 101
    g.row(20, 101); // a later time: no print can join it now
    // A hidden sell, then a buy at the same time: a change of sign ends the group (no row between yet).
    g.trade(30, 100, 1, -1, true, snap('B'), 101);
    g.trade(30, 101, 1, 1, false, snap('C'), 101);
    g.row(40, 100); // after mid of both
    expect(out).toHaveLength(0); // horizons not known yet
    // Horizon of the first group: 10 + 1000 = 1010; the last row at or before it is the one at 40 (mid 100).
    g.row(1015, 99);
    expect(out.map((x) => x.pre)).toEqual(['A']);
    // Horizons 1030 for the other two: last row at or before is the one at 1015 (mid 99).
    g.row(1100, 98);
    expect(out.map((x) => x.pre)).toEqual(['A', 'B', 'C']);
    g.finish();
    const [a, b, c] = out;
    expect(a).toMatchObject({ sign: 1, ts: 10, size: 5, notional: 2 * 101 + 3 * 102, prints: 2, hiddenSize: 0, preMid: 100, afterMid: 101 });
    expect([...a!.horizonMid]).toEqual([100]);
    expect(b).toMatchObject({ sign: -1, ts: 30, size: 1, prints: 1, hiddenSize: 1, preMid: 101, afterMid: 100 });
    expect([...b!.horizonMid]).toEqual([99]);
    expect(c).toMatchObject({ sign: 1, ts: 30, size: 1, hiddenSize: 0, afterMid: 100 });
    expect([...c!.horizonMid]).toEqual([99]);
    expect(g.counters).toEqual({ prints: 4, unsigned: 0, noBook: 0, groups: 3, horizonPastEnd: 0 });
  });

  it('a print at another time starts a new group even with the same sign and no row between', () => {
    const { g, out } = grouper([]);
    g.row(0, 100);
    g.trade(5, 101, 1, 1, false, snap('A'), 100);
    g.trade(6, 101, 1, 1, false, snap('B'), 100);
    g.row(7, 100.5);
    g.finish();
    expect(out.map((x) => [x.pre, x.size, x.afterMid])).toEqual([['A', 1, 100.5], ['B', 1, 100.5]]);
  });

  it('asks for the book once per group, not once per print', () => {
    const { g } = grouper([]);
    let asked = 0;
    const counted = () => { asked++; return 'A'; };
    g.row(0, 100);
    for (let i = 0; i < 4; i++) g.trade(10, 101, 1, 1, false, counted, 100);
    g.finish();
    expect(asked).toBe(1);
    expect(g.counters.groups).toBe(1);
  });

  it('a quiet book: the horizon reads the after row even when that row comes after ts + h', () => {
    const { g, out } = grouper([1000]);
    g.row(0, 100);
    g.trade(2000, 101, 1, 1, false, snap('A'), 100);
    g.row(5000, 97); // after row, later than 2000 + 1000
    g.row(6000, 96);
    g.finish();
    expect(out[0]!.afterMid).toBe(97);
    expect([...out[0]!.horizonMid]).toEqual([97]);
  });

  it('prints with no book or no aggressor side are counted, not grouped, and end the open group', () => {
    const { g, out } = grouper([]);
    g.trade(1, 100, 1, 1, false, snap(undefined), NaN); // before any row
    g.row(2, 100);
    g.trade(3, 101, 1, 1, false, snap('A'), 100);
    g.trade(3, 101, 1, 0, false, snap('X'), 100); // unknown side
    g.trade(3, 101, 1, 1, false, snap('B'), 100); // same time and sign as A, but not consecutive
    g.row(4, 101);
    g.finish();
    expect(out.map((x) => [x.pre, x.size, x.afterMid])).toEqual([['A', 1, 101], ['B', 1, 101]]);
    expect(g.counters).toEqual({ prints: 4, unsigned: 1, noBook: 1, groups: 2, horizonPastEnd: 0 });
  });

  it('the end of the stream: no after row gives NaN, a horizon past the last row gives NaN and is counted', () => {
    const { g, out } = grouper([1000]);
    g.row(0, 100);
    g.trade(10, 101, 1, 1, false, snap('A'), 100);
    g.row(20, 101);
    g.trade(30, 99, 1, -1, false, snap('B'), 101);
    g.finish();
    expect(out).toHaveLength(2);
    expect(out[0]!.afterMid).toBe(101);
    expect(out[0]!.horizonMid[0]).toBeNaN();
    expect(out[1]!.afterMid).toBeNaN();
    expect(g.counters.horizonPastEnd).toBe(2);
  });

  it('an after row the caller already saw (stamped after the print, received before it) is used at once', () => {
    const { g, out } = grouper([]);
    g.row(0, 100);
    g.row(50, 101);
    g.trade(20, 101, 1, 1, false, snap('A'), 100, 101);
    g.row(60, 102); // closes the group; its after mid stays the row at 50's
    g.finish();
    expect(out.map((x) => [x.pre, x.preMid, x.afterMid])).toEqual([['A', 100, 101]]);
  });

  it('refuses a horizon that is not positive', () => {
    expect(() => new TradeGrouper(0, [0], () => {})).toThrow(/positive/);
  });
});
