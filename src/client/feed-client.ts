/**
 * A small typed client for the flowcast feed (protocol v1, docs/protocol.md): connect, subscribe,
 * and receive typed frames, with request/reply correlation by id, per-topic sequence tracking (gaps
 * and `dropped` notices) and feature frames by column name.
 *
 *   const c = await FeedClient.connect({ url: 'ws://127.0.0.1:8080/feed' });
 *   c.on('features', (f) => console.log(f.sym, c.named(f).mid));
 *   await c.subscribe(['features.BTCUSDT', 'pred.deeplob.BTCUSDT', 'alerts.*']);
 *
 * In Node it uses the `ws` package (which can send headers: `Authorization`, `Origin`).
 *
 * With `reconnect`, a dropped connection is reopened with backoff and every topic subscribed again:
 * the server then sends each topic's last value, so state topics are current at once; frames missed
 * while away show as sequence gaps (or, if the server restarted, sequence numbers start again).
 */
import type { AlertFrame, BookFrame, DroppedFrame, ErrorFrame, FeaturesFrame, HeartbeatFrame, HelloFrame, PongFrame, PredFrame, ServerFrame, SubscribedFrame, TopicsFrame } from '../protocol/frames.ts';
import { decodeMessage, encode, type Format } from '../protocol/codec.ts';
import { backoffMs } from '../core/backoff.ts';

export interface FeedClientOptions {
  /** ws://host:port/feed */
  url: string;
  key?: string;
  format?: Format;
  /** Send requests as msgpack binary frames instead of JSON text (default: the feed's format). */
  requestFormat?: Format;
  /** Extra handshake headers (Node only), e.g. Origin. */
  headers?: Record<string, string>;
  /** Send the key in the query string instead of the Authorization header. */
  keyInQuery?: boolean;
  /**
   * A limit in ms on connecting (handshake and hello), for a peer that may never answer at all.
   * None by default: without it the wait ends on the connection's own events (the hello, a refusal,
   * a close, or the server answering a ping without having sent a hello), however loaded either
   * machine is.
   */
  timeoutMs?: number;
  /** Reopen a dropped connection (not one closed by `close()`), with exponential backoff. */
  reconnect?: boolean | { initialMs?: number; maxMs?: number };
}

export class FeedError extends Error {
  constructor(readonly frame: ErrorFrame) {
    super(`${frame.code}: ${frame.message}`);
    this.name = 'FeedError';
  }
}

/** Refused before the WebSocket opened (HTTP status from the upgrade). */
export class ConnectError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
    this.name = 'ConnectError';
  }
}

interface Handlers {
  book: (f: BookFrame) => void;
  features: (f: FeaturesFrame) => void;
  pred: (f: PredFrame) => void;
  alert: (f: AlertFrame) => void;
  hb: (f: HeartbeatFrame) => void;
  dropped: (f: DroppedFrame) => void;
  error: (f: ErrorFrame) => void;
  frame: (f: ServerFrame) => void;
  /** The connection ended for good (closed by you, or dropped without `reconnect`). */
  close: (e: { code: number; reason: string }) => void;
  /** With `reconnect`: the connection dropped and will be reopened. */
  disconnect: (e: { code: number; reason: string }) => void;
  /** With `reconnect`: reopened and resubscribed. */
  reconnect: (hello: HelloFrame) => void;
}

interface Socket {
  send(data: string | Uint8Array): void;
  close(code?: number, reason?: string): void;
  readyState: number;
}

type Pending = { resolve: (f: ServerFrame) => void; reject: (e: Error) => void; timer: ReturnType<typeof setTimeout> };

export class FeedClient {
  hello!: HelloFrame;
  /** Last sequence number seen per topic. */
  readonly lastSeq = new Map<string, number>();
  /** Frames missing per topic, from sequence jumps. */
  readonly gaps = new Map<string, number>();
  /** Frames the server reported as dropped per topic (`dropped` notices). */
  readonly droppedReported = new Map<string, number>();
  /** Frames received, by type. */
  readonly counts = new Map<string, number>();
  closeEvent: { code: number; reason: string } | undefined;
  readonly closed: Promise<{ code: number; reason: string }>;
  private readonly handlers: { [K in keyof Handlers]: Handlers[K][] } = {
    book: [], features: [], pred: [], alert: [], hb: [], dropped: [], error: [], frame: [], close: [], disconnect: [], reconnect: [],
  };
  /** Topics to hold across reconnects. */
  private readonly wanted = new Set<string>();
  private userClosed = false;
  reconnects = 0;
  private readonly pending = new Map<number | string, Pending>();
  private nextId = 1;
  private sock!: Socket;
  private columnIndex: Map<string, number> | undefined;
  private resolveClosed!: (e: { code: number; reason: string }) => void;
  private readonly requestFormat: Format;

