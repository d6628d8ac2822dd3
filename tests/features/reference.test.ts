/**
 * The engine against an independent numpy implementation of the spec (scripts/reference/
 * features_reference.py), on sampled rows of the real GOOG, Binance USD-M and spot data:
 * every column, NaN where the reference has NaN, values to 1e-9 relative.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { featuresInMemory } from '../helpers.ts';

interface Fixture {
  spec: string;
  params: { vpinBucket: number; horizons: number[] };
  columns: string[];
  totalRows: number;
  rows: (string | number | null)[][];
}

for (const name of ['goog', 'binance-usdm', 'binance-spot']) {
  describe(`features vs the independent reference: ${name}`, () => {
    const fx = JSON.parse(readFileSync(`tests/fixtures/reference/${name}.json`, 'utf8')) as Fixture;
    it(`matches every column on ${fx.rows.length} sampled rows`, async () => {
      const { table, timeBase } = await featuresInMemory(fx.spec, { vpinBucket: fx.params.vpinBucket, horizons: fx.params.horizons });
      expect(table.n).toBe(fx.totalRows);
      expect(['ts_ns', 'symbol', 'row', ...table.columns]).toEqual(fx.columns);
      const failures: string[] = [];
      for (const r of fx.rows) {
        const i = r[2] as number;
        if (String(timeBase.get().toEpochNs(table.ts[i]!)) !== r[0]) failures.push(`row ${i} ts_ns ${timeBase.get().toEpochNs(table.ts[i]!)} != ${r[0]}`);
        if (table.symbols[table.symbolId[i]!] !== r[1]) failures.push(`row ${i} symbol`);
        for (let c = 0; c < table.columns.length; c++) {
          const want = r[3 + c] as number | null;
          const got = table.values[c]![i]!;
          const col = table.columns[c];
          if (want === null) {
            if (!Number.isNaN(got)) failures.push(`row ${i} ${col}: ${got}, reference NaN`);
          } else if (!(Math.abs(got - want) <= 1e-9 * Math.max(Math.abs(got), Math.abs(want)) + 1e-12)) {
            failures.push(`row ${i} ${col}: ${got}, reference ${want}`);
          }
        }
      }
      expect(failures.slice(0, 20)).toEqual([]);
    });
  });
}
