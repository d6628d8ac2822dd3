/**
 * Protocol Buffers wire format, the small part ONNX needs: varints (int32/int64/enums), fixed32
 * floats, fixed64 doubles, length-delimited bytes/strings/sub-messages, packed repeated scalars.
 * No schema compiler and no dependency: the ONNX messages in proto.ts are written by hand on top.
 *
 * int64 values arrive as JS numbers (exact up to 2^53, which covers every dim, attribute and
 * opset version ONNX models use here); negative values are written as 10-byte two's-complement
 * varints, as protobuf does.
 */

export const enum WireType {
  Varint = 0,
  Fixed64 = 1,
  Bytes = 2,
  Fixed32 = 5,
}

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

/** An append-only byte buffer with protobuf field writers. */
export class ProtoWriter {
  private buf = new Uint8Array(256);
  private view = new DataView(this.buf.buffer);
  private len = 0;

  get length(): number {
    return this.len;
  }

  finish(): Uint8Array {
    return this.buf.slice(0, this.len);
  }

  private reserve(extra: number): void {
    const need = this.len + extra;
    if (need <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < need) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  private tag(field: number, wire: WireType): void {
    this.rawVarint(field * 8 + wire);
  }

  /** A non-negative integer below 2^53, or a negative int64 (10-byte two's complement). */
  rawVarint(v: number): void {
    if (!Number.isInteger(v)) throw new RangeError(`varint must be an integer, got ${v}`);
    if (v < 0) {
      this.rawVarint64(BigInt.asUintN(64, BigInt(v)));
      return;
    }
    if (v > Number.MAX_SAFE_INTEGER) throw new RangeError(`varint ${v} exceeds 2^53`);
    this.reserve(10);
    while (v >= 0x80) {
      this.buf[this.len++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[this.len++] = v;
  }

  private rawVarint64(v: bigint): void {
    this.reserve(10);
    while (v >= 0x80n) {
      this.buf[this.len++] = Number(v & 0x7fn) | 0x80;
      v >>= 7n;
    }
    this.buf[this.len++] = Number(v);
  }

  rawBytes(b: Uint8Array): void {
    this.reserve(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }

  varint(field: number, v: number): void {
    this.tag(field, WireType.Varint);
    this.rawVarint(v);
  }

  float(field: number, v: number): void {
    this.tag(field, WireType.Fixed32);
    this.reserve(4);
    this.view.setFloat32(this.len, v, true);
    this.len += 4;
  }

  double(field: number, v: number): void {
    this.tag(field, WireType.Fixed64);
    this.reserve(8);
    this.view.setFloat64(this.len, v, true);
    this.len += 8;
  }

  bytes(field: number, b: Uint8Array): void {
    this.tag(field, WireType.Bytes);
    this.rawVarint(b.length);
    this.rawBytes(b);
  }

  string(field: number, s: string): void {
    this.bytes(field, utf8.encode(s));
  }

  /** A sub-message: encoded by `write` into its own buffer, then length-prefixed. */
  message(field: number, write: (w: ProtoWriter) => void): void {
    const sub = new ProtoWriter();
    write(sub);
    this.tag(field, WireType.Bytes);
    this.rawVarint(sub.len);
    this.rawBytes(sub.buf.subarray(0, sub.len));
  }

  /** Repeated varints, packed (one length-delimited field). */
  packedVarints(field: number, values: ArrayLike<number>): void {
    if (values.length === 0) return;
    const sub = new ProtoWriter();
    for (let i = 0; i < values.length; i++) sub.rawVarint(values[i]!);
    this.bytes(field, sub.finish());
  }

  packedFloats(field: number, values: ArrayLike<number>): void {
    if (values.length === 0) return;
    const f = values instanceof Float32Array ? values : Float32Array.from(values);
    this.bytes(field, littleEndianBytes(f));
  }

  packedDoubles(field: number, values: ArrayLike<number>): void {
    if (values.length === 0) return;
    const f = values instanceof Float64Array ? values : Float64Array.from(values);
    this.bytes(field, littleEndianBytes(f));
  }
}

/** The bytes of a typed array in little-endian order (the wire order of ONNX raw_data). */
export function littleEndianBytes(a: Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array): Uint8Array {
  if (IS_LITTLE_ENDIAN) return new Uint8Array(a.buffer, a.byteOffset, a.byteLength).slice();
  /* c8 ignore next 8 */
  const out = new Uint8Array(a.byteLength);
  const dv = new DataView(out.buffer);
  const size = a.BYTES_PER_ELEMENT;
  for (let i = 0; i < a.length; i++) {
    const src = new Uint8Array(a.buffer, a.byteOffset + i * size, size);
    for (let b = 0; b < size; b++) dv.setUint8(i * size + b, src[size - 1 - b]!);
  }
  return out;
}

const IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** One field as read from the wire: varints as numbers (or bigint beyond 2^53), the rest raw. */
export type WireValue = { wire: WireType.Varint; v: number | bigint } | { wire: WireType.Fixed32; v: Uint8Array } |
  { wire: WireType.Fixed64; v: Uint8Array } | { wire: WireType.Bytes; v: Uint8Array };

/**
 * Reads a message's fields in order, keyed by field number. Enough to inspect any ONNX file
 * (unknown fields are kept, not interpreted). Throws a RangeError naming the byte offset on
 * malformed input.
 */
export function readFields(buf: Uint8Array): Map<number, WireValue[]> {
  const out = new Map<number, WireValue[]>();
  let p = 0;
  const varint = (): number | bigint => {
    let result = 0n;
    let shift = 0n;
    for (let i = 0; i < 10; i++) {
      if (p >= buf.length) throw new RangeError(`protobuf: truncated varint at byte ${p}`);
      const b = buf[p++]!;
      result |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) return result <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(result) : result;
      shift += 7n;
    }
    throw new RangeError(`protobuf: varint longer than 10 bytes at byte ${p}`);
  };
  const take = (n: number): Uint8Array => {
    if (p + n > buf.length) throw new RangeError(`protobuf: field of ${n} bytes runs past the end at byte ${p}`);
    const s = buf.subarray(p, p + n);
    p += n;
    return s;
  };
  while (p < buf.length) {
    const key = Number(varint());
    const field = Math.floor(key / 8);
    const wire = key % 8;
    if (field === 0) throw new RangeError(`protobuf: field number 0 at byte ${p}`);
    let value: WireValue;
    if (wire === WireType.Varint) value = { wire, v: varint() };
    else if (wire === WireType.Fixed32) value = { wire, v: take(4) };
    else if (wire === WireType.Fixed64) value = { wire, v: take(8) };
    else if (wire === WireType.Bytes) value = { wire, v: take(Number(varint())) };
    else throw new RangeError(`protobuf: unsupported wire type ${wire} for field ${field} at byte ${p}`);
    let list = out.get(field);
    if (!list) out.set(field, (list = []));
    list.push(value);
  }
  return out;
}

/** Typed accessors over readFields' output. */
export class FieldReader {
  constructor(private readonly fields: Map<number, WireValue[]>) {}

  static of(buf: Uint8Array): FieldReader {
    return new FieldReader(readFields(buf));
  }

  has(field: number): boolean {
    return this.fields.has(field);
  }

  private last(field: number): WireValue | undefined {
    const l = this.fields.get(field);
    return l ? l[l.length - 1] : undefined;
  }

  /** A varint as a signed int64 number (two's complement beyond 2^63 turns negative). */
  int(field: number, dflt = 0): number {
    const v = this.last(field);
    if (!v) return dflt;
    if (v.wire !== WireType.Varint) throw new RangeError(`protobuf: field ${field} is not a varint`);
    return toSigned(v.v);
  }

  float(field: number, dflt = 0): number {
    const v = this.last(field);
    if (!v) return dflt;
    if (v.wire !== WireType.Fixed32) throw new RangeError(`protobuf: field ${field} is not a fixed32`);
    return new DataView(v.v.buffer, v.v.byteOffset, 4).getFloat32(0, true);
  }

  bytes(field: number): Uint8Array | undefined {
    const v = this.last(field);
    if (!v) return undefined;
    if (v.wire !== WireType.Bytes) throw new RangeError(`protobuf: field ${field} is not length-delimited`);
    return v.v;
  }

  string(field: number, dflt = ''): string {
    const b = this.bytes(field);
    return b ? utf8Decoder.decode(b) : dflt;
  }

  messages(field: number): FieldReader[] {
    return (this.fields.get(field) ?? []).map((v) => {
      if (v.wire !== WireType.Bytes) throw new RangeError(`protobuf: field ${field} is not a message`);
      return FieldReader.of(v.v);
    });
  }

  message(field: number): FieldReader | undefined {
    const b = this.bytes(field);
    return b ? FieldReader.of(b) : undefined;
  }

  strings(field: number): string[] {
    return (this.fields.get(field) ?? []).map((v) => {
      if (v.wire !== WireType.Bytes) throw new RangeError(`protobuf: field ${field} is not a string`);
      return utf8Decoder.decode(v.v);
    });
  }

  rawBytesList(field: number): Uint8Array[] {
    return (this.fields.get(field) ?? []).map((v) => {
      if (v.wire !== WireType.Bytes) throw new RangeError(`protobuf: field ${field} is not bytes`);
      return v.v;
    });
  }

  /** Repeated int64, packed or not (parsers must accept both). */
  ints(field: number): number[] {
    const out: number[] = [];
    for (const v of this.fields.get(field) ?? []) {
      if (v.wire === WireType.Varint) out.push(toSigned(v.v));
      else if (v.wire === WireType.Bytes) {
        for (const [, x] of readPackedVarints(v.v)) out.push(toSigned(x));
      } else throw new RangeError(`protobuf: field ${field} is not a repeated varint`);
    }
    return out;
  }

  /** Repeated float, packed or not. */
  floats(field: number): number[] {
    return this.fixed(field, WireType.Fixed32, 'float', (dv, i) => dv.getFloat32(i, true));
  }

  /** Repeated double, packed or not. */
  doubles(field: number): number[] {
    return this.fixed(field, WireType.Fixed64, 'double', (dv, i) => dv.getFloat64(i, true));
  }

  private fixed(field: number, wire: WireType.Fixed32 | WireType.Fixed64, what: string, get: (dv: DataView, at: number) => number): number[] {
    const size = wire === WireType.Fixed32 ? 4 : 8;
    const out: number[] = [];
    for (const v of this.fields.get(field) ?? []) {
      if (v.wire !== wire && v.wire !== WireType.Bytes) throw new RangeError(`protobuf: field ${field} is not a repeated ${what}`);
      const dv = new DataView(v.v.buffer, v.v.byteOffset, v.v.byteLength);
      for (let i = 0; i + size <= dv.byteLength; i += size) out.push(get(dv, i));
    }
    return out;
  }
}

function* readPackedVarints(b: Uint8Array): Generator<[number, number | bigint]> {
  let p = 0;
  while (p < b.length) {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (p >= b.length) throw new RangeError('protobuf: truncated packed varint');
      const x = b[p++]!;
      result |= BigInt(x & 0x7f) << shift;
      if (x < 0x80) break;
      shift += 7n;
    }
    yield [p, result <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(result) : result];
  }
}

function toSigned(v: number | bigint): number {
  if (typeof v === 'number') return v;
  return Number(BigInt.asIntN(64, v));
}
