import { describe, expect, it } from 'vitest';
import { Fifo } from '../../src/core/fifo.ts';

describe('Fifo', () => {
  it('keeps first-in first-out order across its compactions, interleaved with pushes', () => {
    const q = new Fifo<number>();
    let pushed = 0, shifted = 0;
    // Long enough to pass the compaction threshold many times, with the queue never empty.
    for (let round = 0; round < 200; round++) {
      for (let k = 0; k < 700; k++) q.push(pushed++);
      for (let k = 0; k < 500; k++) {
        expect(q.first()).toBe(shifted);
        expect(q.shift()).toBe(shifted++);
      }
      expect(q.length).toBe(pushed - shifted);
    }
    expect([...q]).toEqual(Array.from({ length: pushed - shifted }, (_, i) => shifted + i));
    const rest = q.drain();
    expect(rest.length).toBe(pushed - shifted);
    expect(rest[0]).toBe(shifted);
    expect(rest.at(-1)).toBe(pushed - 1);
    expect(q.length).toBe(0);
  });

  it('answers undefined when empty, and is usable again after a drain', () => {
    const q = new Fifo<string>();
    expect(q.shift()).toBeUndefined();
    expect(q.first()).toBeUndefined();
    q.push('a');
    q.push('b');
    expect(q.shift()).toBe('a');
    expect(q.drain()).toEqual(['b']);
    expect(q.shift()).toBeUndefined();
    q.push('c');
    expect([...q]).toEqual(['c']);
    expect(q.length).toBe(1);
  });
});
