import { beforeAll, describe, expect, it } from 'vitest';
import { SnapshotRing, SnapshotRings, decimalsOf, CHANNELS } from '../../src/snapshots/ring.ts';
import { SnapshotBatch, MAX_BATCH_VALUES } from '../../src/snapshots/batch.ts';
import type { BookRow } from '../../src/model/row.ts';
import { realRows, GOOG, USDM, SPOT, AMZN_ZIP } from '../compute/real-rows.ts';

let goog: BookRow[];
let usdm: BookRow[];
let spot: BookRow[];
let amzn: BookRow[];

beforeAll(async () => {
  [goog, usdm, spot, amzn] = await Promise.all([
    realRows(GOOG, 3000), realRows(USDM, 3000), realRows(SPOT, 3000), realRows(`lobster:${AMZN_ZIP}`, 500),
  ]);
});

function fill(rows: readonly BookRow[], capacity: number, levels = 10): SnapshotRing {
  const ring = new SnapshotRing(rows[0]!.symbol, 0, capacity, levels);
  for (const r of rows) ring.push(r);
  return ring;
}

/** Is every present price on the 10^-d grid, and is d the least such? */
function gridDecimals(values: number[]): number {
  let d = 0;
  for (const v of values) d = decimalsOf(v, d);
  return d;
}

describe('SnapshotRing', () => {
  it('keeps the last `capacity` rows, oldest evicted, in BookRow form', () => {
    const ring = fill(goog.slice(0, 250), 100);
    expect(ring.count).toBe(250);
    expect(ring.size).toBe(100);
    for (let back = 0; back < 100; back++) {
      const row = goog[249 - back]!;
      const k = ring.slot(back) * 10 * CHANNELS;
      expect(ring.ts[ring.slot(back)]).toBe(row.ts);
      for (let l = 0; l < 10; l++) {
        expect(ring.book[k + l * 4]).toBe(row.bidPx[l]);
        expect(ring.book[k + l * 4 + 1]).toBe(row.bidSz[l]);
        expect(ring.book[k + l * 4 + 2]).toBe(row.askPx[l]);
        expect(ring.book[k + l * 4 + 3]).toBe(row.askSz[l]);
      }
    }
  });

  it('grows without losing or reordering rows', () => {
    const ring = fill(usdm.slice(0, 300), 64);
    const before = Array.from({ length: 64 }, (_, back) => ring.book[ring.slot(back) * 40]);
    ring.grow(256);
    expect(ring.capacity).toBe(256);
    expect(Array.from({ length: 64 }, (_, back) => ring.book[ring.slot(back) * 40])).toEqual(before);
    for (const r of usdm.slice(300, 400)) ring.push(r);
    expect(ring.book[ring.slot(0) * 40]).toBe(usdm[399]!.bidPx[0]);
    expect(ring.book[ring.slot(163) * 40]).toBe(usdm[236]!.bidPx[0]);
  });

  it('finds the decimals of prices and sizes: the least that make every value whole', () => {
    for (const rows of [goog, usdm, spot]) {
      const ring = fill(rows, 16);
      const px = rows.flatMap((r) => [...r.bidPx, ...r.askPx].filter((p) => p === p));
      const sz = rows.flatMap((r) => [...r.bidSz, ...r.askSz]);
      expect(ring.priceDecimals).toBe(gridDecimals(px));
      expect(ring.sizeDecimals).toBe(gridDecimals(sz));
    }
    // The data's own grids: GOOG $0.01 ticks and whole shares, BTCUSDT futures 0.1 ticks.
    expect(fill(goog, 16).priceDecimals).toBe(2);
    expect(fill(goog, 16).sizeDecimals).toBe(0);
    expect(fill(usdm, 16).priceDecimals).toBe(1);
  });

  it('SnapshotRings routes rows by symbol and reports which symbols got rows', () => {
    const rings = new SnapshotRings(32, 10);
    for (let i = 0; i < 20; i++) {
      rings.onRow(goog[i]!);
      if (i % 2 === 0) rings.onRow(usdm[i]!);
    }
    const fresh = rings.takeFresh();
    expect(fresh.rings.map((r) => r.symbol)).toEqual(['GOOG', 'BTCUSDT']);
    expect(fresh.rows).toEqual([20, 10]);
    rings.onRow(usdm[50]!);
    expect(rings.takeFresh().rings.map((r) => r.symbol)).toEqual(['BTCUSDT']);
    expect(rings.get('GOOG')!.count).toBe(20);
  });
});

