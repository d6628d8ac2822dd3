import { beforeAll, describe, expect, it } from 'vitest';
import { openSource } from '../../src/sources/spec.ts';
import { FeatureEngine } from '../../src/features/engine.ts';
import { featureOptions } from '../../src/features/options.ts';
import { COL } from '../../src/features/columns.ts';
import { AnalyticsEngine } from '../../src/analytics/engine.ts';
import { analyticsTap, teeRows } from '../../src/analytics/tap.ts';
import { BvcVpinState } from '../../src/analytics/measures/bvc.ts';
import { RollSpread } from '../../src/analytics/measures/roll.ts';
import { ADVERSE, EFFECTIVE, REALISED, SpreadDecomposition } from '../../src/analytics/measures/spreads.ts';
import { M } from '../../src/analytics/measures/columns.ts';
import { R_PX, R_SIGN, R_SZ, R_TS, R_SLOTS } from '../../src/analytics/detectors/context.ts';
import type { TimeBase } from '../../src/model/time.ts';
import { bookBuilder } from '../../src/pipeline/book.ts';

const GOOG = 'lobster:data/lobster/GOOG_2012-06-21_34200000_57600000_message_10.csv.gz,data/lobster/GOOG_2012-06-21_34200000_57600000_orderbook_10.csv.gz';
const USDM = 'binance:data/binance/binance-usdm_btcusdt_20240808.jsonl.gz';

