import { beforeAll, describe, expect, it } from 'vitest';
import { runAnalytics, type AnalyticsRunResult } from '../../src/pipeline/analytics.ts';
import { Injector, type Segment, type InjectedSegment } from '../../src/analytics/inject.ts';
import type { Alert } from '../../src/analytics/alerts.ts';
import { OrderType, type MarketSink } from '../../src/model/events.ts';
import { openSource } from '../../src/sources/spec.ts';
import { AnalyticsEngine } from '../../src/analytics/engine.ts';
import { DepthScratch, depthBoth } from '../../src/analytics/measures/depth.ts';
import { analyticsTap } from '../../src/analytics/tap.ts';
import { bookBuilder } from '../../src/pipeline/book.ts';

const GOOG = 'lobster:data/lobster/GOOG_2012-06-21_34200000_57600000_message_10.csv.gz,data/lobster/GOOG_2012-06-21_34200000_57600000_orderbook_10.csv.gz';
const USDM = 'binance:data/binance/binance-usdm_btcusdt_20240808.jsonl.gz';
const MS = 1e6;

interface Run {
  res: AnalyticsRunResult;
  alerts: Alert[];
  first: number;
  injected: InjectedSegment[];
  prints: { ts: number; side: number; price: number }[];
  refills: { ts: number; side: number; price: number }[];
  hidden: { ts: number; side: number; price: number }[];
  tradeSizes: number[];
}

async function run(spec: string, segments?: (first: number) => Segment[], first?: number): Promise<Run> {
  const r: Omit<Run, 'res'> = { alerts: [], first: NaN, injected: [], prints: [], refills: [], hidden: [], tradeSizes: [] };
  const res = await runAnalytics(spec, {
    vpinBucket: 'auto',
    onStart: (e) => e.onDetection((_s, kind, ts, side, price) => (kind === 'print' ? r.prints : r.refills).push({ ts, side, price })),
    wrap: (sink, builder) => {
      let inner: MarketSink = sink;
      if (segments && first !== undefined) {
        const inj = new Injector(sink, builder, segments(first));
        r.injected = inj.injected;
        inner = inj;
      }
      return {
        onDepth: (e) => { if (r.first !== r.first) r.first = e.ts; inner.onDepth(e); },
        onTrade: (e) => { r.tradeSizes.push(e.size); inner.onTrade(e); },
        onQuote: (e) => inner.onQuote?.(e),
        onOrder: (e) => { if (e.type === OrderType.ExecuteHidden) r.hidden.push({ ts: e.ts, side: e.side, price: e.price }); inner.onOrder?.(e); },
      };
    },
  }, { onAlert: (a) => r.alerts.push(a) });
  return { ...r, res };
}

const of = (r: Run, kind: Alert['kind']) => r.alerts.filter((a) => a.kind === kind);

