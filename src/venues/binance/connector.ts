/**
 * Live Binance connector, spot and USD-M futures: one combined stream for all symbols (depth diffs
 * and trades), the REST depth snapshot per symbol, and Binance's "manage a local order book"
 * procedure, which the foundation's BookBuilder already implements (buffer diffs until the
 * snapshot, drop the stale ones, check the first diff against lastUpdateId, then U/u/pu chaining).
 * This file adds the network around it:
 *  - the snapshot is requested after the symbol's first diff has arrived, so the buffered diffs
 *    always reach back to it; a snapshot that is too old shows as a gap and is requested again;
 *  - a sequence gap (the builder marks the symbol out of sync) triggers a new snapshot (resync);
 *  - pings every `pingIntervalMs`, and a connection silent for `staleAfterMs` is dropped; Binance's
 *    own pings are answered by the WebSocket library;
 *  - reconnect with exponential backoff and jitter, each connection starting a fresh book session;
 *  - REST failures (including 429/418 rate limits, honouring Retry-After) back off per symbol.
 * Messages are parsed by the same BinanceLineParser as the capture files, so live and recorded
 * data go through identical code.
 */
import type WebSocketType from 'ws';
import { BinanceLineParser } from './capture.ts';
import type { ConnectorStats, ConnectorTarget, LiveConnector } from '../venue.ts';
import type { SyncStatus } from '../../book/builder.ts';
import { BadInputPolicy } from '../../core/errors.ts';
import type { TimeBaseRef } from '../../model/time.ts';
import { logger } from '../../core/log.ts';
import { backoffMs } from '../../core/backoff.ts';

const log = logger('binance');

export type BinanceMarket = 'spot' | 'usdm';

export interface BinanceConnectorOptions {
  market: BinanceMarket;
  symbols: string[];
  timeBase: TimeBaseRef;
  /** Stream base URL (default wss://stream.binance.com:9443 or wss://fstream.binance.com). */
  wsUrl?: string;
  /** REST base URL (default https://api.binance.com or https://fapi.binance.com). */
  restUrl?: string;
  /** Diff stream suffix (default @depth@100ms). */
  depthStream?: string;
  /** Trade stream: trade (default) or aggTrade. */
  tradeStream?: 'trade' | 'aggTrade';
  /** Levels requested in the REST snapshot (default 1000). */
  snapshotLimit?: number;
  pingIntervalMs?: number;
  staleAfterMs?: number;
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  /** Shortest pause between two snapshot requests for one symbol. */
  snapshotMinIntervalMs?: number;
}

const DEFAULTS = {
  spot: { ws: 'wss://stream.binance.com:9443', rest: 'https://api.binance.com', depthPath: '/api/v3/depth' },
  usdm: { ws: 'wss://fstream.binance.com', rest: 'https://fapi.binance.com', depthPath: '/fapi/v1/depth' },
} as const;

/** A symbol's snapshot bookkeeping for one connection. */
interface SymbolSync {
  /** The book's sync status, as last pushed by the builder. */
  status: SyncStatus | undefined;
  inFlight: boolean;
  nextAllowed: number;
  failures: number;
  /** A pending retry (after a failure, or a request that came within snapshotMinIntervalMs). */
  retry: NodeJS.Timeout | undefined;
}

/** A book waiting for its first snapshot, or out of sync, is resynced from a REST snapshot. */
function needsSnapshot(st: SyncStatus | undefined): boolean {
  return st === 'awaiting-snapshot' || st === 'out-of-sync';
}

export class BinanceConnector implements LiveConnector {
  private ws: WebSocketType | undefined;
  private stopped = false;
  private attempt = 0;
  private parser!: BinanceLineParser;
  private lineNo = 0;
  private pingTimer: NodeJS.Timeout | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private lastMessageAt = 0;
  private readonly sync = new Map<string, SymbolSync>();
  private readonly policy = BadInputPolicy.parse('all');
  private readonly o: Required<Omit<BinanceConnectorOptions, 'timeBase'>> & { timeBase: TimeBaseRef };
  private session = 0;
  private WS!: typeof WebSocketType;
  readonly stats: ConnectorStats = { connects: 0, disconnects: 0, messages: 0, snapshots: 0, snapshotFailures: 0, resyncRequests: 0, badMessages: 0 };

