/**
 * The feed protocol, version 1 (docs/protocol.md is the reference; this file is its code). Shared by
 * the server and the typed client: topic grammar, frame shapes, request validation and the two
 * encodings (msgpack by default, JSON on request).
 *
 * Units on the wire: `ts` is epoch milliseconds (UTC) as a float64 whose fraction carries sub-ms
 * time (about 0.25 µs resolution at present-day epochs); prices in the instrument's currency; sizes
 * in the source's unit. NaN (undefined feature values) travels as NaN in msgpack and null in JSON.
 */
import { Packr } from 'msgpackr';

export const PROTOCOL_VERSION = 1;

/** Topic kinds, by their prefix. */
export type TopicKind = 'book' | 'features' | 'pred' | 'alerts';

export interface ParsedTopic {
  kind: TopicKind;
  /** The symbol, or '*' for `alerts.*`. */
  symbol: string;
  /** Model name for `pred.<MODEL>.<SYM>`. */
  model?: string;
}

/** Symbols: a letter or digit, then letters, digits and `_ . : - /`, at most 40 characters. */
export const SYMBOL_RE = /^[A-Za-z0-9][A-Za-z0-9_.:\-/]{0,39}$/;
/** Model names: letters, digits, `_` and `-` (no dot: it separates the model from the symbol). */
export const MODEL_RE = /^[A-Za-z0-9][A-Za-z0-9_\-]{0,63}$/;
export const MAX_TOPIC_LENGTH = 120;

/** Parses a topic name; undefined when it does not follow the grammar. */
export function parseTopic(topic: string): ParsedTopic | undefined {
  if (typeof topic !== 'string' || topic.length > MAX_TOPIC_LENGTH) return undefined;
  const dot = topic.indexOf('.');
  if (dot <= 0) return undefined;
  const prefix = topic.slice(0, dot);
  const rest = topic.slice(dot + 1);
  switch (prefix) {
    case 'book':
    case 'features':
      return SYMBOL_RE.test(rest) ? { kind: prefix, symbol: rest } : undefined;
    case 'alerts':
      return rest === '*' || SYMBOL_RE.test(rest) ? { kind: 'alerts', symbol: rest } : undefined;
    case 'pred': {
      const d2 = rest.indexOf('.');
      if (d2 <= 0) return undefined;
      const model = rest.slice(0, d2);
      const symbol = rest.slice(d2 + 1);
      return MODEL_RE.test(model) && SYMBOL_RE.test(symbol) ? { kind: 'pred', symbol, model } : undefined;
    }
    default:
      return undefined;
  }
}

export const topicOf = {
  book: (sym: string): string => `book.${sym}`,
  features: (sym: string): string => `features.${sym}`,
  pred: (model: string, sym: string): string => `pred.${model}.${sym}`,
  alerts: (sym: string): string => `alerts.${sym}`,
  allAlerts: 'alerts.*',
};

/**
 * Book and features frames describe a state: a newer one supersedes an older one, so a slow client
 * may miss some (it is told how many). Predictions and alerts are events: never dropped silently.
 */
export function isConflatable(kind: TopicKind): boolean {
  return kind === 'book' || kind === 'features';
}

// ---- frames, server -> client ----

export interface HelloFrame {
  t: 'hello';
  v: number;
  server: string;
  /** When this server process started, epoch ms: a change means a restart (sequence numbers start again). */
  started: number;
  format: Format;
  /** Who the server thinks you are: a key id, or 'anonymous'. */
  principal: string;
  heartbeatMs: number;
  limits: {
    maxSubscriptions: number;
    maxPayloadBytes: number;
    requestsPerSecond: number;
    requestBurst: number;
    maxBufferBytes: number;
  };
  /** Feature column names, in the order of `features` frames' `v` (FEATURES.md v1). */
  featureColumns: readonly string[];
  symbols: string[];
  models: string[];
}

export interface BookFrame {
  t: 'book';
  topic: string;
  seq: number;
  ts: number;
  sym: string;
  /** Best first, [price, size] pairs, at most the server's `bookLevels`; missing levels omitted. */
  bids: [number, number][];
  asks: [number, number][];
}

export interface FeaturesFrame {
  t: 'features';
  topic: string;
  seq: number;
  ts: number;
  sym: string;
  /** The source's book row number for this symbol (0-based since the server started that source). */
  row: number;
  /** Values in `hello.featureColumns` order; NaN (msgpack) or null (JSON) where undefined. */
  v: (number | null)[];
}

export interface PredFrame {
  t: 'pred';
  topic: string;
  seq: number;
  ts: number;
  sym: string;
  model: string;
  /** Class names, in the order of `probs`. */
  classes: readonly string[];
  probs: number[];
  /** Book row of the symbol the prediction was made at. */
  row?: number;
  /** Microseconds from the book event entering the server to this prediction being ready. */
  latencyUs?: number;
}

