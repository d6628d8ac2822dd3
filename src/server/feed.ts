/**
 * The `/feed` WebSocket endpoint: upgrade checks (origin, encoding, key, connection limits), the
 * hello frame, and client requests (subscribe, unsubscribe, ping, topics), each answered or refused
 * with an error frame. Nothing a client sends can throw out of here.
 */
import type { HttpRequest, HttpResponse, TemplatedApp, WebSocketBehavior, us_socket_context_t } from 'uWebSockets.js';
import { Broker, FeedConn } from './broker.ts';
import { CloseCode, PROTOCOL_VERSION, RequestError, tooBig, validateRequest, type Request } from '../protocol/frames.ts';
import { decodeMessage, parseFormat } from '../protocol/codec.ts';
import { Security, type Principal } from './security.ts';
import type { ServerConfig } from './config.ts';
import { abText, uWS, uwsPayloadLimit } from './uws.ts';
import type { MetricsRegistry } from './metrics.ts';
import { FEATURE_COLUMNS } from '../features/columns.ts';
import { logger } from '../core/log.ts';

const log = logger('feed');

/** Requests over the rate limit that are answered with an error before the connection is closed. */
const RATE_VIOLATIONS_BEFORE_CLOSE = 20;

export interface UpgradeInfo {
  key: string;
  protocol: string;
  extensions: string;
  origin: string;
  host: string;
  authorization: string;
  query: string;
  ip: string;
}

/** Reads what an upgrade needs from the request (which is only valid during the callback). */
export function readUpgrade(res: HttpResponse, req: HttpRequest): UpgradeInfo {
  return {
    key: req.getHeader('sec-websocket-key'),
    protocol: req.getHeader('sec-websocket-protocol'),
    extensions: req.getHeader('sec-websocket-extensions'),
    origin: req.getHeader('origin'),
    host: req.getHeader('host'),
    authorization: req.getHeader('authorization'),
    query: req.getQuery() ?? '',
    ip: abText(res.getRemoteAddressAsText()),
  };
}

export function refuseUpgrade(res: HttpResponse, status: string, reason: string, retryAfterS?: number): void {
  res.cork(() => {
    res.writeStatus(status).writeHeader('content-type', 'text/plain; charset=utf-8');
    if (retryAfterS !== undefined) res.writeHeader('retry-after', String(retryAfterS));
    res.end(reason + '\n');
  });
}

export interface FeedServerVersion {
  server: string;
  started: number;
}

