/**
 * A local stand-in for Binance, for end-to-end tests of the connector: it serves a captured session (data/binance/*.jsonl.gz) over the real protocol on 127.0.0.1.
 *  - WebSocket `/stream?streams=a/b/...`: combined-stream envelopes, exactly the captured JSON, paced
 *    by the capture's receive times at `speed`; one exchange timeline shared by all connections
 *    (a client joining late sees the market from now on, as on the real exchange);
 *  - REST `/api/v3/depth` (spot) and `/fapi/v1/depth` (USD-M): the exchange's current book, kept by
 *    applying every diff of the timeline to the captured snapshot, with `lastUpdateId` the last
 *    applied `u`: a snapshot consistent with the stream at any moment, as Binance serves it;
 *  - pings every `pingIntervalMs`; a connection that does not answer within `pongTimeoutMs` is closed;
 *  - faults for tests: the next diff not sent (a sequence gap) and connections cut after N messages;
 *  - pause()/resume(): the timeline held, so a test can wait for a slow client instead of racing it.
 *
 * Where the served stream starts after the capture's REST snapshot follows Binance's documentation
 * (binanceSyncPoint, binanceContinues), written from it and not from src/venues/binance/sequence.ts:
 * the tests of the book and connector would otherwise share the very rule they are meant to check.
 */
import { createGunzip } from 'node:zlib';
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import type { TemplatedApp, WebSocket, us_listen_socket } from 'uWebSockets.js';
import { L2Book } from '../../src/book/l2-book.ts';
import { DepthEvent } from '../../src/model/events.ts';
import { requireNativeUws } from '../../src/server/uws.ts';

export type BinanceMarket = 'spot' | 'usdm';

/** A depth diff's update ids: first (U) and final (u) of the event, and the previous event's final (pu, USD-M only). */
export interface DiffIds {
  U: number;
  u: number;
  pu?: number;
}

/**
 * The diff a book built from a REST snapshot starts with, by Binance's "How to manage a local order
 * book correctly":
 *  - spot: drop any event where u <= lastUpdateId; the first processed event has
 *    U <= lastUpdateId + 1 AND u >= lastUpdateId + 1;
 *  - USD-M futures: drop any event where u < lastUpdateId; the first processed event has
 *    U <= lastUpdateId AND u >= lastUpdateId.
 * `index` is the first event not dropped; `ok` says whether it meets the first-event condition (if
 * not, the snapshot is older than the buffered stream and the documents say to fetch another).
 * Undefined when every event is dropped (the snapshot is newer than all of them).
 */
export function binanceSyncPoint(market: BinanceMarket, lastUpdateId: number, diffs: readonly DiffIds[]): { index: number; ok: boolean } | undefined {
  // The documents state both markets' conditions in terms of one id: spot's is lastUpdateId + 1.
  const id = market === 'spot' ? lastUpdateId + 1 : lastUpdateId;
  for (let i = 0; i < diffs.length; i++) {
    const d = diffs[i]!;
    if (d.u < id) continue;
    return { index: i, ok: d.U <= id && d.u >= id };
  }
  return undefined;
}

/**
 * Whether `next` follows `prev` with nothing missed: USD-M, "each new event's pu should be equal to
 * the previous event's u"; spot, "each new event's U should be equal to the previous event's u + 1".
 */
export function binanceContinues(market: BinanceMarket, prev: DiffIds, next: DiffIds): boolean {
  return market === 'usdm' ? next.pu === prev.u : next.U === prev.u + 1;
}

/** A capture's lines (`<local_ns> <json>`, gzip'd or not) without bookTicker: the REST snapshot, and every stream message in order. */
export async function readBinanceCapture(file: string): Promise<{
  snapshot: Record<string, unknown>;
  messages: { ns: bigint; stream: string; text: string; d: Record<string, unknown> }[];
}> {
  const input = createReadStream(file);
  const rl = createInterface({ input: file.endsWith('.gz') ? input.pipe(createGunzip()) : input, crlfDelay: Infinity });
  const messages: { ns: bigint; stream: string; text: string; d: Record<string, unknown> }[] = [];
  let snapshot: Record<string, unknown> | undefined;
  for await (const line of rl) {
    const sp = line.indexOf(' ');
    if (sp < 0) continue;
    const text = line.slice(sp + 1);
    if (text.includes('"bookTicker"')) continue;
    const j = JSON.parse(text) as Record<string, unknown>;
    if ('lastUpdateId' in j) {
      snapshot = j;
      continue;
    }
    messages.push({ ns: BigInt(line.slice(0, sp)), stream: j['stream'] as string, text, d: j['data'] as Record<string, unknown> });
  }
  if (!snapshot) throw new Error(`${file}: no REST snapshot in the capture`);
  return { snapshot, messages };
}

