/**
 * The `/ingest` WebSocket endpoint: producers push book snapshots, deltas and trades for their own
 * symbols (docs/protocol.md, "Ingest"). Each connection is a source with its own book builder, so
 * a producer's book is synchronised from its snapshot, sequence gaps are detected (when it sends
 * `seq`), and its rows flow through the same features, models and feed as any other source.
 *
 * A frame is one message or an array of them (msgpack binary; JSON text is accepted too). A bad
 * message is answered with an error frame naming its position and problem, and skipped; the
 * messages around it are applied. Nothing a producer sends can stop the server.
 */
import type { TemplatedApp, WebSocket, WebSocketBehavior } from 'uWebSockets.js';
import { DepthEvent, TradeEvent } from '../model/events.ts';
import { CloseCode, tooBig, type ErrorCode, type ServerFrame } from '../protocol/frames.ts';
import { SYMBOL_RE } from '../protocol/topics.ts';
import { decodeMessage, encode } from '../protocol/codec.ts';
import { Security, TokenBucket, type Principal } from './security.ts';
import { readUpgrade, refuseUpgrade } from './feed.ts';
import type { LivePipeline } from '../pipeline/live.ts';
import type { SourceHandle } from '../pipeline/source.ts';
import type { ServerConfig } from './config.ts';
import type { MetricsRegistry } from './metrics.ts';
import { uWS, uwsPayloadLimit } from './uws.ts';
import { logger } from '../core/log.ts';
import { NO_SEQUENCE } from '../model/sequence.ts';
import { INGEST_SEQUENCE } from '../venues/ingest/index.ts';
import { Fifo } from '../core/fifo.ts';

const log = logger('ingest');

const RATE_VIOLATIONS_BEFORE_CLOSE = 50;

export class IngestConn {
  ws: WebSocket<IngestConn> | undefined;
  handle: SourceHandle | undefined;
  accepted = 0;
  rejected = 0;
  violations = 0;
  /** Symbols this connection has been allowed to write. */
  readonly claimed = new Set<string>();
  readonly bucket: TokenBucket;
  binary = true;
  /** Frames received but not yet applied (the server was behind): applied in order, a slice per event-loop turn. */
  readonly waiting = new Fifo<WaitingFrame>();
  /** Bytes of the frames in `waiting`, as received. */
  waitingBytes = 0;
  /** Closed by the peer while frames still waited: its source is removed once they are applied. */
  closed = false;
  constructor(readonly id: number, readonly principal: Principal, readonly ip: string, limits: ServerConfig['limits']) {
    this.bucket = new TokenBucket(limits.ingestPerSecond, limits.ingestBurst);
  }
}

/** A decoded frame whose messages from `next` on are still to be applied. */
interface WaitingFrame {
  list: unknown[];
  next: number;
  /** When it arrived (the time of its messages that carry no ts). */
  now: number;
  bytes: number;
  /** Its book messages are counted in the backlog by symbol (with a slice bound: see IngestBacklog). */
  counted: boolean;
}

/**
 * Book messages (snapshot, delta) received and not yet applied, by symbol: while one of a symbol's
 * waits, the row the server is producing for it is already out of date, and the predictor need not
 * spend a prediction on it (src/server/predictor.ts, followBacklog). Counted only with
 * limits.ingestSliceMs, where messages can wait.
 */
export interface IngestBacklog {
  pendingRows(symbol: string): number;
}

/** The symbol of a book message (one that makes a row), else undefined. */
function bookMessageSymbol(m: unknown): string | undefined {
  if (m === null || typeof m !== 'object') return undefined;
  const o = m as Record<string, unknown>;
  const sym = o['sym'];
  return (o['t'] === 'delta' || o['t'] === 'snapshot') && typeof sym === 'string' ? sym : undefined;
}

class MessageError extends Error {
  constructor(readonly code: ErrorCode, message: string, readonly sym?: string) {
    super(message);
  }
}

type Json = Record<string, unknown>;

