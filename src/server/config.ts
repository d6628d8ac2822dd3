/**
 * Server configuration: defaults, then a JSON file (`--config` / FLOWCAST_CONFIG), then environment
 * variables, then flags; each later layer overrides the earlier. Every value is checked and a bad
 * one is reported with where it came from and the path of the key (docs/server.md lists them all).
 *
 * API keys are hashed (sha256) as soon as they are read; the server never keeps them in clear.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { COMPUTE_SPEC_HELP, LIVE_BATCHING, parseComputeSpec, type ComputeSpec, type LiveBatching } from '../compute/backend.ts';
import { AMZN, GOOG, USDM } from '../sources/samples.ts';
import { DEFAULT_LEVELS, resolveDepth, type Depth } from '../model/depth.ts';
import { VENUES, venue } from '../venues/registry.ts';
import type { LiveSourceConfig } from '../venues/venue.ts';

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** The project root (data/ and models/ resolve from it, so `npm start` works from any directory). */
export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

export interface ApiKey {
  id: string;
  /** sha256 of the key. */
  hash: Buffer;
  /** Topic patterns this key may subscribe to: `*`, or names with `*` wildcards (`features.*`, `pred.*.BTCUSDT`). */
  read: string[];
  /** Symbols this key may push over /ingest (`*` for any); empty: read-only. */
  write: string[];
  /** Concurrent connections (feed and ingest together) with this key. */
  maxConnections: number;
}

export interface ReplaySourceConfig {
  kind: 'replay';
  /** A source spec (openSource: lobster:..., binance:..., tardis:...) or recording:DIR. */
  spec: string;
  /** Playback speed factor (1 = real time). */
  speed: number;
  loop: boolean;
}

export type SourceConfig = ReplaySourceConfig | LiveSourceConfig;

export function isReplay(s: SourceConfig): s is ReplaySourceConfig {
  return s.kind === 'replay';
}

export interface FeedConfig {
  /** Levels per side in book frames. */
  bookLevels: number;
  /** At most one book frame per symbol per interval (the newest state; 0 = every row). */
  bookIntervalMs: number;
  heartbeatMs: number;
  /** Unsent bytes a connection may hold before it is treated as slow. */
  maxBufferBytes: number;
  /** Slow episodes within `overflowWindowMs` after which a connection is closed. */
  maxOverflows: number;
  overflowWindowMs: number;
  /** A connection that stays slow this long is closed. */
  slowTimeoutMs: number;
}

export interface LimitsConfig {
  /** Largest request frame on /feed (bytes); larger closes the connection (1009). */
  maxPayloadBytes: number;
  /** Largest frame on /ingest. */
  ingestMaxPayloadBytes: number;
  maxSubscriptions: number;
  /** Request rate per /feed connection: sustained per second, and burst. */
  requestsPerSecond: number;
  requestBurst: number;
  /** Ingest messages per second per connection (each element of a batch counts), and burst. */
  ingestPerSecond: number;
  ingestBurst: number;
  /**
   * Milliseconds of ingest work per event-loop turn (default 5): frames beyond wait, in order, for
   * the next turns, so inference answers and timers are served while the server is behind its
   * producers. 0: no bound, each frame is applied as it arrives.
   */
  ingestSliceMs: number;
  /**
   * With ingestSliceMs: while a later book message of a symbol waits to be applied, its rows are
   * predicted at most once per this many milliseconds (the rest are skipped as out of date).
   */
  backlogPredictionMs: number;
  /** Bytes of received frames one producer may have waiting; beyond, it is applied as it arrives (TCP pushes back). */
  ingestQueueBytes: number;
  maxConnections: number;
  /** Anonymous connections from one address. */
  maxConnectionsPerIp: number;
  /** Largest POST /v1/predict body. */
  maxHttpBodyBytes: number;
  /** Failed API key attempts from one address within `authFailureWindowMs` of the first, after which its keys are refused (429) until that window is over. */
  authFailures: number;
  authFailureWindowMs: number;
}