export interface AlertFrame {
  t: 'alert';
  topic: string;
  seq: number;
  ts: number;
  sym: string;
  kind: string;
  severity: string;
  /** One line for people; the numbers are in `evidence`. */
  message?: string;
  evidence: Record<string, unknown>;
}

export interface HeartbeatFrame {
  t: 'hb';
  /** Server wall clock, epoch ms. */
  ts: number;
}

export interface SubscribedFrame {
  t: 'subscribed' | 'unsubscribed';
  id?: number | string;
  topics: string[];
}

export interface DroppedFrame {
  t: 'dropped';
  /** Frames not delivered per topic since the last notice (older book/features states superseded by newer ones). */
  topics: Record<string, number>;
  total: number;
  reason: 'slow-consumer';
}

export type ErrorCode =
  | 'bad-request'
  | 'unknown-op'
  | 'bad-topic'
  | 'forbidden'
  | 'too-many-subscriptions'
  | 'rate-limited'
  | 'symbol-owned'
  | 'sequence-gap'
  | 'crossed-book'
  | 'stale-seq'
  | 'no-snapshot'
  | 'internal';

export interface ErrorFrame {
  t: 'error';
  code: ErrorCode;
  message: string;
  id?: number | string;
  /** Topics or symbols the error is about. */
  topics?: string[];
  sym?: string;
}

export interface PongFrame {
  t: 'pong';
  id?: number | string;
  ts: number;
}

export interface TopicsFrame {
  t: 'topics';
  id?: number | string;
  /** Topics that have published at least once, with their current sequence numbers. */
  topics: { topic: string; seq: number }[];
  symbols: string[];
  models: string[];
}

export interface AckFrame {
  t: 'ack';
  id: number | string;
  /** Messages accepted from this connection so far. */
  accepted: number;
}

export type DataFrame = BookFrame | FeaturesFrame | PredFrame | AlertFrame;
export type ServerFrame =
  | HelloFrame | DataFrame | HeartbeatFrame | SubscribedFrame | DroppedFrame | ErrorFrame | PongFrame | TopicsFrame | AckFrame;

// ---- requests, client -> server ----

export type Request =
  | { op: 'subscribe' | 'unsubscribe'; topics: string[]; id?: number | string }
  | { op: 'ping'; id?: number | string }
  | { op: 'topics'; id?: number | string };

export type Format = 'msgpack' | 'json';

export class RequestError extends Error {
  constructor(readonly code: ErrorCode, message: string, readonly id?: number | string, readonly topics?: string[]) {
    super(message);
  }
}

/** Validates a decoded request; throws RequestError naming what is wrong. */
export function validateRequest(msg: unknown, maxTopics: number): Request {
  if (msg === null || typeof msg !== 'object' || Array.isArray(msg)) {
    throw new RequestError('bad-request', 'a request is an object such as {"op":"subscribe","topics":["features.BTCUSDT"]}');
  }
  const m = msg as Record<string, unknown>;
  const id = m['id'];
  if (id !== undefined && typeof id !== 'number' && typeof id !== 'string') {
    throw new RequestError('bad-request', '"id" must be a number or a string');
  }
  const rid = id as number | string | undefined;
  const op = m['op'];
  if (typeof op !== 'string') {
    throw new RequestError('bad-request', `"op" must be a string (subscribe, unsubscribe, ping or topics), got ${op === undefined ? 'none' : JSON.stringify(op)}`, rid);
  }
  switch (op) {
    case 'subscribe':
    case 'unsubscribe': {
      const topics = m['topics'];
      if (!Array.isArray(topics) || topics.length === 0) {
        throw new RequestError('bad-request', `"${op}" needs "topics": a non-empty array of topic names`, rid);
      }
      if (topics.length > maxTopics) {
        throw new RequestError('too-many-subscriptions', `at most ${maxTopics} topics per request`, rid);
      }
      const bad = topics.filter((t) => typeof t !== 'string' || !parseTopic(t));
      if (bad.length > 0) {
        throw new RequestError('bad-topic',
          `not a topic: ${bad.slice(0, 5).map((t) => JSON.stringify(t)).join(', ')} (expected book.<SYM>, features.<SYM>, pred.<MODEL>.<SYM>, alerts.<SYM> or alerts.*)`,
          rid, bad.filter((t): t is string => typeof t === 'string').slice(0, 20));
      }
      return { op, topics: [...new Set(topics as string[])], id: rid };
    }
    case 'ping':
    case 'topics':
      return { op, id: rid };
    default:
      throw new RequestError('unknown-op', `unknown op ${JSON.stringify(op)} (expected subscribe, unsubscribe, ping or topics)`, rid);
  }
}

// ---- encodings ----

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

/** The reason of a 1009 close. */
export function tooBig(bytes: number, limit: number): string {
  return `frame of ${bytes} bytes is over the limit of ${limit}`;
}

/** WebSocket close codes the server uses (4000-4999 are application codes). */
export const CloseCode = {
  Normal: 1000,
  GoingAway: 1001,
  Policy: 1008,
  TooBig: 1009,
  SlowConsumer: 4008,
  RateLimited: 4029,
} as const;