/** Where a message sits in its frame, for error messages (built only when one is thrown). */
function whereOf(i: number, n: number): string {
  return n > 1 ? `message ${i}` : 'message';
}

/** Identifies one side's levels of a depth message in an error. */
interface LevelsAt {
  i: number;
  n: number;
  t: string;
  sym: string;
}

function levelsWhere(at: LevelsAt, bid: boolean): string {
  return `${whereOf(at.i, at.n)} (${at.t} ${at.sym}) ${bid ? 'bids' : 'asks'}`;
}

function pushLevel(e: DepthEvent, bid: boolean, px: number, sz: number, lvl: number, at: LevelsAt): void {
  if (!(px > 0) || !(sz >= 0) || !Number.isFinite(px) || !Number.isFinite(sz)) {
    throw new MessageError('bad-request', `${levelsWhere(at, bid)}: level ${lvl} is not a price > 0 with a size >= 0 (got ${px}, ${sz})`);
  }
  if (bid) e.pushBid(px, sz);
  else e.pushAsk(px, sz);
}

/** Fills one side of a depth event from [[px, sz], ...], [px, sz, px, sz, ...] or a Float64Array of pairs. */
function readLevels(v: unknown, e: DepthEvent, bid: boolean, at: LevelsAt): void {
  if (v === undefined) return;
  if (v instanceof Float64Array || v instanceof Float32Array) {
    if (v.length % 2 !== 0) throw new MessageError('bad-request', `${levelsWhere(at, bid)}: a flat level array needs an even length (price, size pairs)`);
    for (let i = 0; i < v.length; i += 2) pushLevel(e, bid, v[i]!, v[i + 1]!, i / 2, at);
    return;
  }
  if (!Array.isArray(v)) throw new MessageError('bad-request', `${levelsWhere(at, bid)}: expected an array of [price, size] levels`);
  if (v.length > 0 && typeof v[0] === 'number') {
    if (v.length % 2 !== 0) throw new MessageError('bad-request', `${levelsWhere(at, bid)}: a flat level array needs an even length (price, size pairs)`);
    for (let i = 0; i < v.length; i += 2) pushLevel(e, bid, v[i] as number, v[i + 1] as number, i / 2, at);
    return;
  }
  for (let i = 0; i < v.length; i++) {
    const lv = v[i];
    if (!Array.isArray(lv) || lv.length < 2 || typeof lv[0] !== 'number' || typeof lv[1] !== 'number') {
      throw new MessageError('bad-request', `${levelsWhere(at, bid)}: level ${i} is not [price, size] (numbers)`);
    }
    pushLevel(e, bid, lv[0], lv[1], i, at);
  }
}