/** The update ids of a capture message's data, if it is a depth diff. */
export function diffIds(d: Record<string, unknown>): DiffIds | undefined {
  if (d['e'] !== 'depthUpdate') return undefined;
  return { U: d['U'] as number, u: d['u'] as number, ...(typeof d['pu'] === 'number' ? { pu: d['pu'] } : {}) };
}

export interface MockExchangeOptions {
  /** A Binance capture (`<local_ns> <json>` lines, gzip'd or not). */
  capture: string;
  /** Playback speed relative to the capture's receive times. */
  speed?: number;
  host?: string;
  port?: number;
  pingIntervalMs?: number;
  pongTimeoutMs?: number;
  /** Close each of the first `closeConnections` connections after it has been sent this many messages. */
  closeAfterMessages?: number;
  closeConnections?: number;
  /** Start the timeline this many depth diffs after the sync point (a late start). */
  skipDiffs?: number;
}

interface Msg {
  /** ms after the timeline's first message. */
  at: number;
  stream: string;
  text: string;
  depth?: { U: number; u: number; pu: number; E: number; T: number; b: [string, string][]; a: [string, string][] };
}

interface Conn {
  streams: Set<string>;
  sent: number;
  awaitingPong: number;
  index: number;
}

export interface MockExchangeStats {
  connections: number;
  messagesSent: number;
  pongs: number;
  snapshotsServed: number;
  diffsDropped: number;
  closedByFault: number;
  closedNoPong: number;
}

export class MockExchange {
  private app!: TemplatedApp;
  private listen: us_listen_socket | undefined;
  private readonly book = new L2Book();
  /** The one event every diff is applied through (the book keeps nothing of it). */
  private readonly diff = new DepthEvent();
  private lastUpdateId = 0;
  private lastE = 0;
  private lastT = 0;
  private timeline: Msg[] = [];
  private next = 0;
  private startedAt = 0;
  /** performance.now() when pause() held the timeline; NaN while it plays. */
  private pausedAt = NaN;
  private timer: NodeJS.Timeout | undefined;
  private pingTimer: NodeJS.Timeout | undefined;
  private readonly conns = new Set<WebSocket<Conn>>();
  private diffNo = 0;
  private connNo = 0;
  /** Diffs still to leave out of the stream (dropNextDiff). */
  private toDrop = 0;
  market: 'spot' | 'usdm' = 'usdm';
  symbol = '';
  port = 0;
  readonly stats: MockExchangeStats = { connections: 0, messagesSent: 0, pongs: 0, snapshotsServed: 0, diffsDropped: 0, closedByFault: 0, closedNoPong: 0 };

  constructor(private readonly o: MockExchangeOptions) {}

  get wsUrl(): string {
    return `ws://127.0.0.1:${this.port}`;
  }