describe('detectors on the LOBSTER GOOG day', () => {
  let clean: Run;
  let injected: Run;
  beforeAll(async () => {
    clean = await run(GOOG);
    // Two hours in: a layering sequence of large bids behind the touch (L3 adds and deletes), a wash
    // run of an unusual size, and one enormous print.
    injected = await run(GOOG, (t0) => [
      { kind: 'spoof', symbol: 'GOOG', at: t0 + 7200e9, repeats: 4, gapMs: 800, lifeMs: 300, level: 3, size: 5000, side: 'bid', l3: true },
      { kind: 'wash', symbol: 'GOOG', at: t0 + 9000e9, prints: 6, gapMs: 150, price: 571.23, size: 137 },
      { kind: 'wash', symbol: 'GOOG', at: t0 + 10800e9, prints: 1, gapMs: 1, price: 570, size: 50_000 },
    ], clean.first);
  }, 120_000);

  it('finds every type-5 hidden execution from the tape and the book alone, and nothing else', () => {
    // The engine ignores type-5 order messages and the print's hidden flag: each type-5 execution
    // reaches it only as a print where the book shows less than traded.
    expect(clean.hidden.length).toBe(3913);
    const key = (x: { ts: number; side: number; price: number }) => `${x.ts}|${x.side}|${x.price}`;
    const truth = new Set(clean.hidden.map(key));
    const found = new Set(clean.prints.map(key));
    const tp = clean.prints.filter((p) => truth.has(key(p))).length;
    expect(tp / clean.prints.length).toBeGreaterThanOrEqual(0.99);
    expect(clean.hidden.filter((h) => found.has(key(h))).length / clean.hidden.length).toBeGreaterThanOrEqual(0.99);
    for (const a of of(clean, 'hidden-liquidity')) {
      expect(a.evidence['cumulative_at_price']).toBeGreaterThan(a.evidence['displayed'] as number);
      expect(a.severity).toBe('info');
    }
  });

  it('iceberg alerts carry refills at one price, each refill an add right after an execution there', () => {
    const ice = of(clean, 'iceberg');
    expect(ice.length).toBeGreaterThan(0);
    for (const a of ice) {
      expect(a.evidence['refills']).toBeGreaterThanOrEqual(2);
      expect(a.evidence['executed']).toBeGreaterThan(0);
      const p = a.evidence['price'];
      const side = a.evidence['side'] === 'bid' ? 0 : 1;
      expect(clean.refills.some((r) => r.ts === a.ts && r.price === p && r.side === side)).toBe(true);
    }
  });

  it('spoofing: the injected layering is caught, with its orders in the evidence', () => {
    const seg = injected.injected[0]!;
    expect(seg.events).toBe(8);
    const hits = of(injected, 'spoofing').filter((a) => a.ts >= seg.start && a.ts <= seg.end);
    expect(hits.length).toBe(1);
    const ev = hits[0]!.evidence;
    expect(ev['side']).toBe('bid');
    expect(ev['orders']).toBeGreaterThanOrEqual(3);
    expect((ev['sizes'] as number[]).every((s) => s === 5000)).toBe(true);
    expect((ev['lifetimes_ms'] as number[]).every((l) => Math.abs(l - 300) < 1e-6)).toBe(true);
    // Clean GOOG raises few spoofing alerts, and none at that time.
    expect(of(clean, 'spoofing').filter((a) => a.ts >= seg.start && a.ts <= seg.end)).toHaveLength(0);
  });

  it('wash trades: the alternating run is flagged once; the clean day has none', () => {
    expect(of(clean, 'wash-trade')).toHaveLength(0);
    const w = of(injected, 'wash-trade');
    expect(w).toHaveLength(1);
    expect(w[0]!.evidence['price']).toBe(571.23);
    expect(w[0]!.evidence['size']).toBe(137);
    expect(w[0]!.evidence['prints']).toBeGreaterThanOrEqual(4);
    expect(w[0]!.evidence['signs']).toEqual([1, -1, 1, -1, 1, -1].slice(0, w[0]!.evidence['prints'] as number));
  });

  it('whale trades exceed the rolling 99.5th percentile; a huge print is critical', () => {
    const wt = of(clean, 'whale-trade');
    expect(wt.length).toBeGreaterThan(0);
    // Aggregated orders above p99.5: about 0.5% of them, so far fewer than 1% of prints.
    expect(wt.length).toBeLessThan(0.01 * clean.tradeSizes.length);
    for (const a of wt) expect(a.evidence['size'] as number).toBeGreaterThan(a.evidence['threshold'] as number);
    const seg = injected.injected[2]!;
    const big = of(injected, 'whale-trade').find((a) => a.ts === seg.start);
    expect(big?.severity).toBe('critical');
    expect(big?.evidence['size']).toBe(50_000);
  });

  it('the clean day raises no liquidity alert before the trailing median exists, and every one shows the collapse', () => {
    for (const a of of(clean, 'liquidity-evaporation')) {
      const ev = a.evidence;
      expect(a.ts - clean.first).toBeGreaterThanOrEqual(10e9);
      expect(ev['depth_near'] as number).toBeLessThanOrEqual(0.3 * (ev['median_near'] as number) + 1e-9);
      expect(ev['depth_near'] as number).toBeLessThanOrEqual(0.3 * (ev['max_near_fall_window'] as number) + 1e-9);
      expect(ev['fall_ms'] as number).toBeLessThanOrEqual(100);
    }
  });
});