function rng(seed: number): () => number {
  let s = seed;
  return () => (s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
}

describe('FEATURES.md measures in the analytics are the feature engine\'s', () => {
  // One GOOG run with both engines on the same rows; the feature engine without settle time, as live.
  const rows: { ts: number; vpin: number; kyle: number; hasbrouck: number; amihud: number }[] = [];
  const snaps: { ts: number; v: Float64Array }[] = [];
  beforeAll(async () => {
    const source = await openSource(GOOG);
    const fe = new FeatureEngine(featureOptions({ vpinBucket: 1400, settleMs: 0 }), source.timeBase, (b) => {
      for (let j = 0; j < b.n; j++) {
        rows.push({ ts: b.ts[j]!, vpin: b.values[COL.vpin]![j]!, kyle: b.values[COL.kyle_lambda]![j]!, hasbrouck: b.values[COL.hasbrouck_lambda]![j]!, amihud: b.values[COL.amihud]![j]! });
      }
    });
    let a!: AnalyticsEngine;
    const builder = bookBuilder({ levels: 10, sink: teeRows(fe, { onRow: (r) => a.onRow(r) }) });
    a = new AnalyticsEngine({ measures: { vpinBucket: { GOOG: 1400 }, everyMs: 60_000 } }, source.timeBase,
      { onMeasures: (_s, ts, v) => snaps.push({ ts, v: v.slice() }) }, builder);
    await source.run(analyticsTap(a, builder));
    builder.finish();
    fe.finish();
  }, 60_000);

  it('equal, bit for bit, the feature columns of the last row before each snapshot', () => {
    expect(snaps.length).toBeGreaterThan(300);
    let r = 0;
    let compared = 0;
    for (const s of snaps.slice(0, -1)) {
      while (r + 1 < rows.length && rows[r + 1]!.ts < s.ts) r++;
      const row = rows[r]!;
      expect(row.ts).toBeLessThan(s.ts);
      expect(s.v[M.vpin]).toBe(row.vpin);
      expect(s.v[M.kyle_lambda]).toBe(row.kyle);
      expect(s.v[M.hasbrouck_lambda]).toBe(row.hasbrouck);
      expect(s.v[M.amihud]).toBe(row.amihud);
      if (Number.isFinite(row.vpin) && Number.isFinite(row.kyle)) compared++;
    }
    expect(compared).toBeGreaterThan(300);
  });
});

describe('beside a feature engine, the analytics read its VPIN and bar states', () => {
  it('giving the same snapshots as their own copies (the feature engine settling late trades as in batch)', async () => {
    const source = await openSource(GOOG);
    const fe = new FeatureEngine(featureOptions({ vpinBucket: 1400 }), source.timeBase, () => {});
    let shared!: AnalyticsEngine;
    let own!: AnalyticsEngine;
    const builder = bookBuilder({ levels: 10, sink: teeRows({ onRow: (r) => shared.onRow(r) }, fe, { onRow: (r) => own.onRow(r) }) });
    const a: Float64Array[] = [];
    const b: Float64Array[] = [];
    const opts = { measures: { vpinBucket: { GOOG: 1400 }, everyMs: 60_000 } };
    shared = new AnalyticsEngine(opts, source.timeBase, { onMeasures: (_s, _t, v) => a.push(v.slice()) }, builder, fe);
    own = new AnalyticsEngine(opts, source.timeBase, { onMeasures: (_s, _t, v) => b.push(v.slice()) }, builder);
    await source.run(analyticsTap(shared, analyticsTap(own, builder)));
    builder.finish();
    fe.finish();
    shared.finish();
    own.finish();
    expect(a.length).toBe(b.length);
    expect(a.length).toBeGreaterThan(300);
    for (let i = 0; i < a.length; i++) {
      for (const c of [M.vpin, M.kyle_lambda, M.hasbrouck_lambda, M.amihud, M.vpin_bvc, M.effective_spread_bps]) expect(a[i]![c], `snapshot ${i} of ${a.length}, column ${c}`).toBe(b[i]![c]);
    }
  }, 60_000);
});

describe('BVC VPIN', () => {
  it('matches an independent batch computation on the Binance USD-M trades', async () => {
    const source = await openSource(USDM);
    const trades: { ts: number; px: number; sz: number; epochMs: number }[] = [];
    let tb!: TimeBase;
    await source.run({ onDepth() {}, onTrade(e) { tb ??= source.timeBase.get(); trades.push({ ts: e.ts, px: e.price, sz: e.size, epochMs: tb.toEpochMs(e.ts) }); } });
    const V = 5;
    const n = 50;
    const state = new BvcVpinState(tb, 1000, V, n, 300);
    for (const t of trades) state.addTrade(t.ts, t.px, t.sz);

    // Reference: 1 s bars by epoch second; the last (open) bar is not classified.
    const bars = new Map<number, { vol: number; last: number }>();
    const order: number[] = [];
    let open = -Infinity;
    for (const t of trades) {
      // A trade stamped before the open bar goes to the open bar (as the state documents).
      const k = Math.max(open, Math.floor(t.epochMs / 1000));
      if (k > open) { open = k; order.push(k); bars.set(k, { vol: 0, last: NaN }); }
      const b = bars.get(k)!;
      b.vol += t.sz;
      b.last = t.px;
    }
    const Phi = (z: number): number => {
      // Simpson integration of the density, independent of the erf approximation under test.
      const pdf = (x: number) => Math.exp(-0.5 * x * x) / Math.sqrt(2 * Math.PI);
      const a = -12, steps = 4000, h = (z - a) / steps;
      let s = pdf(a) + pdf(z);
      for (let i = 1; i < steps; i++) s += (i % 2 ? 4 : 2) * pdf(a + i * h);
      return (s * h) / 3;
    };
    const dps: number[] = [];
    let prev = NaN;
    let fill = 0, buy = 0, sell = 0;
    const imb: number[] = [];
    for (const k of order.slice(0, -1)) {
      const b = bars.get(k)!;
      if (b.vol === 0) continue;
      const d = Number.isNaN(prev) ? 0 : b.last - prev;
      prev = b.last;
      dps.push(d);
      const w = dps.slice(-300);
      let z: number;
      if (w.length >= 2) {
        const m = w.reduce((x, y) => x + y, 0) / w.length;
        const sd = Math.sqrt(w.reduce((x, y) => x + (y - m) ** 2, 0) / (w.length - 1));
        z = sd > 0 ? Phi(d / sd) : d > 0 ? 1 : d < 0 ? 0 : 0.5;
      } else z = d > 0 ? 1 : d < 0 ? 0 : 0.5;
      let rest = b.vol;
      while (rest > 0) {
        const take = Math.min(rest, V - fill);
        buy += take * z;
        sell += take * (1 - z);
        rest -= take;
        fill += take;
        if (fill >= V - 1e-12) { imb.push(Math.abs(buy - sell)); fill = 0; buy = 0; sell = 0; }
      }
    }
    expect(imb.length).toBe(state.completed);
    expect(imb.length).toBeGreaterThan(n);
    const ref = imb.slice(-n).reduce((x, y) => x + y, 0) / (n * V);
    expect(Math.abs(state.value() - ref)).toBeLessThan(1e-6);
  }, 60_000);

  it('is 1 when every bar moves up by far more than usual (all volume classified as buys)', async () => {
    const source = await openSource(USDM);
    await source.run({ onDepth() {}, onTrade() {} });
    const s = new BvcVpinState(source.timeBase.get(), 1000, 10, 5, 300);
    // Alternating small moves build sigma; then six bars of one bucket each jump by 100 times that.
    let px = 100;
    let t = 0;
    for (let i = 0; i < 200; i++) { px += i % 2 ? 0.01 : -0.01; s.addTrade(t, px, 1); t += 1e9; }
    for (let i = 0; i < 6; i++) { px += 1; s.addTrade(t, px, 10); t += 1e9; }
    s.advance(t);
    // The last 5 buckets are jump bars: sigma (with them in it) is ~0.17, so Z(1 / 0.17) ~ 1.
    expect(s.value()).toBeGreaterThan(0.999);
    // And symmetric: six falls instead give ~0 buy volume, still fully one-sided.
    const f = new BvcVpinState(source.timeBase.get(), 1000, 10, 5, 300);
    px = 100;
    t = 0;
    for (let i = 0; i < 200; i++) { px += i % 2 ? 0.01 : -0.01; f.addTrade(t, px, 1); t += 1e9; }
    for (let i = 0; i < 6; i++) { px -= 1; f.addTrade(t, px, 10); t += 1e9; }
    f.advance(t);
    expect(f.value()).toBeGreaterThan(0.999);
    expect(f.lastBuyFraction).toBeLessThan(1e-6);
  });
});

describe("Roll's spread", () => {
  it('recovers the spread of a simulated bid-ask bounce around a random walk', () => {
    const r = rng(42);
    const spread = 0.1;
    const roll = new RollSpread(20_000);
    let m = 100;
    for (let i = 0; i < 20_001; i++) {
      m += (r() - 0.5) * 0.02;
      roll.addPrice(m + (r() < 0.5 ? 0.5 : -0.5) * spread);
    }
    expect(roll.value()).toBeGreaterThan(spread * 0.95);
    expect(roll.value()).toBeLessThan(spread * 1.05);
  });

  it('its running covariance equals the covariance recomputed from the window', () => {
    const r = rng(1);
    const W = 300;
    const roll = new RollSpread(W);
    const prices: number[] = [];
    for (let i = 0; i < 10_000; i++) {
      const p = 50 + Math.round(r() * 100) / 100;
      roll.addPrice(p);
      prices.push(p);
      if (i % 137 === 0 && i > 5) {
        const dp = prices.slice(1).map((x, k) => x - prices[k]!).slice(-W);
        const xs = dp.slice(1);
        const ys = dp.slice(0, -1);
        const mx = xs.reduce((a, b) => a + b, 0) / xs.length;
        const my = ys.reduce((a, b) => a + b, 0) / ys.length;
        const cov = xs.reduce((a, x, k) => a + x * ys[k]!, 0) / xs.length - mx * my;
        expect(roll.covariance()).toBeCloseTo(cov, 10);
      }
    }
  });
});

describe('effective and realised spreads, adverse selection', () => {
  it('follow their definitions on a worked example', () => {
    const d = new SpreadDecomposition(1000, 60_000);
    const reg = new Float64Array(R_SLOTS);
    const trade = (t: number, px: number, sz: number, sign: number) => {
      reg[R_TS] = t; reg[R_PX] = px; reg[R_SZ] = sz; reg[R_SIGN] = sign;
      d.onTrade(reg);
    };
    const ms = 1e6;
    d.setMid(0, 100);
    trade(1 * ms, 100.05, 2, 1);      // buy 5 cents above the mid
    d.setMid(500 * ms, 100.02);       // the mid 1 s after the buy
    trade(600 * ms, 99.97, 1, -1);    // sell 5 cents below a mid of 100.02
    d.setMid(1200 * ms, 100.0);       // in force 1 s after the sell
    d.setMid(5000 * ms, 100.5);
    // Buy: effective 2(100.05-100)/100 = 10 bps, realised 2(100.05-100.02)/100 = 6, adverse 4.
    // Sell: effective 2(100.02-99.97)/100.02, realised -2(99.97-100)/100.02, adverse -2(100-100.02)/100.02.
    const sE = (2e4 * 0.05) / 100.02, sR = (2e4 * 0.03) / 100.02, sA = (2e4 * 0.02) / 100.02;
    expect(d.mean(EFFECTIVE)).toBeCloseTo((2 * 10 + sE) / 3, 9);
    expect(d.mean(REALISED)).toBeCloseTo((2 * 6 + sR) / 3, 9);
    expect(d.mean(ADVERSE)).toBeCloseTo((2 * 4 + sA) / 3, 9);
  });

  it('effective = realised + adverse on the Binance capture, and takers pay a positive effective spread', async () => {
    const source = await openSource(USDM);
    let a!: AnalyticsEngine;
    const builder = bookBuilder({ levels: 10, sink: { onRow: (r) => a.onRow(r) } });
    const snaps: Float64Array[] = [];
    a = new AnalyticsEngine({ measures: { everyMs: 5000 } }, source.timeBase, { onMeasures: (_s, _t, v) => snaps.push(v.slice()) }, builder);
    await source.run(analyticsTap(a, builder));
    let checked = 0;
    for (const v of snaps) {
      if (!Number.isFinite(v[M.effective_spread_bps]!)) continue;
      expect(v[M.effective_spread_bps]).toBeCloseTo(v[M.realized_spread_bps]! + v[M.adverse_selection_bps]!, 9);
      // A taker pays the half spread at least: the effective spread is positive on this market.
      expect(v[M.effective_spread_bps]).toBeGreaterThan(0);
      checked++;
    }
    expect(checked).toBeGreaterThan(50);
  }, 60_000);
});
