import type { Command } from '../command.ts';
import { UsageError } from '../command.ts';
import { numberFlag, parseFlags } from '../args.ts';

const usage = `flowcast serve [flags]

Runs the real-time server (uWebSockets.js): features, predictions and alerts broadcast over the
WebSocket feed /feed (protocol v1, docs/protocol.md), producers pushing books over /ingest, the
dashboard at /, and /healthz, /metrics, /v1/models, POST /v1/predict.

With no source given it replays the bundled sample data (Binance BTCUSDT USD-M capture, LOBSTER
GOOG and AMZN days) in a loop at real-time speed: the demo \`npm start\` runs.

  --config FILE        JSON config file (or FLOWCAST_CONFIG); see docs/server.md for every setting
  --host HOST          bind address (default 127.0.0.1; or FLOWCAST_HOST). Anything but loopback
                       requires API keys (security.keys in the config, or FLOWCAST_API_KEY=id:secret)
  --port N             port (default 8080; or FLOWCAST_PORT; 0 picks a free one)
  --speed X            replay speed factor (default 1 = real time; or FLOWCAST_SPEED)
  --replay SPEC        replay this source instead of the samples (repeatable): lobster:..., binance:...,
                       tardis:..., or recording:DIR (what flowcast record wrote)
  --binance M:SYMS     live Binance feed, M = spot or usdm: --binance usdm:BTCUSDT,ETHUSDT (repeatable)
  --no-replay          no sources at all (producers push over /ingest)
  --models DIR         ONNX models directory (default models/; "" disables inference; or FLOWCAST_MODELS)
  --compute SPEC       what computes each live row's dense features: cpu (default), gpujs[:mode], or
                       auto (measures, reports in /healthz); or FLOWCAST_COMPUTE. docs/compute.md
  --require-keys       refuse anonymous clients even on loopback
  --cluster URL        cluster mode on Redis Streams: redis://[user:password@]HOST:PORT (docs/cluster.md)
  --role ROLES         with --cluster: ingest, compute, edge (comma-separated) or all (default all)
  --shards N           with --cluster: shards of the input streams (default 16; every role must agree)
  --lease-ms MS        with --cluster: a compute process's shard lease (default 3000): another
                       takes its shards over after this much silence. Longer on a loaded machine,
                       whose pauses would otherwise hand shards back and forth
  --retention N        with --cluster: frames each result stream keeps (default 10000; MAXLEN ~): how
                       far back a client can resume with "from" (older seqs: a retention gap frame)
  --input-retention N  with --cluster: events each input stream keeps (default 1000000; MAXLEN ~):
                       how far a compute process may fall behind before it loses input

Examples:
  npm start
  flowcast serve --speed 10
  flowcast serve --binance usdm:BTCUSDT --port 9000
  FLOWCAST_API_KEY=desk:$(openssl rand -hex 16) flowcast serve --host 0.0.0.0
  flowcast serve --cluster redis://127.0.0.1:6379 --role compute --port 8081
`;

