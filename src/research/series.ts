/**
 * The series the research statistics read, from feature rows of one symbol: log mid, mid log
 * returns and order-flow imbalance, either per event (one value per feature row: each book update
 * that makes a row) or on a clock (the last mid at or before each tick; OFI summed over the rows in
 * (tick - Δ, tick]). Ticks sit at whole multiples of Δ from a shared base, so two symbols or venues
 * sampled with the same base and Δ line up tick for tick.
 */

export interface SymbolRows {
  /** Row times: ns since `baseNs`, increasing. */
  ts: ArrayLike<number>;
  mid: ArrayLike<number>;
  /** Level-1 OFI of each row (Cont, Kukanov & Stoikov 2014): the features' `ofi_1`. */
  ofi: ArrayLike<number>;
}

export interface Sampled {
  /** 'event' or the clock step in ns. */
  clock: 'event' | number;
  /** Times of the points (ns since the base): the tick, or the row's time. */
  t: Float64Array;
  logMid: Float64Array;
  /** ret[i] = logMid[i+1] - logMid[i]; ofi[i] is the OFI that arrived over the same step. */
  ret: Float64Array;
  ofi: Float64Array;
  /** Clock only: intervals in which no row arrived (the mid is carried over). */
  emptyIntervals?: number;
}

/** Per event: rows with a mid (one-sided books have none); OFI of row i+1 goes with the return from row i to i+1. */
export function sampleEvents(rows: SymbolRows): Sampled {
  const t: number[] = [], lm: number[] = [], of: number[] = [];
  for (let i = 0; i < rows.ts.length; i++) {
    const m = rows.mid[i]!;
    if (!(m > 0)) continue;
    t.push(rows.ts[i]!);
    lm.push(Math.log(m));
    const o = rows.ofi[i]!;
    of.push(o === o ? o : 0);
  }
  const n = lm.length;
  const ret = new Float64Array(Math.max(0, n - 1)), ofi = new Float64Array(Math.max(0, n - 1));
  for (let i = 1; i < n; i++) {
    ret[i - 1] = lm[i]! - lm[i - 1]!;
    ofi[i - 1] = of[i]!;
  }
  return { clock: 'event', t: Float64Array.from(t), logMid: Float64Array.from(lm), ret, ofi };
}

/**
 * On a clock of step `every` ns, ticks at k·every (ns since the base) from `from` to `to` (both
 * ticks); the first tick must have a mid at or before it.
 */
export function sampleClock(rows: SymbolRows, every: number, from: number, to: number): Sampled {
  if (!(every > 0)) throw new Error(`sampling: clock step ${every} ns`);
  const count = Math.floor((to - from) / every) + 1;
  if (count < 2) throw new Error(`sampling: ${count} ticks between ${from} and ${to} ns at ${every} ns`);
  const t = new Float64Array(count), logMid = new Float64Array(count), flow = new Float64Array(count);
  let i = 0, last = NaN, empty = 0;
  const n = rows.ts.length;
  for (let k = 0; k < count; k++) {
    const tick = from + k * every;
    let seen = false, sum = 0;
    while (i < n && rows.ts[i]! <= tick) {
      const m = rows.mid[i]!;
      if (m > 0) last = m;
      const o = rows.ofi[i]!;
      if (o === o) sum += o;
      seen = true;
      i++;
    }
    if (k > 0 && !seen) empty++;
    if (!(last > 0)) throw new Error(`sampling: no mid at or before the tick at ${tick} ns`);
    t[k] = tick;
    logMid[k] = Math.log(last);
    flow[k] = sum;
  }
  const ret = new Float64Array(count - 1), ofi = new Float64Array(count - 1);
  for (let k = 1; k < count; k++) {
    ret[k - 1] = logMid[k]! - logMid[k - 1]!;
    ofi[k - 1] = flow[k]!;
  }
  return { clock: every, t, logMid, ret, ofi, emptyIntervals: empty };
}

/** The first and last ticks (multiples of `every`) covered by rows: the first at or after the first mid. */
export function clockSpan(rows: SymbolRows, every: number): { from: number; to: number } {
  let first = NaN;
  for (let i = 0; i < rows.ts.length; i++) if (rows.mid[i]! > 0) {
    first = rows.ts[i]!;
    break;
  }
  const lastT = rows.ts[rows.ts.length - 1]!;
  if (first !== first) throw new Error('sampling: no row has a mid');
  return { from: Math.ceil(first / every) * every, to: Math.floor(lastT / every) * every };
}

/** '1s', '100ms', '250us', '5m' -> ns; 'event' -> 'event'. */
export function parseEvery(s: string): 'event' | number {
  if (s === 'event') return 'event';
  const m = /^(\d+(?:\.\d+)?)(ns|us|ms|s|m)$/.exec(s);
  if (!m) throw new Error(`expected "event" or a duration like 1s, 100ms, 500us, 1m; got "${s}"`);
  const unit = { ns: 1, us: 1e3, ms: 1e6, s: 1e9, m: 60e9 }[m[2] as 'ns' | 'us' | 'ms' | 's' | 'm'];
  const v = Number(m[1]) * unit;
  if (!(v >= 1)) throw new Error(`duration "${s}" is below 1 ns`);
  return Math.round(v);
}

export function formatEvery(clock: 'event' | number): string {
  if (clock === 'event') return 'per event';
  for (const [u, f] of [['m', 60e9], ['s', 1e9], ['ms', 1e6], ['us', 1e3]] as const) if (clock % f === 0) return `every ${clock / f}${u}`;
  return `every ${clock}ns`;
}