export interface SecurityConfig {
  /** Anonymous read-only feed access; only ever honoured while bound to loopback. */
  anonymous: boolean;
  /** Origins allowed to open /feed from a browser besides the server's own (same-origin). */
  allowedOrigins: string[];
  keys: ApiKey[];
}

export interface FeaturesConfig {
  levels: number;
  /** VPIN bucket volume for symbols without their own; 'auto' sizes replayed symbols from their traded volume. */
  vpinBucket: number | 'auto';
  vpinBucketBySymbol: Record<string, number>;
  vpinBuckets: number;
  barMs: number;
  barWindow: number;
  /**
   * What computes the dense columns of each live row (src/compute/live-dense.ts): `cpu` (the
   * float64 engine, default), `gpujs[:mode]` (the kernels, row by row) or `auto` (measures them
   * at the live shape and reports; keeps the engine while it computes them inline anyway).
   */
  compute: ComputeSpec;
  /**
   * With kernels (`compute: gpujs...`): one kernel call per row (`row`), rows of all symbols
   * micro-batched into one call (`batch`: a batch leaves at maxBatchSize rows or when its oldest
   * row has waited maxQueueDelayUs), or `auto` (default): batched when the kernels, measured at
   * start, cost less per row that way (src/compute/live-dense.ts; /healthz compute.batching says why).
   */
  batching: LiveBatching;
  maxBatchSize: number;
  maxQueueDelayUs: number;
}

export interface ModelsConfig {
  /** Directory of ONNX models with manifests; '' disables inference. */
  dir: string;
  /**
   * The symbols each model serves: patterns by model name, `*` for the others; empty: every model
   * serves every symbol. The bundled demo sets `{"*": ["GOOG", "AMZN"]}`: its models were trained on
   * the LOBSTER GOOG day (and evaluated on AMZN), not on crypto books.
   */
  symbols: Record<string, string[]>;
  /**
   * Kept versions served beside the current ones (A/B), as "NAME@vN" (models/.versions/NAME/vN,
   * docs/models.md): each is a model of its own, published on pred.NAME@vN.SYM, serving NAME's
   * symbols unless `symbols` names it. A version that is missing or corrupt is refused with the
   * reason; the others serve. Also FLOWCAST_MODEL_VERSIONS (comma-separated).
   */
  versions: string[];
  /**
   * The dynamic batcher (src/inference/batcher.ts). The server's default queue delay is 0: a request
   * leaves as soon as a runner slot is free, and batches form from the requests that arrive while
   * both slots are busy. On CPU, waiting for company only adds latency (measured: prediction p50
   * 0.9 -> 0.55 ms at 100 symbols, docs/benchmarks.md); raise it on a GPU, where larger batches pay.
   */
  maxBatchSize: number;
  maxQueueDelayUs: number;
  /**
   * Where sessions run: `auto` (default: per model, inline when a full batch takes <= 0.5 ms here,
   * cheaper than a thread hop; else a worker), `worker` (a thread per model) or `inline`.
   */
  runner: 'auto' | 'worker' | 'inline';
}

/** Cluster mode on Redis Streams (docs/cluster.md): which roles this process runs, against which Redis. */
export interface ClusterConfig {
  /** redis://[user:password@]HOST:PORT[/db]; shown only redacted (src/cluster/redis.ts redactUrl). */
  url: string;
  roles: ('ingest' | 'compute' | 'edge')[];
  prefix: string;
  shards: number;
  leaseMs: number;
  /** Entries kept per input stream and per result stream (XADD MAXLEN ~). */
  inMaxLen: number;
  outMaxLen: number;
  /** Bytes of events the ingest role holds while Redis is slow or down. */
  maxQueuedBytes: number;
}

export const CLUSTER_ROLES = ['ingest', 'compute', 'edge'] as const;

