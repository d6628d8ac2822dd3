/**
 * Connections to the cluster's Redis (ioredis): the URL's credentials never reach a log line or
 * /healthz (redactUrl), commands fail at once while the connection is down (no offline queue, so a
 * caller's own bounded buffer is the only place data waits), and the client reconnects with
 * capped exponential backoff by itself.
 */
import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import { backoffMs } from '../core/backoff.ts';
import { logger } from '../core/log.ts';
import { ClusterKeys } from './keys.ts';

const log = logger('cluster');

/** The URL with any user name and password replaced by `***` (what logs and /healthz show). */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.username || u.password) {
      u.username = u.username ? '***' : '';
      u.password = u.password ? '***' : '';
    }
    return u.toString().replace(/\/$/, '');
  } catch {
    return '(unparsable Redis URL)';
  }
}

export function checkRedisUrl(url: string): void {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error(`--cluster: not a URL: ${redactUrl(url)} (expected redis://[user:password@]HOST:PORT[/db])`);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') {
    throw new Error(`--cluster: expected a redis:// or rediss:// URL, got ${u.protocol}//...`);
  }
}

export interface RedisLink {
  readonly redis: Redis;
  /** Whether the connection is up and ready for commands. */
  ready(): boolean;
  /** Resolves once the connection is ready (commands fail at once while it is not). */
  untilReady(): Promise<void>;
  /** Connection state for /healthz: up, or down since when and why (no secrets). */
  health(): { url: string; state: string; downSinceMs: number | null; reconnects: number; lastError: string | null };
  close(): Promise<void>;
}

/** A connection named `name` (in Redis's CLIENT LIST and in our logs). */
export function connectRedis(url: string, name: string): RedisLink {
  checkRedisUrl(url);
  const safe = redactUrl(url);
  let downSince = Date.now();
  let reconnects = 0;
  let lastError: string | null = null;
  let closing = false;
  const redis = new Redis(url, {
    connectionName: name,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: (attempt) => (closing ? null : backoffMs(Math.min(attempt, 10), 50, 2000)),
    lazyConnect: false,
  });
  redis.on('ready', () => {
    if (reconnects > 0) log.warn('redis connection restored', { conn: name, url: safe, downMs: Date.now() - downSince });
    downSince = NaN;
  });
  redis.on('error', (e: Error) => {
    // ioredis may put the URL in its messages; keep only what names the failure.
    lastError = e.message.replaceAll(url, safe);
  });
  redis.on('close', () => {
    if (closing) return;
    if (Number.isNaN(downSince)) {
      downSince = Date.now();
      log.warn('redis connection lost', { conn: name, url: safe, error: lastError });
    }
  });
  redis.on('reconnecting', () => { reconnects++; });
  return {
    redis,
    ready: () => redis.status === 'ready',
    untilReady: () => (redis.status === 'ready' ? Promise.resolve() : new Promise((resolve) => redis.once('ready', () => resolve()))),
    health: () => ({
      url: safe,
      state: redis.status === 'ready' ? 'up' : `down (${redis.status})`,
      downSinceMs: Number.isNaN(downSince) ? null : Date.now() - downSince,
      reconnects,
      lastError: redis.status === 'ready' ? null : lastError,
    }),
    async close() {
      closing = true;
      try {
        await redis.quit();
      } catch {
        redis.disconnect();
      }
    },
  };
}

/**
 * Records the shard count in Redis on first use and refuses a different one: a symbol's shard is
 * its hash modulo the count, so roles that disagree would write and read different streams.
 */
export async function agreeShards(redis: Redis, keys: ClusterKeys, shards: number): Promise<void> {
  if (!Number.isInteger(shards) || shards < 1 || shards > 4096) throw new Error(`cluster shards: an integer in 1..4096, got ${shards}`);
  await redis.hsetnx(keys.meta(), 'shards', String(shards));
  const have = Number(await redis.hget(keys.meta(), 'shards'));
  if (have !== shards) {
    throw new Error(`cluster shards: this process is configured for ${shards} shards but the cluster under prefix "${keys.prefix}" has ${have} (${keys.meta()}); use ${have}, or another prefix`);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** A Lua script run by EVALSHA, loaded again with EVAL when Redis has forgotten it (a restart). */
export class LuaScript {
  private readonly sha: string;
  constructor(readonly name: string, readonly source: string) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }

  async run(redis: Redis, keys: readonly string[], args: readonly (string | Buffer | number)[]): Promise<unknown> {
    try {
      return await redis.call('EVALSHA', this.sha, keys.length, ...keys, ...args);
    } catch (e) {
      if (!String((e as Error).message).startsWith('NOSCRIPT')) throw e;
      return redis.call('EVAL', this.source, keys.length, ...keys, ...args);
    }
  }
}