export function feedBehavior(
  cfg: ServerConfig,
  broker: Broker,
  security: Security,
  metrics: MetricsRegistry,
  version: FeedServerVersion,
): WebSocketBehavior<FeedConn> {
  const requests = metrics.counter('flowcast_feed_requests_total', 'Client requests on /feed, by op', ['op']);
  const errors = metrics.counter('flowcast_feed_request_errors_total', 'Client requests refused, by error code', ['code']);
  const refused = metrics.counter('flowcast_upgrades_refused_total', 'WebSocket upgrades refused, by endpoint and HTTP status', ['endpoint', 'status']);

  const handle = (c: FeedConn, r: Request): void => {
    requests.labels(r.op).inc();
    switch (r.op) {
      case 'subscribe': {
        const forbidden = r.topics.filter((t) => !c.principal.canRead(t));
        if (forbidden.length > 0) {
          throw new RequestError('forbidden', `not allowed for ${c.principal.id}: ${forbidden.slice(0, 5).join(', ')}`, r.id, forbidden.slice(0, 20));
        }
        const fresh = r.topics.filter((t) => !broker.isSubscribed(c, t)).length;
        if (c.subs.size + fresh > cfg.limits.maxSubscriptions) {
          throw new RequestError('too-many-subscriptions', `at most ${cfg.limits.maxSubscriptions} subscriptions per connection (you have ${c.subs.size}, asked for ${fresh} more)`, r.id);
        }
        broker.subscribe(c, r.topics, r.id);
        return;
      }
      case 'unsubscribe':
        broker.unsubscribe(c, r.topics, r.id);
        return;
      case 'ping':
        broker.sendFrame(c, { t: 'pong', id: r.id, ts: Date.now() });
        return;
      case 'topics': {
        const info = broker.helloInfo();
        broker.sendFrame(c, {
          t: 'topics', id: r.id,
          topics: broker.liveTopics().filter((t) => c.principal.canRead(t.name)).map((t) => ({ topic: t.name, seq: t.seq })),
          symbols: info.symbols, models: info.models,
        });
        return;
      }
    }
  };

  return {
    compression: uWS.DISABLED,
    maxPayloadLength: uwsPayloadLimit(cfg.limits.maxPayloadBytes),
    // uWS's own limit sits well above ours, and closes rather than drops: the sweep in the broker
    // handles slow clients long before this is reached.
    maxBackpressure: cfg.feed.maxBufferBytes * 4,
    closeOnBackpressureLimit: 1,
    idleTimeout: 120,
    sendPingsAutomatically: true,

    upgrade(res: HttpResponse, req: HttpRequest, context: us_socket_context_t): void {
      const u = readUpgrade(res, req);
      const q = new URLSearchParams(u.query);
      const refuse = (status: string, reason: string, retryAfterS?: number): void => {
        refused.labels('feed', status.slice(0, 3)).inc();
        refuseUpgrade(res, status, reason, retryAfterS);
      };
      if (!security.originAllowed(u.origin, u.host)) return refuse('403 Forbidden', `origin ${u.origin} is not allowed`);
      const format = parseFormat(q.get('format'));
      if (!format) return refuse('400 Bad Request', `format must be msgpack or json, got "${q.get('format')}"`);
      const auth = security.authenticate(u, false);
      if (!auth.ok) return refuse(auth.status, auth.reason, auth.retryAfterS);
      // The slot is reserved here and released in close: a synchronous upgrade opens the socket
      // before returning, so the two always pair.
      const why = security.admit(auth.principal, u.ip);
      if (why) return refuse('429 Too Many Requests', why);
      res.upgrade(broker.newConn(auth.principal, u.ip, format), u.key, u.protocol, u.extensions, context);
    },

    open(ws): void {
      const c = ws.getUserData();
      broker.onOpen(c, ws);
      const info = broker.helloInfo();
      broker.sendFrame(c, {
        t: 'hello', v: PROTOCOL_VERSION, server: version.server, started: version.started, format: c.format, principal: c.principal.id,
        heartbeatMs: cfg.feed.heartbeatMs,
        limits: {
          maxSubscriptions: cfg.limits.maxSubscriptions, maxPayloadBytes: cfg.limits.maxPayloadBytes,
          requestsPerSecond: cfg.limits.requestsPerSecond, requestBurst: cfg.limits.requestBurst,
          maxBufferBytes: cfg.feed.maxBufferBytes,
        },
        featureColumns: FEATURE_COLUMNS, symbols: info.symbols, models: info.models,
      });
    },

    message(ws, message, isBinary): void {
      const c = ws.getUserData();
      if (c.closing) return;
      if (message.byteLength > cfg.limits.maxPayloadBytes) {
        errors.labels('too-big').inc();
        broker.close(c, CloseCode.TooBig, tooBig(message.byteLength, cfg.limits.maxPayloadBytes), 'too-big');
        return;
      }
      if (!c.bucket.take()) {
        c.violations++;
        errors.labels('rate-limited').inc();
        if (c.violations > RATE_VIOLATIONS_BEFORE_CLOSE) {
          broker.close(c, CloseCode.RateLimited, `request rate limit exceeded (${cfg.limits.requestsPerSecond}/s, burst ${cfg.limits.requestBurst})`, 'rate-limit');
        } else {
          broker.sendFrame(c, { t: 'error', code: 'rate-limited', message: `over ${cfg.limits.requestsPerSecond} requests/s (burst ${cfg.limits.requestBurst}); request ignored` });
        }
        return;
      }
      let id: number | string | undefined;
      try {
        let msg: unknown;
        try {
          msg = decodeMessage(message, isBinary);
        } catch (e) {
          throw new RequestError('bad-request', `cannot decode the ${isBinary ? 'msgpack' : 'JSON'} request: ${(e as Error).message}`);
        }
        const r = validateRequest(msg, cfg.limits.maxSubscriptions);
        id = r.id;
        handle(c, r);
      } catch (e) {
        if (e instanceof RequestError) {
          errors.labels(e.code).inc();
          broker.sendFrame(c, { t: 'error', code: e.code, message: e.message, id: e.id ?? id, topics: e.topics });
        } else {
          errors.labels('internal').inc();
          log.error('feed request failed', { conn: c.id, error: e as Error });
          broker.sendFrame(c, { t: 'error', code: 'internal', message: 'internal error; the request was not applied', id });
        }
      }
    },

    drain(ws): void {
      broker.onDrain(ws.getUserData());
    },

    pong(ws, message): void {
      broker.onPong(ws.getUserData(), message);
    },

    close(ws): void {
      const c = ws.getUserData();
      broker.onClose(c);
      security.release(c.principal, c.ip);
    },
  };
}

export function mountFeed(app: TemplatedApp, behavior: WebSocketBehavior<FeedConn>): void {
  app.ws<FeedConn>('/feed', behavior);
}

export type { Principal };
