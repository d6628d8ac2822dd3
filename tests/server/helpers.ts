/** Servers on ephemeral ports for tests, configured like production (config loader, security rules). */
import { loadServerConfig, hashKey, type ApiKey, type ConfigOverrides, type ServerConfig } from '../../src/server/config.ts';
import { startServer, type RunningServer, type ServerOptions } from '../../src/server/server.ts';
import { loadPlugins } from '../../src/server/wiring.ts';
import { FeedClient } from '../../src/client/feed-client.ts';
import { IngestClient } from '../../src/client/ingest-client.ts';
import type { FeaturesFrame } from '../../src/protocol/frames.ts';
import { COL } from '../../src/features/columns.ts';
import type { Prediction } from '../../src/pipeline/plugins.ts';
import type { PipelineOutput } from '../../src/pipeline/live.ts';

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

/**
 * The features.KRN frames a server makes of one synthetic producer stream: a 10-level book a side
 * (sizes that differ by level, so imb_10 is not imb_5 and depth_* not a 5-level sum), then `rows - 1`
 * one-level deltas and a trade every fourth row. For comparing two servers' computations.
 */
export async function syntheticFeatures(server: RunningServer, rows: number): Promise<FeaturesFrame[]> {
  const c = await FeedClient.connect({ url: feedUrl(server) });
  const frames: FeaturesFrame[] = [];
  c.on('features', (f) => frames.push(f));
  await c.subscribe(['features.KRN']);
  const p = await IngestClient.connect({ url: ingestUrl(server), key: WRITE_KEY });
  const now = Date.now();
  p.send({ t: 'snapshot', sym: 'KRN', ts: now, bids: Array.from({ length: 10 }, (_, i) => [101.25 - i * 0.05, 3 + i] as [number, number]), asks: Array.from({ length: 10 }, (_, i) => [101.3 + i * 0.05, 4 + 2 * i] as [number, number]) });
  for (let i = 1; i < rows; i++) {
    p.send({ t: 'delta', sym: 'KRN', ts: now + i, bids: [[101.25 - (i % 9) * 0.05, 1 + ((i * 13) % 17)]], asks: [[101.3 + (i % 8) * 0.05, 2 + ((i * 7) % 11)]] });
    if (i % 4 === 0) p.send({ t: 'trade', sym: 'KRN', ts: now + i, px: 101.3, sz: 1 + (i % 3), side: i % 8 ? 'buy' : 'sell' });
  }
  await p.flush();
  await until(() => frames.length >= rows, 10_000, `${rows} features frames`);
  await p.close();
  await c.close();
  return frames;
}

/** Each symbol's rows a live test saw, by feed row number. */
export function rowsBySymbol<R extends { sym: string; row: number }>(seen: readonly R[]): Map<string, R[]> {
  const m = new Map<string, R[]>();
  for (const s of seen) {
    let a = m.get(s.sym);
    if (!a) m.set(s.sym, (a = []));
    a[s.row] = s;
  }
  return m;
}

/**
 * A model's window of one symbol ending at feed row `row`, cut from the rows' values outside the
 * server: `columns` of the T rows up to it, oldest first, as float32 (what the model's input holds).
 */
export function cutWindow(rows: readonly { values: Float64Array }[], columns: readonly string[], T: number, row: number): Float32Array {
  const cols = columns.map((c) => COL[c as keyof typeof COL]);
  const w = new Float32Array(T * cols.length);
  for (let t = 0; t < T; t++) {
    const v = rows[row - T + 1 + t]!.values;
    for (let c = 0; c < cols.length; c++) w[t * cols.length + c] = v[cols[c]!]!;
  }
  return w;
}

/** A features row a live-pipeline test kept: symbol, feed row number, values (FEATURE_COLUMNS order). */
export interface SeenRow { sym: string; row: number; values: Float64Array }

/** A live pipeline's output that keeps every features row and prediction (copied: the pipeline reuses its arrays). */
export function keepingOutput(): { seen: SeenRow[]; preds: Prediction[]; out: PipelineOutput } {
  const seen: SeenRow[] = [];
  const preds: Prediction[] = [];
  const out: PipelineOutput = {
    row: (r) => seen.push({ sym: r.sym, row: r.row, values: Float64Array.from(r.values) }),
    prediction: (p) => preds.push({ ...p, probs: Array.from(p.probs) }),
    alert: () => {},
  };
  return { seen, preds, out };
}
