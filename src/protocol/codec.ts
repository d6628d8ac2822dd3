/**
 * The two encodings of the feed protocol (docs/protocol.md, "Encodings"): msgpack by default, JSON
 * on request. NaN (undefined feature values) travels as NaN in msgpack and null in JSON.
 */
import { Packr } from 'msgpackr';

export type Format = 'msgpack' | 'json';

/**
 * Decodes what either side sends, and encodes what clients send. Plain maps (no msgpackr records);
 * typed arrays keep their type between msgpackr peers (`moreTypes`: a producer's Float64Array
 * levels). 64-bit integers decode as numbers: other libraries write whole numbers beyond 32 bits
 * (epoch ms, sequence numbers) that way, and so does the server (see encodeMsgpack). One instance
 * per process: `pack` returns a slice of a shared buffer that later packs never overwrite.
 */
export const packr = new Packr({ useRecords: false, moreTypes: true, int64AsType: 'number' });

/**
 * Server frames: the protocol promises them to any msgpack library, so nothing msgpackr-specific.
 * An absent optional field is left out rather than written as msgpackr's `undefined` (extension
 * type 0), and `undefined` inside an array is nil. `skipValues` is not in msgpackr's typings.
 */
const framePackr = new Packr({ useRecords: false, encodeUndefinedAsNil: true, skipValues: [undefined] } as ConstructorParameters<typeof Packr>[0]);

/**
 * Fields the protocol makes integers that can outgrow 32 bits (epoch ms, counters), by frame type.
 * msgpackr writes a whole number beyond 32 bits as a float64; a BigInt it writes as a msgpack int64.
 */
const WIDE_INTS: Readonly<Record<string, readonly string[]>> = {
  hello: ['started'], hb: ['ts'], pong: ['ts'], ack: ['accepted'], dropped: ['total'],
  book: ['seq'], features: ['seq', 'row'], pred: ['seq', 'row', 'latencyUs'], alert: ['seq'],
};

function isWide(v: unknown): v is number {
  return typeof v === 'number' && (v > 0xffffffff || v < -0x80000000) && Number.isSafeInteger(v);
}

/** The frame, or a copy with its wide integer fields as BigInts (only when some field needs it). */
function withWideInts(frame: object): object {
  const f = frame as Record<string, unknown>;
  const fields = WIDE_INTS[f['t'] as string];
  let copy: Record<string, unknown> | undefined;
  if (fields) {
    for (const k of fields) if (isWide(f[k])) (copy ??= { ...f })[k] = BigInt(f[k]);
  }
  if (f['t'] === 'topics' && Array.isArray(f['topics']) && (f['topics'] as { seq: unknown }[]).some((e) => isWide(e.seq))) {
    (copy ??= { ...f })['topics'] = (f['topics'] as { seq: number }[]).map((e) => (isWide(e.seq) ? { ...e, seq: BigInt(e.seq) } : e));
  }
  return copy ?? frame;
}

/** A server frame as msgpack (docs/protocol.md, "Encodings"). */
export function encodeMsgpack(frame: object): Uint8Array {
  return framePackr.pack(withWideInts(frame));
}

/** A client's request or a producer's messages as msgpack. */
export function encodeClientMsgpack(msg: unknown): Uint8Array {
  return packr.pack(msg);
}

export function encodeJson(frame: object): string {
  // JSON.stringify writes NaN and ±Infinity as null, which is the documented JSON form.
  return JSON.stringify(frame);
}

export function encode(frame: object, format: Format): Uint8Array | string {
  return format === 'msgpack' ? encodeMsgpack(frame) : encodeJson(frame);
}

/** Decodes a message either side sends: binary frames are msgpack, text frames JSON. */
export function decodeMessage(data: ArrayBuffer | Uint8Array, isBinary: boolean): unknown {
  const bytes = data instanceof Uint8Array ? data : new Uint8Array(data);
  if (isBinary) return packr.unpack(bytes);
  return JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'));
}

export function parseFormat(v: string | undefined | null): Format | undefined {
  if (v === undefined || v === null || v === '' || v === 'msgpack') return 'msgpack';
  if (v === 'json') return 'json';
  return undefined;
}