  private constructor(private readonly opts: FeedClientOptions) {
    this.requestFormat = opts.requestFormat ?? 'json';
    this.closed = new Promise((r) => { this.resolveClosed = r; });
  }

  static async connect(opts: FeedClientOptions): Promise<FeedClient> {
    const c = new FeedClient(opts);
    await c.open();
    return c;
  }

  private open(): Promise<void> {
    const o = this.opts;
    const u = new URL(o.url);
    if (o.format) u.searchParams.set('format', o.format);
    if (o.key && (o.keyInQuery || typeof process === 'undefined')) u.searchParams.set('key', o.key);
    const headers: Record<string, string> = { ...o.headers };
    if (o.key && !o.keyInQuery) headers['authorization'] = `Bearer ${o.key}`;
    return new Promise<void>((resolve, reject) => {
      let helloSeen = false;
      let failed = false;
      let terminate = (): void => {};
      const fail = (e: Error): void => {
        if (helloSeen || failed) return;
        failed = true;
        clearTimeout(timer);
        reject(e);
        terminate();
      };
      const timer = o.timeoutMs === undefined ? undefined : setTimeout(() => fail(new Error(`no hello from ${o.url} within ${o.timeoutMs} ms`)), o.timeoutMs);
      const onFrame = (f: ServerFrame): void => {
        if (!helloSeen && f.t === 'hello') {
          helloSeen = true;
          this.hello = f;
          clearTimeout(timer);
          resolve();
        }
        this.dispatch(f);
      };
      const onClose = (code: number, reason: string): void => {
        clearTimeout(timer);
        for (const p of this.pending.values()) {
          clearTimeout(p.timer);
          p.reject(new Error(`connection closed (${code} ${reason})`));
        }
        this.pending.clear();
        if (!helloSeen) {
          // Only a failed attempt: connect() rejects, or the reconnect loop tries again; the client
          // itself has not closed.
          fail(new Error(`connection closed before hello (${code} ${reason})`));
          return;
        }
        if (o.reconnect && !this.userClosed) {
          for (const h of this.handlers.disconnect) h({ code, reason });
          this.scheduleReconnect(0);
          return;
        }
        this.closeEvent = { code, reason };
        for (const h of this.handlers.close) h(this.closeEvent);
        this.resolveClosed(this.closeEvent);
      };
      void import('ws').then(({ default: WS }) => {
        const ws = new WS(u.toString(), { headers, perMessageDeflate: false });
        this.sock = ws;
        terminate = () => ws.terminate();
        ws.on('unexpected-response', (_req, res) => {
          let body = '';
          res.on('data', (d: Buffer) => { body += d.toString(); });
          res.on('end', () => fail(new ConnectError(res.statusCode ?? 0, `${res.statusCode} ${body.trim()}`)));
        });
        ws.on('error', (e) => fail(e));
        // The server sends its hello from its open handler, before it reads anything, and one
        // connection's frames arrive in order: a pong with no hello before it is a peer that is
        // not a flowcast feed. This ends the wait without guessing how long a busy server takes.
        ws.on('open', () => ws.ping());
        ws.on('pong', () => fail(new Error(`${o.url} answered a ping but sent no hello: not a flowcast feed`)));
        ws.on('message', (data: Buffer, isBinary: boolean) => {
          let f: ServerFrame;
          try {
            f = decodeMessage(data, isBinary) as ServerFrame;
          } catch {
            return;
          }
          onFrame(f);
        });
        ws.on('close', (code: number, reason: Buffer) => onClose(code, reason.toString()));
      }, (e: Error) => fail(e));
    });
  }

  private scheduleReconnect(attempt: number): void {
    const r = typeof this.opts.reconnect === 'object' ? this.opts.reconnect : {};
    const delay = backoffMs(attempt, r.initialMs ?? 250, r.maxMs ?? 10_000);
    setTimeout(() => {
      if (this.userClosed) return;
      const prevStarted = this.hello.started;
      this.open().then(
        () => {
          this.reconnects++;
          // A restarted server numbers its topics from 1 again: not a gap.
          if (this.hello.started !== prevStarted) this.lastSeq.clear();
          if (this.wanted.size > 0) this.request({ op: 'subscribe', topics: [...this.wanted] }).catch(() => undefined);
          for (const h of this.handlers.reconnect) h(this.hello);
        },
        () => this.scheduleReconnect(attempt + 1),
      );
    }, delay);
  }

  on<K extends keyof Handlers>(type: K, h: Handlers[K]): this {
    this.handlers[type].push(h);
    return this;
  }

