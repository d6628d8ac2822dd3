/**
 * What the bundled strategies share: reading their parameters (from `--param k=v`, where every
 * value may arrive as a string, or from JSON), the time forms users write, and the price and size
 * grids they must place orders on. Pure functions, so the rules are tested on their own.
 */
import type { BookView } from '../strategy.ts';
import { NS_PER_S } from '../../model/time.ts';

export type Params = Record<string, string | number | boolean>;

/** A parameter error that names the strategy, the parameter and what was wrong. */
export class StrategyParamError extends Error {
  constructor(strategy: string, param: string, message: string) {
    super(`strategy ${strategy}: parameter ${param}: ${message}`);
    this.name = 'StrategyParamError';
  }
}

/**
 * Reads the parameters of one strategy and refuses names it does not know: a misspelt
 * `maxPositon=5` would otherwise run silently with the default limit.
 */
export class ParamReader {
  private readonly used = new Set<string>();

  constructor(readonly strategy: string, private readonly params: Params) {}

  num(name: string, def: number, range: { min?: number; max?: number; integer?: boolean } = {}): number {
    this.used.add(name);
    const raw = this.params[name];
    if (raw === undefined || raw === '') return def;
    const v = typeof raw === 'number' ? raw : typeof raw === 'string' ? Number(raw) : NaN;
    if (!Number.isFinite(v)) throw new StrategyParamError(this.strategy, name, `expected a number, got ${JSON.stringify(raw)}`);
    if (range.integer && !Number.isInteger(v)) throw new StrategyParamError(this.strategy, name, `expected an integer, got ${v}`);
    if (range.min !== undefined && v < range.min) throw new StrategyParamError(this.strategy, name, `must be >= ${range.min}, got ${v}`);
    if (range.max !== undefined && v > range.max) throw new StrategyParamError(this.strategy, name, `must be <= ${range.max}, got ${v}`);
    return v;
  }

  /** A number that has no default: undefined when absent. */
  optNum(name: string, range: { min?: number; max?: number } = {}): number | undefined {
    this.used.add(name);
    return this.params[name] === undefined || this.params[name] === '' ? undefined : this.num(name, NaN, range);
  }

  str(name: string, def: string): string;
  str(name: string, def?: string): string | undefined;
  str(name: string, def?: string): string | undefined {
    this.used.add(name);
    const raw = this.params[name];
    if (raw === undefined || raw === '') return def;
    return String(raw);
  }

  oneOf<T extends string>(name: string, def: T, allowed: readonly T[]): T {
    const v = this.str(name, def);
    if (!(allowed as readonly string[]).includes(v)) throw new StrategyParamError(this.strategy, name, `expected one of ${allowed.join(', ')}, got ${JSON.stringify(v)}`);
    return v as T;
  }

  bool(name: string, def: boolean): boolean {
    this.used.add(name);
    const raw = this.params[name];
    if (raw === undefined || raw === '') return def;
    if (typeof raw === 'boolean') return raw;
    if (raw === 'true' || raw === '1' || raw === 1) return true;
    if (raw === 'false' || raw === '0' || raw === 0) return false;
    throw new StrategyParamError(this.strategy, name, `expected true or false, got ${JSON.stringify(raw)}`);
  }

  /** A duration (`30s`, `5m`, `1h`, `250ms`, or a bare number of seconds) in ns. */
  duration(name: string, def: number): number {
    this.used.add(name);
    const raw = this.params[name];
    if (raw === undefined || raw === '') return def;
    const v = parseDuration(raw);
    if (v === undefined || v < 0) throw new StrategyParamError(this.strategy, name, `expected a duration like 30s, 5m, 1h or 250ms, got ${JSON.stringify(raw)}`);
    return v;
  }

  /** Call after reading every parameter: an unknown name is an error. */
  done(): void {
    const unknown = Object.keys(this.params).filter((k) => !this.used.has(k));
    if (unknown.length) {
      throw new StrategyParamError(this.strategy, unknown.join(', '), `unknown (known: ${[...this.used].sort().join(', ')})`);
    }
  }
}

const UNIT_NS: Record<string, number> = { ns: 1, us: 1e3, ms: 1e6, s: NS_PER_S, m: 60 * NS_PER_S, h: 3600 * NS_PER_S };

/** `30s` / `5m` / `1.5h` / `250ms` / a bare number (seconds) to ns; undefined when it is none of those. */
export function parseDuration(raw: string | number | boolean): number | undefined {
  if (typeof raw === 'number') return Number.isFinite(raw) ? raw * NS_PER_S : undefined;
  if (typeof raw !== 'string') return undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ns|us|ms|s|m|h)?\s*$/.exec(raw);
  if (!m) return undefined;
  return Math.round(Number(m[1]) * UNIT_NS[m[2] ?? 's']!);
}

/**
 * When a parent order starts or ends. `HH:MM[:SS]` is a UTC time of day (event times are ns since
 * the run's UTC midnight; LOBSTER's New York times are converted, so GOOG's 09:30 open is 13:30);
 * `+DURATION` is an offset from an anchor (the first book the strategy sees for `start`, the start
 * for `end`).
 */
export type TimeSpec = { kind: 'timeOfDay'; ns: number } | { kind: 'offset'; ns: number };