export interface ServerConfig {
  /** Absent: today's single process. */
  cluster?: ClusterConfig;
  host: string;
  port: number;
  /** Default playback speed of replay sources (1 = real time). */
  speed: number;
  sources: SourceConfig[];
  feed: FeedConfig;
  limits: LimitsConfig;
  security: SecurityConfig;
  features: FeaturesConfig;
  models: ModelsConfig;
  /**
   * Resolved by loadServerConfig from `features.levels` and `feed.bookLevels` once every layer is
   * applied; the pipeline and the kernels read this, so change those two and resolve again.
   */
  depth: Depth;
}

export const DEFAULT_REPLAY_SPECS = [USDM, GOOG, AMZN];

/** The demo's models (models/) were trained on the LOBSTER GOOG day: served to the equities only. */
export const DEFAULT_MODEL_SYMBOLS: Record<string, string[]> = { '*': ['GOOG', 'AMZN'] };

export function defaultConfig(): ServerConfig {
  const cfg: Omit<ServerConfig, 'depth'> = {
    host: '127.0.0.1',
    port: 8080,
    speed: 1,
    sources: [],
    feed: {
      bookLevels: 10,
      bookIntervalMs: 100,
      heartbeatMs: 1000,
      maxBufferBytes: 1 << 20,
      maxOverflows: 5,
      overflowWindowMs: 60_000,
      slowTimeoutMs: 30_000,
    },
    limits: {
      maxPayloadBytes: 16 * 1024,
      ingestMaxPayloadBytes: 1 << 20,
      maxSubscriptions: 512,
      requestsPerSecond: 20,
      requestBurst: 40,
      ingestPerSecond: 200_000,
      ingestBurst: 400_000,
      ingestSliceMs: 5,
      backlogPredictionMs: 250,
      ingestQueueBytes: 8 << 20,
      maxConnections: 10_000,
      maxConnectionsPerIp: 64,
      maxHttpBodyBytes: 1 << 20,
      authFailures: 10,
      authFailureWindowMs: 60_000,
    },
    security: { anonymous: true, allowedOrigins: [], keys: [] },
    features: { levels: DEFAULT_LEVELS, vpinBucket: 'auto', vpinBucketBySymbol: {}, vpinBuckets: 50, barMs: 1000, barWindow: 300, compute: 'cpu', batching: 'auto', maxBatchSize: 64, maxQueueDelayUs: 500 },
    models: { dir: join(PROJECT_ROOT, 'models'), symbols: {}, versions: [], maxBatchSize: 64, maxQueueDelayUs: 0, runner: 'auto' },
  };
  return { ...cfg, depth: resolveDepth(cfg.features.levels, { bookLevels: cfg.feed.bookLevels }) };
}

/** Flag-level overrides (the serve command fills these from its flags). */
export interface ConfigOverrides {
  host?: string;
  port?: number;
  speed?: number;
  replay?: string[];
  noReplay?: boolean;
  /** Live sources from flags: the values of each venue's flag (`--binance`), by venue id. */
  live?: Record<string, string[] | undefined>;
  models?: string;
  compute?: string;
  anonymous?: boolean;
  /** --cluster URL, --role ingest|compute|edge|all (comma-separated), --shards N, --lease-ms MS, --retention N, --input-retention N. */
  cluster?: string;
  role?: string;
  shards?: number;
  /** --lease-ms: how long a compute process's shard lease lasts unrenewed (takeover time). */
  leaseMs?: number;
  /** --retention N: entries each result stream keeps (how far back a subscriber can resume). */
  retention?: number;
  /** --input-retention N: entries each input stream keeps (how far a compute process may fall behind). */
  inputRetention?: number;
}

export function hashKey(key: string): Buffer {
  return createHash('sha256').update(key, 'utf8').digest();
}

export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h);
}

type Json = Record<string, unknown>;

/** Checks one layer of settings (from a file or FLOWCAST_* variables) into the config. */
class Layer {
  constructor(private readonly where: string) {}

  fail(path: string, msg: string): never {
    throw new ConfigError(`${this.where}: ${path}: ${msg}`);
  }

