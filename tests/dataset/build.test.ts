import { describe, expect, it } from 'vitest';
import { readdirSync, statSync, utimesSync, writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { buildDataset } from '../../src/dataset/build.ts';
import { readRecord } from '../../src/dataset/record.ts';
import { parquetScan, readDatasetFeatures, datasetInfo } from '../../src/dataset/reader.ts';
import { scratchDir, GOOG_MSG, GOOG_OB } from '../helpers.ts';
import { lobsterDays } from './fixtures.ts';
import { datasetParams } from './params.ts';
import { datasetRows, featureRows, firstDifference, sql } from './read.ts';

const dir = scratchDir('dataset-build');
const input = join(dir, 'in');
lobsterDays(input, ['2012-06-21', '2012-06-22']);
const out = join(dir, 'ds');
const params = datasetParams({ vpinBucket: 1400, vpinWarmup: null });
const partFiles = (): Map<string, number> => new Map(
  ['2012-06-21', '2012-06-22'].map((d) => {
    const f = join(out, 'venue=lobster', 'symbol=GOOG', `date=${d}`, 'part-0.parquet');
    return [f, statSync(f).mtimeMs];
  }),
);

// Whole GOOG days on a machine others share: minutes per test, not the default minute.
describe('dataset build (LOBSTER GOOG, two days)', { timeout: 300_000 }, () => {
  it('writes venue=/symbol=/date= Parquet that DuckDB reads as one table, each partition the features of its day', async () => {
    const s = await buildDataset({ sources: [input], out, params, jobs: 2, progress: false });
    expect(s).toMatchObject({ planned: 2, built: 2, skipped: 0, failed: [], jobs: 2 });
    const counts = await sql<{ venue: string; symbol: string; date: string; n: number }>(
      `SELECT venue, symbol, strftime(date, '%Y-%m-%d') AS date, count(*)::INTEGER AS n FROM ${parquetScan(out)} GROUP BY ALL ORDER BY ALL`,
    );
    const rec = readRecord(out)!;
    expect(counts).toEqual(Object.values(rec.partitions).map((p) => ({ venue: 'lobster', symbol: 'GOOG', date: p.date, n: p.rows })));
    expect(counts.map((c) => c.n)).toEqual([147_916, 147_916]);
    // What the record says of each input is what is on disk.
    const first = rec.partitions['venue=lobster/symbol=GOOG/date=2012-06-21']!;
    expect(first.inputs.map((f) => [f.path.endsWith('GOOG_2012-06-21_34200000_57600000_message_10.csv.gz'), f.bytes, f.sha256.length])).toEqual([
      [true, statSync(GOOG_MSG).size, 64], [false, statSync(GOOG_OB).size, 64],
    ]);
    expect(rec.params).toEqual(params);
    // The partition holds exactly what `flowcast features` computes for that day.
    const alone = await featureRows(`lobster:${GOOG_MSG},${GOOG_OB}`, { vpinBucket: 1400 });
    expect(firstDifference(await datasetRows(out, `date = DATE '2012-06-21'`), alone)).toBeUndefined();
  });

  it('a re-run skips unchanged partitions, also when only an mtime moved; a changed input rebuilds its partition alone; --force all', async () => {
    const before = partFiles();
    const again = await buildDataset({ sources: [input], out, params, jobs: 2, progress: false });
    expect(again).toMatchObject({ planned: 2, built: 0, skipped: 2 });
    expect(partFiles()).toEqual(before);

    const msg2 = join(input, 'GOOG_2012-06-22_34200000_57600000_message_10.csv.gz');
    utimesSync(msg2, new Date(), new Date(Date.now() + 5000));
    expect(await buildDataset({ sources: [input], out, params, jobs: 2, progress: false })).toMatchObject({ built: 0, skipped: 2 });

    // Other bytes (the same lines, compressed otherwise): day 2 only is computed again.
    writeFileSync(msg2, gzipSync(gunzipSync(readFileSync(msg2)), { level: 1 }));
    const changed = await buildDataset({ sources: [input], out, params, jobs: 2, progress: false });
    expect(changed).toMatchObject({ built: 1, skipped: 1, rowsBuilt: 147_916, rowsTotal: 2 * 147_916 });
    const now = partFiles();
    const [d1, d2] = [...now.keys()];
    expect(now.get(d1!)).toBe(before.get(d1!));
    expect(now.get(d2!)).not.toBe(before.get(d2!));

    expect(await buildDataset({ sources: [input], out, params, jobs: 2, force: true, progress: false })).toMatchObject({ built: 2, skipped: 0 });
  });

  it('refuses other parameters for a built dataset unless --force, which rebuilds with them', async () => {
    const other = { ...params, levels: 5 };
    await expect(buildDataset({ sources: [input], out, params: other, jobs: 1, progress: false })).rejects.toThrow(/other parameters \(levels 10 -> 5\); --force/);
    // Only the 22nd this time: the 21st, built with the old parameters, goes.
    const s = await buildDataset({ sources: [join(input, 'GOOG_2012-06-22_*')], out, params: other, jobs: 1, force: true, progress: false });
    expect(s).toMatchObject({ built: 1, removed: ['venue=lobster/symbol=GOOG/date=2012-06-21'] });
    expect(readdirSync(join(out, 'venue=lobster', 'symbol=GOOG'))).toEqual(['date=2012-06-22']);
    expect(readRecord(out)!.params.levels).toBe(5);
  });

  it('reads back through the reader with a partition filter, and dataset info lists the partitions', async () => {
    const d = await readDatasetFeatures(out, { where: `symbol='GOOG' and date<'2012-06-23'` });
    expect(d.n).toBe(147_916);
    expect(d.symbols).toEqual(['GOOG']);
    expect(d.params).toMatchObject({ levels: 5, vpinBucket: { GOOG: 1400 } });
    expect((await readDatasetFeatures(out, { where: `date<'2012-06-22'` })).n).toBe(0);
    const info = datasetInfo(out).lines.join('\n');
    expect(info).toContain('1 partitions, 147,916 rows');
    expect(info).toMatch(/2012-06-22\s+147,916 rows\s+vpin bucket 1400 \(fixed\)/);
  });
});