  off<K extends keyof Handlers>(type: K, h: Handlers[K]): this {
    const a = this.handlers[type] as Handlers[K][];
    const i = a.indexOf(h);
    if (i >= 0) a.splice(i, 1);
    return this;
  }

  /** Waits for the next frame that satisfies `pred`. */
  next<F extends ServerFrame = ServerFrame>(pred: (f: ServerFrame) => boolean, timeoutMs = 5000): Promise<F> {
    return new Promise<F>((resolve, reject) => {
      const h = (f: ServerFrame): void => {
        if (!pred(f)) return;
        clearTimeout(timer);
        this.off('frame', h);
        resolve(f as F);
      };
      const timer = setTimeout(() => {
        this.off('frame', h);
        reject(new Error(`no matching frame within ${timeoutMs} ms`));
      }, timeoutMs);
      this.on('frame', h);
    });
  }

  async subscribe(topics: string[]): Promise<SubscribedFrame> {
    const r = (await this.request({ op: 'subscribe', topics })) as SubscribedFrame;
    for (const t of topics) this.wanted.add(t);
    return r;
  }

  async unsubscribe(topics: string[]): Promise<SubscribedFrame> {
    const r = (await this.request({ op: 'unsubscribe', topics })) as SubscribedFrame;
    for (const t of topics) this.wanted.delete(t);
    return r;
  }

  ping(): Promise<PongFrame> {
    return this.request({ op: 'ping' }) as Promise<PongFrame>;
  }

  topics(): Promise<TopicsFrame> {
    return this.request({ op: 'topics' }) as Promise<TopicsFrame>;
  }

  /** Sends a request and resolves with the reply carrying its id (an error frame rejects with FeedError). */
  request(req: Record<string, unknown>, timeoutMs = 5000): Promise<ServerFrame> {
    const id = this.nextId++;
    return new Promise<ServerFrame>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`no reply to ${String(req['op'])} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      this.sendRaw({ ...req, id });
    });
  }

  /** Sends any value as a request frame (tests use it to send bad requests). */
  sendRaw(msg: unknown, format: Format = this.requestFormat): void {
    if (typeof msg === 'string' || msg instanceof Uint8Array) this.sock.send(msg);
    else this.sock.send(encode(msg as object, format));
  }

  /** A features frame's values by column name (NaN for null). */
  named(f: FeaturesFrame): Record<string, number> {
    this.columnIndex ??= new Map(this.hello.featureColumns.map((c, i) => [c, i]));
    const out: Record<string, number> = {};
    for (const [c, i] of this.columnIndex) {
      const v = f.v[i];
      out[c] = v === null || v === undefined ? NaN : v;
    }
    return out;
  }

  close(code = 1000, reason = 'bye'): Promise<{ code: number; reason: string }> {
    this.userClosed = true;
    if (!this.closeEvent) {
      if (this.sock.readyState === 3) {
        // Already down, between reconnect attempts: nothing to close but the client.
        this.closeEvent = { code, reason };
        for (const h of this.handlers.close) h(this.closeEvent);
        this.resolveClosed(this.closeEvent);
      } else this.sock.close(code, reason);
    }
    return this.closed;
  }

  private dispatch(f: ServerFrame): void {
    this.counts.set(f.t, (this.counts.get(f.t) ?? 0) + 1);
    if ('seq' in f && 'topic' in f && typeof f.seq === 'number') {
      const last = this.lastSeq.get(f.topic);
      if (last !== undefined && f.seq > last + 1) this.gaps.set(f.topic, (this.gaps.get(f.topic) ?? 0) + f.seq - last - 1);
      this.lastSeq.set(f.topic, f.seq);
    }
    const id = (f as { id?: number | string }).id;
    if (id !== undefined && this.pending.has(id) && f.t !== 'hello') {
      const p = this.pending.get(id)!;
      this.pending.delete(id);
      clearTimeout(p.timer);
      if (f.t === 'error') p.reject(new FeedError(f));
      else p.resolve(f);
    }
    switch (f.t) {
      case 'book': for (const h of this.handlers.book) h(f); break;
      case 'features': for (const h of this.handlers.features) h(f); break;
      case 'pred': for (const h of this.handlers.pred) h(f); break;
      case 'alert': for (const h of this.handlers.alert) h(f); break;
      case 'hb': for (const h of this.handlers.hb) h(f); break;
      case 'dropped':
        for (const [t, n] of Object.entries(f.topics)) this.droppedReported.set(t, (this.droppedReported.get(t) ?? 0) + n);
        for (const h of this.handlers.dropped) h(f);
        break;
      case 'error': for (const h of this.handlers.error) h(f); break;
      default: break;
    }
    for (const h of this.handlers.frame) h(f);
  }
}
