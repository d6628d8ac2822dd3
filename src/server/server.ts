/**
 * Assembles the server: one uWS app with /feed, /ingest and the HTTP routes; the broker, the live
 * pipeline and the configured sources (replays, Binance connectors). `startServer` resolves once
 * the port is bound and every source has started.
 */
import type { LiveCompute } from '../compute/live-dense.ts';
import { createRequire } from 'node:module';
import type { us_listen_socket } from 'uWebSockets.js';
import { requireNativeUws } from './uws.ts';
import { Broker } from './broker.ts';
import { feedBehavior, mountFeed } from './feed.ts';
import { ingestBehavior, mountIngest } from './ingest.ts';
import { mountHttp } from './http.ts';
import { LiveFeed } from './live.ts';
import { LivePipeline, type LivePlugins } from '../pipeline/live.ts';
import { TimeBase } from '../model/time.ts';
import { ReplayPlayer } from './replay.ts';
import { MetricsRegistry } from './metrics.ts';
import { Security } from './security.ts';
import { CloseCode, PROTOCOL_VERSION } from '../protocol/frames.ts';
import { TOPICS } from '../protocol/topics.ts';
import { isReplay, type ServerConfig } from './config.ts';
import type { HealthSection, Predictor } from './plugins.ts';
import { venue } from '../venues/registry.ts';
import type { LiveConnector } from '../venues/venue.ts';
import { logger } from '../core/log.ts';

const log = logger('server');
const require = createRequire(import.meta.url);
export const VERSION: string = (require('../../package.json') as { version: string }).version;

/** A short name for a replayed spec: its kind and first file's name. */
export function replayName(spec: string): string {
  const kind = /^[a-z]+/.exec(spec)?.[0] ?? 'replay';
  return `replay:${kind}:${spec.slice(kind.length + 1).split(',')[0]!.split('/').pop()}`;
}

export interface ServerOptions {
  predictor?: Predictor;
  /** Why there is no predictor (shown in /healthz). */
  inferenceStatus?: string;
  alerts?: LivePlugins['alerts'];
  /** What computes the dense columns of live rows (absent: the float64 engine alone). */
  compute?: LiveCompute;
  /** Extra /healthz sections (compute backend, ...). */
  health?: HealthSection[];
  /** Backpressure sweep period (ms); tests shorten it. */
  sweepMs?: number;
}

export interface RunningServer {
  readonly port: number;
  readonly host: string;
  /** http://host:port/ (the dashboard). */
  readonly url: string;
  readonly config: ServerConfig;
  readonly broker: Broker;
  readonly pipeline: LivePipeline;
  readonly metrics: MetricsRegistry;
  readonly replays: ReplayPlayer[];
  readonly connectors: LiveConnector[];
  close(): Promise<void>;
}

