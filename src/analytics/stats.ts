/**
 * Streaming statistics the analytics share: fixed-capacity, typed-array backed, no allocation per
 * update. Each answers one question a detector asks ("what is normal lately", "how high was it in
 * the last 100 ms", "what is the 99.5th percentile of recent sizes").
 */

/**
 * The median (or any quantile) of the last `capacity` values pushed, kept as a sorted array beside
 * the FIFO ring: a push is one binary search and one memmove of at most `capacity` values, a
 * quantile read is O(1). For baselines sampled on a time grid (hundreds of values), not per event.
 */
export class SlidingWindowQuantile {
  private readonly ring: Float64Array;
  private readonly sorted: Float64Array;
  private head = 0;
  /** Values in the window (<= capacity). */
  size = 0;

  constructor(readonly capacity: number) {
    if (!(capacity >= 1 && Number.isInteger(capacity))) throw new RangeError(`window capacity must be a positive integer, got ${capacity}`);
    this.ring = new Float64Array(capacity);
    this.sorted = new Float64Array(capacity);
  }

  /** Adds a value (NaN is ignored), evicting the oldest once full. */
  push(v: number): void {
    if (v !== v) return;
    if (this.size === this.capacity) {
      const old = this.ring[this.head]!;
      this.removeSorted(old);
      this.ring[this.head] = v;
      this.head = (this.head + 1) % this.capacity;
    } else {
      this.ring[(this.head + this.size) % this.capacity] = v;
    }
    this.insertSorted(v);
  }

  /** Pushes the same value k times (a step function sampled over k grid points), at most `capacity`. */
  pushRepeated(v: number, k: number): void {
    if (v !== v || k <= 0) return;
    if (k >= this.capacity) {
      // The whole window is this value now.
      this.ring.fill(v);
      this.sorted.fill(v);
      this.head = 0;
      this.size = this.capacity;
      return;
    }
    for (let i = 0; i < k; i++) this.push(v);
  }

  median(): number {
    return this.quantile(0.5);
  }

  /** Quantile with linear interpolation between order statistics; NaN when empty. */
  quantile(q: number): number {
    return sortedQuantile(this.sorted, this.size, q);
  }

  clear(): void {
    this.size = 0;
    this.head = 0;
  }

  private insertSorted(v: number): void {
    const s = this.sorted;
    let lo = 0;
    let hi = this.size;
    while (lo < hi) {
      const m = (lo + hi) >>> 1;
      if (s[m]! < v) lo = m + 1;
      else hi = m;
    }
    s.copyWithin(lo + 1, lo, this.size);
    s[lo] = v;
    this.size++;
  }

  private removeSorted(v: number): void {
    const s = this.sorted;
    let lo = 0;
    let hi = this.size - 1;
    while (lo < hi) {
      const m = (lo + hi) >>> 1;
      if (s[m]! < v) lo = m + 1;
      else hi = m;
    }
    s.copyWithin(lo, lo + 1, this.size);
    this.size--;
  }
}

/** Quantile q of the first n values of an ascending array, linear interpolation (NumPy's default). */
export function sortedQuantile(sorted: Float64Array, n: number, q: number): number {
  if (n === 0) return NaN;
  const pos = q * (n - 1);
  const i = Math.floor(pos);
  const f = pos - i;
  const a = sorted[i]!;
  return f === 0 || i + 1 >= n ? a : a + f * (sorted[i + 1]! - a);
}

/**
 * Quantiles of the last `capacity` values of a per-event series (trade sizes, order sizes),
 * refreshed every `refreshEvery` pushes by selection on a copy (quickselect, O(capacity) per
 * refresh, a few operations per push amortised). Between refreshes the thresholds lag by at most
 * `refreshEvery` values, which is what "rolling percentile of the symbol" needs: a threshold, not
 * an exact order statistic per event.
 */
export class RollingQuantiles {
  private readonly ring: Float64Array;
  private readonly scratch: Float64Array;
  private head = 0;
  size = 0;
  private sinceRefresh = 0;
  /** The thresholds as of the last refresh, in the order of `qs`; NaN before the first. */
  readonly values: Float64Array;

  constructor(readonly capacity: number, readonly qs: readonly number[], readonly refreshEvery: number) {
    this.ring = new Float64Array(capacity);
    this.scratch = new Float64Array(capacity);
    this.values = new Float64Array(qs.length).fill(NaN);
  }

  push(v: number): void {
    if (v !== v) return;
    this.ring[this.head] = v;
    if (++this.head === this.capacity) this.head = 0;
    if (this.size < this.capacity) this.size++;
    if (++this.sinceRefresh >= this.refreshEvery) this.refresh();
  }

