/**
 * A strict msgpack reader for conformance tests, independent of msgpackr: it accepts only what
 * docs/protocol.md says frames contain (maps with string keys, arrays, strings, integers, float64,
 * booleans, nil) and records how every number was encoded, so a test can tell an integer from a
 * float64 with the same value. Extension types (0xc7-0xc9, 0xd4-0xd8), bin, float32 and reserved
 * bytes throw, naming the byte offset and the path of the value.
 */
export type NumberKind = 'int' | 'float64';

export interface StrictDecoded {
  value: unknown;
  /** How each number was encoded, by its path (`ts`, `limits.maxSubscriptions`, `v.3`). */
  numbers: Map<string, NumberKind>;
}

export function decodeStrict(bytes: Uint8Array): StrictDecoded {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const numbers = new Map<string, NumberKind>();
  let pos = 0;
  const fail = (why: string, path: string): never => {
    throw new Error(`${why} at byte ${pos} (path "${path}")`);
  };
  const need = (n: number, path: string): void => {
    if (pos + n > bytes.length) fail('truncated', path);
  };
  const str = (n: number, path: string): string => {
    need(n, path);
    const s = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(pos, pos + n));
    pos += n;
    return s;
  };
  const int = (v: number | bigint, path: string): number => {
    const n = Number(v);
    if (!Number.isSafeInteger(n)) fail(`integer ${v} beyond 2^53`, path);
    numbers.set(path, 'int');
    return n;
  };
  const map = (n: number, path: string): Record<string, unknown> => {
    const o: Record<string, unknown> = {};
    for (let i = 0; i < n; i++) {
      const k = read(`${path}<key>`);
      if (typeof k !== 'string') fail('map key is not a string', path);
      o[k as string] = read(path ? `${path}.${k as string}` : (k as string));
    }
    return o;
  };
  const arr = (n: number, path: string): unknown[] => {
    const a: unknown[] = [];
    for (let i = 0; i < n; i++) a.push(read(path ? `${path}.${i}` : String(i)));
    return a;
  };
  const read = (path: string): unknown => {
    need(1, path);
    const b = bytes[pos++]!;
    if (b <= 0x7f) return int(b, path);
    if (b >= 0xe0) return int(b - 0x100, path);
    if ((b & 0xf0) === 0x80) return map(b & 0x0f, path);
    if ((b & 0xf0) === 0x90) return arr(b & 0x0f, path);
    if ((b & 0xe0) === 0xa0) return str(b & 0x1f, path);
    let v: number | bigint;
    switch (b) {
      case 0xc0: return null;
      case 0xc2: return false;
      case 0xc3: return true;
      case 0xcb:
        need(8, path);
        v = view.getFloat64(pos);
        pos += 8;
        numbers.set(path, 'float64');
        return v;
      case 0xcc: need(1, path); v = view.getUint8(pos); pos += 1; return int(v, path);
      case 0xcd: need(2, path); v = view.getUint16(pos); pos += 2; return int(v, path);
      case 0xce: need(4, path); v = view.getUint32(pos); pos += 4; return int(v, path);
      case 0xcf: need(8, path); v = view.getBigUint64(pos); pos += 8; return int(v, path);
      case 0xd0: need(1, path); v = view.getInt8(pos); pos += 1; return int(v, path);
      case 0xd1: need(2, path); v = view.getInt16(pos); pos += 2; return int(v, path);
      case 0xd2: need(4, path); v = view.getInt32(pos); pos += 4; return int(v, path);
      case 0xd3: need(8, path); v = view.getBigInt64(pos); pos += 8; return int(v, path);
      case 0xd9: need(1, path); v = view.getUint8(pos); pos += 1; return str(v, path);
      case 0xda: need(2, path); v = view.getUint16(pos); pos += 2; return str(v, path);
      case 0xdb: need(4, path); v = view.getUint32(pos); pos += 4; return str(v, path);
      case 0xdc: need(2, path); v = view.getUint16(pos); pos += 2; return arr(v, path);
      case 0xdd: need(4, path); v = view.getUint32(pos); pos += 4; return arr(v, path);
      case 0xde: need(2, path); v = view.getUint16(pos); pos += 2; return map(v, path);
      case 0xdf: need(4, path); v = view.getUint32(pos); pos += 4; return map(v, path);
    }
    if ((b >= 0xc7 && b <= 0xc9) || (b >= 0xd4 && b <= 0xd8)) {
      return fail(`extension type (0x${b.toString(16)})`, path);
    }
    return fail(`byte 0x${b.toString(16)} is not allowed in a frame`, path);
  };
  const value = read('');
  if (pos !== bytes.length) throw new Error(`${bytes.length - pos} bytes after the value`);
  return { value, numbers };
}