export async function startServer(cfg: ServerConfig, opts: ServerOptions = {}): Promise<RunningServer> {
  const uWS = requireNativeUws();
  const started = Date.now();
  const app = uWS.App();
  const metrics = new MetricsRegistry();
  const security = new Security(cfg);
  const broker = new Broker(app, cfg.feed, cfg.limits, metrics, opts.sweepMs);
  const predictor = opts.predictor;
  if (predictor?.renderMetrics) metrics.addSource({ renderMetrics: (out) => predictor.renderMetrics!(out) });
  // One time base for the whole server (today's UTC midnight at start): sources stamp against it, frames read it back.
  const tb = TimeBase.ofEpochMs(Date.now());
  const feed = new LiveFeed(cfg.feed, broker, metrics, tb);
  const pipeline = new LivePipeline({ depth: cfg.depth, timeBase: tb, features: cfg.features }, feed, metrics,
    { predictor, alerts: opts.alerts, dense: opts.compute?.dense, batch: opts.compute?.batch });
  // The pipeline's metrics are its alert producers': per-symbol spreads, depth, VPIN.
  metrics.addSource(pipeline, true);
  const models = (): string[] => (predictor ? predictor.models().map((m) => String(m['topic'] ?? m.name)) : []);
  broker.helloInfo = () => ({ symbols: pipeline.symbols(), models: models() });

  mountFeed(app, feedBehavior(cfg, broker, security, metrics, { server: `flowcast ${VERSION}`, started }));
  const ingest = ingestBehavior(cfg, pipeline, security, metrics);
  mountIngest(app, ingest.behavior);
  // Only a bounded ingest has a backlog (messages waiting, counted by symbol).
  if (cfg.limits.ingestSliceMs > 0) predictor?.followBacklog?.(ingest.backlog, cfg.limits.backlogPredictionMs);

  const replays: ReplayPlayer[] = [];
  const connectors: LiveConnector[] = [];
  let port = 0;

  const health = async (): Promise<Record<string, unknown>> => {
    const sources = pipeline.health();
    const sections: Record<string, unknown> = {};
    for (const s of opts.health ?? []) {
      try {
        sections[s.name] = await s.health();
      } catch (e) {
        sections[s.name] = { error: (e as Error).message };
      }
    }
    const bad = sources.filter((s) => s['state'] === 'error' || s['state'] === 'reconnecting');
    return {
      status: bad.length > 0 ? 'degraded' : 'ok',
      version: VERSION,
      protocol: PROTOCOL_VERSION,
      uptimeS: Math.round((Date.now() - started) / 1000),
      server: { host: cfg.host, port, uws: 'native', node: process.version, anonymousAccess: security.anonymousAllowed, keys: cfg.security.keys.length },
      feed: { ...broker.stats(), ingestConnections: ingest.conns.size, ingestWaiting: ingest.waitingMessages() },
      sources,
      compute: sections['compute'] ?? {
        backend: 'cpu',
        path: 'float64 streaming reference (src/features/engine.ts), row by row',
        reason: 'the live feed computes each row as it arrives; batched GPU kernels serve the batch path',
      },
      inference: predictor ? predictor.health() : { models: [], reason: opts.inferenceStatus ?? (cfg.models.dir ? `no models loaded from ${cfg.models.dir}` : 'inference disabled (models.dir is empty)') },
      analytics: opts.alerts?.length ? pipeline.alertsHealth() : { reason: 'no alert producers loaded' },
      ...Object.fromEntries(Object.entries(sections).filter(([k]) => k !== 'compute')),
    };
  };

  mountHttp(app, {
    security,
    metrics,
    maxBodyBytes: cfg.limits.maxHttpBodyBytes,
    health,
    models: () => (predictor ? predictor.models() : []),
    topics: (canRead) => ({
      topics: broker.liveTopics().filter((t) => canRead(t.name)).map((t) => ({ topic: t.name, seq: t.seq, subscribers: t.subscribers })),
      symbols: pipeline.symbols(), models: models(),
      vpin: pipeline.vpinProgress((sym) => canRead(TOPICS.features.name(sym))),
    }),
    predict: predictor ? (b) => predictor.predict(b) : undefined,
  });

  const listenSocket = await new Promise<us_listen_socket>((resolve, reject) => {
    app.listen(cfg.host, cfg.port, (ls) => {
      if (!ls) reject(new Error(`cannot listen on ${cfg.host}:${cfg.port} (in use, or not an address of this machine)`));
      else resolve(ls);
    });
  });
  port = uWS.us_socket_local_port(listenSocket as never);
  broker.start();
  feed.start();

  try {
    for (const s of cfg.sources) {
      if (isReplay(s)) {
        const h = pipeline.addSource(replayName(s.spec), 'replay');
        const p = new ReplayPlayer(s.spec, { speed: s.speed, loop: s.loop, quotesAndOrders: (opts.alerts?.length ?? 0) > 0 }, h, pipeline.tb);
        if (cfg.features.vpinBucket === 'auto') await p.sizeVpin(pipeline.vpinBySymbol);
        replays.push(p);
      } else {
        const live = venue(s.kind)?.live;
        if (!live) throw new Error(`source kind "${s.kind}" is neither a replay nor a live venue`);
        const h = pipeline.addSource(live.sourceName(s), s.kind);
        for (const sym of s.symbols) if (cfg.features.vpinBucket === 'auto' && pipeline.vpinBySymbol[sym] === undefined) {
          log.warn('VPIN bucket volume for a live symbol defaults to 1 (set features.vpinBucketBySymbol)', { symbol: sym });
        }
        connectors.push(live.connect(s, pipeline.timeBase, h));
      }
    }
    for (const p of replays) p.start();
    for (const c of connectors) await c.start();
  } catch (e) {
    uWS.us_listen_socket_close(listenSocket);
    broker.stop();
    feed.stop();
    throw e;
  }
  log.info('listening', { host: cfg.host, port, sources: cfg.sources.length });

  const host = cfg.host.includes(':') ? `[${cfg.host}]` : cfg.host;
  return {
    port,
    host: cfg.host,
    url: `http://${host}:${port}/`,
    config: cfg,
    broker,
    pipeline,
    metrics,
    replays,
    connectors,
    async close() {
      uWS.us_listen_socket_close(listenSocket);
      await Promise.all([...replays.map((p) => p.stop()), ...connectors.map((c) => c.stop())]);
      // Accepted frames still waiting to be applied, then rows still waiting for a kernel batch, go out before the feed stops.
      ingest.drainAll();
      pipeline.flush();
      broker.stop();
      feed.stop();
      for (const c of [...broker.conns]) if (c.ws && !c.closing) c.ws.end(CloseCode.GoingAway, 'server shutting down');
      for (const c of [...ingest.conns]) c.ws?.end(CloseCode.GoingAway, 'server shutting down');
      await predictor?.close();
      await opts.compute?.dispose();
    },
  };
}
