/**
 * Column definitions checked by hand on small synthetic books, and on the first GOOG rows.
 */
import { describe, expect, it } from 'vitest';
import { FeatureEngine } from '../../src/features/engine.ts';
import { featureOptions, type FeatureOptions } from '../../src/features/options.ts';
import { resolveDepth } from '../../src/model/depth.ts';
import { FeatureBlock } from '../../src/features/columns.ts';
import { BookRow } from '../../src/model/row.ts';
import { TimeBase, TimeBaseRef } from '../../src/model/time.ts';
import { VpinState, autoBucketVolume } from '../../src/features/vpin.ts';
import { featuresInMemory, GOOG } from '../helpers.ts';

type Lv = [number, number][];
interface SynthRow { t: number; bids: Lv; asks: Lv; trades?: [number, number, number, number][]; depthLimit?: number }

/** Runs the engine over synthetic rows (t in ms since the time base) and returns columns by name. */
function run(rows: SynthRow[], o: Partial<FeatureOptions> = {}) {
  const opts = featureOptions({ vpinBucket: 10, settleMs: 0, ...o });
  const out: Record<string, number[]> = {};
  const engine = new FeatureEngine(opts, new TimeBaseRef(new TimeBase(0n)), (b: FeatureBlock) => {
    b.columns.forEach((c, i) => (out[c] ??= []).push(...b.values[i]!.subarray(0, b.n)));
  });
  const row = new BookRow(resolveDepth(opts.levels).rowLevels);
  for (const r of rows) {
    row.symbol = 'X';
    row.ts = r.t * 1e6;
    row.depthLimit = r.depthLimit ?? Infinity;
    for (let i = 0; i < row.levels; i++) {
      row.bidPx[i] = r.bids[i]?.[0] ?? NaN; row.bidSz[i] = r.bids[i]?.[1] ?? 0;
      row.askPx[i] = r.asks[i]?.[0] ?? NaN; row.askSz[i] = r.asks[i]?.[1] ?? 0;
    }
    const tr = r.trades ?? [];
    row.nTrades = tr.length;
    tr.forEach(([ts, px, sz, sign], k) => { row.tradeTs[k] = ts * 1e6; row.tradePx[k] = px; row.tradeSz[k] = sz; row.tradeSign[k] = sign; });
    engine.onRow(row);
    row.index++;
  }
  engine.finish();
  return out;
}

describe('book-shape columns', () => {
  it('mid, spread, wmid, imbalances, depth and slope on a two-sided book', () => {
    const c = run([{ t: 0, bids: [[99, 2], [98, 3], [97, 5]], asks: [[101, 6], [102, 1]] }], { levels: 3 });
    expect(c.mid![0]).toBe(100);
    expect(c.spread![0]).toBe(2);
    expect(c.spread_bps![0]).toBe(200);
    expect(c.wmid![0]).toBe((99 * 6 + 101 * 2) / 8);
    expect(c.imb_1![0]).toBe((2 - 6) / 8);
    expect(c.imb_5![0]).toBe((10 - 7) / 17);
    expect(c.depth_bid![0]).toBe(10);
    expect(c.depth_ask![0]).toBe(7);
    // bid: x = 1,2,3, y = 2,5,10 -> slope = cov/var = (sum (x-2)(y-17/3)) / 2 = 4
    expect(c.slope_bid![0]).toBeCloseTo(4, 12);
    // ask: x = 1,2, y = 6,7 -> slope 1
    expect(c.slope_ask![0]).toBeCloseTo(1, 12);
  });

  it('zero denominators give 0; a missing side gives NaN mid and slope rules from the spec', () => {
    const c = run([
      { t: 0, bids: [], asks: [] },
      { t: 1, bids: [[99, 2], [98, 1]], asks: [] },
      { t: 2, bids: [[99, 0.5]], asks: [[101, 0.5]] },
    ]);
    expect(c.imb_1![0]).toBe(0);
    expect(c.imb_10![0]).toBe(0);
    expect(c.mid![0]).toBeNaN();
    expect(c.slope_bid![0]).toBe(0); // fewer than 2 levels
    expect(c.mid![1]).toBeNaN();
    expect(c.wmid![1]).toBeNaN();
    expect(c.slope_bid![1]).toBeNaN(); // 2 levels but distance from an undefined mid
    expect(c.slope_ask![1]).toBe(0);
    expect(c.imb_1![1]).toBe(1);
    expect(c.slope_bid![2]).toBe(0);
  });

  it('imb_10 uses only the levels the source has (a 5-level source)', () => {
    const bids: Lv = Array.from({ length: 10 }, (_, i) => [99 - i, 1]);
    const asks: Lv = Array.from({ length: 10 }, (_, i) => [101 + i, i < 5 ? 1 : 100]);
    const c = run([{ t: 0, bids, asks, depthLimit: 5 }]);
    expect(c.imb_10![0]).toBe(0);
    expect(c.depth_ask![0]).toBe(5);
  });
});

