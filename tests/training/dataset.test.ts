/**
 * Datasets from real GOOG features: labels recomputed from mid equal the feature engine's, the
 * chronological splits leave no label leakage across boundaries, normalisation sees train rows
 * only, windows are the right rows, and the CSV/Parquet readers give back what was written.
 */
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { featuresInMemory, GOOG } from '../helpers.ts';
import { computeLabels } from '../../src/training/labels.ts';
import { buildDataset, DEFAULT_INPUTS, pickSymbol } from '../../src/training/dataset.ts';
import { readCsvFeatures, readParquetFeatures, type FeatureData } from '../../src/training/features-file.ts';
import { CsvFeatureWriter } from '../../src/store/csv.ts';
import { ParquetFeatureWriter } from '../../src/store/parquet.ts';
import { runFeatures } from '../../src/pipeline/features.ts';
import { FeatureTable } from '../../src/store/memory.ts';
import { tempDir } from '../inference/helpers.ts';

let data: FeatureData;
let table: FeatureTable;

beforeAll(async () => {
  const r = await featuresInMemory(GOOG, { horizons: [10, 50, 100] });
  table = r.table;
  const values = new Map<string, Float64Array>();
  table.columns.forEach((c, i) => values.set(c, table.values[i]!.subarray(0, table.n)));
  data = { source: 'GOOG', n: table.n, columns: [...table.columns], symbols: [...table.symbols], symbolId: table.symbolId.subarray(0, table.n), ts: table.ts.subarray(0, table.n), startNs: 0n, values };
});

describe('labels', () => {
  it('recomputed from mid equal the feature engine\'s label columns', () => {
    for (const k of [10, 50, 100]) {
      const mine = computeLabels(data.values.get('mid')!, data.symbolId, k, 0.00002);
      const engine = data.values.get(`label_${k}`)!;
      let nan = 0, differ = 0;
      for (let i = 0; i < data.n; i++) {
        if (Number.isNaN(engine[i]!)) nan++;
        if (!Object.is(mine[i], engine[i])) differ++;
      }
      expect(differ).toBe(0);
      expect(nan).toBe(k);
    }
  });
});

describe('dataset', () => {
  const opts = { columns: DEFAULT_INPUTS.map((c) => c.name), window: 100, horizon: 50, alpha: 0.00002, split: { train: 0.7, val: 0.15 } };

  it('splits chronologically and purges the label horizon at each boundary', () => {
    const ds = buildDataset(data, opts);
    const { train, val, test } = ds.splits;
    expect(train.from).toBe(0);
    expect(val.from).toBe(train.to);
    expect(test.from).toBe(val.to);
    expect(test.to).toBe(data.n);
    // No train label reads a mid of the validation rows, and none of validation reads test rows.
    expect(train.rows[train.rows.length - 1]! + 50).toBeLessThan(val.from);
    expect(val.rows[val.rows.length - 1]! + 50).toBeLessThan(test.from);
    expect(val.rows[0]).toBe(val.from);
    expect(train.rows[0]).toBe(99); // the first full window
    // Every test sample has a label; the last 50 rows have none.
    expect(test.rows[test.rows.length - 1]).toBe(data.n - 51);
    let unlabelled = 0;
    for (const r of [train, val, test]) for (const i of r.rows) if (ds.y[i]! < 0) unlabelled++;
    expect(unlabelled).toBe(0);
  });

  it('fits normalisation on the train rows only', () => {
    const ds = buildDataset(data, opts);
    const f = opts.columns.indexOf('imb_1');
    const col = data.values.get('imb_1')!;
    let s = 0, s2 = 0;
    const a = ds.splits.train.to;
    for (let i = 0; i < a; i++) {
      s += col[i]!;
      s2 += col[i]! * col[i]!;
    }
    const mean = s / a;
    expect(ds.normalization!.columns[f]!.mean).toBeCloseTo(mean, 12);
    expect(ds.normalization!.columns[f]!.std).toBeCloseTo(Math.sqrt((s2 - a * mean * mean) / (a - 1)), 9);
    expect(ds.normalization!.fittedOn).toMatch(/rows 0\.\.103540 \(train split\)/);
    // Changing validation and test rows leaves the statistics untouched.
    const shifted = new Map(data.values);
    const imb = Float64Array.from(col);
    for (let i = a; i < data.n; i++) imb[i] = imb[i]! * 100 + 5;
    shifted.set('imb_1', imb);
    const ds2 = buildDataset({ ...data, values: shifted }, opts);
    expect(ds2.normalization).toEqual(ds.normalization);
    // slog1p columns are transformed before the z-score.
    expect(ds.normalization!.columns.find((c) => c.name === 'ofi_1')!.transform).toBe('slog1p');
  });

  it('windows hold the last T rows, oldest first, raw and normalised', () => {
    const ds = buildDataset(data, opts);
    const i = ds.splits.val.rows[10]!;
    const w = ds.windowRaw(i);
    const F = ds.F;
    expect(w.length).toBe(100 * F);
    const spread = data.values.get('spread_bps')!;
    expect(w[0]).toBe(spread[i - 99]);
    expect(w[99 * F]).toBe(spread[i]);
    const z = new Float32Array(100 * F);
    ds.windowZ(i, z, 0);
    const st = ds.normalization!.columns[0]!;
    expect(z[99 * F]).toBeCloseTo(Math.max(-5, Math.min(5, (spread[i]! - st.mean) / st.std)), 5);
  });

  it('names the symbol choice when the data holds several', () => {
    const two = { ...data, symbols: ['GOOG', 'AMZN'] };
    expect(() => pickSymbol(two)).toThrow(/GOOG holds 2 symbols \(GOOG, AMZN\); choose one with --symbol/);
    expect(() => pickSymbol(data, 'MSFT')).toThrow(/no rows for symbol MSFT \(symbols: GOOG\)/);
  });
});

describe('feature file readers', () => {
  it('read back what the CSV and Parquet writers wrote (the first 20k rows of GOOG)', async () => {
    const t = tempDir('ds');
    try {
      const csv = join(t.dir, 'goog.csv');
      const pq = join(t.dir, 'goog.parquet');
      await runFeatures(GOOG, { horizons: [50], symbols: ['GOOG'] }, (columns, tb) => {
        const a = new CsvFeatureWriter(csv, columns, tb);
        const b = new ParquetFeatureWriter(pq, columns, tb);
        let rows = 0;
        return {
          write: (blk, s) => {
            if (rows >= 20_000) return;
            rows += blk.n;
            a.write(blk, s);
            b.write(blk, s);
          },
          drain: async () => { await a.drain(); await b.drain(); },
          close: async () => { await a.close(); return b.close(); },
        };
      });
      for (const d of [await readCsvFeatures(csv), await readParquetFeatures(pq)]) {
        expect(d.n).toBeGreaterThanOrEqual(20_000);
        expect(d.n).toBeLessThan(40_000);
        expect(d.symbols).toEqual(['GOOG']);
        for (const c of ['mid', 'ofi_1', 'vpin', 'kyle_lambda', 'label_50']) {
          const a = d.values.get(c)!, b = data.values.get(c)!;
          let differ = 0;
          for (let i = 0; i < d.n; i++) if (!Object.is(a[i], b[i])) differ++;
          expect(differ).toBe(0);
        }
        expect(d.ts[0]).toBe(0);
        expect(d.ts[d.n - 1]).toBe(table.ts[d.n - 1]! - table.ts[0]!);
      }
    } finally {
      t.cleanup();
    }
  });
});