const command: Command = {
  name: 'serve',
  summary: 'run the real-time feed server (WebSocket feed, ingest, dashboard, health and metrics)',
  usage,
  async run(argv) {
    const { values } = parseFlags(argv, {
      config: { type: 'string' },
      host: { type: 'string' },
      port: { type: 'string' },
      speed: { type: 'string' },
      replay: { type: 'string', multiple: true },
      binance: { type: 'string', multiple: true },
      'no-replay': { type: 'boolean' },
      models: { type: 'string' },
      compute: { type: 'string' },
      'require-keys': { type: 'boolean' },
      cluster: { type: 'string' },
      role: { type: 'string' },
      shards: { type: 'string' },
      'lease-ms': { type: 'string' },
      retention: { type: 'string' },
      'input-retention': { type: 'string' },
    });
    const { loadServerConfig, ConfigError, isReplay } = await import('../../server/config.ts');
    let cfg;
    try {
      cfg = loadServerConfig({
        file: values.config,
        overrides: {
          host: values.host,
          port: values.port === undefined ? undefined : numberFlag(values.port, 'port', 0, { min: 0, integer: true }),
          speed: values.speed === undefined ? undefined : numberFlag(values.speed, 'speed', 1, { min: Number.MIN_VALUE }),
          replay: values.replay,
          live: { binance: values.binance },
          noReplay: values['no-replay'],
          models: values.models,
          compute: values.compute,
          anonymous: values['require-keys'] ? false : undefined,
          cluster: values.cluster,
          role: values.role,
          shards: values.shards === undefined ? undefined : numberFlag(values.shards, 'shards', 16, { min: 1, integer: true }),
          leaseMs: values['lease-ms'] === undefined ? undefined : numberFlag(values['lease-ms'], 'lease-ms', 3000, { min: 100, integer: true }),
          retention: values.retention === undefined ? undefined : numberFlag(values.retention, 'retention', 10_000, { min: 1, integer: true }),
          inputRetention: values['input-retention'] === undefined ? undefined : numberFlag(values['input-retention'], 'input-retention', 1_000_000, { min: 1, integer: true }),
        },
      });
    } catch (e) {
      if (e instanceof ConfigError) throw new UsageError(e.message);
      throw e;
    }
    if (cfg.port > 65535) throw new UsageError(`--port: at most 65535, got ${cfg.port}`);
    if (cfg.cluster) return serveCluster(cfg);
    const { startServer, replayName } = await import('../../server/server.ts');
    const { NativeUwsMissing } = await import('../../server/uws.ts');
    let server;
    let opts;
    try {
      opts = await plugins(cfg);
      server = await startServer(cfg, opts);
    } catch (e) {
      if (e instanceof NativeUwsMissing) {
        process.stderr.write(`flowcast serve: ${e.message}\n`);
        return 1;
      }
      throw e;
    }
    const ws = server.url.replace(/^http/, 'ws');
    const { venue } = await import('../../venues/registry.ts');
    const srcs = cfg.sources.map((s) => (isReplay(s) ? `${replayName(s.spec)} at ${s.speed}x` : venue(s.kind)!.live!.describe(s)));
    process.stdout.write(
      `flowcast ${server.url} dashboard\n` +
      `  feed   ${ws}feed  (msgpack; ?format=json for JSON)\n` +
      `  ingest ${ws}ingest  (write key required)\n` +
      `  health ${server.url}healthz   metrics ${server.url}metrics\n` +
      `  sources: ${srcs.length ? srcs.join('\n           ') : 'none (push over /ingest)'}\n` +
      `  models:  ${modelsLine(server.broker.helloInfo().models, server.config.models.symbols)}\n` +
      (opts.compute ? `  compute: ${opts.compute.info.backend} (${opts.compute.info.libraryMode}): ${opts.compute.info.reason}\n` : '') +
      `  access: ${server.config.security.anonymous ? 'anonymous read-only allowed (loopback)' : 'API key required'}\n`,
    );
    const { untilSignal } = await import('../../server/signals.ts');
    await untilSignal();
    process.stderr.write('flowcast serve: shutting down\n');
    await server.close();
    // Idle HTTP keep-alive connections (a browser's) would hold the process: give them a moment, then go.
    setTimeout(() => process.exit(process.exitCode ?? 0), 500).unref();
    return 0;
  },
};

/** The cluster roles of this process (src/cluster/serve.ts); the Redis URL is printed redacted. */
async function serveCluster(cfg: import('../../server/config.ts').ServerConfig): Promise<number> {
  const cl = cfg.cluster!;
  const { startCluster } = await import('../../cluster/serve.ts');
  const { redactUrl } = await import('../../cluster/redis.ts');
  const { NativeUwsMissing } = await import('../../server/uws.ts');
  let running;
  let opts = {};
  try {
    if (cl.roles.includes('compute')) opts = await plugins(cfg);
    running = await startCluster(cfg, opts);
  } catch (e) {
    if (e instanceof NativeUwsMissing) {
      process.stderr.write(`flowcast serve: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
  const ws = running.url.replace(/^http/, 'ws');
  process.stdout.write(
    `flowcast cluster ${redactUrl(cl.url)} (prefix ${cl.prefix}, ${cl.shards} shards): ${running.roles.join(', ')}\n` +
    (cl.roles.includes('edge') ? `  feed   ${ws}feed  (msgpack; ?format=json for JSON; subscribe with "from" to resume)\n` : '') +
    (cl.roles.includes('ingest') ? `  ingest ${ws}ingest  (write key required)\n` : '') +
    `  health ${running.url}healthz\n`,
  );
  const { untilSignal } = await import('../../server/signals.ts');
  await untilSignal();
  process.stderr.write('flowcast serve: shutting down\n');
  await running.close();
  setTimeout(() => process.exit(process.exitCode ?? 0), 500).unref();
  return 0;
}

function modelsLine(models: string[], scope: Record<string, string[]>): string {
  if (models.length === 0) return 'none (see /healthz, inference)';
  // A pinned version (NAME@vN) serves its base model's symbols, as the predictor scopes it.
  return models.map((m) => `${m} -> ${(scope[m] ?? scope[m.split('@')[0]!] ?? scope['*'] ?? ['*']).join(',')}`).join('; ');
}

/** The model and alert plug-ins this build has. */
async function plugins(cfg: import('../../server/config.ts').ServerConfig): Promise<import('../../server/server.ts').ServerOptions> {
  const { loadPlugins } = await import('../../server/wiring.ts');
  return loadPlugins(cfg);
}

export default command;
