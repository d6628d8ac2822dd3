/**
 * The feed protocol, version 1 (docs/protocol.md is the reference; src/protocol/ is its code, shared
 * by the server and the typed clients): frame shapes, requests and their validation, error and close
 * codes. Topic names are in topics.ts, the encodings in codec.ts.
 *
 * Units on the wire: `ts` is epoch milliseconds (UTC) as a float64 whose fraction carries sub-ms
 * time (about 0.25 µs resolution at present-day epochs); prices in the instrument's currency; sizes
 * in the source's unit. NaN (undefined feature values) travels as NaN in msgpack and null in JSON.
 */
import type { Format } from './codec.ts';
import { parseTopic, topicPatterns, type DataFrameKind } from './topics.ts';

export const PROTOCOL_VERSION = 1;

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

/**
 * A hole announced (cluster mode, docs/cluster.md): `retention`: seqs `missing[0]..missing[1]` are
 * no longer kept and will not come; otherwise the seqs go on without a hole but what they describe
 * has one after seq `after` (the symbol's book restarted at a snapshot: `takeover`, `handover` of
 * its compute shard, or events `ingest-lost` before they were computed); `restart`: the cluster's
 * Redis came back without its data, and the topic's seqs start again from 1.
 */
export interface GapFrame {
  t: 'gap';
  topic: string;
  reason: 'retention' | 'takeover' | 'handover' | 'ingest-lost' | 'restart';
  after: number;
  missing?: [number, number];
  message: string;
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
// The topic registry names the same data frame kinds as this union (a compile error otherwise).
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : never) : never;
export const DATA_FRAME_KINDS_AGREE: Same<DataFrame['t'], DataFrameKind> = true;
export type ServerFrame =
  | HelloFrame | DataFrame | HeartbeatFrame | SubscribedFrame | DroppedFrame | ErrorFrame | PongFrame | TopicsFrame | AckFrame | GapFrame;

// ---- requests, client -> server ----

export type Request =
  | { op: 'subscribe' | 'unsubscribe'; topics: string[]; id?: number | string; from?: Record<string, number> }
  | { op: 'ping'; id?: number | string }
  | { op: 'topics'; id?: number | string };

// ---- ingest, producer -> server ----

/** One side of a book: [[price, size], ...], a flat [price, size, ...] or (msgpackr) a Float64Array of pairs. */
export type Levels = [number, number][] | number[] | Float64Array;

/** What a producer sends on /ingest, one or an array per frame (a `flush` asks for an `ack`). */
export type IngestMessage =
  | { t: 'snapshot' | 'delta'; sym: string; ts?: number; seq?: number; bids?: Levels; asks?: Levels; depth?: number }
  | { t: 'trade'; sym: string; ts?: number; px: number; sz: number; side?: 'buy' | 'sell'; id?: number };

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
          `not a topic: ${bad.slice(0, 5).map((t) => JSON.stringify(t)).join(', ')} (expected ${topicPatterns()})`,
          rid, bad.filter((t): t is string => typeof t === 'string').slice(0, 20));
      }
      const from = m['from'];
      if (from === undefined) return { op, topics: [...new Set(topics as string[])], id: rid };
      // Resuming (cluster edges replay what their stream keeps): the first seq wanted, per subscribed topic.
      if (op !== 'subscribe' || from === null || typeof from !== 'object' || Array.isArray(from)) {
        throw new RequestError('bad-request', '"from" goes with subscribe: an object of topic -> the first seq wanted, such as {"features.BTCUSDT":1042}', rid);
      }
      const f = from as Record<string, unknown>;
      for (const [t, v] of Object.entries(f)) {
        if (!(topics as unknown[]).includes(t)) throw new RequestError('bad-request', `"from" names ${JSON.stringify(t)}, which is not in "topics"`, rid);
        if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) throw new RequestError('bad-request', `"from" of ${t} must be a seq (an integer >= 1), got ${JSON.stringify(v)}`, rid);
      }
      return { op, topics: [...new Set(topics as string[])], id: rid, from: f as Record<string, number> };
    }
    case 'ping':
    case 'topics':
      return { op, id: rid };
    default:
      throw new RequestError('unknown-op', `unknown op ${JSON.stringify(op)} (expected subscribe, unsubscribe, ping or topics)`, rid);
  }
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