  int(o: Json, key: string, path: string, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
    const v = o[key];
    if (v === undefined) return undefined;
    const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) this.fail(`${path}${key}`, `expected an integer in ${min}..${max}, got ${JSON.stringify(v)}`);
    return n;
  }

  num(o: Json, key: string, path: string, min: number, exclusive = false): number | undefined {
    const v = o[key];
    if (v === undefined) return undefined;
    const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
    if (typeof n !== 'number' || !Number.isFinite(n) || (exclusive ? n <= min : n < min)) {
      this.fail(`${path}${key}`, `expected a number ${exclusive ? '>' : '>='} ${min}, got ${JSON.stringify(v)}`);
    }
    return n;
  }

  compute(o: Json, key: string, path: string): ComputeSpec | undefined {
    const v = o[key];
    if (v === undefined) return undefined;
    try {
      return parseComputeSpec(String(v));
    } catch {
      return this.fail(`${path}${key}`, `expected ${COMPUTE_SPEC_HELP}, got ${JSON.stringify(v)}`);
    }
  }

  bool(o: Json, key: string, path: string): boolean | undefined {
    const v = o[key];
    if (v === undefined) return undefined;
    if (v === true || v === 'true' || v === '1') return true;
    if (v === false || v === 'false' || v === '0') return false;
    return this.fail(`${path}${key}`, `expected true or false, got ${JSON.stringify(v)}`);
  }

  str(o: Json, key: string, path: string): string | undefined {
    const v = o[key];
    if (v === undefined) return undefined;
    if (typeof v !== 'string') this.fail(`${path}${key}`, `expected a string, got ${JSON.stringify(v)}`);
    return v;
  }

  strings(o: Json, key: string, path: string): string[] | undefined {
    const v = o[key];
    if (v === undefined) return undefined;
    if (!Array.isArray(v) || v.some((s) => typeof s !== 'string')) this.fail(`${path}${key}`, `expected an array of strings, got ${JSON.stringify(v)}`);
    return v as string[];
  }

  obj(o: Json, key: string, path: string): Json | undefined {
    const v = o[key];
    if (v === undefined) return undefined;
    if (v === null || typeof v !== 'object' || Array.isArray(v)) this.fail(`${path}${key}`, 'expected an object');
    return v as Json;
  }

  known(o: Json, keys: string[], path: string): void {
    for (const k of Object.keys(o)) if (!keys.includes(k)) this.fail(`${path}${k}`, `unknown setting (known: ${keys.join(', ')})`);
  }
}

function setIf<T, K extends keyof T>(target: T, key: K, v: T[K] | undefined): void {
  if (v !== undefined) target[key] = v;
}

