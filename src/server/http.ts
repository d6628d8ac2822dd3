/**
 * HTTP routes: the dashboard and its assets (served from this folder and node_modules, no CDN),
 * /healthz, /metrics (Prometheus text), /v1/models, /v1/topics and POST /v1/predict.
 */
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import type { HttpRequest, HttpResponse, TemplatedApp } from 'uWebSockets.js';
import { HttpError } from './plugins.ts';
import { presentedKey, type Security } from './security.ts';
import type { MetricsRegistry } from './metrics.ts';
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
  500: '500 Internal Server Error', 503: '503 Service Unavailable',
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
  models(): unknown[];
  topics(): unknown;
  predict: ((body: unknown) => Promise<unknown>) | undefined;
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

  const authorised = (req: HttpRequest): string | undefined => {
    const a = deps.security.authenticate(presentedKey(req.getHeader('authorization'), req.getQuery() ?? ''), false);
    return a.ok ? undefined : a.reason;
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

  app.get('/metrics', (res) => {
    reqs.labels('metrics', '200').inc();
    res.writeStatus('200 OK').writeHeader('content-type', 'text/plain; version=0.0.4; charset=utf-8').end(deps.metrics.render());
  });

  app.get('/v1/models', (res, req) => {
    const why = authorised(req);
    if (why) {
      reqs.labels('models', '401').inc();
      return sendJson(res, 401, { error: why });
    }
    reqs.labels('models', '200').inc();
    sendJson(res, 200, { models: deps.models() });
  });

  app.get('/v1/topics', (res, req) => {
    const why = authorised(req);
    if (why) return sendJson(res, 401, { error: why });
    reqs.labels('topics', '200').inc();
    sendJson(res, 200, deps.topics());
  });

  app.post('/v1/predict', (res, req) => {
    const why = authorised(req);
    const ctype = req.getHeader('content-type');
    if (why) {
      reqs.labels('predict', '401').inc();
      return sendJson(res, 401, { error: why });
    }
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