describe('detectors on the Binance USD-M capture', () => {
  let clean: Run;
  let injected: Run;
  beforeAll(async () => {
    clean = await run(USDM);
    const base = clean.res.engine.detectorState('BTCUSDT')!.updateBaseline;
    injected = await run(USDM, (t0) => [
      { kind: 'crash', symbol: 'BTCUSDT', at: t0 + 90e9, bps: 10, fraction: 0.9, steps: 5, stepMs: 15, holdMs: 2000, sides: 'both' },
      { kind: 'crash', symbol: 'BTCUSDT', at: t0 + 200e9, bps: 10, fraction: 0.9, steps: 5, stepMs: 15, holdMs: 2000, sides: 'bid' },
      { kind: 'stuffing', symbol: 'BTCUSDT', at: t0 + 150e9, durationMs: 1000, ratePerS: Math.round(60 * base), level: 5, size: 1 },
      { kind: 'latency', symbol: 'BTCUSDT', at: t0 + 250e9, durationMs: 3000, extraMs: 300 },
    ], clean.first);
  }, 120_000);

  it('no liquidity-evaporation or quote-stuffing alert on the clean capture', () => {
    expect(of(clean, 'liquidity-evaporation')).toHaveLength(0);
    expect(of(clean, 'quote-stuffing')).toHaveLength(0);
  });

  it('an injected crash is caught within 100 ms of its start; both sides going is critical', () => {
    for (const [i, sides] of [[0, 'both'], [1, 'bid']] as const) {
      const seg = injected.injected[i]!;
      const hits = of(injected, 'liquidity-evaporation').filter((a) => a.ts >= seg.start && a.ts <= seg.start + 1000 * MS);
      expect(hits.length, `crash ${sides}`).toBeGreaterThan(0);
      // The first side within 100 ms (the crash takes 60 ms); the other by the next rows after it.
      expect(hits[0]!.ts - seg.start).toBeLessThanOrEqual(100 * MS);
      for (const h of hits) {
        expect(h.ts - seg.start).toBeLessThanOrEqual(200 * MS);
        expect(h.evidence['drop_near'] as number).toBeGreaterThanOrEqual(0.7);
      }
      if (sides === 'both') {
        expect(new Set(hits.map((h) => h.evidence['side']))).toEqual(new Set(['bid', 'ask']));
        expect(hits.some((h) => h.severity === 'critical' && h.evidence['both_sides'] === true)).toBe(true);
      } else {
        expect(hits.map((h) => h.evidence['side'])).toEqual(['bid']);
      }
    }
  });

  it('an injected stuffing burst is caught within the second, with a cancel ratio >= 95%', () => {
    const seg = injected.injected[2]!;
    const hit = of(injected, 'quote-stuffing').find((a) => a.ts >= seg.start && a.ts <= seg.start + 1500 * MS);
    expect(hit).toBeDefined();
    expect(hit!.ts - seg.start).toBeLessThan(1000 * MS);
    expect(hit!.evidence['cancel_ratio'] as number).toBeGreaterThanOrEqual(0.95);
    expect(hit!.evidence['multiple'] as number).toBeGreaterThanOrEqual(20);
  });

  it('latency: the local clock ~1.27 s behind the exchange, small jitter, and an injected delay spike alerts', () => {
    const lat = clean.res.engine.latencyStats();
    expect(lat.map((l) => l.stream).sort()).toEqual(['depth', 'quote', 'trade']);
    for (const l of lat) {
      expect(l.offsetMs).toBeGreaterThan(-1300);
      expect(l.offsetMs).toBeLessThan(-1240);
      expect(l.jitterMs).toBeGreaterThanOrEqual(0);
      expect(l.jitterMs).toBeLessThan(50);
      expect(l.floorMs).toBeLessThanOrEqual(l.offsetMs);
    }
    const seg = injected.injected[3]!;
    const hit = injected.alerts.find((a) => (a.kind === 'latency-jitter' || a.kind === 'latency-offset-shift') && a.ts >= seg.start && a.ts <= seg.end + 2000 * MS);
    expect(hit).toBeDefined();
    expect(hit!.evidence['p99_ms'] as number).toBeGreaterThan(-1300 + 200);
  });
});

describe('depth near the mid, kept from level changes between full counts', () => {
  it('equals a full count of the book at the same band after every row (USD-M: snapshot after diffs, replayed)', async () => {
    const source = await openSource(USDM);
    let a!: AnalyticsEngine;
    const scr = new DepthScratch();
    const near = new Float64Array(2);
    const top = new Float64Array(2);
    let rows = 0;
    let worst = 0;
    const b = bookBuilder({ levels: 10, sink: { onRow: (r) => {
      a.onRow(r);
      const d = a.bookDepth(r.symbol)!;
      const book = b.book(r.symbol)!;
      depthBoth(book.bids, d.referenceMid, 10, 10, scr, near, top, 0);
      depthBoth(book.asks, d.referenceMid, 10, 10, scr, near, top, 1);
      for (const k of [0, 1]) {
        worst = Math.max(worst, Math.abs(near[k]! - d.near[k]!) / Math.max(1, near[k]!));
        expect(d.top[k]).toBeCloseTo(top[k]!, 9);
      }
      expect(Math.abs(d.referenceMid / ((r.bidPx[0]! + r.askPx[0]!) / 2) - 1)).toBeLessThanOrEqual(1e-5 + 1e-12);
      rows++;
    } } });
    a = new AnalyticsEngine({}, source.timeBase, {}, b);
    await source.run(analyticsTap(a, b));
    expect(rows).toBe(6547);
    expect(worst).toBeLessThan(1e-9);
  }, 60_000);
});