  constructor(opts: BinanceConnectorOptions, private readonly target: ConnectorTarget) {
    const d = DEFAULTS[opts.market];
    this.o = {
      wsUrl: d.ws,
      restUrl: d.rest,
      depthStream: '@depth@100ms',
      tradeStream: 'trade',
      snapshotLimit: 1000,
      pingIntervalMs: 30_000,
      staleAfterMs: 90_000,
      backoffInitialMs: 500,
      backoffMaxMs: 30_000,
      snapshotMinIntervalMs: 1000,
      ...Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)),
      symbols: opts.symbols.map((s) => s.toUpperCase()),
    } as typeof this.o;
    if (this.o.symbols.length === 0) throw new Error('binance connector: no symbols');
  }

  get name(): string {
    return `binance-${this.o.market}:${this.o.symbols.join(',')}`;
  }

  streamUrl(): string {
    const streams = this.o.symbols.flatMap((s) => [`${s.toLowerCase()}${this.o.depthStream}`, `${s.toLowerCase()}@${this.o.tradeStream}`]);
    return `${this.o.wsUrl.replace(/\/$/, '')}/stream?streams=${streams.join('/')}`;
  }

  async start(): Promise<void> {
    this.WS = (await import('ws')).default;
    this.connect();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.pingTimer);
    clearTimeout(this.reconnectTimer);
    const ws = this.ws;
    this.ws = undefined;
    if (ws && ws.readyState !== ws.CLOSED) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 1000);
        ws.once('close', () => {
          clearTimeout(t);
          resolve();
        });
        ws.terminate();
      });
    }
    this.target.state = 'stopped';
  }

  private connect(): void {
    if (this.stopped) return;
    const session = ++this.session;
    this.target.state = 'connecting';
    this.sync.clear();
    this.target.onSyncStatus = (symbol, status) => this.onSyncStatus(symbol, status, session);
    this.target.newSession();
    // Each connection gets a parser of its own: its per-symbol stream rules start afresh too.
    this.parser = new BinanceLineParser(this.name, this.o.timeBase, this.policy, this.target);
    const url = this.streamUrl();
    log.info('connecting', { url });
    const ws = new this.WS(url, { handshakeTimeout: 10_000, perMessageDeflate: false });
    this.ws = ws;
    ws.on('open', () => {
      if (session !== this.session) return;
      this.stats.connects++;
      this.lastMessageAt = performance.now();
      this.target.state = 'syncing';
      this.target.detail = '';
      clearInterval(this.pingTimer);
      this.pingTimer = setInterval(() => this.keepAlive(ws), Math.min(this.o.pingIntervalMs, this.o.staleAfterMs / 3));
      this.pingTimer.unref();
    });
    ws.on('message', (data: Buffer) => {
      if (session !== this.session) return;
      this.lastMessageAt = performance.now();
      this.stats.messages++;
      this.feed(data);
    });
    ws.on('pong', () => {
      this.lastMessageAt = performance.now();
    });
    ws.on('error', (e: Error) => {
      this.target.detail = e.message;
      log.warn('stream error', { error: e });
    });
    ws.on('close', (code: number, reason: Buffer) => {
      if (session !== this.session) return;
      clearInterval(this.pingTimer);
      this.stats.disconnects++;
      if (this.stopped) return;
      const delay = this.backoff();
      this.target.state = 'reconnecting';
      this.target.detail = `closed (${code}${reason.length ? ` ${reason.toString()}` : ''}); reconnecting in ${Math.round(delay)} ms`;
      log.warn('stream closed: reconnecting', { code, reason: reason.toString(), delayMs: Math.round(delay) });
      this.reconnectTimer = setTimeout(() => this.connect(), delay);
    });
  }

  private backoff(): number {
    return backoffMs(this.attempt++, this.o.backoffInitialMs, this.o.backoffMaxMs);
  }

  private keepAlive(ws: WebSocketType): void {
    if (ws !== this.ws || ws.readyState !== ws.OPEN) return;
    if (performance.now() - this.lastMessageAt > this.o.staleAfterMs) {
      log.warn('stream silent: dropping the connection', { silentMs: Math.round(performance.now() - this.lastMessageAt) });
      this.target.detail = 'stream silent';
      ws.terminate();
      return;
    }
    ws.ping();
  }

  /**
   * Hands a message to the capture parser, stamped with its local receipt time (one code path for
   * live frames and capture files): a frame's JSON text, or an already decoded object (a REST snapshot).
   */
  private feed(data: Buffer | string | Record<string, unknown>): void {
    const now = process.hrtime.bigint() - HR_OFFSET;
    const sec = Number(now / 1_000_000_000n);
    const ns = Number(now % 1_000_000_000n);
    try {
      if (typeof data === 'string' || Buffer.isBuffer(data)) this.parser.text(data.toString(), sec, ns, ++this.lineNo);
      else this.parser.received(data, sec, ns, ++this.lineNo);
    } catch (e) {
      // Whatever one message does (times out of range, a bug downstream), the stream goes on.
      this.stats.badMessages++;
      if (this.stats.badMessages <= 10) {
        const text = typeof data === 'string' || Buffer.isBuffer(data) ? data.toString() : JSON.stringify(data);
        log.error('message failed', { error: e as Error, message: text.slice(0, 200) });
      }
    }
  }

  /** The books say a symbol's sync changed (pushed by the builder, never asked per diff). */
  private onSyncStatus(symbol: string, st: SyncStatus, session: number): void {
    if (session !== this.session) return;
    const s = this.symbolSync(symbol);
    s.status = st;
    if (st === 'synced') {
      s.failures = 0;
      this.attempt = 0;
      if (this.target.state === 'syncing' && this.o.symbols.every((x) => this.sync.get(x)?.status === 'synced')) this.target.state = 'running';
      return;
    }
    if (st === 'out-of-sync' && this.target.state === 'running') {
      this.target.state = 'syncing';
      this.stats.resyncRequests++;
    }
    if (needsSnapshot(st)) this.requestSnapshot(symbol, session);
  }

  private symbolSync(symbol: string): SymbolSync {
    let s = this.sync.get(symbol);
    if (!s) this.sync.set(symbol, (s = { status: undefined, inFlight: false, nextAllowed: 0, failures: 0, retry: undefined }));
    return s;
  }

  private requestSnapshot(symbol: string, session: number): void {
    const s = this.symbolSync(symbol);
    const now = performance.now();
    if (s.inFlight) return;
    if (now < s.nextAllowed) {
      // Too soon after the last request: once the interval is over, if the book still needs one.
      this.retryAt(symbol, session, s, s.nextAllowed - now);
      return;
    }
    s.inFlight = true;
    s.nextAllowed = now + this.o.snapshotMinIntervalMs;
    this.fetchSnapshot(symbol).then(
      (body) => {
        s.inFlight = false;
        if (session !== this.session || this.stopped) return;
        this.stats.snapshots++;
        const j = JSON.parse(body) as Record<string, unknown>;
        j['symbol'] = symbol;
        this.feed(j);
        log.info('snapshot applied', { symbol, lastUpdateId: j['lastUpdateId'] });
      },
      (e: Error & { retryAfterMs?: number }) => {
        s.inFlight = false;
        s.failures++;
        this.stats.snapshotFailures++;
        const wait = e.retryAfterMs ?? backoffMs(s.failures, this.o.backoffInitialMs, this.o.backoffMaxMs, false);
        s.nextAllowed = performance.now() + wait;
        this.target.detail = `snapshot ${symbol}: ${e.message}`;
        log.warn('snapshot failed', { symbol, error: e, retryInMs: wait });
        this.retryAt(symbol, session, s, wait);
      },
    );
  }

  private retryAt(symbol: string, session: number, s: SymbolSync, waitMs: number): void {
    if (s.retry) return;
    s.retry = setTimeout(() => {
      s.retry = undefined;
      if (session === this.session && !this.stopped && needsSnapshot(s.status)) this.requestSnapshot(symbol, session);
    }, waitMs);
    s.retry.unref();
  }

  private async fetchSnapshot(symbol: string): Promise<string> {
    const path = DEFAULTS[this.o.market].depthPath;
    const url = `${this.o.restUrl.replace(/\/$/, '')}${path}?symbol=${symbol}&limit=${this.o.snapshotLimit}`;
    const r = await fetch(url, { signal: AbortSignal.timeout(10_000) });
    const body = await r.text();
    if (!r.ok) {
      const err = new Error(`GET ${url}: HTTP ${r.status} ${body.slice(0, 200)}`) as Error & { retryAfterMs?: number };
      const ra = Number(r.headers.get('retry-after'));
      if (ra > 0) err.retryAfterMs = ra * 1000;
      throw err;
    }
    return body;
  }
}

/** Local receive times in epoch ns: hrtime is monotonic; anchor it to the wall clock once. */
const HR_OFFSET = process.hrtime.bigint() - BigInt(Date.now()) * 1_000_000n;