function applyFile(cfg: ServerConfig, j: Json, where: string, baseDir: string, env: NodeJS.ProcessEnv): void {
  const L = new Layer(where);
  L.known(j, ['host', 'port', 'speed', 'sources', 'feed', 'limits', 'security', 'features', 'models'], '');
  setIf(cfg, 'host', L.str(j, 'host', ''));
  setIf(cfg, 'port', L.int(j, 'port', '', 0, 65535));
  setIf(cfg, 'speed', L.num(j, 'speed', '', 0, true));
  if (j['sources'] !== undefined) {
    if (!Array.isArray(j['sources'])) L.fail('sources', 'expected an array');
    cfg.sources = (j['sources'] as unknown[]).map((s, i) => parseSource(L, s, `sources[${i}].`, baseDir, cfg.speed));
  }
  const feed = L.obj(j, 'feed', '');
  if (feed) {
    const keys = Object.keys(cfg.feed) as (keyof FeedConfig)[];
    L.known(feed, keys, 'feed.');
    setIf(cfg.feed, 'bookLevels', L.int(feed, 'bookLevels', 'feed.', 1, 1000));
    setIf(cfg.feed, 'bookIntervalMs', L.int(feed, 'bookIntervalMs', 'feed.', 0, 60_000));
    setIf(cfg.feed, 'heartbeatMs', L.int(feed, 'heartbeatMs', 'feed.', 50, 600_000));
    setIf(cfg.feed, 'maxBufferBytes', L.int(feed, 'maxBufferBytes', 'feed.', 4096));
    setIf(cfg.feed, 'maxOverflows', L.int(feed, 'maxOverflows', 'feed.', 1));
    setIf(cfg.feed, 'overflowWindowMs', L.int(feed, 'overflowWindowMs', 'feed.', 1));
    setIf(cfg.feed, 'slowTimeoutMs', L.int(feed, 'slowTimeoutMs', 'feed.', 10));
  }
  const lim = L.obj(j, 'limits', '');
  if (lim) {
    L.known(lim, Object.keys(cfg.limits), 'limits.');
    for (const k of Object.keys(cfg.limits) as (keyof LimitsConfig)[]) setIf(cfg.limits, k, L.int(lim, k, 'limits.', k === 'ingestSliceMs' ? 0 : 1));
  }
  const sec = L.obj(j, 'security', '');
  if (sec) {
    L.known(sec, ['anonymous', 'allowedOrigins', 'keys'], 'security.');
    setIf(cfg.security, 'anonymous', L.bool(sec, 'anonymous', 'security.'));
    setIf(cfg.security, 'allowedOrigins', L.strings(sec, 'allowedOrigins', 'security.'));
    if (sec['keys'] !== undefined) {
      if (!Array.isArray(sec['keys'])) L.fail('security.keys', 'expected an array');
      cfg.security.keys = (sec['keys'] as unknown[]).map((k, i) => parseKey(L, k, `security.keys[${i}].`, env));
    }
  }
  const f = L.obj(j, 'features', '');
  if (f) {
    L.known(f, Object.keys(cfg.features), 'features.');
    setIf(cfg.features, 'levels', L.int(f, 'levels', 'features.', 1, 1000));
    if (f['vpinBucket'] === 'auto') cfg.features.vpinBucket = 'auto';
    else setIf(cfg.features, 'vpinBucket', L.num(f, 'vpinBucket', 'features.', 0, true));
    const by = L.obj(f, 'vpinBucketBySymbol', 'features.');
    if (by) for (const s of Object.keys(by)) cfg.features.vpinBucketBySymbol[s] = L.num(by, s, 'features.vpinBucketBySymbol.', 0, true)!;
    setIf(cfg.features, 'vpinBuckets', L.int(f, 'vpinBuckets', 'features.', 1));
    setIf(cfg.features, 'barMs', L.int(f, 'barMs', 'features.', 1));
    setIf(cfg.features, 'barWindow', L.int(f, 'barWindow', 'features.', 2));
    setIf(cfg.features, 'compute', L.compute(f, 'compute', 'features.'));
    const b = f['batching'];
    if (b !== undefined) {
      if (typeof b !== 'string' || !(LIVE_BATCHING as readonly string[]).includes(b)) L.fail('features.batching', `expected ${LIVE_BATCHING.join(' | ')}, got ${JSON.stringify(b)}`);
      cfg.features.batching = b as LiveBatching;
    }
    setIf(cfg.features, 'maxBatchSize', L.int(f, 'maxBatchSize', 'features.', 1, 4096));
    setIf(cfg.features, 'maxQueueDelayUs', L.int(f, 'maxQueueDelayUs', 'features.', 0, 1_000_000));
  }
  const m = L.obj(j, 'models', '');
  if (m) {
    L.known(m, ['dir', 'symbols', 'versions', 'maxBatchSize', 'maxQueueDelayUs', 'runner'], 'models.');
    const versions = L.strings(m, 'versions', 'models.');
    if (versions) cfg.models.versions = checkModelVersions(L, versions, 'models.versions');
    setIf(cfg.models, 'maxBatchSize', L.int(m, 'maxBatchSize', 'models.', 1, 65_536));
    setIf(cfg.models, 'maxQueueDelayUs', L.int(m, 'maxQueueDelayUs', 'models.', 0, 1_000_000));
    const runner = L.str(m, 'runner', 'models.');
    if (runner !== undefined) {
      cfg.models.runner = runner === 'auto' || runner === 'worker' || runner === 'inline' ? runner : L.fail('models.runner', `expected "auto", "worker" or "inline", got ${JSON.stringify(runner)}`);
    }
    const dir = L.str(m, 'dir', 'models.');
    if (dir !== undefined) cfg.models.dir = dir === '' ? '' : resolve(baseDir, dir);
    const syms = L.obj(m, 'symbols', 'models.');
    if (syms) for (const k of Object.keys(syms)) cfg.models.symbols[k] = L.strings(syms, k, 'models.symbols.')!;
  }
}

