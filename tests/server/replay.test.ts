import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FeedClient } from '../../src/client/feed-client.ts';
import { runFeatures } from '../../src/pipeline/features.ts';
import { FEATURE_COLUMNS, type FeatureBlockSink } from '../../src/features/columns.ts';
import type { FeaturesFrame } from '../../src/protocol/frames.ts';
import type { RunningServer } from '../../src/server/server.ts';
import { feedUrl, testServer, until } from './helpers.ts';

const SPEC = 'binance:data/binance/binance-spot_btcusdt_20240808.jsonl.gz';
/** Columns that depend on the time axis (bars), which the replay re-stamps. */
const TIMED = new Set(['kyle_lambda', 'hasbrouck_lambda', 'amihud']);

let server: RunningServer;
let batch: number[][];

beforeAll(async () => {
  // The batch path over the same file (auto VPIN bucket, bar columns settled at once like the feed).
  batch = [];
  const sink: FeatureBlockSink = {
    write(b) {
      for (let i = 0; i < b.n; i++) batch.push(FEATURE_COLUMNS.map((_, c) => b.values[c]![i]!));
    },
    drain: async () => {},
    close: async () => ({ rows: batch.length, bytes: 0 }),
  };
  await runFeatures(SPEC, { settleMs: 0 }, () => sink);
  server = await testServer(() => {}, { replay: [SPEC], speed: 400 });
  // Held before its first event (startServer resolved in this same turn, and the player releases
  // events only from timers): the client below subscribes before row 0 however slow the machine.
  server.replays[0]!.pause();
});
afterAll(() => server.close());

describe('embedded replay', () => {
  it('plays a capture at speed, looping, with present-day increasing times and the batch path\'s features', async () => {
    const R = batch.length;
    expect(R).toBeGreaterThan(3000);
    const c = await FeedClient.connect({ url: feedUrl(server) });
    const got: FeaturesFrame[] = [];
    c.on('features', (f) => got.push(f));
    // A slow subscriber: the replay has parsed its first events, which are already due.
    const player = server.replays[0]!;
    await until(() => player.queued > 0, 30_000, 'first events parsed');
    await c.subscribe(['features.BTCUSDT']);
    expect(server.pipeline.sourceList()[0]!.depthIn).toBe(0);
    const resumed = Date.now();
    player.resume();
    await until(() => got.length > 0 && got[got.length - 1]!.row >= R + 200, 50_000, 'second loop');
    expect(server.replays[0]!.loops).toBeGreaterThanOrEqual(1);
    expect(c.gaps.size).toBe(0);
    // Times: present-day wall clock, never decreasing, also across the loop boundary. Bounded by
    // when the replay ran, not by a guess at its lag (a loaded machine releases events late); the
    // second of slack is the monotonic clock against Date.now().
    const now = Date.now();
    for (let i = 1; i < got.length; i++) expect(got[i]!.ts).toBeGreaterThanOrEqual(got[i - 1]!.ts);
    expect(got[0]!.ts).toBeGreaterThanOrEqual(resumed - 1000);
    expect(got[got.length - 1]!.ts).toBeLessThanOrEqual(now + 1000);
    // 346 s of market in about 346/400 s of clock per loop.
    const first = got.find((f) => f.row === R)!;
    const last = got.find((f) => f.row === R - 1)!;
    expect(first.ts - last.ts).toBeGreaterThan(0);
    // Loop one's rows carry exactly the batch features (bar-based columns aside: time is re-stamped).
    let compared = 0;
    for (const f of got) {
      if (f.row >= R) break;
      const ref = batch[f.row]!;
      FEATURE_COLUMNS.forEach((col, k) => {
        if (!TIMED.has(col)) expect([col, f.v[k]]).toEqual([col, ref[k]]);
      });
      compared++;
    }
    expect(got[0]!.row).toBe(0);
    expect(compared).toBeGreaterThan(R / 2);
    const h = server.pipeline.sourceList()[0]!.health();
    expect(h).toMatchObject({ kind: 'replay', state: 'running', gaps: 0, sync: { BTCUSDT: 'synced' } });
    await c.close();
  });
});