  refresh(): void {
    this.sinceRefresh = 0;
    const n = this.size;
    if (n === 0) return;
    const s = this.scratch;
    s.set(n === this.capacity ? this.ring : this.ring.subarray(0, n));
    for (let i = 0; i < this.qs.length; i++) {
      // Linear interpolation between order statistics i0 and i0 + 1 (as sortedQuantile).
      const pos = this.qs[i]! * (n - 1);
      const i0 = Math.floor(pos);
      const a = select(s, n, i0);
      let v = a;
      if (pos > i0 && i0 + 1 < n) {
        // After selection everything right of i0 is >= s[i0]: the next order statistic is their minimum.
        let b = Infinity;
        for (let k = i0 + 1; k < n; k++) if (s[k]! < b) b = s[k]!;
        v = a + (pos - i0) * (b - a);
      }
      this.values[i] = v;
    }
  }
}

/**
 * Rearranges a[0..n) so that a[k] is the k-th smallest, everything before it <= a[k] and
 * everything after >= a[k] (Hoare's quickselect, median-of-three pivots); returns a[k].
 */
export function select(a: Float64Array, n: number, k: number): number {
  let lo = 0;
  let hi = n - 1;
  while (hi > lo) {
    const mid = (lo + hi) >>> 1;
    // Median of three to the middle, as the pivot.
    if (a[mid]! < a[lo]!) swap(a, mid, lo);
    if (a[hi]! < a[lo]!) swap(a, hi, lo);
    if (a[hi]! < a[mid]!) swap(a, hi, mid);
    const pivot = a[mid]!;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i]! < pivot) i++;
      while (a[j]! > pivot) j--;
      if (i <= j) {
        swap(a, i, j);
        i++;
        j--;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return a[k]!;
  }
  return a[k]!;
}

function swap(a: Float64Array, i: number, j: number): void {
  const t = a[i]!;
  a[i] = a[j]!;
  a[j] = t;
}

/**
 * The recent history of a few step functions sampled at the same times (the book measures after
 * each row): a ring of (t, v[0..k)) holding at least the last `span` of time plus the entry in
 * force at its start. Recording is two array writes; the maximum over a trailing window is a
 * backward scan, done only when a detector is about to fire, so the per-row cost stays flat.
 */
export class StepHistory {
  private ts: Float64Array;
  private vs: Float64Array;
  private cap: number;
  private next = 0;

  constructor(readonly span: number, readonly k: number, initialCapacity = 64) {
    let c = 1;
    while (c < initialCapacity) c <<= 1;
    this.cap = c;
    this.ts = new Float64Array(c);
    this.vs = new Float64Array(c * k);
  }

  /** Records the k values (read from `v`) in force from time t on (t non-decreasing). */
  record(t: number, v: Float64Array): void {
    const m = this.cap - 1;
    // The slot about to be overwritten must be older than the window (and not the entry in force at its start).
    if (this.next >= this.cap) {
      const old = (this.next - this.cap + 1) & m;
      if (this.ts[old]! > t - this.span) this.grow();
    }
    const i = this.next & (this.cap - 1);
    this.ts[i] = t;
    const k = this.k;
    for (let j = 0; j < k; j++) this.vs[i * k + j] = v[j]!;
    this.next++;
  }

  /**
   * Maximum of series j over [now - span, now] (including the value in force at the window's
   * start) into out[0], and the time it was set (or the window start) into out[1]; NaN if empty.
   */
  max(j: number, now: number, out: Float64Array): void {
    const m = this.cap - 1;
    const start = now - this.span;
    let best = NaN;
    let at = NaN;
    const first = this.next > this.cap ? this.next - this.cap : 0;
    for (let s = this.next - 1; s >= first; s--) {
      const i = s & m;
      const v = this.vs[i * this.k + j]!;
      const t = this.ts[i]!;
      if (!(v <= best)) {
        best = v;
        at = t > start ? t : start;
      }
      if (t <= start) break;
    }
    out[0] = best;
    out[1] = at;
  }

  private grow(): void {
    const c = this.cap * 2;
    const k = this.k;
    const ts = new Float64Array(c);
    const vs = new Float64Array(c * k);
    const om = this.cap - 1;
    const first = this.next > this.cap ? this.next - this.cap : 0;
    for (let s = first; s < this.next; s++) {
      const o = s & om;
      const n = s & (c - 1);
      ts[n] = this.ts[o]!;
      for (let j = 0; j < k; j++) vs[n * k + j] = this.vs[o * k + j]!;
    }
    this.ts = ts;
    this.vs = vs;
    this.cap = c;
  }
}

/**
 * Counts of a few event kinds in fixed time buckets, summed over the trailing `nBuckets` buckets
 * (a sliding window at bucket resolution): 10 buckets of 100 ms give "the last second" updated
 * every 100 ms, without a queue of events.
 */
export class BucketCounter {
  private readonly counts: Float64Array;
  private readonly totals: Float64Array;
  /** Index of the current bucket (floor(t / bucketNs)); NaN before the first event. */
  private cur = NaN;
  /** Start of the next bucket: times before it need no work. */
  private nextStart = -Infinity;
  /** Offset of the current bucket's counts. */
  private slot = 0;

  constructor(readonly bucketNs: number, readonly nBuckets: number, readonly kinds: number) {
    this.counts = new Float64Array(nBuckets * kinds);
    this.totals = new Float64Array(kinds);
  }