  get restUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Diffs released so far (the exchange's position in the timeline). */
  get diffsReleased(): number {
    return this.diffNo;
  }

  /** The exchange's book now: top `k` levels per side, best first. */
  top(k: number): { lastUpdateId: number; bids: [number, number][]; asks: [number, number][] } {
    const bp = new Float64Array(k), bs = new Float64Array(k), ap = new Float64Array(k), as = new Float64Array(k);
    this.book.top(k, bp, bs, ap, as);
    const side = (p: Float64Array, s: Float64Array): [number, number][] => {
      const out: [number, number][] = [];
      for (let i = 0; i < k && p[i] === p[i]; i++) out.push([p[i]!, s[i]!]);
      return out;
    };
    return { lastUpdateId: this.lastUpdateId, bids: side(bp, bs), asks: side(ap, as) };
  }

  async start(): Promise<void> {
    await this.load();
    const uWS = requireNativeUws();
    this.app = uWS.App();
    this.app.ws<Conn>('/stream', {
      maxPayloadLength: 64 * 1024,
      idleTimeout: 0,
      maxBackpressure: 64 << 20,
      upgrade: (res, req, ctx) => {
        const streams = new URLSearchParams(req.getQuery() ?? '').get('streams') ?? '';
        res.upgrade<Conn>({ streams: new Set(streams.split('/').filter(Boolean)), sent: 0, awaitingPong: 0, index: this.connNo++ },
          req.getHeader('sec-websocket-key'), req.getHeader('sec-websocket-protocol'), req.getHeader('sec-websocket-extensions'), ctx);
      },
      open: (ws) => {
        this.stats.connections++;
        this.conns.add(ws);
      },
      pong: (ws) => {
        this.stats.pongs++;
        ws.getUserData().awaitingPong = 0;
      },
      close: (ws) => {
        this.conns.delete(ws);
      },
    });
    const depth = (res: import('uWebSockets.js').HttpResponse, req: import('uWebSockets.js').HttpRequest): void => {
      const q = new URLSearchParams(req.getQuery() ?? '');
      const sym = q.get('symbol');
      const limit = Math.min(5000, Number(q.get('limit') ?? 100) || 100);
      if (sym !== this.symbol) {
        res.writeStatus('400 Bad Request').writeHeader('content-type', 'application/json').end(JSON.stringify({ code: -1121, msg: 'Invalid symbol.' }));
        return;
      }
      this.stats.snapshotsServed++;
      const t = this.top(limit);
      const body: Record<string, unknown> = { lastUpdateId: t.lastUpdateId };
      if (this.market === 'usdm') {
        body['E'] = this.lastE;
        body['T'] = this.lastT;
      }
      body['bids'] = t.bids.map(([p, s]) => [String(p), String(s)]);
      body['asks'] = t.asks.map(([p, s]) => [String(p), String(s)]);
      res.writeStatus('200 OK').writeHeader('content-type', 'application/json').end(JSON.stringify(body));
    };
    this.app.get('/api/v3/depth', depth);
    this.app.get('/fapi/v1/depth', depth);
    await new Promise<void>((resolve, reject) => {
      this.app.listen(this.o.host ?? '127.0.0.1', this.o.port ?? 0, (ls) => {
        if (!ls) return reject(new Error('mock exchange: cannot listen'));
        this.listen = ls;
        this.port = uWS.us_socket_local_port(ls as never);
        resolve();
      });
    });
    this.startedAt = performance.now();
    this.schedule();
    const pi = this.o.pingIntervalMs ?? 20_000;
    this.pingTimer = setInterval(() => this.pingAll(), pi);
    this.pingTimer.unref();
  }

  /**
   * The next diff released is applied to the exchange's book but sent to no one: a sequence gap,
   * made when the test has seen its client synced (a diff left out before the client's snapshot
   * would be no gap at all).
   */
  dropNextDiff(): void {
    this.toDrop++;
  }

  /** Holds the timeline: nothing is released and its clock stops, so resume() goes on at speed, not in a burst. */
  pause(): void {
    if (this.pausedAt === this.pausedAt) return;
    this.pausedAt = performance.now();
    clearTimeout(this.timer);
  }

  resume(): void {
    if (this.pausedAt !== this.pausedAt) return;
    this.startedAt += performance.now() - this.pausedAt;
    this.pausedAt = NaN;
    this.schedule();
  }

  stop(): void {
    clearTimeout(this.timer);
    clearInterval(this.pingTimer);
    for (const ws of this.conns) ws.close();
    this.conns.clear();
    if (this.listen) requireNativeUws().us_listen_socket_close(this.listen);
    this.listen = undefined;
  }

  /**
   * Loads the capture: the snapshot seeds the book; the timeline starts at the diff Binance's rule
   * picks after it, and must run without a gap from there (the book served over REST follows it).
   */
  private async load(): Promise<void> {
    const { snapshot, messages: raw } = await readBinanceCapture(this.o.capture);
    const firstDepth = raw.find((r) => r.d['e'] === 'depthUpdate');
    if (!firstDepth) throw new Error(`${this.o.capture}: no depth diffs`);
    this.symbol = firstDepth.d['s'] as string;
    this.market = typeof firstDepth.d['pu'] === 'number' ? 'usdm' : 'spot';
    const lid = snapshot['lastUpdateId'] as number;
    const ev = new DepthEvent();
    ev.kind = 'snapshot';
    for (const [p, s] of snapshot['bids'] as [string, string][]) ev.pushBid(Number(p), Number(s));
    for (const [p, s] of snapshot['asks'] as [string, string][]) ev.pushAsk(Number(p), Number(s));
    this.book.apply(ev);
    this.lastUpdateId = lid;
    const at: number[] = [];
    const ids: DiffIds[] = [];
    raw.forEach((r, i) => {
      const d = diffIds(r.d);
      if (d) at.push(i), ids.push(d);
    });
    const sync = binanceSyncPoint(this.market, lid, ids);
    if (!sync?.ok) {
      const d = sync && ids[sync.index]!;
      throw new Error(`${this.o.capture}: no diff continues the snapshot ${lid}${d ? ` (the first kept has U=${d.U} u=${d.u})` : ''}`);
    }
    for (let k = sync.index + 1; k < ids.length; k++) {
      if (!binanceContinues(this.market, ids[k - 1]!, ids[k]!)) {
        throw new Error(`${this.o.capture}: diff ${k} (U=${ids[k]!.U} u=${ids[k]!.u}) does not follow u=${ids[k - 1]!.u}: the mock's book would not be the exchange's`);
      }
    }
    let from = at[sync.index]!;
    for (let skip = this.o.skipDiffs ?? 0; skip > 0 && from < raw.length; from++) {
      const r = raw[from]!;
      if (r.d['e'] === 'depthUpdate') {
        this.applyDiff(r.d);
        skip--;
      }
    }
    const t0 = raw[from]!.ns;
    const speed = this.o.speed ?? 1;
    // A live exchange stamps present times: move E and T by whole days to today (u and the prices untouched).
    const shift = Math.round((Date.now() - (firstDepth.d['E'] as number)) / 86_400_000) * 86_400_000;
    this.lastE = (snapshot['E'] as number | undefined ?? 0) + shift;
    this.lastT = (snapshot['T'] as number | undefined ?? 0) + shift;
    this.timeline = raw.slice(from).map((r) => {
      for (const k of ['E', 'T']) if (typeof r.d[k] === 'number') r.d[k] = (r.d[k] as number) + shift;
      const m: Msg = { at: Number(r.ns - t0) / 1e6 / speed, stream: r.stream, text: JSON.stringify({ stream: r.stream, data: r.d }) };
      if (r.d['e'] === 'depthUpdate') {
        m.depth = {
          U: r.d['U'] as number, u: r.d['u'] as number, pu: r.d['pu'] as number, E: r.d['E'] as number, T: r.d['T'] as number,
          b: r.d['b'] as [string, string][], a: r.d['a'] as [string, string][],
        };
      }
      return m;
    });
  }

  private applyDiff(d: { u?: unknown; E?: unknown; T?: unknown; b?: unknown; a?: unknown } | Record<string, unknown>): void {
    const ev = this.diff;
    ev.reset();
    ev.kind = 'delta';
    ev.sizes = 'absolute';
    for (const [p, s] of d['b'] as [string, string][]) ev.pushBid(Number(p), Number(s));
    for (const [p, s] of d['a'] as [string, string][]) ev.pushAsk(Number(p), Number(s));
    this.book.apply(ev);
    this.lastUpdateId = d['u'] as number;
    this.lastE = (d['E'] as number) ?? this.lastE;
    this.lastT = (d['T'] as number) ?? this.lastT;
  }

  private schedule(): void {
    if (this.next >= this.timeline.length || this.pausedAt === this.pausedAt) return;
    const delay = this.startedAt + this.timeline[this.next]!.at - performance.now();
    this.timer = setTimeout(() => this.release(), Math.max(0, delay));
  }

  private release(): void {
    const now = performance.now() - this.startedAt;
    while (this.next < this.timeline.length && this.timeline[this.next]!.at <= now) {
      const m = this.timeline[this.next++]!;
      let send = true;
      if (m.depth) {
        this.applyDiff(m.depth as unknown as Record<string, unknown>);
        if (this.toDrop > 0) {
          this.toDrop--;
          send = false;
          this.stats.diffsDropped++;
        }
        this.diffNo++;
      }
      if (!send) continue;
      for (const ws of this.conns) {
        const c = ws.getUserData();
        if (!c.streams.has(m.stream)) continue;
        ws.send(m.text, false);
        c.sent++;
        this.stats.messagesSent++;
        const limit = this.o.closeAfterMessages;
        if (limit !== undefined && c.index < (this.o.closeConnections ?? 1) && c.sent >= limit) {
          this.stats.closedByFault++;
          this.conns.delete(ws);
          ws.close();
        }
      }
    }
    this.schedule();
  }

  private pingAll(): void {
    const timeout = this.o.pongTimeoutMs ?? 60_000;
    const now = performance.now();
    for (const ws of this.conns) {
      const c = ws.getUserData();
      if (c.awaitingPong && now - c.awaitingPong > timeout) {
        this.stats.closedNoPong++;
        this.conns.delete(ws);
        ws.end(1008, 'pong timeout');
        continue;
      }
      if (!c.awaitingPong) c.awaitingPong = now;
      ws.ping();
    }
  }
}
