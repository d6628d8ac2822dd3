/** Sampling rows into research series: what a clock tick sees, and what an event step pairs. */
import { describe, expect, it } from 'vitest';
import { clockSpan, formatEvery, parseEvery, sampleClock, sampleEvents } from '../../src/research/series.ts';

// Rows at 0.2 s, 0.5 s, 1.7 s, 3.1 s (ns), one without a mid (a one-sided book).
const rows = { ts: [0.2e9, 0.5e9, 1.7e9, 3.1e9], mid: [100, NaN, 101, 99], ofi: [1, 2, NaN, -4] };

describe('research series', () => {
  it('clock: the last mid at or before each tick, OFI summed over (tick - Δ, tick], empty intervals counted', () => {
    const span = clockSpan(rows, 1e9);
    expect(span).toEqual({ from: 1e9, to: 3e9 });
    const s = sampleClock(rows, 1e9, span.from, span.to);
    expect([...s.t]).toEqual([1e9, 2e9, 3e9]);
    expect([...s.logMid]).toEqual([Math.log(100), Math.log(101), Math.log(101)]);
    expect([...s.ret]).toEqual([Math.log(101) - Math.log(100), 0]);
    // (1 s, 2 s] holds the 1.7 s row, whose OFI is missing (0); (2 s, 3 s] holds none.
    expect([...s.ofi]).toEqual([0, 0]);
    expect(s.emptyIntervals).toBe(1);
  });
  it('event: rows with a mid; the OFI of the row a return ends on', () => {
    const s = sampleEvents(rows);
    expect([...s.ret]).toEqual([Math.log(101) - Math.log(100), Math.log(99) - Math.log(101)]);
    expect([...s.ofi]).toEqual([0, -4]);
    expect([...s.t]).toEqual([0.2e9, 1.7e9, 3.1e9]);
  });
  it('durations', () => {
    expect(parseEvery('1s')).toBe(1e9);
    expect(parseEvery('100ms')).toBe(1e8);
    expect(parseEvery('event')).toBe('event');
    expect(() => parseEvery('1h')).toThrow(/duration/);
    expect(formatEvery(1e8)).toBe('every 100ms');
    expect(formatEvery(60e9)).toBe('every 1m');
  });
});
