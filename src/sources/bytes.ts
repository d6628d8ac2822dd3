/**
 * Number parsing straight from bytes (no string per field). Decimal text with at most 15 significant
 * digits is parsed as an exact integer mantissa divided by an exact power of ten: one correctly
 * rounded IEEE division, so the result is bit-identical to Number(text). Anything else (exponents,
 * longer mantissas) falls back to Number(text).
 */
const POW10 = [1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22];

/** Parses [start,end) as a decimal number; NaN for an empty or malformed field. */
export function parseDecimal(buf: Uint8Array, start: number, end: number): number {
  let i = start;
  if (i >= end) return NaN;
  let neg = false;
  let c = buf[i]!;
  if (c === 45 /* - */) { neg = true; i++; } else if (c === 43 /* + */) i++;
  let mant = 0;
  let digits = 0;
  let frac = 0;
  let seenDot = false;
  let any = false;
  for (; i < end; i++) {
    c = buf[i]!;
    if (c >= 48 && c <= 57) {
      any = true;
      if (digits === 0 && c === 48) { if (seenDot) frac++; continue; }
      mant = mant * 10 + (c - 48);
      digits++;
      if (seenDot) frac++;
    } else if (c === 46 /* . */ && !seenDot) {
      seenDot = true;
    } else {
      return slow(buf, start, end);
    }
  }
  if (!any) return NaN;
  if (digits > 15 || frac > 22) return slow(buf, start, end);
  const v = frac === 0 ? mant : mant / POW10[frac]!;
  return neg ? -v : v;
}

function slow(buf: Uint8Array, start: number, end: number): number {
  const s = Buffer.from(buf.buffer, buf.byteOffset + start, end - start).toString('latin1').trim();
  if (s === '') return NaN;
  const v = Number(s);
  return v;
}

/**
 * Parses "SSSSS.fffffffff" (seconds with decimals) into integer nanoseconds, exact for up to 9
 * decimals; further decimals (float artefacts such as 43002.632812672004) round to the nearest ns.
 * NaN if malformed.
 */
export function parseSecondsToNs(buf: Uint8Array, start: number, end: number): number {
  let sec = 0;
  let i = start;
  let any = false;
  for (; i < end; i++) {
    const c = buf[i]!;
    if (c === 46) break;
    if (c < 48 || c > 57) return NaN;
    sec = sec * 10 + (c - 48);
    any = true;
  }
  let ns = 0;
  let n = 0;
  let roundUp = false;
  if (i < end) {
    for (i++; i < end; i++) {
      const c = buf[i]!;
      if (c < 48 || c > 57) return NaN;
      any = true;
      if (n < 9) ns = ns * 10 + (c - 48);
      else if (n === 9) roundUp = c >= 53;
      n++;
    }
  }
  if (!any) return NaN;
  for (; n < 9; n++) ns *= 10;
  return sec * 1e9 + ns + (roundUp ? 1 : 0);
}

/** Parses an unsigned integer below 2^53 (exact); NaN otherwise. */
export function parseUint(buf: Uint8Array, start: number, end: number): number {
  if (end <= start || end - start > 16) return NaN;
  let v = 0;
  for (let i = start; i < end; i++) {
    const c = buf[i]!;
    if (c < 48 || c > 57) return NaN;
    v = v * 10 + (c - 48);
  }
  return v <= Number.MAX_SAFE_INTEGER ? v : NaN;
}

/**
 * Splits a 19-digit epoch-nanosecond field into whole seconds and nanoseconds (each exact), since
 * the whole value exceeds 2^53. Writes into out[0], out[1]; returns false if malformed.
 */
export function parseEpochNsParts(buf: Uint8Array, start: number, end: number, out: Float64Array): boolean {
  const len = end - start;
  if (len < 10 || len > 20) return false;
  const split = end - 9;
  const sec = parseUint(buf, start, split);
  const ns = parseUint(buf, split, end);
  if (Number.isNaN(sec) || Number.isNaN(ns)) return false;
  out[0] = sec;
  out[1] = ns;
  return true;
}

/**
 * Finds comma-separated field boundaries of [start,end) into `bounds` (pairs start,end);
 * returns the field count. Fields are not unquoted (the formats read here have no quoting).
 */
export function splitFields(buf: Uint8Array, start: number, end: number, bounds: Int32Array): number {
  let n = 0;
  let fs = start;
  const max = bounds.length >> 1;
  for (let i = start; i < end; i++) {
    if (buf[i] === 44) {
      if (n < max) { bounds[2 * n] = fs; bounds[2 * n + 1] = i; }
      n++;
      fs = i + 1;
    }
  }
  if (n < max) { bounds[2 * n] = fs; bounds[2 * n + 1] = end; }
  return n + 1;
}