describe('order-flow imbalance', () => {
  it('follows Cont-Kukanov-Stoikov for each price move', () => {
    const c = run([
      { t: 0, bids: [[99, 10]], asks: [[101, 10]] },
      { t: 1, bids: [[99, 12]], asks: [[101, 7]] },   // same prices: +2 bid, ask 10->7: -7+10 = +3 -> 5
      { t: 2, bids: [[100, 4]], asks: [[101, 7]] },   // bid up: +4 ; ask same: -7+7 -> 4
      { t: 3, bids: [[99, 9]], asks: [[100.5, 3]] },  // bid down: -4 ; ask down: -3 -> -7
      { t: 4, bids: [[99, 9]], asks: [[101, 8]] },    // bid same: 0 ; ask up: +3 -> 3
    ]);
    expect(c.ofi_1).toEqual([0, 5, 4, -7, 3]);
    expect(c.ofi_h10).toEqual([0, 5, 9, 2, 5]);
  });

  it('a level missing in either row contributes 0 on that side', () => {
    const c = run([
      { t: 0, bids: [[99, 10], [98, 5]], asks: [[101, 10]] },
      { t: 1, bids: [[99, 10]], asks: [[101, 10], [102, 4]] },
    ]);
    expect(c.ofi_2![1]).toBe(0);
    expect(c.ofi_1![1]).toBe(0);
  });
});

describe('returns and realised variance', () => {
  it('ret_1 is NaN on the first row and across a missing mid; rv skips NaN terms', () => {
    const b = (p: number): Lv => [[p - 1, 1]];
    const a = (p: number): Lv => [[p + 1, 1]];
    const c = run([
      { t: 0, bids: b(100), asks: a(100) },
      { t: 1, bids: b(110), asks: a(110) },
      { t: 2, bids: [], asks: a(110) },
      { t: 3, bids: b(99), asks: a(99) },
    ]);
    expect(c.ret_1![0]).toBeNaN();
    expect(c.ret_1![1]).toBeCloseTo(Math.log(1.1), 15);
    expect(c.ret_1![2]).toBeNaN();
    expect(c.ret_1![3]).toBeNaN();
    expect(c.rv_h100![0]).toBeNaN();
    expect(c.rv_h100![3]).toBeCloseTo(Math.log(1.1), 15);
  });
});

describe('trade flow and VPIN', () => {
  it('tfi over the last 50 rows and 0 when no volume', () => {
    const book = { bids: [[99, 1]] as Lv, asks: [[101, 1]] as Lv };
    const c = run([
      { t: 0, ...book },
      { t: 1, ...book, trades: [[1, 100, 3, 1], [1, 100, 1, -1]] },
    ]);
    expect(c.tfi_h50![0]).toBe(0);
    expect(c.trade_vol![1]).toBe(4);
    expect(c.trade_signed_vol![1]).toBe(2);
    expect(c.tfi_h50![1]).toBe(0.5);
  });

  it('splits a trade across buckets and averages |B-S| over the last n complete buckets', () => {
    const v = new VpinState(10, 2);
    v.addTrade(7, 1);
    v.addTrade(8, -1); // bucket 1: B7 S3 (|4|), carry S5
    expect(v.completed).toBe(1);
    expect(v.value()).toBeNaN();
    v.addTrade(12, 1); // bucket 2: S5 B5 (0), bucket 3 starts with B7
    expect(v.completed).toBe(2);
    expect(v.value()).toBe((4 + 0) / 20);
    v.addTrade(3, 0); // unknown side fills bucket 3 (B7, 3 unknown): |7|
    expect(v.value()).toBe((0 + 7) / 20);
  });

  it('auto bucket volume: total / 500 to two significant digits', () => {
    expect(autoBucketVolume(706_125)).toBe(1400);
    expect(autoBucketVolume(1172.345)).toBe(2.3);
  });
});

