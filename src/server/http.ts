/**
 * HTTP routes: the dashboard and its assets (served from this folder and node_modules, no CDN),
 * /healthz, /metrics (Prometheus text), /v1/models, /v1/topics and POST /v1/predict. The data
 * routes let in whom the feed lets in, and give them what their key may read.
 */
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import type { HttpRequest, HttpResponse, TemplatedApp } from 'uWebSockets.js';
import { HttpError, type ModelInfo } from './plugins.ts';
import type { AuthResult, Principal, Security } from './security.ts';
import type { MetricsRegistry } from './metrics.ts';
import { abText } from './uws.ts';
import { TOPICS } from '../protocol/topics.ts';
import { logger } from '../core/log.ts';

const log = logger('http');
const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

function asset(path: string, type: string): Asset {
  const body = readFileSync(path);
  return { body, type, etag: `"${createHash('sha1').update(body).digest('hex').slice(0, 16)}"` };
}

/** The dashboard page, its script and style, and the vendored libraries it loads. */
export function dashboardAssets(): Map<string, Asset> {
  const d = join(here, 'dashboard');
  // Package entry points sit in each package's dist/, next to the browser builds.
  const uplotDir = dirname(require.resolve('uplot'));
  const msgpackrDir = dirname(require.resolve('msgpackr'));
  return new Map([
    ['/', asset(join(d, 'index.html'), 'text/html; charset=utf-8')],
    ['/dashboard/app.js', asset(join(d, 'app.js'), 'text/javascript; charset=utf-8')],
    ['/dashboard/style.css', asset(join(d, 'style.css'), 'text/css; charset=utf-8')],
    ['/vendor/uPlot.iife.min.js', asset(join(uplotDir, 'uPlot.iife.min.js'), 'text/javascript; charset=utf-8')],
    ['/vendor/uPlot.min.css', asset(join(uplotDir, 'uPlot.min.css'), 'text/css; charset=utf-8')],
    ['/vendor/msgpackr.min.js', asset(join(msgpackrDir, 'index.min.js'), 'text/javascript; charset=utf-8')],
  ]);
}

const STATUS: Record<number, string> = {
  200: '200 OK', 304: '304 Not Modified', 400: '400 Bad Request', 401: '401 Unauthorized', 403: '403 Forbidden',
  404: '404 Not Found', 405: '405 Method Not Allowed', 413: '413 Payload Too Large', 415: '415 Unsupported Media Type',
  429: '429 Too Many Requests', 500: '500 Internal Server Error', 503: '503 Service Unavailable',
};

export function statusText(code: number): string {
  return STATUS[code] ?? `${code} Error`;
}

function sendJson(res: HttpResponse, code: number, body: unknown): void {
  res.writeStatus(statusText(code)).writeHeader('content-type', 'application/json').writeHeader('cache-control', 'no-store').end(JSON.stringify(body));
}

export interface HttpDeps {
  security: Security;
  metrics: MetricsRegistry;
  maxBodyBytes: number;
  health(): Promise<Record<string, unknown>>;
  models(): ModelInfo[];
  /** The topics with data that `canRead` lets through, with symbols and models. */
  topics(canRead: (topic: string) => boolean): unknown;
  predict: ((body: unknown) => Promise<unknown>) | undefined;
}

/**
 * Refuses a prediction the key may not read. A live symbol's prediction is what `pred.M.SYM`
 * carries, so it needs read access to that topic; a window (or a batch of them) the client sends holds no market data
 * of ours, but the model is served to those who may read its predictions (for some symbol), so it
 * needs read access to some `pred.M.*` topic. Bodies the predictor will refuse anyway (no such
 * model, bad shape) pass, for it to say what is wrong.
 */
export function checkPredictScope(body: unknown, who: Principal, models: readonly ModelInfo[]): void {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return;
  const b = body as Record<string, unknown>;
  const m = models.find((x) => x.name === b['model'] || x['topic'] === b['model']);
  if (!m) return;
  const name = typeof m['topic'] === 'string' ? m['topic'] : m.name;
  if (b['window'] !== undefined || b['windows'] !== undefined) {
    if (!who.canReadUnder(TOPICS.pred.under(name))) {
      throw new HttpError(403, `key "${who.id}" may not read any ${TOPICS.pred.under(name)}* topic (predicting on a sent window needs read access to some of the model's predictions)`);
    }
  } else if (typeof b['symbol'] === 'string') {
    const topic = TOPICS.pred.name(name, b['symbol']);
    if (!who.canRead(topic)) throw new HttpError(403, `key "${who.id}" may not read ${topic} (a live prediction needs read access to its topic)`);
  }
}

/**
 * Where the first number that is not finite sits in a parsed JSON value (`window[1][1]`), or
 * undefined. JSON has no infinities, but JSON.parse reads numbers beyond the double range (1e309)
 * as one, and a model fed one answers with confident nonsense.
 */
export function nonFiniteAt(value: unknown): string | undefined {
  interface Node { v: unknown; up: Node | undefined; key: string | number }
  const path = (n: Node): string => {
    let p = '';
    for (let x: Node | undefined = n; x?.up; x = x.up) p = (typeof x.key === 'number' ? `[${x.key}]` : x.up.up ? `.${x.key}` : x.key) + p;
    return p || 'the body';
  };
  const stack: Node[] = [{ v: value, up: undefined, key: '' }];
  while (stack.length > 0) {
    const n = stack.pop()!;
    const v = n.v;
    if (typeof v === 'number') {
      if (!Number.isFinite(v)) return path(n);
    } else if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) stack.push({ v: v[i], up: n, key: i });
    } else if (v !== null && typeof v === 'object') {
      const e = Object.entries(v);
      for (let i = e.length - 1; i >= 0; i--) stack.push({ v: e[i]![1], up: n, key: e[i]![0] });
    }
  }
  return undefined;
}

