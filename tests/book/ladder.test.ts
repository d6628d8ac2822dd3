import { describe, expect, it } from 'vitest';
import { Ladder } from '../../src/book/ladder.ts';
import { L2Book } from '../../src/book/l2-book.ts';
import { DepthEvent } from '../../src/sources/events.ts';

/** A naive reference side: a Map sorted on demand. */
function reference(ops: [number, number][], sign: 1 | -1): [number, number][] {
  const m = new Map<number, number>();
  for (const [p, s] of ops) {
    if (s > 0) m.set(p, s);
    else m.delete(p);
  }
  return [...m.entries()].sort((a, b) => sign * (b[0] - a[0]));
}

describe('Ladder', () => {
  it('matches a naive sorted map under random absolute updates (both sides)', () => {
    let seed = 12345;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (const sign of [1, -1] as const) {
      const l = new Ladder(sign, 4);
      const ops: [number, number][] = [];
      for (let i = 0; i < 20_000; i++) {
        const p = 100 + Math.floor(rnd() * 300) / 10;
        const s = rnd() < 0.35 ? 0 : Math.round(rnd() * 1000) / 100;
        ops.push([p, s]);
        l.set(p, s);
      }
      const ref = reference(ops, sign);
      expect(l.n).toBe(ref.length);
      for (let i = 0; i < ref.length; i++) {
        expect(l.priceAt(i + 1)).toBe(ref[i]![0]);
        expect(l.sizeAtLevel(i + 1)).toBe(ref[i]![1]);
      }
      expect(l.isSorted()).toBe(true);
    }
  });

  it('top-k pads missing levels with NaN price and size 0', () => {
    const l = new Ladder(-1);
    l.set(10.5, 1);
    l.set(10.2, 2);
    const px = new Float64Array(3);
    const sz = new Float64Array(3);
    l.top(3, px, sz);
    expect([...px]).toEqual([10.2, 10.5, NaN]);
    expect([...sz]).toEqual([2, 1, 0]);
  });

  it('relative changes add, remove at zero, and report unknown levels', () => {
    const l = new Ladder(1);
    expect(l.add(5, 100)).toBe(100);
    expect(l.add(5, -40)).toBe(60);
    expect(l.add(5, -60)).toBe(0);
    expect(l.n).toBe(0);
    expect(l.add(6, -10)).toBeNaN();
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
