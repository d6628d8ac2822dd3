/**
 * The book walk on hand-built books; every expected number is worked out in the comments.
 *
 *   bids: 100 x 5, 99 x 10, 98 x 20        asks: 101 x 3, 102 x 4, 104 x 10        mid = 100.5
 */
import { describe, expect, it } from 'vitest';
import { walkImpact, walkLevels, type Levels } from '../../src/impact/walk.ts';

const bids: Levels = { px: [100, 99, 98], sz: [5, 10, 20], n: 3 };
const asks: Levels = { px: [101, 102, 104], sz: [3, 4, 10], n: 3 };
const bps = (x: number): number => (x / 100.5) * 1e4;

describe('walkLevels', () => {
  it('stops inside a level: that level stays the touch', () => {
    // 3 @ 101 + 2 @ 102 = 507 over 5 = 101.4; level 2 keeps 2, so 102 is the new touch.
    expect(walkLevels(asks, 5)).toEqual({ filled: 5, vwap: 101.4, lastPx: 102, levels: 2, exhausted: false, newTouch: 102 });
  });

  it('takes a level whole: the next level becomes the touch', () => {
    expect(walkLevels(asks, 3)).toEqual({ filled: 3, vwap: 101, lastPx: 101, levels: 1, exhausted: false, newTouch: 102 });
  });

  it('takes everything visible: no touch is known after it', () => {
    // 303 + 408 + 1040 = 1751 over 17 = 103
    const w = walkLevels(asks, 17);
    expect(w).toMatchObject({ filled: 17, lastPx: 104, levels: 3, exhausted: false });
    expect(w.vwap).toBeCloseTo(103, 12);
    expect(w.newTouch).toBeNaN();
  });

  it('asks for more than is visible: fills what is shown and says it ran out', () => {
    const w = walkLevels(asks, 20);
    expect(w).toMatchObject({ filled: 17, levels: 3, exhausted: true });
    expect(w.vwap).toBeCloseTo(103, 12);
  });

  it('a NaN price (a missing level, FEATURES.md) ends the visible book', () => {
    const w = walkLevels({ px: [101, NaN, 105], sz: [3, 0, 9], n: 3 }, 5);
    expect(w).toMatchObject({ filled: 3, vwap: 101, levels: 1, exhausted: true });
  });

  it('refuses a size that is not positive', () => {
    expect(() => walkLevels(asks, 0)).toThrow(/positive/);
    expect(() => walkLevels(asks, NaN)).toThrow(/positive/);
  });
});

describe('walkImpact', () => {
  it('a buy inside the touch: cost half the spread, no mid move', () => {
    // 2 @ 101: vwap 101, cost vs mid 0.5, vs touch 0; the ask stays 101 so the mid stays 100.5.
    const w = walkImpact(bids, asks, 1, 2);
    expect(w.mid).toBe(100.5);
    expect(w.touch).toBe(101);
    expect(w.costMid).toBe(0.5);
    expect(w.costTouch).toBe(0);
    expect(w.midMove).toBe(0);
    expect(w.costMidBps).toBeCloseTo(bps(0.5), 9);
  });

  it('a buy that walks two levels: cost vs mid and touch, and the mid after', () => {
    // vwap 101.4: 0.9 above the mid, 0.4 above the touch; new ask 102 -> mid (100 + 102) / 2 = 101, a move of 0.5.
    const w = walkImpact(bids, asks, 1, 5);
    expect(w.costMid).toBeCloseTo(0.9, 12);
    expect(w.costTouch).toBeCloseTo(0.4, 12);
    expect(w.midMove).toBe(0.5);
    expect(w.midMoveBps).toBeCloseTo(bps(0.5), 9);
    expect(w.costTouchBps).toBeCloseTo(bps(0.4), 9);
  });

  it('a sell counts cost and mid move in its own direction (positive = against the seller)', () => {
    // 5 @ 100 + 2 @ 99 = 698 / 7 = 99.714285...; cost vs mid 100.5 - 99.7142857 = 0.7857142857;
    // vs touch 100 - 99.7142857 = 0.2857142857; new bid 99 -> mid (99 + 101) / 2 = 100: the mid fell 0.5.
    const w = walkImpact(bids, asks, -1, 7);
    expect(w.touch).toBe(100);
    expect(w.walk.vwap).toBeCloseTo(698 / 7, 12);
    expect(w.costMid).toBeCloseTo(100.5 - 698 / 7, 12);
    expect(w.costTouch).toBeCloseTo(100 - 698 / 7, 12);
    expect(w.midMove).toBe(0.5);
  });

  it('emptying the visible side leaves the mid move unknown, the cost known', () => {
    const w = walkImpact(bids, asks, 1, 17);
    expect(w.costMid).toBeCloseTo(2.5, 12);
    expect(w.midMove).toBeNaN();
  });

  it('a one-sided book has no mid: every measure against it is NaN', () => {
    const w = walkImpact({ px: [], sz: [], n: 0 }, asks, 1, 2);
    expect(w.mid).toBeNaN();
    expect(w.costMidBps).toBeNaN();
    expect(w.costTouch).toBe(0);
  });
});