/** Runs an async handler with uWS's rules: abort tracking, and corked writes after an await. */
function respondAsync(res: HttpResponse, work: () => Promise<{ code: number; body: unknown }>): void {
  let aborted = false;
  res.onAborted(() => { aborted = true; });
  work().then(
    (r) => { if (!aborted) res.cork(() => sendJson(res, r.code, r.body)); },
    (e: Error) => {
      if (aborted) return;
      const code = e instanceof HttpError ? e.status : 500;
      if (code === 500) log.error('request failed', { error: e });
      res.cork(() => sendJson(res, code, { error: code === 500 ? 'internal error' : e.message }));
    },
  );
}

/** Reads a request body up to `max` bytes; rejects with 413 beyond. */
function readBody(res: HttpResponse, max: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let n = 0;
    res.onData((ab, isLast) => {
      n += ab.byteLength;
      if (n > max) {
        reject(new HttpError(413, `body over ${max} bytes`));
        return;
      }
      chunks.push(Buffer.from(new Uint8Array(ab).slice()));
      if (isLast) resolve(Buffer.concat(chunks));
    });
  });
}

export function mountHttp(app: TemplatedApp, deps: HttpDeps): void {
  const assets = dashboardAssets();
  const reqs = deps.metrics.counter('flowcast_http_requests_total', 'HTTP requests, by route and status', ['route', 'status']);

  const authenticate = (res: HttpResponse, req: HttpRequest): AuthResult => deps.security.authenticate({
    authorization: req.getHeader('authorization'), query: req.getQuery() ?? '', host: req.getHeader('host'), ip: abText(res.getRemoteAddressAsText()),
  }, false);

  const refuse = (res: HttpResponse, route: string, a: AuthResult & { ok: false }): void => {
    const code = Number(a.status.slice(0, 3));
    reqs.labels(route, String(code)).inc();
    res.writeStatus(a.status).writeHeader('content-type', 'application/json').writeHeader('cache-control', 'no-store');
    if (code === 401) res.writeHeader('www-authenticate', 'Bearer');
    if (a.retryAfterS !== undefined) res.writeHeader('retry-after', String(a.retryAfterS));
    res.end(JSON.stringify({ error: a.reason }));
  };

  for (const [path, a] of assets) {
    app.get(path, (res, req) => {
      if (req.getHeader('if-none-match') === a.etag) {
        res.writeStatus(statusText(304)).writeHeader('etag', a.etag).endWithoutBody();
        return;
      }
      reqs.labels('asset', '200').inc();
      res.writeStatus('200 OK').writeHeader('content-type', a.type).writeHeader('etag', a.etag)
        .writeHeader('cache-control', 'no-cache').writeHeader('x-content-type-options', 'nosniff').end(a.body);
    });
  }

  app.get('/healthz', (res) => {
    reqs.labels('healthz', '200').inc();
    respondAsync(res, async () => ({ code: 200, body: await deps.health() }));
  });

  // Operational series for anyone (scrapers need no key); a symbol's market-data series (the
  // analytics' measures) for those who may read its alerts, the analytics' own topic. A key that
  // fails is refused here as anywhere else.
  app.get('/metrics', (res, req) => {
    const a = authenticate(res, req);
    if (!a.ok && a.presented) return refuse(res, 'metrics', a);
    const who = a.ok ? a.principal : undefined;
    reqs.labels('metrics', '200').inc();
    res.writeStatus('200 OK').writeHeader('content-type', 'text/plain; version=0.0.4; charset=utf-8').writeHeader('cache-control', 'no-store')
      .end(deps.metrics.render(who ? (sym) => who.canRead(TOPICS.alerts.name(sym)) : () => false));
  });

  app.get('/v1/models', (res, req) => {
    const a = authenticate(res, req);
    if (!a.ok) return refuse(res, 'models', a);
    reqs.labels('models', '200').inc();
    sendJson(res, 200, { models: deps.models() });
  });

  app.get('/v1/topics', (res, req) => {
    const a = authenticate(res, req);
    if (!a.ok) return refuse(res, 'topics', a);
    reqs.labels('topics', '200').inc();
    sendJson(res, 200, deps.topics((t) => a.principal.canRead(t)));
  });

  app.post('/v1/predict', (res, req) => {
    const a = authenticate(res, req);
    const ctype = req.getHeader('content-type');
    if (!a.ok) return refuse(res, 'predict', a);
    const who = a.principal;
    if (!/^application\/json\b/i.test(ctype)) {
      reqs.labels('predict', '415').inc();
      return sendJson(res, 415, { error: 'send the request as application/json' });
    }
    respondAsync(res, async () => {
      const body = await readBody(res, deps.maxBodyBytes);
      if (!deps.predict) throw new HttpError(503, 'no models are loaded on this server');
      let parsed: unknown;
      try {
        parsed = JSON.parse(body.toString('utf8'));
      } catch (e) {
        throw new HttpError(400, `body is not valid JSON (${(e as Error).message})`);
      }
      const bad = nonFiniteAt(parsed);
      if (bad) throw new HttpError(400, `${bad} is not a finite number (JSON numbers beyond ±1.8e308 overflow to infinity)`);
      checkPredictScope(parsed, who, deps.models());
      const out = await deps.predict(parsed);
      reqs.labels('predict', '200').inc();
      return { code: 200, body: out };
    });
  });

  app.any('/*', (res, req) => {
    reqs.labels('other', '404').inc();
    sendJson(res, 404, { error: `no route ${req.getMethod().toUpperCase()} ${req.getUrl()}` });
  });
}
