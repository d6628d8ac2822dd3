/**
 * Timestamps inside flowcast are float64 nanoseconds relative to a TimeBase (a UTC midnight held as a
 * bigint). int64 epoch nanoseconds (~1.7e18) do not fit a double exactly, but offsets from a day
 * boundary do: every integer offset below 2^53 ns (~104 days) is exact, so bar alignment and the
 * `ts_ns` output column are exact while hot loops stay on plain numbers.
 */
export const NS_PER_MS = 1_000_000;
export const NS_PER_US = 1_000;
export const NS_PER_S = 1_000_000_000;
export const NS_PER_DAY = 86_400_000_000_000n;
const MAX_EXACT_OFFSET = Number.MAX_SAFE_INTEGER;

export class TimeBase {
  /** Epoch nanoseconds of offset 0; always a UTC midnight, hence a whole number of ms and µs. */
  readonly baseNs: bigint;
  readonly baseMs: number;
  readonly baseUs: number;
  readonly baseS: number;

  constructor(baseNs: bigint) {
    if (baseNs % NS_PER_DAY !== 0n) throw new RangeError(`time base ${baseNs} is not a UTC midnight`);
    this.baseNs = baseNs;
    this.baseMs = Number(baseNs / 1_000_000n);
    this.baseUs = Number(baseNs / 1_000n);
    this.baseS = Number(baseNs / 1_000_000_000n);
  }

  /** The UTC midnight at or before an epoch time given in milliseconds. */
  static ofEpochMs(ms: number): TimeBase {
    return new TimeBase(BigInt(Math.floor(ms / 86_400_000)) * NS_PER_DAY);
  }

  static ofEpochNs(ns: bigint): TimeBase {
    const day = ns >= 0n ? ns / NS_PER_DAY : (ns - NS_PER_DAY + 1n) / NS_PER_DAY;
    return new TimeBase(day * NS_PER_DAY);
  }

  fromEpochMs(ms: number): number {
    return this.check((ms - this.baseMs) * NS_PER_MS);
  }

  fromEpochUs(us: number): number {
    return this.check((us - this.baseUs) * NS_PER_US);
  }

  /** Seconds and nanoseconds-within-second, as split from a 19-digit epoch-ns string. */
  fromEpochSecNs(sec: number, ns: number): number {
    return this.check((sec - this.baseS) * NS_PER_S + ns);
  }

  fromEpochNs(ns: bigint): number {
    return this.check(Number(ns - this.baseNs));
  }

  toEpochNs(offset: number): bigint {
    return this.baseNs + BigInt(offset);
  }

  /** Approximate epoch milliseconds, for display and clocks (not exact below ~0.25 µs). */
  toEpochMs(offset: number): number {
    return this.baseMs + offset / NS_PER_MS;
  }

  /** ISO-8601 UTC text of an offset, millisecond precision. */
  toIso(offset: number): string {
    return new Date(Math.floor(this.toEpochMs(offset))).toISOString();
  }

  /**
   * Epoch-aligned bar index of an offset, relative to the base: bar k covers
   * [k*barNs - phase, (k+1)*barNs - phase) in offsets, where phase = baseNs mod barNs.
   */
  barPhase(barNs: number): number {
    return Number(this.baseNs % BigInt(barNs));
  }

  private check(offset: number): number {
    if (!(Math.abs(offset) <= MAX_EXACT_OFFSET)) {
      throw new RangeError(`timestamp is ${offset} ns from the time base ${this.toIsoBase()}: beyond the exact range of ~104 days`);
    }
    return offset;
  }

  private toIsoBase(): string {
    return new Date(this.baseMs).toISOString();
  }
}

/** A TimeBase fixed lazily by the first timestamp a source sees, then shared by every stream of a run. */
export class TimeBaseRef {
  private tb: TimeBase | undefined;
  constructor(initial?: TimeBase) {
    this.tb = initial;
  }
  get isSet(): boolean {
    return this.tb !== undefined;
  }
  get(): TimeBase {
    if (!this.tb) throw new Error('time base used before any timestamp was seen');
    return this.tb;
  }
  ensureMs(ms: number): TimeBase {
    return (this.tb ??= TimeBase.ofEpochMs(ms));
  }
  ensureNs(ns: bigint): TimeBase {
    return (this.tb ??= TimeBase.ofEpochNs(ns));
  }
}

/**
 * Offset (ms) of a named IANA zone from UTC at a UTC instant, from Node's ICU data; used to place
 * exchange-local clock times (LOBSTER: New York) on the UTC axis, DST included.
 */
export function zoneOffsetMs(timeZone: string, utcMs: number): number {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone,
    hourCycle: 'h23',
    year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit',
  }).formatToParts(new Date(utcMs));
  const get = (t: string): number => Number(parts.find((p) => p.type === t)!.value);
  const asUtc = Date.UTC(get('year'), get('month') - 1, get('day'), get('hour'), get('minute'), get('second'));
  return asUtc - Math.floor(utcMs / 1000) * 1000;
}

/** Epoch ns of local midnight of a calendar date (YYYY-MM-DD) in a zone. */
export function zonedMidnightNs(date: string, timeZone: string): bigint {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(date);
  if (!m) throw new RangeError(`not a date: ${date}`);
  const utcMidnight = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
  // The offset at local midnight: probe at UTC midnight, then correct once (DST never switches at 00:00 in NY).
  let off = zoneOffsetMs(timeZone, utcMidnight);
  off = zoneOffsetMs(timeZone, utcMidnight - off);
  return BigInt(utcMidnight - off) * 1_000_000n;
}

/** 20260124T141213Z: a UTC time for file names and model versions (sorts as it reads). */
export function compactUtcStamp(ms = Date.now()): string {
  return new Date(ms).toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
}
