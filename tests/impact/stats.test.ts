/** The error statistics on a hand-made set of pairs; expected values worked out in the comments. */
import { describe, expect, it } from 'vitest';
import { errorSummary, quantileSorted } from '../../src/impact/stats.ts';

describe('quantileSorted (linear interpolation, numpy default)', () => {
  it('interpolates between order statistics', () => {
    // h = (n - 1) q: q = 0.1 -> h = 0.3 -> 1 + 0.3 * (2 - 1) = 1.3; q = 0.5 -> h = 1.5 -> 2.5; q = 0.9 -> h = 2.7 -> 3.7
    expect(quantileSorted([1, 2, 3, 4], 0.1)).toBeCloseTo(1.3, 12);
    expect(quantileSorted([1, 2, 3, 4], 0.5)).toBe(2.5);
    expect(quantileSorted([1, 2, 3, 4], 0.9)).toBeCloseTo(3.7, 12);
    expect(quantileSorted([7], 0.9)).toBe(7);
    expect(quantileSorted([], 0.5)).toBeNaN();
    expect(() => quantileSorted([1], 1.5)).toThrow(/quantile/);
  });
});

describe('errorSummary', () => {
  it('median, p10, p90 of estimate - realised, and the share within 10% of the realised value', () => {
    // pairs (est, real): (1, 1) err 0, within; (2, 2.5) err -0.5, |err| 0.5 > 0.25, not within;
    // (0, 0) err 0, within (0 <= 0.1 * 0) and a realised zero; (NaN, 1) dropped; (5, 4.6) err 0.4 <= 0.46, within.
    const s = errorSummary([1, 2, 0, NaN, 5], [1, 2.5, 0, 1, 4.6]);
    expect(s.n).toBe(4);
    expect(s.dropped).toBe(1);
    // errors sorted: -0.5, 0, 0, 0.4 -> median 0; p10: h = 0.3 -> -0.5 + 0.3 * 0.5 = -0.35; p90: h = 2.7 -> 0 + 0.7 * 0.4 = 0.28
    expect(s.errMedian).toBe(0);
    expect(s.errP10).toBeCloseTo(-0.35, 12);
    expect(s.errP90).toBeCloseTo(0.28, 12);
    // |errors| sorted 0, 0, 0.4, 0.5 -> median 0.2; estimates 0, 1, 2, 5 -> 1.5; realised 0, 1, 2.5, 4.6 -> 1.75
    expect(s.absErrMedian).toBeCloseTo(0.2, 12);
    expect(s.estMedian).toBe(1.5);
    expect(s.realMedian).toBe(1.75);
    expect(s.within).toBe(3 / 4);
    expect(s.realisedZero).toBe(1 / 4);
    // Among the three nonzero realised values, (1, 1) and (5, 4.6) are within.
    expect(s.withinNonzero).toBe(2 / 3);
  });

  it('a nonzero estimate is never within a relative band of a zero realised value', () => {
    const s = errorSummary([0.01, 0], [0, 0]);
    expect(s.within).toBe(1 / 2);
    expect(s.withinNonzero).toBeNaN(); // no nonzero realised value to be within
  });

  it('the tolerance is a parameter', () => {
    expect(errorSummary([2], [2.5], 0.25).within).toBe(1);
    expect(errorSummary([2], [2.5], 0.1).within).toBe(0);
  });

  it('no pairs: counts zero, statistics NaN', () => {
    const s = errorSummary([NaN], [1]);
    expect(s.n).toBe(0);
    expect(s.errMedian).toBeNaN();
    expect(s.within).toBeNaN();
  });

  it('refuses arrays that do not pair up', () => {
    expect(() => errorSummary([1, 2], [1])).toThrow(/pair/);
  });
});