export function ingestBehavior(cfg: ServerConfig, pipeline: LivePipeline, security: Security, metrics: MetricsRegistry): {
  behavior: WebSocketBehavior<IngestConn>;
  conns: Set<IngestConn>;
  /** Applies every waiting frame now (the server stopping: what was accepted goes through). */
  drainAll(): void;
  /** Messages received and not yet applied. */
  waitingMessages(): number;
  backlog: IngestBacklog;
} {
  const conns = new Set<IngestConn>();
  let nextId = 1;
  const msgs = metrics.counter('flowcast_ingest_messages_total', 'Ingest messages, by result', ['result']);
  const accepted = msgs.labels('accepted');
  const rejected = msgs.labels('rejected');
  const refused = metrics.counter('flowcast_upgrades_refused_total', 'WebSocket upgrades refused, by endpoint and HTTP status', ['endpoint', 'status']);
  metrics.gauge('flowcast_ingest_connections', 'Open ingest connections', [], () => [[[], conns.size]]);
  const depth = new DepthEvent();
  const trade = new TradeEvent();

  const send = (c: IngestConn, f: ServerFrame): void => {
    if (!c.ws) return;
    c.ws.send(encode(f, c.binary ? 'msgpack' : 'json'), c.binary);
  };

  const claim = (c: IngestConn, sym: unknown): string => {
    // Claimed symbols passed the pattern when claimed: the common case needs only the set.
    if (typeof sym === 'string' && c.claimed.has(sym)) return sym;
    if (typeof sym !== 'string' || !SYMBOL_RE.test(sym)) throw new MessageError('bad-request', `"sym" must be a symbol (letters, digits, _ . : - /; at most 40), got ${JSON.stringify(sym)}`);
    if (!c.principal.canWrite(sym)) throw new MessageError('forbidden', `key "${c.principal.id}" may not write ${sym}`, sym);
    const owner = pipeline.ownerOf(sym);
    if (owner && owner !== c.handle && owner.state !== 'stopped') {
      throw new MessageError('symbol-owned', `${sym} is fed by another source (${owner.name})`, sym);
    }
    c.claimed.add(sym);
    return sym;
  };

  const timeOf = (m: Json, now: number): number => {
    const ts = m['ts'];
    if (ts === undefined) return pipeline.tb.fromEpochMs(now);
    if (typeof ts !== 'number' || !Number.isFinite(ts) || ts < 0) throw new MessageError('bad-request', `"ts" must be epoch milliseconds (a number), got ${JSON.stringify(ts)}`);
    try {
      return Math.round(pipeline.tb.fromEpochMs(ts));
    } catch (e) {
      throw new MessageError('bad-request', `"ts" ${ts} is too far from the server's time base: ${(e as Error).message}`);
    }
  };

  // `i` of `n`: the message's place in its frame (named in errors).
  const at: LevelsAt = { i: 0, n: 1, t: '', sym: '' };
  const apply = (c: IngestConn, m: unknown, i: number, n: number, now: number): void => {
    if (m === null || typeof m !== 'object' || Array.isArray(m)) throw new MessageError('bad-request', `${whereOf(i, n)}: expected a message object`);
    const o = m as Json;
    const t = o['t'];
    const h = c.handle!;
    if (t === 'flush') {
      send(c, { t: 'ack', id: (o['id'] as number | string) ?? 0, accepted: c.accepted });
      return;
    }
    if (t === 'snapshot' || t === 'delta') {
      const sym = claim(c, o['sym']);
      const e = depth;
      e.reset();
      e.symbol = sym;
      e.kind = t;
      e.sizes = 'absolute';
      e.makesRow = true;
      e.ts = timeOf(o, now);
      e.tsLocal = Math.round(pipeline.tb.fromEpochMs(now));
      e.line = 0;
      const seq = o['seq'];
      if (seq !== undefined && (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 0)) {
        throw new MessageError('bad-request', `${whereOf(i, n)}: "seq" must be a non-negative integer, got ${JSON.stringify(seq)}`, sym);
      }
      e.seqRule = seq === undefined ? NO_SEQUENCE : INGEST_SEQUENCE.id;
      e.firstSeq = seq === undefined ? NaN : (seq as number);
      e.lastSeq = e.firstSeq;
      const dl = o['depth'];
      e.depthLimit = typeof dl === 'number' && dl >= 1 ? dl : Infinity;
      at.i = i;
      at.n = n;
      at.t = t;
      at.sym = sym;
      try {
        readLevels(o['bids'], e, true, at);
        readLevels(o['asks'], e, false, at);
      } catch (err) {
        // A refused message does not advance seq: say so, or its gap surprises the producer later.
        if (seq !== undefined && err instanceof MessageError) {
          err.message += ` (seq ${seq} not applied: resend it corrected, or the next ${sym} message with a later seq is a sequence gap)`;
        }
        throw err;
      }
      if (t === 'delta') {
        const st = h.status(sym);
        if (st === undefined || st === 'awaiting-snapshot') {
          throw new MessageError('no-snapshot', `${whereOf(i, n)}: delta for ${sym} before any snapshot: send a snapshot first`, sym);
        }
      }
      const r = h.applyDepth(e);
      const first = r.firstDiff;
      const prev = r.prevSeq;
      const loss = r.loss;
      if (loss !== undefined) {
        // Said once per loss: the deltas that follow while out of sync are held, not each answered.
        const message = loss.kind === 'sequence-gap'
          ? `${whereOf(i, n)}: sequence gap in ${sym}: expected seq ${prev + 1} (${first ? "the snapshot's" : 'the previous'} + 1), got ${e.lastSeq}: its rows are withheld until you send a snapshot`
          : `${whereOf(i, n)}: ${loss.detail}: its rows are withheld until you send a snapshot${t === 'snapshot' ? ' that is not' : ''}`;
        send(c, { t: 'error', code: loss.kind, sym, message });
      } else if (t === 'delta' && r.ignored) {
        throw new MessageError('stale-seq', `${whereOf(i, n)}: seq ${e.lastSeq} for ${sym} is not after ${first ? "the snapshot's" : 'the last applied'} (${prev}): ignored as a repeated or older message`, sym);
      } else if (r.crossed) {
        // Repaired, applied and counted (docs/book.md): said, since a whole side may have gone.
        send(c, { t: 'error', code: 'crossed-book', sym, message: `${whereOf(i, n)} (${t} ${sym}) crossed the book: ${r.repairedLevels} levels of the other side ` +
          `priced at or through the levels it set were removed as stale (newest wins, docs/book.md); best bid ${r.bestBid}, best ask ${r.bestAsk}: send a snapshot if that is wrong` });
      }
      return;
    }
    if (t === 'trade') {
      const sym = claim(c, o['sym']);
      const px = o['px'];
      const sz = o['sz'];
      const side = o['side'];
      if (typeof px !== 'number' || !(px > 0) || typeof sz !== 'number' || !(sz > 0)) {
        throw new MessageError('bad-request', `${whereOf(i, n)}: trade needs "px" > 0 and "sz" > 0 (numbers)`, sym);
      }
      if (side !== 'buy' && side !== 'sell' && side !== undefined) {
        throw new MessageError('bad-request', `${whereOf(i, n)}: "side" is the aggressor, "buy" or "sell" (or absent if unknown), got ${JSON.stringify(side)}`, sym);
      }
      trade.symbol = sym;
      trade.ts = timeOf(o, now);
      trade.tsLocal = Math.round(pipeline.tb.fromEpochMs(now));
      trade.price = px;
      trade.size = sz;
      trade.sign = side === 'buy' ? 1 : side === 'sell' ? -1 : 0;
      trade.id = typeof o['id'] === 'number' ? (o['id'] as number) : NaN;
      trade.hidden = false;
      trade.line = 0;
      h.onTrade(trade);
      return;
    }
    throw new MessageError('bad-request', `${whereOf(i, n)}: unknown message type ${JSON.stringify(t)} (expected snapshot, delta, trade or flush)`);
  };

  const behavior: WebSocketBehavior<IngestConn> = {
    compression: uWS.DISABLED,
    maxPayloadLength: uwsPayloadLimit(cfg.limits.ingestMaxPayloadBytes),
    maxBackpressure: 1 << 20,
    closeOnBackpressureLimit: 1,
    idleTimeout: 120,
    sendPingsAutomatically: true,

    upgrade(res, req, context) {
      const u = readUpgrade(res, req);
      const refuse = (status: string, reason: string, retryAfterS?: number): void => {
        refused.labels('ingest', status.slice(0, 3)).inc();
        refuseUpgrade(res, status, reason, retryAfterS);
      };
      if (u.origin && !security.originAllowed(u.origin, u.host)) return refuse('403 Forbidden', `origin ${u.origin} is not allowed`);
      const auth = security.authenticate(u, true);
      if (!auth.ok) return refuse(auth.status, auth.reason, auth.retryAfterS);
      const why = security.admit(auth.principal, u.ip);
      if (why) return refuse('429 Too Many Requests', why);
      res.upgrade(new IngestConn(nextId++, auth.principal, u.ip, cfg.limits), u.key, u.protocol, u.extensions, context);
    },

    open(ws) {
      const c = ws.getUserData();
      c.ws = ws;
      c.handle = pipeline.addSource(`ingest:${c.principal.id}#${c.id}`, 'ingest');
      c.handle.state = 'running';
      conns.add(c);
      log.info('producer connected', { conn: c.id, key: c.principal.id });
    },

    message(ws, message, isBinary) {
      const c = ws.getUserData();
      if (message.byteLength > cfg.limits.ingestMaxPayloadBytes) {
        ws.end(CloseCode.TooBig, tooBig(message.byteLength, cfg.limits.ingestMaxPayloadBytes));
        return;
      }
      c.binary = isBinary;
      let decoded: unknown;
      try {
        decoded = decodeMessage(message, isBinary);
      } catch (e) {
        rejected.inc();
        c.rejected++;
        c.handle?.refuse('bad-request');
        send(c, { t: 'error', code: 'bad-request', message: `cannot decode the ${isBinary ? 'msgpack' : 'JSON'} frame: ${(e as Error).message}` });
        return;
      }
      const list = Array.isArray(decoded) ? decoded : [decoded];
      if (!c.bucket.take(list.length)) {
        c.violations++;
        rejected.inc(list.length);
        c.rejected += list.length;
        c.handle?.refuse('rate-limited', list.length);
        if (c.violations > RATE_VIOLATIONS_BEFORE_CLOSE) {
          ws.end(CloseCode.RateLimited, `ingest rate limit exceeded (${cfg.limits.ingestPerSecond} messages/s)`);
        } else {
          send(c, { t: 'error', code: 'rate-limited', message: `over ${cfg.limits.ingestPerSecond} messages/s (burst ${cfg.limits.ingestBurst}): ${list.length} messages dropped` });
        }
        return;
      }
      const f: WaitingFrame = { list, next: 0, now: Date.now(), bytes: message.byteLength, counted: sliceMs > 0 };
      if (sliceMs === 0) {
        // Unbounded (limits.ingestSliceMs 0): the frame is applied now, whatever it takes.
        while (f.next < list.length) applyOne(c, f);
        return;
      }
      // Counted before any is applied: a row made from this frame is out of date while a later message
      // of its symbol, in this frame or one behind it, still waits.
      for (const m of list) {
        const sym = bookMessageSymbol(m);
        if (sym !== undefined) pendingBook.set(sym, (pendingBook.get(sym) ?? 0) + 1);
      }
      if (c.waiting.length === 0 && budgetLeft()) {
        applyFrame(c, f);
        if (f.next === list.length) return;
      }
      enqueue(c, f);
    },

    close(ws) {
      const c = ws.getUserData();
      c.ws = undefined;
      c.closed = true;
      security.release(c.principal, c.ip);
      // Its frames that still wait were accepted: they are applied (the drain removes the source after them).
      if (c.waiting.length === 0) finishClose(c);
    },
  };

  const finishClose = (c: IngestConn): void => {
    conns.delete(c);
    if (c.handle) pipeline.removeSource(c.handle);
    log.info('producer disconnected', { conn: c.id, accepted: c.accepted, rejected: c.rejected });
  };

  /** Applies one message of a frame, counting and answering it as accepted or refused. */
  const applyOne = (c: IngestConn, f: WaitingFrame): void => {
    const i = f.next++;
    const n = f.list.length;
    if (f.counted) {
      // Uncounted before it is applied: its own row is not out of date.
      const sym = bookMessageSymbol(f.list[i]);
      if (sym !== undefined) {
        const left = pendingBook.get(sym)! - 1;
        if (left > 0) pendingBook.set(sym, left);
        else pendingBook.delete(sym);
      }
    }
    try {
      apply(c, f.list[i], i, n, f.now);
      c.accepted++;
      accepted.inc();
    } catch (e) {
      c.rejected++;
      rejected.inc();
      c.handle?.refuse(e instanceof MessageError ? e.code : 'internal');
      if (e instanceof MessageError) send(c, { t: 'error', code: e.code, message: e.message, sym: e.sym });
      else {
        log.error('ingest message failed', { conn: c.id, error: e as Error });
        send(c, { t: 'error', code: 'internal', message: `${whereOf(i, n)}: internal error, message skipped` });
      }
    }
  };

  /**
   * The ingest work of one event-loop turn is bounded (limits.ingestSliceMs, default 5 ms): a
   * producer that sends more than the server computes must not hold the loop for seconds, or the
   * answers that come back through it (inference results from the model's worker, timers of the
   * batchers) wait that long and predictions stop under overload. Frames over the turn's slice wait
   * in their connection's queue, in order, and are applied in later turns, after the loop has polled
   * again. Their book messages are counted by symbol (pendingBook) so the predictor can skip rows
   * that are out of date when made (IngestBacklog). 0 applies each frame as it comes.
   */
  const sliceMs = cfg.limits.ingestSliceMs;
  const pendingBook = new Map<string, number>();
  let turnOpen = false;
  let turnEnds = 0;
  /** Where the next drain starts among the connections behind (round robin across turns). */
  let rr = 0;
  /** Connections with waiting frames, served in turn. */
  const behind: IngestConn[] = [];
  const openTurn = (): void => {
    turnOpen = true;
    turnEnds = performance.now() + sliceMs;
    setImmediate(endTurn);
  };
  const endTurn = (): void => {
    turnOpen = false;
    if (behind.length) drain();
  };
  // Whether this turn's slice has time left; the first call of a turn starts its slice.
  const budgetLeft = (): boolean => {
    if (!turnOpen) openTurn();
    return performance.now() < turnEnds;
  };
  /** Applies a frame's messages while the slice lasts (at least one). */
  const applyFrame = (c: IngestConn, f: WaitingFrame): void => {
    const n = f.list.length;
    do applyOne(c, f);
    while (f.next < n && (f.next & 15 || performance.now() < turnEnds));
  };
  const enqueue = (c: IngestConn, f: WaitingFrame): void => {
    if (c.waiting.length === 0) behind.push(c);
    c.waiting.push(f);
    c.waitingBytes += f.bytes;
    // Past the bound on what one producer may have waiting, it waits for the server as it did
    // before: its oldest frames are applied now, in this callback, and the socket is not read
    // meanwhile (TCP pushes back on the producer); nothing it sent is dropped.
    while (c.waitingBytes > cfg.limits.ingestQueueBytes && c.waiting.length > 1) {
      const head = c.waiting.shift()!;
      while (head.next < head.list.length) applyOne(c, head);
      c.waitingBytes -= head.bytes;
    }
    // The turn's end (a setImmediate, after this poll) drains; a turn is open whenever frames wait.
    if (!turnOpen) openTurn();
  };
  /** One slice of the waiting frames, a frame of each connection in turn; the rest goes on next turn. */
  const drain = (): void => {
    openTurn();
    let k = rr;
    while (behind.length && performance.now() < turnEnds) {
      if (k >= behind.length) k = 0;
      const c = behind[k]!;
      const f = c.waiting.first()!;
      applyFrame(c, f);
      if (f.next < f.list.length) continue;
      c.waiting.shift();
      c.waitingBytes -= f.bytes;
      if (c.waiting.length === 0) {
        behind.splice(k, 1);
        if (c.closed) finishClose(c);
      } else k++;
    }
    rr = k;
  };
  /** Everything still waiting is applied now (the server stopping). */
  const drainAll = (): void => {
    for (const c of behind.splice(0)) {
      for (const f of c.waiting.drain()) while (f.next < f.list.length) applyOne(c, f);
      c.waitingBytes = 0;
      if (c.closed) finishClose(c);
    }
  };
  const waitingMessages = (): number => {
    let n = 0;
    for (const c of behind) for (const f of c.waiting) n += f.list.length - f.next;
    return n;
  };
  metrics.gauge('flowcast_ingest_waiting_messages', 'Ingest messages received and waiting to be applied (the server is behind its producers)', [], () => [[[], waitingMessages()]]);
  return { behavior, conns, drainAll, waitingMessages, backlog: { pendingRows: (sym) => pendingBook.get(sym) ?? 0 } };
}

export function mountIngest(app: TemplatedApp, behavior: WebSocketBehavior<IngestConn>): void {
  app.ws<IngestConn>('/ingest', behavior);
}