describe('SnapshotBatch', () => {
  it('copies each window once into whole ticks and lots from an on-grid reference', () => {
    const ring = fill(usdm.slice(0, 1000), 400);
    const batch = new SnapshotBatch({ windows: 2, rows: 100, levels: 10, history: 50 });
    batch.add(ring);
    batch.add(ring, 900);
    expect(batch.n).toBe(2);
    expect(batch.shape).toEqual([2, 150, 10, 4]);
    expect(batch.priceScale[0]).toBe(10);
    expect(batch.sizeScale[0]).toBe(10 ** ring.sizeDecimals);
    for (let b = 0; b < 2; b++) {
      const last = b === 0 ? 999 : 900;
      const ref = batch.refs[b]!;
      expect(Number.isInteger(batch.refUnits[b])).toBe(true);
      expect(batch.refUnits[b]).toBe(Math.round(ref * 10));
      for (let w = 0; w < 150; w++) {
        const row = usdm[last - 149 + w]!;
        expect(batch.ts[b * 150 + w]).toBe(row.ts);
        for (let l = 0; l < 10; l++) {
          const o = ((b * 150 + w) * 10 + l) * 4;
          const v = Array.from(batch.book.subarray(o, o + 4));
          // Whole numbers, held exactly by float32, that give back the row's prices and sizes.
          for (const x of v) expect(Number.isInteger(x) && Math.abs(x) < 2 ** 24).toBe(true);
          expect((batch.refUnits[b]! + v[0]!) / 10).toBeCloseTo(row.bidPx[l]!, 9);
          expect((batch.refUnits[b]! + v[2]!) / 10).toBeCloseTo(row.askPx[l]!, 9);
          expect(v[1]! / batch.sizeScale[b]!).toBeCloseTo(row.bidSz[l]!, 9);
          expect(v[3]! / batch.sizeScale[b]!).toBeCloseTo(row.askSz[l]!, 9);
        }
      }
      // Per-row trade aggregates.
      const row = usdm[last]!;
      let vol = 0, signed = 0;
      for (let t = 0; t < row.nTrades; t++) {
        vol += row.tradeSz[t]!;
        signed += row.tradeSign[t]! * row.tradeSz[t]!;
      }
      const q = (b * 150 + 149) * 4;
      expect(batch.trades[q]).toBeCloseTo(vol, 4);
      expect(batch.trades[q + 1]).toBeCloseTo(signed, 4);
      expect(batch.trades[q + 2]).toBe(row.nTrades);
    }
  });

  it('left-pads a window whose stream is shorter, and marks levels the source does not have as missing', () => {
    const ring = fill(amzn.slice(0, 30), 100);
    const batch = new SnapshotBatch({ windows: 1, rows: 40, levels: 10, history: 50 });
    batch.add(ring);
    expect(batch.filled[0]).toBe(30);
    for (let w = 0; w < 90; w++) {
      const o = w * 40;
      if (w < 60) {
        expect(Array.from(batch.book.subarray(o, o + 40)).every((x) => x === 0)).toBe(true);
        expect(batch.ts[w]).toBeNaN();
      } else {
        // AMZN has 5 levels: levels 6..10 are (0, 0), levels 1..5 are present.
        expect(Array.from(batch.book.subarray(o + 20, o + 40)).every((x) => x === 0)).toBe(true);
        for (let l = 0; l < 5; l++) expect(batch.book[o + l * 4 + 1]).toBeGreaterThan(0);
      }
    }
  });

  it('pads rows the ring has evicted when only the last `need` outputs matter (they and their history are held)', () => {
    const ring = fill(goog.slice(0, 500), 120);
    const batch = new SnapshotBatch({ windows: 1, rows: 100, levels: 10, history: 50 });
    // Window 350..499 (150 rows); the ring holds 380..499: the last 70 outputs need 380 on.
    expect(() => batch.add(ring, 499, 71)).toThrow(/no longer holds row 379/);
    batch.add(ring, 499, 70);
    expect(batch.filled[0]).toBe(120);
    expect(Array.from(batch.book.subarray(0, 30 * 40)).every((x) => x === 0)).toBe(true);
    expect(batch.ts[29]).toBeNaN();
    expect(batch.ts[30]).toBe(goog[380]!.ts);
  });

  it('refuses rows the ring no longer holds, a full batch, and shapes kernels cannot index', () => {
    const ring = fill(goog.slice(0, 500), 100);
    const batch = new SnapshotBatch({ windows: 1, rows: 30, levels: 10, history: 50 });
    expect(() => batch.add(ring, 420)).toThrow(/no longer holds row 341 \(holds 400\.\.499; capacity 100\)/);
    batch.add(ring);
    expect(() => batch.add(ring)).toThrow(/batch is full/);
    expect(() => new SnapshotBatch({ windows: 4096, rows: 1024, levels: 10 })).toThrow(/2\^24/);
    expect(4096 * 1074 * 40).toBeGreaterThan(MAX_BATCH_VALUES);
  });
});