export function parseTimeSpec(raw: string | number | boolean): TimeSpec | undefined {
  if (typeof raw === 'string') {
    const tod = /^\s*(\d{1,2}):(\d{2})(?::(\d{2}(?:\.\d+)?))?\s*$/.exec(raw);
    if (tod) {
      const h = Number(tod[1]), m = Number(tod[2]), s = Number(tod[3] ?? 0);
      if (h > 23 || m > 59 || s >= 60) return undefined;
      return { kind: 'timeOfDay', ns: Math.round((h * 3600 + m * 60 + s) * NS_PER_S) };
    }
    if (raw.trim().startsWith('+')) {
      const d = parseDuration(raw.trim().slice(1));
      return d === undefined ? undefined : { kind: 'offset', ns: d };
    }
  }
  return undefined;
}

/** The time a TimeSpec names: an offset from the anchor, or a time of day on the anchor's day. */
export function resolveTime(spec: TimeSpec, anchor: number): number {
  if (spec.kind === 'offset') return anchor + spec.ns;
  // The anchor's own day: a run that crosses midnight resolves a time of day on the day it starts.
  const day = Math.floor(anchor / (86_400 * NS_PER_S)) * 86_400 * NS_PER_S;
  return day + spec.ns;
}

/** Decimal places of a grid step (0.01 -> 2, 0.5 -> 1, 1 -> 0), so prices print and compare as the venue's do. */
export function decimalsOf(step: number): number {
  for (let d = 0; d <= 12; d++) {
    const scaled = step * 10 ** d;
    if (Math.abs(scaled - Math.round(scaled)) < 1e-9 * Math.max(1, scaled)) return d;
  }
  return 12;
}

/**
 * A price on the tick grid, as the double the venue's decimal string parses to. Snapping by
 * Math.round(p / tick) * tick alone leaves values like 580.1200000000001 that never equal a book
 * level's price.
 */
export function onTick(p: number, tick: number, mode: 'down' | 'up' | 'nearest'): number {
  const x = p / tick;
  // Within 1e-9 ticks of a grid point counts as on it: the division itself rounds.
  const k = mode === 'down' ? Math.floor(x + 1e-9) : mode === 'up' ? Math.ceil(x - 1e-9) : Math.round(x);
  return Number((k * tick).toFixed(decimalsOf(tick)));
}

/** A quantity rounded down to the lot (lot 0 = no grid). */
export function onLot(q: number, lot: number): number {
  if (!(lot > 0)) return q;
  return Number((Math.floor(q / lot + 1e-9) * lot).toFixed(decimalsOf(lot)));
}

/**
 * The smallest positive gap between adjacent levels of a book: an upper bound on the tick that
 * becomes the tick once any two neighbouring levels are one tick apart (every liquid book soon
 * has). NaN when the book has fewer than two levels on both sides.
 */
export function minLevelGap(book: BookView): number {
  let gap = Infinity;
  for (let i = 1; i < book.nBids; i++) {
    const g = book.bidPx[i - 1]! - book.bidPx[i]!;
    if (g > 0 && g < gap) gap = g;
  }
  for (let i = 1; i < book.nAsks; i++) {
    const g = book.askPx[i]! - book.askPx[i - 1]!;
    if (g > 0 && g < gap) gap = g;
  }
  if (book.nBids > 0 && book.nAsks > 0) {
    const g = book.askPx[0]! - book.bidPx[0]!;
    if (g > 0 && g < gap) gap = g;
  }
  if (!Number.isFinite(gap)) return NaN;
  // The subtraction of two decimal prices is not exactly the decimal gap: 0.010000000000218279.
  return Number(gap.toPrecision(8));
}

/** The size grid a book shows: 10^-d for the most decimals among its sizes (shares: 1; BTC: 0.001 or finer). */
export function sizeStep(book: BookView): number {
  let d = 0;
  const look = (a: ArrayLike<number>, n: number) => {
    for (let i = 0; i < n; i++) d = Math.max(d, decimalsOf(a[i]!));
  };
  look(book.bidSz, book.nBids);
  look(book.askSz, book.nAsks);
  return Number((10 ** -Math.min(d, 8)).toFixed(Math.min(d, 8)));
}

/** Mid of the touch; NaN when a side is empty. */
export function midOf(book: BookView): number {
  return book.nBids > 0 && book.nAsks > 0 ? (book.bidPx[0]! + book.askPx[0]!) / 2 : NaN;
}

/**
 * The size-weighted microprice of the touch, (bid * askSize + ask * bidSize) / (bidSize + askSize):
 * it leans towards the side whose queue is thinner, the side the price is likelier to move to.
 */
export function micropriceOf(book: BookView): number {
  if (book.nBids === 0 || book.nAsks === 0) return NaN;
  const b = book.bidPx[0]!, a = book.askPx[0]!, bs = book.bidSz[0]!, as = book.askSz[0]!;
  if (!(bs + as > 0)) return (a + b) / 2;
  return (b * as + a * bs) / (bs + as);
}

/**
 * The price and size grids of a symbol, given by the user or learnt from the books seen: the tick
 * only shrinks (a gap of two ticks between two levels is seen before one of one tick), the lot is
 * fixed from the first book.
 */
export class Grid {
  private learntTick = NaN;
  private learntLot = NaN;

  constructor(private readonly fixedTick?: number, private readonly fixedLot?: number) {}

  observe(book: BookView): void {
    if (this.fixedTick === undefined) {
      const g = minLevelGap(book);
      if (g > 0 && !(g >= this.learntTick)) this.learntTick = g;
    }
    if (this.fixedLot === undefined && this.learntLot !== this.learntLot && book.nBids + book.nAsks > 0) this.learntLot = sizeStep(book);
  }

  get tick(): number {
    return this.fixedTick ?? this.learntTick;
  }

  get lot(): number {
    return this.fixedLot ?? (this.learntLot === this.learntLot ? this.learntLot : 0);
  }
}
