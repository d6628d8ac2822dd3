/**
 * `flowcast serve --cluster redis://... --role ingest|compute|edge|all`: the roles this process
 * runs, each with its own Redis connections, behind one uWS app (/healthz and /metrics always; /feed
 * with the edge role; /ingest with the ingest role). /healthz says each role's state and Redis's,
 * with the URL redacted.
 *
 * The ingest role runs the configured sources (replays, live venues) and /ingest producers exactly
 * as the single process does, through a LivePipeline of its own: its alert-producer tap sees every
 * event before the local book does and writes it to the shard streams. The local books keep the
 * connectors' sync logic (a Binance connector fetches its REST snapshot when its book asks) and the
 * /ingest protocol's answers; the features it also computes are thrown away (see docs/cluster.md:
 * a taps-only pipeline would save that work).
 */
import { LivePipeline, type PipelineOutput } from '../pipeline/live.ts';
import type { AlertProducerFactory } from '../pipeline/plugins.ts';
import { TimeBase } from '../model/time.ts';
import { ingestBehavior, mountIngest } from '../server/ingest.ts';
import { MetricsRegistry } from '../server/metrics.ts';
import { ReplayPlayer } from '../server/replay.ts';
import { replayName, VERSION, type ServerOptions } from '../server/server.ts';
import { isReplay, type ServerConfig } from '../server/config.ts';
import { venue } from '../venues/registry.ts';
import type { LiveConnector } from '../venues/venue.ts';
import { ClusterCompute } from './compute.ts';
import { ClusterEdge } from './edge.ts';
import { ClusterIngest } from './ingest.ts';
import { connectRedis, redactUrl, type RedisLink } from './redis.ts';

export interface RunningCluster {
  readonly port: number;
  readonly url: string;
  readonly roles: string[];
  readonly ingest?: ClusterIngest;
  readonly compute?: ClusterCompute;
  readonly edge: ClusterEdge;
  health(): Record<string, unknown>;
  close(): Promise<void>;
}

const DISCARD: PipelineOutput = { row: () => undefined, prediction: () => undefined, alert: () => undefined };

export async function startCluster(cfg: ServerConfig, opts: ServerOptions = {}): Promise<RunningCluster> {
  const cl = cfg.cluster;
  if (!cl) throw new Error('startCluster: the config has no cluster section (--cluster)');
  const links: RedisLink[] = [];
  const link = (name: string): RedisLink => {
    const l = connectRedis(cl.url, `flowcast-${name}-${process.pid}`);
    links.push(l);
    return l;
  };
  const roles = new Set(cl.roles);
  let ingest: ClusterIngest | undefined;
  let compute: ClusterCompute | undefined;
  let ingestPipeline: LivePipeline | undefined;
  const replays: ReplayPlayer[] = [];
  const connectors: LiveConnector[] = [];

  if (roles.has('ingest')) {
    const tb = TimeBase.ofEpochMs(Date.now());
    ingest = new ClusterIngest(link('ingest'), tb, { prefix: cl.prefix, shards: cl.shards, maxLen: cl.inMaxLen, maxQueuedBytes: cl.maxQueuedBytes });
    await ingest.start();
    const sink = ingest.sink('sources');
    const tap: AlertProducerFactory = () => ({ onDepth: (e) => sink.onDepth(e), onTrade: (e) => sink.onTrade(e) });
    ingestPipeline = new LivePipeline({ depth: cfg.depth, timeBase: tb, features: cfg.features }, DISCARD, new MetricsRegistry(), { alerts: [tap] });
  }
  if (roles.has('compute')) {
    compute = new ClusterCompute(link('compute'), link('compute-read'), {
      prefix: cl.prefix, shards: cl.shards, leaseMs: cl.leaseMs, outMaxLen: cl.outMaxLen,
      bookLevels: cfg.feed.bookLevels, bookIntervalMs: cfg.feed.bookIntervalMs,
      pipeline: { depth: cfg.depth, features: cfg.features },
      plugins: { predictor: opts.predictor, alerts: opts.alerts, dense: opts.compute?.dense, batch: opts.compute?.batch },
    }, new MetricsRegistry());
    await compute.start();
  }
  const health = (): Record<string, unknown> => ({
    redis: redactUrl(cl.url),
    prefix: cl.prefix,
    shards: cl.shards,
    roles: [...roles],
    connections: Object.fromEntries(links.map((l, i) => [String(i), l.health()])),
    ...(ingest ? { ingest: ingest.health(), sources: ingestPipeline!.health() } : {}),
    ...(compute ? { compute: compute.health() } : {}),
  });
  const edge = new ClusterEdge(cfg, link('edge'), link('edge-read'), {
    prefix: cl.prefix, server: `flowcast ${VERSION}`, feed: roles.has('edge'), health,
    status: () => {
      const states = [ingest?.health()['state'], compute?.health()['state']].filter((s) => s !== undefined);
      return links.every((l) => l.ready()) && states.every((s) => s === 'ok') ? 'ok' : 'degraded';
    },
    mount: ingestPipeline ? (app, security, metrics) => mountIngest(app, ingestBehavior(cfg, ingestPipeline!, security, metrics).behavior) : undefined,
  });
  await edge.start();

  if (ingestPipeline) {
    for (const s of cfg.sources) {
      if (isReplay(s)) {
        const h = ingestPipeline.addSource(replayName(s.spec), 'replay');
        replays.push(new ReplayPlayer(s.spec, { speed: s.speed, loop: s.loop, quotesAndOrders: false }, h, ingestPipeline.tb));
      } else {
        const live = venue(s.kind)?.live;
        if (!live) throw new Error(`source kind "${s.kind}" is neither a replay nor a live venue`);
        connectors.push(live.connect(s, ingestPipeline.timeBase, ingestPipeline.addSource(live.sourceName(s), s.kind)));
      }
    }
    for (const p of replays) p.start();
    for (const c of connectors) await c.start();
  }

  return {
    port: edge.port,
    url: `http://${cfg.host.includes(':') ? `[${cfg.host}]` : cfg.host}:${edge.port}/`,
    roles: [...roles],
    ingest,
    compute,
    edge,
    health,
    async close() {
      await Promise.all([...replays.map((p) => p.stop()), ...connectors.map((c) => c.stop())]);
      await ingest?.close();
      await compute?.stop();
      await edge.close();
      for (const l of links) await l.close();
      await opts.predictor?.close();
      await opts.compute?.dispose();
    },
  };
}
