/** Servers on ephemeral ports for tests, configured like production (config loader, security rules). */
import { loadServerConfig, hashKey, type ApiKey, type ConfigOverrides, type ServerConfig } from '../../src/server/config.ts';
import { startServer, type RunningServer, type ServerOptions } from '../../src/server/server.ts';
import { loadPlugins } from '../../src/server/wiring.ts';

export const WRITE_KEY = 'write-key-0123456789abcdef';
export const READ_KEY = 'read-key-0123456789abcdef';

export function key(id: string, secret: string, o: Partial<Omit<ApiKey, 'id' | 'hash'>> = {}): ApiKey {
  return { id, hash: hashKey(secret), read: o.read ?? ['*'], write: o.write ?? [], maxConnections: o.maxConnections ?? 100 };
}

/** A server with no sources (unless given), on 127.0.0.1:0, with `patch` applied to the loaded config. */
export async function testServer(
  patch: (c: ServerConfig) => void = () => {},
  overrides: ConfigOverrides = {},
  opts: ServerOptions & { plugins?: boolean } = {},
): Promise<RunningServer> {
  const cfg = loadServerConfig({ env: { FLOWCAST_API_KEY: `producer:${WRITE_KEY}` }, overrides: { port: 0, noReplay: true, models: '', ...overrides } });
  patch(cfg);
  // With plugins: what `flowcast serve` loads (the inference engine over models.dir, compute health).
  const plugins = opts.plugins ? await loadPlugins(cfg) : {};
  return startServer(cfg, { sweepMs: 5, ...plugins, ...opts });
}

export function feedUrl(s: RunningServer, query = ''): string {
  return `ws://127.0.0.1:${s.port}/feed${query}`;
}

export function ingestUrl(s: RunningServer): string {
  return `ws://127.0.0.1:${s.port}/ingest`;
}

export async function until(cond: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