function parseSource(L: Layer, s: unknown, path: string, baseDir: string, speed: number): SourceConfig {
  if (s === null || typeof s !== 'object' || Array.isArray(s)) return L.fail(path.slice(0, -1), 'expected an object');
  const o = s as Json;
  if (o['replay'] !== undefined) {
    L.known(o, ['replay', 'speed', 'loop'], path);
    const spec = L.str(o, 'replay', path)!;
    return { kind: 'replay', spec: resolveSpec(spec, baseDir), speed: L.num(o, 'speed', path, 0, true) ?? speed, loop: L.bool(o, 'loop', path) ?? true };
  }
  // A live source is keyed by its venue's id: {"binance": "usdm", ...}.
  for (const v of VENUES) if (v.live && o[v.id] !== undefined) return v.live.parseConfig(o, path, L);
  const forms = ['{"replay": SPEC, "speed"?, "loop"?}', ...VENUES.flatMap((v) => (v.live ? [v.live.configForm] : []))];
  return L.fail(path.slice(0, -1), `a source is ${forms.join(' or ')}`);
}

function parseKey(L: Layer, k: unknown, path: string, env: NodeJS.ProcessEnv): ApiKey {
  if (k === null || typeof k !== 'object' || Array.isArray(k)) return L.fail(path.slice(0, -1), 'expected an object');
  const o = k as Json;
  L.known(o, ['id', 'key', 'keyEnv', 'sha256', 'read', 'write', 'maxConnections'], path);
  const id = L.str(o, 'id', path);
  if (!id || !/^[A-Za-z0-9_.\-]{1,64}$/.test(id)) L.fail(`${path}id`, 'expected an id of letters, digits, _ . - (at most 64)');
  let hash: Buffer | undefined;
  const key = L.str(o, 'key', path);
  const keyEnv = L.str(o, 'keyEnv', path);
  const sha = L.str(o, 'sha256', path);
  if ([key, keyEnv, sha].filter((x) => x !== undefined).length !== 1) L.fail(path.slice(0, -1), 'give exactly one of "key", "keyEnv" (a variable holding the key) or "sha256"');
  if (key !== undefined) hash = hashKey(checkKeyText(L, key, `${path}key`));
  if (keyEnv !== undefined) {
    const v = env[keyEnv];
    if (!v) L.fail(`${path}keyEnv`, `environment variable ${keyEnv} is not set`);
    hash = hashKey(checkKeyText(L, v, `${path}keyEnv (${keyEnv})`));
  }
  if (sha !== undefined) {
    if (!/^[0-9a-f]{64}$/i.test(sha)) L.fail(`${path}sha256`, 'expected 64 hex digits');
    hash = Buffer.from(sha, 'hex');
  }
  const read = L.strings(o, 'read', path) ?? ['*'];
  for (const p of read) if (!/^[A-Za-z0-9_.:\-/*]{1,120}$/.test(p)) L.fail(`${path}read`, `not a topic pattern: ${JSON.stringify(p)}`);
  return {
    id: id!,
    hash: hash!,
    read,
    write: L.strings(o, 'write', path) ?? [],
    maxConnections: L.int(o, 'maxConnections', path, 1) ?? 100,
  };
}

function checkKeyText(L: Layer, key: string, path: string): string {
  if (key.length < 16) L.fail(path, 'keys must be at least 16 characters');
  return key;
}

/** Relative file paths in a spec resolve against the config file's directory (or the project root). */
function resolveSpec(spec: string, baseDir: string): string {
  const colon = spec.indexOf(':');
  if (colon <= 0) return spec;
  const files = spec.slice(colon + 1).split(',').map((f) => f.trim()).filter(Boolean);
  return `${spec.slice(0, colon)}:${files.map((f) => (isAbsolute(f) ? f : resolve(baseDir, f))).join(',')}`;
}

/** The value of a live venue's flag (`--binance usdm:BTCUSDT,ETHUSDT`). */
export function parseLiveFlag(venueId: string, v: string): LiveSourceConfig {
  const live = venue(venueId)?.live;
  if (!live) throw new ConfigError(`--${venueId}: no live venue of that name`);
  const c = live.parseFlag(v);
  if (!c) throw new ConfigError(`--${venueId}: expected ${live.flagForm}, got "${v}"`);
  return c;
}

export interface LoadOptions {
  /** Path of a JSON config file (the flag wins over FLOWCAST_CONFIG). */
  file?: string;
  env?: NodeJS.ProcessEnv;
  overrides?: ConfigOverrides;
}

/** Builds the effective configuration and checks its consistency (the security rules included). */
export function loadServerConfig(opts: LoadOptions = {}): ServerConfig {
  const env = opts.env ?? process.env;
  const cfg = defaultConfig();
  const file = opts.file ?? env['FLOWCAST_CONFIG'];
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      throw new ConfigError(`${file}: cannot read the config file (${(e as Error).message})`);
    }
    let j: unknown;
    try {
      j = JSON.parse(text);
    } catch (e) {
      throw new ConfigError(`${file}: not valid JSON (${(e as Error).message})`);
    }
    if (j === null || typeof j !== 'object' || Array.isArray(j)) throw new ConfigError(`${file}: expected a JSON object`);
    applyFile(cfg, j as Json, file, dirname(resolve(file)), env);
  }
  applyEnv(cfg, env);
  applyOverrides(cfg, opts.overrides ?? {});
  if (cfg.sources.length === 0 && !opts.overrides?.noReplay) {
    cfg.sources = DEFAULT_REPLAY_SPECS.map((s) => ({ kind: 'replay', spec: resolveSpec(s, PROJECT_ROOT), speed: cfg.speed, loop: true }));
    if (Object.keys(cfg.models.symbols).length === 0) cfg.models.symbols = { ...DEFAULT_MODEL_SYMBOLS };
  }
  checkSecurity(cfg);
  cfg.depth = resolveDepth(cfg.features.levels, { bookLevels: cfg.feed.bookLevels });
  return cfg;
}

function applyEnv(cfg: ServerConfig, env: NodeJS.ProcessEnv): void {
  const L = new Layer('environment');
  const e = env as Json;
  setIf(cfg, 'host', L.str(e, 'FLOWCAST_HOST', ''));
  setIf(cfg, 'port', L.int(e, 'FLOWCAST_PORT', '', 0, 65535));
  const speed = L.num(e, 'FLOWCAST_SPEED', '', 0, true);
  if (speed !== undefined) setSpeed(cfg, speed);
  const models = L.str(e, 'FLOWCAST_MODELS', '');
  if (models !== undefined) cfg.models.dir = models === '' ? '' : resolve(models);
  setIf(cfg.features, 'compute', L.compute(e, 'FLOWCAST_COMPUTE', ''));
  const versions = L.str(e, 'FLOWCAST_MODEL_VERSIONS', '');
  if (versions !== undefined) cfg.models.versions = checkModelVersions(L, versions.split(',').map((v) => v.trim()).filter(Boolean), 'FLOWCAST_MODEL_VERSIONS');
  const key = env['FLOWCAST_API_KEY'];
  if (key) {
    // id:secret, full access (read everything, write any symbol): the one-variable setup for containers.
    const colon = key.indexOf(':');
    if (colon <= 0) L.fail('FLOWCAST_API_KEY', 'expected ID:SECRET');
    const id = key.slice(0, colon);
    cfg.security.keys.push({ id, hash: hashKey(checkKeyText(L, key.slice(colon + 1), 'FLOWCAST_API_KEY')), read: ['*'], write: ['*'], maxConnections: 1000 });
  }
}

function applyOverrides(cfg: ServerConfig, o: ConfigOverrides): void {
  setIf(cfg, 'host', o.host);
  setIf(cfg, 'port', o.port);
  if (o.models !== undefined) cfg.models.dir = o.models === '' ? '' : resolve(o.models);
  setIf(cfg.features, 'compute', new Layer('flags').compute(o as Json, 'compute', '--'));
  if (o.anonymous !== undefined) cfg.security.anonymous = o.anonymous;
  const flagSources: SourceConfig[] = [
    ...(o.replay ?? []).map((spec): SourceConfig => ({ kind: 'replay', spec: resolveSpec(spec, process.cwd()), speed: o.speed ?? cfg.speed, loop: true })),
    ...Object.entries(o.live ?? {}).flatMap(([id, vs]) => (vs ?? []).map((v) => parseLiveFlag(id, v))),
  ];
  if (o.speed !== undefined) setSpeed(cfg, o.speed);
  if (flagSources.length > 0 || o.noReplay) cfg.sources = flagSources;
  applyCluster(cfg, o);
}

function applyCluster(cfg: ServerConfig, o: ConfigOverrides): void {
  const role = o.role ?? 'all';
  const roles = role === 'all' ? [...CLUSTER_ROLES] : role.split(',').map((r) => r.trim());
  for (const r of roles) {
    if (!(CLUSTER_ROLES as readonly string[]).includes(r)) throw new ConfigError(`--role: expected ingest, compute, edge (comma-separated) or all, got ${JSON.stringify(r)}`);
  }
  if (o.cluster === undefined) {
    if (role !== 'all') throw new ConfigError(`--role ${role} needs --cluster redis://HOST:PORT (without it, the one process runs everything)`);
    return;
  }
  if (!/^rediss?:\/\//.test(o.cluster)) throw new ConfigError('--cluster: expected redis://[user:password@]HOST:PORT[/db]');
  cfg.cluster = {
    url: o.cluster, roles: roles as ClusterConfig['roles'], prefix: 'flowcast', shards: o.shards ?? 16, leaseMs: o.leaseMs ?? 3000,
    inMaxLen: o.inputRetention ?? 1_000_000, outMaxLen: o.retention ?? 10_000, maxQueuedBytes: 64 << 20,
  };
}

/** "NAME@vN" entries (the model's name as its directory spells it, a kept version's id). */
function checkModelVersions(L: Layer, list: string[], path: string): string[] {
  for (const v of list) {
    if (!/^[A-Za-z0-9._-]+@v[1-9][0-9]*$/.test(v)) L.fail(path, `expected NAME@vN (a kept version, e.g. goog-gbdt@v1: flowcast models versions NAME), got ${JSON.stringify(v)}`);
  }
  return [...new Set(list)];
}

function setSpeed(cfg: ServerConfig, speed: number): void {
  cfg.speed = speed;
  for (const s of cfg.sources) if (isReplay(s)) s.speed = speed;
}

/**
 * Anonymous access only on loopback (the demo); any other bind must have keys, and never serves
 * anonymous clients even if the config asks for it.
 */
function checkSecurity(cfg: ServerConfig): void {
  const loopback = isLoopbackHost(cfg.host);
  if (!loopback) {
    if (cfg.security.keys.length === 0) {
      throw new ConfigError(`binding to ${cfg.host} (not loopback) requires API keys: add security.keys to the config file or set FLOWCAST_API_KEY=id:secret`);
    }
    cfg.security.anonymous = false;
  }
  const ids = new Set<string>();
  for (const k of cfg.security.keys) {
    if (ids.has(k.id)) throw new ConfigError(`security.keys: the id "${k.id}" is used twice`);
    ids.add(k.id);
  }
}
