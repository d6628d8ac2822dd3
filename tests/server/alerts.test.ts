/**
 * Alerts from the analytics engine (src/analytics) on the feed: raised while a real capture
 * replays, published on alerts.<SYM> and alerts.*, with the detector's evidence.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FeedClient } from '../../src/client/feed-client.ts';
import type { AlertFrame } from '../../src/protocol/frames.ts';
import type { RunningServer } from '../../src/server/server.ts';
import { IngestClient } from '../../src/client/ingest-client.ts';
import type { AlertEvent } from '../../src/pipeline/plugins.ts';
import { WRITE_KEY, feedUrl, ingestUrl, testServer, until } from './helpers.ts';

describe('alerts', () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await testServer(() => {}, { replay: ['binance:data/binance/binance-usdm_btcusdt_20240808.jsonl.gz'], speed: 50 }, { plugins: true });
  });
  afterAll(() => server?.close());

  it('publishes the detectors\' alerts with their evidence on alerts.<SYM> and alerts.*', async () => {
    const all = await FeedClient.connect({ url: feedUrl(server) });
    const one = await FeedClient.connect({ url: feedUrl(server) });
    const gotAll: AlertFrame[] = [];
    const gotOne: AlertFrame[] = [];
    all.on('alert', (a) => gotAll.push(a));
    one.on('alert', (a) => gotOne.push(a));
    await all.subscribe(['alerts.*']);
    await one.subscribe(['alerts.BTCUSDT']);
    await until(() => gotAll.length >= 20 && gotOne.length >= 20, 30_000, '20 alerts');
    for (const a of gotAll) {
      expect(a.topic).toBe('alerts.*');
      expect(a.sym).toBe('BTCUSDT');
      expect(['info', 'warning', 'critical']).toContain(a.severity);
      expect(typeof a.kind).toBe('string');
      expect(a.message).toMatch(/^BTCUSDT /);
      expect(Object.keys(a.evidence).length).toBeGreaterThan(0);
      expect(Math.abs(a.ts - Date.now())).toBeLessThan(60_000);
    }
    expect(gotOne.every((a) => a.topic === 'alerts.BTCUSDT')).toBe(true);
    expect(all.gaps.size + one.gaps.size).toBe(0);
    const h = (await (await fetch(`http://127.0.0.1:${server.port}/healthz`)).json()) as { analytics: { alerts: number; symbols: string[] }[] };
    expect(h.analytics[0]!.symbols).toContain('BTCUSDT');
    expect(h.analytics[0]!.alerts).toBeGreaterThanOrEqual(20);
    const m = await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text();
    expect(m).toMatch(/^# TYPE flowcast_analytics_\w+ (gauge|counter)$/m);
    await all.close();
    await one.close();
  });

  it('an alert reaches a subscriber who came after another one subscribed and left before any alert', async () => {
    let publish!: (a: AlertEvent) => void;
    const quiet = await testServer(() => {}, {}, { alerts: [(ctx) => ((publish = ctx.publish), {})] });
    try {
      const p = await IngestClient.connect({ url: ingestUrl(quiet), key: WRITE_KEY });
      p.send({ t: 'snapshot', sym: 'QUIET', ts: Date.now(), bids: [[99.9, 5]], asks: [[100.1, 4]] });
      await p.flush();
      const first = await FeedClient.connect({ url: feedUrl(quiet) });
      await first.subscribe(['alerts.QUIET']);
      await first.unsubscribe(['alerts.QUIET']);
      await first.close();
      const next = await FeedClient.connect({ url: feedUrl(quiet) });
      const got: AlertFrame[] = [];
      next.on('alert', (a) => got.push(a));
      await next.subscribe(['alerts.QUIET']);
      publish({ symbol: 'QUIET', ts: 0, kind: 'test', severity: 'info', message: 'QUIET test', evidence: { n: 1 } });
      await until(() => got.length === 1, 5000, 'the alert');
      expect(got[0]).toMatchObject({ topic: 'alerts.QUIET', sym: 'QUIET', kind: 'test' });
      await next.close();
      await p.close();
    } finally {
      await quiet.close();
    }
  });
});