describe('bar-based impact measures', () => {
  // 1 s bars, W = 2. Rows at 0.5 s (mid 100), 1.5 s (101), 2.5 s (103), 3.5 s (102).
  const book = (m: number) => ({ bids: [[m - 0.5, 1]] as Lv, asks: [[m + 0.5, 1]] as Lv });
  const rows: SynthRow[] = [
    { t: 500, ...book(100) },
    { t: 1500, ...book(101), trades: [[1200, 100, 2, 1]] },
    { t: 2500, ...book(103), trades: [[2100, 101, 4, 1], [2200, 101, 1, -1]] },
    { t: 3500, ...book(102) },
  ];
  it('kyle = cov(dmid, S) / var(S) over the last W complete bars, NaN before', () => {
    const c = run(rows, { barWindow: 2 });
    // Counted bars start at [1,2): dmid_1 = 101 - 100, S_1 = 2; bar [2,3): dmid_2 = 103 - 101, S_2 = 3.
    expect(c.kyle_lambda!.slice(0, 3).every(Number.isNaN)).toBe(true);
    expect(c.kyle_lambda![3]).toBeCloseTo((1 - 1.5) * (2 - 2.5) * 2 / ((0.25) * 2), 12); // = 1
    const x1 = Math.sqrt(200), x2 = Math.sqrt(404) - Math.sqrt(101);
    const l1 = Math.log(101 / 100), l2 = Math.log(103 / 101);
    expect(c.hasbrouck_lambda![3]).toBeCloseTo((l2 - l1) / (x2 - x1), 12);
    expect(c.amihud![3]).toBeCloseTo((Math.abs(l1) / 200 + Math.abs(l2) / 505) / 2, 15);
  });

  it('a trade that arrives after its bar completed counts once settled (batch); computed at once it is missed', () => {
    // Bar [2,3) has B4 at 2.1 s and S1 at 2.2 s; the sell reaches us only with the 3.5 s row.
    const onTime: SynthRow[] = [rows[0]!, rows[1]!, rows[2]!, { t: 3200, ...book(102) }, { t: 3500, ...book(102) }];
    const late: SynthRow[] = [rows[0]!, rows[1]!, { ...rows[2]!, trades: [[2100, 101, 4, 1]] }, { t: 3200, ...book(102) },
      { t: 3500, ...book(102), trades: [[2200, 101, 1, -1]] }];
    const reference = run(onTime, { barWindow: 2 });
    const settled = run(late, { barWindow: 2, settleMs: 5000 });
    const immediate = run(late, { barWindow: 2, settleMs: 0 });
    // dmid = (1, 2); S = (2, 3) with the sell -> 1; without it S = (2, 4) -> 0.5.
    expect(reference.kyle_lambda![3]).toBeCloseTo(1, 12);
    expect(settled.kyle_lambda![3]).toBe(reference.kyle_lambda![3]);
    expect(immediate.kyle_lambda![3]).toBeCloseTo(0.5, 12);
    // The row that brings the late trade sees it either way.
    expect(immediate.kyle_lambda![4]).toBe(reference.kyle_lambda![4]);
  });
});

describe('labels', () => {
  it('smoothed mid move over k rows against alpha, NaN for the last k rows', () => {
    const mids = [100, 100, 100.01, 99.9, 100];
    const c = run(mids.map((m, t) => ({ t, bids: [[m - 0.005, 1]] as Lv, asks: [[m + 0.005, 1]] as Lv })), { horizons: [2], alpha: 0.0001 });
    // row 0: mean(100, 100.01) = 100.005 -> l = 5e-5 -> 0; row 1: mean(100.01, 99.9) = 99.955 -> -4.5e-4 -> -1
    // row 2: mean(99.9, 100) = 99.95 vs 100.01 -> -1
    expect(c.label_2!.slice(0, 3)).toEqual([0, -1, -1]);
    expect(c.label_2![3]).toBeNaN();
    expect(c.label_2![4]).toBeNaN();
  });
});

describe('GOOG, first rows checked by hand', () => {
  it('row 0 and row 1 (an execution of 300 at the best bid)', async () => {
    const { table } = await featuresInMemory(GOOG, { vpinBucket: 1400 });
    const col = (n: string) => table.column(n);
    // Row 0: ask 580.23 x 100, bid 579.40 x 496.
    expect(col('mid')[0]).toBe(579.815);
    expect(col('wmid')[0]).toBeCloseTo((579.4 * 100 + 580.23 * 496) / 596, 10);
    expect(col('imb_1')[0]).toBeCloseTo(396 / 596, 15);
    expect(col('depth_bid')[0]).toBe(496 + 400 + 500 + 500 + 100 + 100 + 100 + 100 + 20 + 100);
    expect(col('depth_ask')[0]).toBe(950);
    // Message 0 executes 4 shares of a buy order: seller-initiated.
    expect(col('trade_signed_vol')[0]).toBe(-4);
    // Row 1: 300 more executed at 579.40: bid 496 -> 196, ofi = 196 - 496.
    expect(col('ofi_1')[1]).toBe(-300);
    expect(col('ret_1')[1]).toBe(0);
    expect(col('tfi_h50')[1]).toBe(-1);
    // Last mid of the day (data README): 565.17.
    expect(col('mid')[table.n - 1]).toBeCloseTo(565.17, 9);
  });
});
