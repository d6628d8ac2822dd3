/**
 * The live server's analytics read the feature engine's VPIN and bar state machines instead of
 * keeping second copies (issue 13), and report exactly what a copy of their own would.
 */
import { describe, expect, it } from 'vitest';
import { loadServerConfig } from '../../src/server/config.ts';
import { Broker } from '../../src/server/broker.ts';
import { MetricsRegistry } from '../../src/server/metrics.ts';
import { LiveFeed } from '../../src/server/live.ts';
import { LivePipeline } from '../../src/pipeline/live.ts';
import { TimeBase } from '../../src/model/time.ts';
import { requireNativeUws } from '../../src/server/uws.ts';
import { analyticsProducer, liveAnalytics } from '../../src/server/wiring.ts';
import type { AlertContext, AlertEvent } from '../../src/pipeline/plugins.ts';
import { AnalyticsEngine } from '../../src/analytics/engine.ts';
import { M } from '../../src/analytics/measures/columns.ts';
import { openSource } from '../../src/sources/spec.ts';
import { USDM, USDM_FILE } from '../../src/sources/samples.ts';
import { resolve } from 'node:path';
import { testServer, until } from './helpers.ts';

const USDM_SPEC = `binance:${resolve(USDM_FILE)}`;

describe('live analytics', () => {
  it('read the feature engine\'s VPIN and bars, with the values and alerts of their own copies', async () => {
    const cfg = loadServerConfig({ env: {}, overrides: { port: 0, noReplay: true, models: '' } });
    cfg.features.vpinBucketBySymbol = { BTCUSDT: 5 };
    const metrics = new MetricsRegistry();
    const broker = new Broker(requireNativeUws().App(), cfg.feed, cfg.limits, metrics);
    let ctx!: AlertContext;
    let live!: AnalyticsEngine;
    let own!: AnalyticsEngine;
    const liveAlerts: AlertEvent[] = [];
    const ownAlerts: AlertEvent[] = [];
    const tb = TimeBase.ofEpochMs(Date.now());
    const pipeline = new LivePipeline({ depth: cfg.depth, timeBase: tb, features: cfg.features }, new LiveFeed(cfg.feed, broker, metrics, tb), metrics, {
      alerts: [
        (c) => {
          ctx = c;
          live = liveAnalytics({ ...c, publish: (a) => liveAlerts.push(a) });
          return analyticsProducer(live);
        },
        // The reference: the server's analytics as they were before, each computing VPIN and bars itself.
        (c) => analyticsProducer(own = new AnalyticsEngine({ measures: { vpinBucket: c.vpinBySymbol } }, c.timeBase, {
          onAlert: (a) => ownAlerts.push({ symbol: a.symbol, ts: a.ts, kind: a.kind, severity: a.severity, message: a.message, evidence: a.evidence }),
        }, c.books)),
      ],
    });
    const source = await openSource(USDM);
    await source.run(pipeline.addSource('usdm', 'replay'));

    const mine = live.measureStates('BTCUSDT')!;
    const features = ctx.features.specStates('BTCUSDT')!;
    expect(mine.vpin).toBe(features.vpin);
    expect(mine.bars).toBe(features.bars);
    expect(own.measureStates('BTCUSDT')!.bars).not.toBe(features.bars);

    const a = live.measures('BTCUSDT')!;
    const b = own.measures('BTCUSDT')!;
    expect(Number.isFinite(a[M.vpin]!) && Number.isFinite(a[M.kyle_lambda]!)).toBe(true);
    expect(Array.from(a)).toEqual(Array.from(b));
    expect(live.stats().rows).toBeGreaterThan(1000);
    expect(liveAlerts.length).toBeGreaterThan(0);
    expect(liveAlerts).toEqual(ownAlerts);
  }, 120_000);
});

describe('live analytics in a running server', () => {
  it('have VPIN for a replayed symbol whose bucket volume was sized from the file (vpinBucket auto)', async () => {
    const server = await testServer((c) => {
      c.features.vpinBucket = 'auto';
      c.sources = [{ kind: 'replay', spec: USDM_SPEC, speed: 1e6, loop: false }];
    }, { noReplay: false }, { plugins: true });
    try {
      const source = server.pipeline.sourceList().find((s) => s.kind === 'replay')!;
      await until(() => source.state === 'finished', 120_000, 'the replay to end');
      const metrics = await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text();
      const vpin = /^flowcast_analytics_vpin\{symbol="BTCUSDT"\} (\S+)$/m.exec(metrics)?.[1];
      expect(Number(vpin)).toBeGreaterThan(0);
      expect(server.pipeline.vpinBySymbol['BTCUSDT']).toBeGreaterThan(0);
    } finally {
      await server.close();
    }
  }, 180_000);
});