  /** Moves the window to time t (drops buckets that fell out). Returns how many buckets started. */
  advance(t: number): number {
    if (t < this.nextStart) return 0;
    const b = Math.floor(t / this.bucketNs);
    this.nextStart = (b + 1) * this.bucketNs;
    if (this.cur !== this.cur) {
      this.cur = b;
      this.slot = (b % this.nBuckets) * this.kinds;
      return 0;
    }
    if (b <= this.cur) return 0;
    const steps = b - this.cur;
    const n = steps < this.nBuckets ? steps : this.nBuckets;
    const K = this.kinds;
    for (let s = 1; s <= n; s++) {
      const slot = ((this.cur + s) % this.nBuckets) * K;
      for (let k = 0; k < K; k++) {
        this.totals[k] -= this.counts[slot + k]!;
        this.counts[slot + k] = 0;
      }
    }
    this.cur = b;
    this.slot = (b % this.nBuckets) * this.kinds;
    return steps;
  }

  add(kind: number, v = 1): void {
    this.counts[this.slot + kind] += v;
    this.totals[kind] += v;
  }

  /** Sum of a kind over the window. */
  total(kind: number): number {
    // Guard against drift from repeated float subtraction of integer counts (none for integers < 2^53).
    const v = this.totals[kind]!;
    return v < 0 ? 0 : v;
  }

  get bucketIndex(): number {
    return this.cur;
  }
}

/**
 * Weighted sums over a trailing time window of per-event values (trade spreads by size): a FIFO of
 * (t, w, w*x per series); sums are kept incrementally and recomputed from the FIFO every few
 * thousand evictions so rounding cannot accumulate over a long day.
 */
export class TimeWindowSums {
  private ts: Float64Array;
  private ws: Float64Array;
  private xs: Float64Array;
  private cap: number;
  private first = 0;
  private next = 0;
  private evictions = 0;
  weight = 0;
  readonly sums: Float64Array;

  constructor(readonly span: number, readonly series: number, initialCapacity = 256) {
    let c = 1;
    while (c < initialCapacity) c <<= 1;
    this.cap = c;
    this.ts = new Float64Array(c);
    this.ws = new Float64Array(c);
    this.xs = new Float64Array(c * series);
    this.sums = new Float64Array(series);
  }

  get count(): number {
    return this.next - this.first;
  }

  /** Adds one event at time t with weight w and values x[0..series) (read from `x`). */
  add(t: number, w: number, x: Float64Array): void {
    if (this.next - this.first === this.cap) this.grow();
    const m = this.cap - 1;
    const seq = this.next++;
    const S = this.series;
    this.ts[seq & m] = t;
    this.ws[seq & m] = w;
    this.weight += w;
    for (let k = 0; k < S; k++) {
      const wx = w * x[k]!;
      this.xs[(seq & m) * S + k] = wx;
      this.sums[k] += wx;
    }
  }

  /** Drops events at or before now - span. */
  expire(now: number): void {
    const start = now - this.span;
    const m = this.cap - 1;
    const S = this.series;
    let dropped = false;
    while (this.first < this.next && this.ts[this.first & m]! <= start) {
      const i = this.first++ & m;
      this.weight -= this.ws[i]!;
      for (let k = 0; k < S; k++) this.sums[k] -= this.xs[i * S + k]!;
      dropped = true;
      this.evictions++;
    }
    if (dropped && this.evictions >= 4096) this.recompute();
  }

  /** Weighted mean of series k over the window; NaN when the window is empty. */
  mean(k: number): number {
    return this.weight > 0 ? this.sums[k]! / this.weight : NaN;
  }

  private recompute(): void {
    this.evictions = 0;
    const m = this.cap - 1;
    const S = this.series;
    this.weight = 0;
    this.sums.fill(0);
    for (let s = this.first; s < this.next; s++) {
      const i = s & m;
      this.weight += this.ws[i]!;
      for (let k = 0; k < S; k++) this.sums[k] += this.xs[i * S + k]!;
    }
  }

  private grow(): void {
    const c = this.cap * 2;
    const S = this.series;
    const ts = new Float64Array(c);
    const ws = new Float64Array(c);
    const xs = new Float64Array(c * S);
    const om = this.cap - 1;
    const nm = c - 1;
    for (let s = this.first; s < this.next; s++) {
      ts[s & nm] = this.ts[s & om]!;
      ws[s & nm] = this.ws[s & om]!;
      for (let k = 0; k < S; k++) xs[(s & nm) * S + k] = this.xs[(s & om) * S + k]!;
    }
    this.ts = ts;
    this.ws = ws;
    this.xs = xs;
    this.cap = c;
  }
}

/** Standard normal CDF (Abramowitz-Stegun 7.1.26 via erf; absolute error < 1.5e-7). */
export function normalCdf(z: number): number {
  const x = Math.abs(z) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * x);
  const y = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-x * x);
  return z >= 0 ? 0.5 * (1 + y) : 0.5 * (1 - y);
}
