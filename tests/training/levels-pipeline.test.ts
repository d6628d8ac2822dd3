/**
 * Issue 14 item 4: the raw-levels trainer reads the tensors the server computes. The GOOG day is
 * replayed into SnapshotRings (readBookRings), its rows line up one for one with the feature rows
 * whose labels and splits training uses (alignRows), and the windows training sees are
 * SnapshotBatch.book windows: equal to a batch assembled independently from the book rows, whole
 * ticks and lots, normalised per channel exactly as the manifest says, and the tf.data pipeline
 * yields those same tensors with the Dataset's labels.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { GOOG } from '../helpers.ts';
import { realRows } from '../compute/real-rows.ts';
import { loadFeatures } from '../../src/training/features-file.ts';
import { buildDataset, type Dataset } from '../../src/training/dataset.ts';
import { alignRows, LevelsWindows, readBookRings } from '../../src/training/levels/windows.ts';
import { SnapshotRing, type SnapshotRings } from '../../src/snapshots/ring.ts';
import { SnapshotBatch } from '../../src/snapshots/batch.ts';
import { loadTf } from '../../src/training/tf-backend.ts';
import type { BookRow } from '../../src/model/row.ts';

const T = 100, L = 10;
let rings: SnapshotRings;
let ds: Dataset;
let rows: BookRow[];

beforeAll(async () => {
  [rings, rows] = await Promise.all([readBookRings(GOOG, { levels: L, symbols: ['GOOG'] }), realRows(GOOG, 3000)]);
  const data = await loadFeatures(GOOG, { horizons: [50], alpha: 0.00002, symbols: ['GOOG'], vpinBucket: 1400 });
  ds = buildDataset(data, { columns: ['mid'], window: T, horizon: 50, alpha: 0.00002, split: { train: 0.7, val: 0.15 }, symbol: 'GOOG' });
}, 300_000);

describe('raw-levels input pipeline (SnapshotRings -> SnapshotBatch -> TensorFlow.js)', () => {
  it('keeps every book row of the day, one per feature row, in time order', () => {
    const ring = rings.get('GOOG')!;
    expect(ring.count).toBe(ds.n);
    expect(ring.size).toBe(ring.count);
    expect(() => alignRows(ring, ds)).not.toThrow();
    // A ring one row short does not line up.
    const short = new SnapshotRing('GOOG', 0, 16, L);
    for (const r of rows.slice(0, 10)) short.push(r);
    expect(() => alignRows(short, ds)).toThrow(/the book replay made 10 rows but the feature data has \d+/);
  });

  it('cuts the windows training reads as SnapshotBatch.book: equal to a batch assembled from the book rows', () => {
    const ring = rings.get('GOOG')!;
    const w = new LevelsWindows(ring, ds, L, 8);
    const own = new SnapshotRing('GOOG', 0, 4096, L);
    for (const r of rows) own.push(r);
    const ref = new SnapshotBatch({ windows: 1, rows: T, history: 0, levels: L });
    const ends = [T - 1, 500, 1234, 2999];
    const got = w.gatherRaw(ends);
    expect(got.length).toBe(ends.length * T * L * 4);
    ends.forEach((end, j) => {
      ref.clear().add(own, end);
      const want = ref.book.subarray(0, T * L * 4);
      expect(Array.from(got.subarray(j * want.length, (j + 1) * want.length))).toEqual(Array.from(want));
      // Window units: whole ticks from the window's reference and whole lots; the last row gives back its book.
      for (const v of want) expect(Number.isInteger(v)).toBe(true);
      const last = rows[end]!, o = (T - 1) * L * 4;
      expect((ref.refUnits[0]! + want[o]!) / 100).toBeCloseTo(last.bidPx[0]!, 9);
      expect(want[o + 1]).toBe(last.bidSz[0]);
      expect((ref.refUnits[0]! + want[o + 2]!) / 100).toBeCloseTo(last.askPx[0]!, 9);
      expect(want[o + 3]).toBe(last.askSz[0]);
    });
    expect(w.bookInput()).toEqual({ levels: L, channels: ['bid_px', 'bid_sz', 'ask_px', 'ask_sz'], prices: 'ticks-from-window-reference', sizes: 'lots', scales: { GOOG: { price: 100, size: 1 } }, history: 0 });
    expect(() => w.raw([T - 2])).toThrow(/row 98 has no full window of 100 rows/);
  });

  it('normalises per channel as the manifest states: sizes signed-log, z-score with train-split statistics, clip', () => {
    const w = new LevelsWindows(rings.get('GOOG')!, ds, L, 64);
    const n = w.fitNormalization(256);
    expect(n.columns.map((c) => [c.name, c.transform])).toEqual([['bid_px', 'none'], ['bid_sz', 'slog1p'], ['ask_px', 'none'], ['ask_sz', 'slog1p']]);
    expect(n.fittedOn).toMatch(/GOOG rows 0\.\.103540 \(train split\): 256 SnapshotBatch windows/);
    // Bids sit below the reference, asks above.
    expect(n.columns[0]!.mean).toBeLessThan(0);
    expect(n.columns[2]!.mean).toBeGreaterThan(0);
    w.useNormalization(n);
    const sample = ds.splits.val.rows.subarray(0, 70);
    const raw = w.gatherRaw(sample).slice();
    const z = w.gatherZ(sample);
    expect(z.length).toBe(raw.length);
    for (let k = 0; k < raw.length; k += 37) {
      const s = n.columns[k % 4]!;
      let v = raw[k]!;
      if (s.transform === 'slog1p') v = Math.sign(v) * Math.log1p(Math.abs(v));
      const want = Math.max(-n.clip!, Math.min(n.clip!, (v - s.mean) / s.std));
      expect(z[k]).toBeCloseTo(want, 4);
    }
    expect(Array.from(w.labelsOf(sample))).toEqual(Array.from(ds.labelsOf(sample)));
  });

  it('tf.data: yields [B, T, L, 4] tensors equal to the batch and the Dataset\'s labels', async () => {
    const { tf } = await loadTf();
    const w = new LevelsWindows(rings.get('GOOG')!, ds, L, 16);
    const sample = ds.splits.test.rows.subarray(100, 140);
    const want = w.gatherRaw(sample).slice();
    const seen: number[] = [];
    let j = 0;
    await w.tfDataset(tf, sample).forEachAsync(({ xs, ys }) => {
      seen.push(xs.shape[0]);
      expect(xs.shape.slice(1)).toEqual([T, L, 4]);
      const size = T * L * 4;
      expect(Array.from(xs.dataSync())).toEqual(Array.from(want.subarray(j * size, (j + xs.shape[0]) * size)));
      expect(Array.from(ys.dataSync())).toEqual(Array.from(ds.labelsOf(sample.subarray(j, j + xs.shape[0]))));
      j += xs.shape[0];
      xs.dispose();
      ys.dispose();
    });
    expect(seen).toEqual([16, 16, 8]);
  });
});
