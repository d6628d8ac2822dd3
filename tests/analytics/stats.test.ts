import { describe, expect, it } from 'vitest';
import {
  BucketCounter, RollingQuantiles, SlidingWindowQuantile, StepHistory, TimeWindowSums, normalCdf, select, sortedQuantile,
} from '../../src/analytics/stats.ts';

function rng(seed: number): () => number {
  let s = seed;
  return () => (s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
}

/** NumPy-style linear-interpolated quantile of a plain array, the reference. */
function refQuantile(a: number[], q: number): number {
  const s = [...a].sort((x, y) => x - y);
  return sortedQuantile(Float64Array.from(s), s.length, q);
}

describe('SlidingWindowQuantile', () => {
  it('matches a sort of the last `capacity` values after every push, ties and repeats included', () => {
    const r = rng(7);
    const w = new SlidingWindowQuantile(37);
    const all: number[] = [];
    for (let i = 0; i < 3000; i++) {
      const v = r() < 0.3 ? Math.floor(r() * 5) : r() * 100;
      if (i % 500 === 250) {
        w.pushRepeated(v, 12);
        for (let k = 0; k < 12; k++) all.push(v);
      } else {
        w.push(v);
        all.push(v);
      }
      const win = all.slice(-37);
      for (const q of [0, 0.1, 0.5, 0.9, 1]) expect(w.quantile(q)).toBeCloseTo(refQuantile(win, q), 12);
    }
  });

  it('a repeat longer than the window fills it with that value', () => {
    const w = new SlidingWindowQuantile(10);
    for (let i = 0; i < 10; i++) w.push(i);
    w.pushRepeated(3.5, 25);
    expect(w.size).toBe(10);
    expect(w.quantile(0)).toBe(3.5);
    expect(w.quantile(1)).toBe(3.5);
    w.push(100);
    expect(w.quantile(1)).toBe(100);
    expect(w.median()).toBe(3.5);
  });
});

describe('select and RollingQuantiles', () => {
  it('select finds the k-th smallest of arrays with many ties', () => {
    const r = rng(11);
    for (let t = 0; t < 200; t++) {
      const n = 1 + Math.floor(r() * 300);
      const a = Float64Array.from({ length: n }, () => (r() < 0.5 ? 100 : Math.floor(r() * 10) * 50));
      const sorted = [...a].sort((x, y) => x - y);
      const k = Math.floor(r() * n);
      expect(select(a, n, k)).toBe(sorted[k]);
      for (let i = 0; i < k; i++) expect(a[i]!).toBeLessThanOrEqual(a[k]!);
      for (let i = k + 1; i < n; i++) expect(a[i]!).toBeGreaterThanOrEqual(a[k]!);
    }
  });

  it('thresholds equal the quantiles of the last `capacity` values as of the last refresh', () => {
    const r = rng(3);
    const q = new RollingQuantiles(500, [0.95, 0.995], 50);
    const all: number[] = [];
    for (let i = 0; i < 5000; i++) {
      const v = Math.round(Math.exp(r() * 6));
      q.push(v);
      all.push(v);
      if (all.length % 50 === 0) {
        const win = all.slice(-500);
        expect(q.values[0]).toBeCloseTo(refQuantile(win, 0.95), 9);
        expect(q.values[1]).toBeCloseTo(refQuantile(win, 0.995), 9);
      }
    }
  });
});

describe('StepHistory', () => {
  it('max over a trailing window includes the value in force at its start', () => {
    const r = rng(5);
    const span = 100;
    const h = new StepHistory(span, 2, 4);
    const ts: number[] = [];
    const vs: number[][] = [];
    let t = 0;
    const out = new Float64Array(2);
    const v = new Float64Array(2);
    for (let i = 0; i < 4000; i++) {
      t += r() < 0.2 ? 0 : Math.floor(r() * 40);
      v[0] = Math.floor(r() * 1000);
      v[1] = r();
      h.record(t, v);
      ts.push(t);
      vs.push([v[0], v[1]]);
      const now = t + Math.floor(r() * 30);
      for (const j of [0, 1]) {
        // Reference: values set in (now - span, now], plus the last one set at or before now - span.
        let best = -Infinity;
        let k = ts.length - 1;
        for (; k >= 0 && ts[k]! > now - span; k--) best = Math.max(best, vs[k]![j]!);
        if (k >= 0) best = Math.max(best, vs[k]![j]!);
        h.max(j, now, out);
        expect(out[0]).toBe(best);
      }
    }
  });
});

describe('BucketCounter and TimeWindowSums', () => {
  it('bucket totals equal a brute-force count over the trailing buckets', () => {
    const r = rng(9);
    const c = new BucketCounter(100, 10, 2);
    const ev: [number, number][] = [];
    let t = 0;
    for (let i = 0; i < 5000; i++) {
      t += Math.floor(r() * (r() < 0.05 ? 3000 : 30));
      const kind = r() < 0.4 ? 0 : 1;
      c.advance(t);
      c.add(kind);
      ev.push([t, kind]);
      const b = Math.floor(t / 100);
      for (const k of [0, 1]) {
        const ref = ev.filter(([x, kk]) => kk === k && Math.floor(x / 100) > b - 10).length;
        if (i % 97 === 0) expect(c.total(k)).toBe(ref);
      }
    }
  });

  it('weighted means over a time window equal brute force, across regrowth and rebuilds', () => {
    const r = rng(13);
    const w = new TimeWindowSums(1000, 2, 2);
    const ev: [number, number, number, number][] = [];
    const x = new Float64Array(2);
    let t = 0;
    for (let i = 0; i < 20000; i++) {
      t += Math.floor(r() * 20);
      x[0] = r() * 10 - 5;
      x[1] = r();
      const wt = 1 + Math.floor(r() * 5);
      w.add(t, wt, x);
      ev.push([t, wt, x[0], x[1]]);
      w.expire(t);
      if (i % 211 === 0) {
        const live = ev.filter(([tt]) => tt > t - 1000);
        const W = live.reduce((s, e) => s + e[1], 0);
        expect(w.count).toBe(live.length);
        expect(w.mean(0)).toBeCloseTo(live.reduce((s, e) => s + e[1] * e[2], 0) / W, 9);
        expect(w.mean(1)).toBeCloseTo(live.reduce((s, e) => s + e[1] * e[3], 0) / W, 9);
      }
    }
  });
});

describe('normalCdf', () => {
  it('matches the standard normal CDF to 1e-7 (against numerical integration of the density)', () => {
    const pdf = (z: number) => Math.exp(-0.5 * z * z) / Math.sqrt(2 * Math.PI);
    for (const z of [-4, -2.5, -1.96, -1, -0.3, 0, 0.3, 1, 1.96, 2.5, 4]) {
      // Simpson's rule from -10 to z.
      const n = 20000;
      const a = -10;
      const hh = (z - a) / n;
      let s = pdf(a) + pdf(z);
      for (let i = 1; i < n; i++) s += (i % 2 ? 4 : 2) * pdf(a + i * hh);
      expect(Math.abs(normalCdf(z) - (s * hh) / 3)).toBeLessThan(2e-7);
    }
  });
});
