import { describe, expect, it } from 'vitest';
import type { PriceLadder } from '../../src/book/ladder.ts';
import { PagedLadder } from '../../src/book/paged-ladder.ts';
import { TickLadder } from '../../src/book/tick-ladder.ts';
import { L2Book } from '../../src/book/l2-book.ts';
import { DepthEvent } from '../../src/model/events.ts';

/** A naive reference side: a Map sorted on demand. */
function reference(ops: [number, number][], sign: 1 | -1): [number, number][] {
  const m = new Map<number, number>();
  for (const [p, s] of ops) {
    if (s > 0) m.set(p, s);
    else m.delete(p);
  }
  return [...m.entries()].sort((a, b) => sign * (b[0] - a[0]));
}

const kinds: [string, (sign: 1 | -1) => PriceLadder][] = [
  ['PagedLadder', (s) => new PagedLadder(s)],
  ['TickLadder', (s) => new TickLadder(s)],
];

for (const [kind, Ladder] of kinds) describe(kind, () => {
  it('matches a naive sorted map under random absolute updates, across page splits and merges (both sides)', () => {
    let seed = 12345;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (const sign of [1, -1] as const) {
      const l = Ladder(sign);
      const ops: [number, number][] = [];
      for (let i = 0; i < 40_000; i++) {
        // Wide price range (thousands of levels, many pages), then a phase that empties most of it.
        const p = 100 + Math.floor(rnd() * 3000) / 10;
        const s = rnd() < (i < 25_000 ? 0.3 : 0.9) ? 0 : Math.round(rnd() * 1000) / 100;
        ops.push([p, s]);
        l.set(p, s);
        if (i % 5000 === 0) expect(l.invariantError()).toBeNull();
      }
      expect(l.invariantError()).toBeNull();
      const ref = reference(ops, sign);
      expect(l.n).toBe(ref.length);
      for (let i = 0; i < ref.length; i++) {
        expect(l.priceAt(i + 1)).toBe(ref[i]![0]);
        expect(l.sizeAtLevel(i + 1)).toBe(ref[i]![1]);
      }
      expect(l.isSorted()).toBe(true);
      const all: [number, number][] = [];
      l.forEachLevel((p: number, s: number) => all.push([p, s]));
      expect(all).toEqual(ref);
    }
  });

  it('snapshots load best-first input, and unsorted or duplicated images as if applied in order', () => {
    const l = Ladder(1);
    l.loadBestFirst(new Float64Array([10, 9, 8]), new Float64Array([1, 2, 3]), 3);
    expect([l.priceAt(1), l.priceAt(3), l.n]).toEqual([10, 8, 3]);
    l.loadBestFirst(new Float64Array([9, 10, 9, 7]), new Float64Array([1, 2, 5, 0]), 4);
    expect([l.priceAt(1), l.sizeAt(9), l.n]).toEqual([10, 5, 2]);
    const many = Float64Array.from({ length: 1000 }, (_, i) => 1000 - i);
    l.loadBestFirst(many, new Float64Array(1000).fill(1), 1000);
    expect([l.n, l.priceAt(1), l.priceAt(1000), l.invariantError()]).toEqual([1000, 1000, 1, null]);
    expect(l.removeThrough(990.5)).toBe(10);
    expect(l.bestPrice()).toBe(990);
  });

  it('top-k pads missing levels with NaN price and size 0', () => {
    const l = Ladder(-1);
    l.set(10.5, 1);
    l.set(10.2, 2);
    const px = new Float64Array(3);
    const sz = new Float64Array(3);
    l.top(3, px, sz);
    expect([...px]).toEqual([10.2, 10.5, NaN]);
    expect([...sz]).toEqual([2, 1, 0]);
  });

  it('relative changes add, remove at zero, and report unknown levels', () => {
    const l = Ladder(1);
    expect(l.add(5, 100)).toBe(100);
    expect(l.add(5, -40)).toBe(60);
    expect(l.add(5, -60)).toBe(0);
    expect(l.n).toBe(0);
    expect(l.add(6, -10)).toBeNaN();
  });
});

describe('TickLadder specifics', () => {
  it('learns a finer tick when an off-grid price appears, keeping every level', () => {
    const l = new TickLadder(1);
    for (const p of [100, 100.5, 101, 99]) l.set(p, 1);
    expect(l.tick).toBe(0.5);
    l.set(100.25, 2);
    expect(l.tick).toBe(0.25);
    l.set(100.01, 3);
    expect(l.tick).toBeCloseTo(0.01, 12);
    const all: number[] = [];
    l.forEachLevel((p) => all.push(p));
    expect(all).toEqual([101, 100.5, 100.25, 100.01, 100, 99]);
    expect(l.invariantError()).toBeNull();
  });

  it('re-centres its window when the touch moves far away, and keeps far levels in the overflow', () => {
    const a = new TickLadder(-1);
    a.set(50_000, 1);
    a.set(50_000.1, 2);
    a.set(10_000, 3); // ~400k ticks away: outside the 65,536-tick window
    expect(a.bestPrice()).toBe(10_000);
    a.set(10_000, 0);
    expect(a.bestPrice()).toBe(50_000);
    a.set(90_000, 5);
    const px = new Float64Array(4), sz = new Float64Array(4);
    a.top(4, px, sz);
    expect([...px]).toEqual([50_000, 50_000.1, 90_000, NaN]);
    expect(a.invariantError()).toBeNull();
  });

  it('keeps prices exactly as given (no tick arithmetic on output)', () => {
    const l = new TickLadder(1);
    const prices = [61800.2, 61800.1, 61799.9, 0.3, 0.1 + 0.2];
    for (const p of prices) l.set(p, 1);
    const out: number[] = [];
    l.forEachLevel((p) => out.push(p));
    for (const p of out) expect(prices).toContain(p);
  });
});

describe('L2Book crossed-book repair', () => {
  it('a bid set through stale asks removes those asks (newest wins)', () => {
    const b = new L2Book();
    const snap = new DepthEvent();
    snap.kind = 'snapshot';
    snap.pushBid(99, 1); snap.pushBid(98, 1);
    snap.pushAsk(100, 1); snap.pushAsk(101, 1); snap.pushAsk(102, 1);
    b.apply(snap);
    const d = new DepthEvent();
    d.kind = 'delta';
    d.pushBid(101, 5); // the asks at 100 and 101 must have been taken without our seeing the deletes
    const r = b.apply(d);
    expect(r.repairedLevels).toBe(2);
    expect(r.crossed).toBe(false);
    expect(b.bestBid()).toBe(101);
    expect(b.bestAsk()).toBe(102);
    expect(b.checkInvariants()).toBeNull();
  });

  it('a crossed snapshot is reported, not repaired', () => {
    const b = new L2Book();
    const snap = new DepthEvent();
    snap.kind = 'snapshot';
    snap.pushBid(101, 1);
    snap.pushAsk(100, 1);
    expect(b.apply(snap).crossed).toBe(true);
  });
});
