import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { buildDataset } from '../../src/dataset/build.ts';
import { readRecord, type DatasetParams } from '../../src/dataset/record.ts';
import { FEATURE_SPEC_VERSION } from '../../src/features/columns.ts';
import { DEFAULT_FEATURE_OPTIONS } from '../../src/features/options.ts';
import { scratchDir } from '../helpers.ts';
import { binanceDays, binanceJoined } from './fixtures.ts';
import { datasetRows, featureRows, firstDifference } from './read.ts';

const dir = scratchDir('dataset-carry');
const DAYS = 3;
const files = binanceDays(join(dir, 'in'), DAYS);
const joined = binanceJoined(join(dir, 'joined', 'binance-spot_btcusdt_20240808.jsonl.gz'), DAYS);

function params(carry: boolean): DatasetParams {
  const { levels, vpinBuckets, barMs, barWindow, settleMs, alpha } = DEFAULT_FEATURE_OPTIONS;
  return { specVersion: FEATURE_SPEC_VERSION, levels, vpinBuckets, barMs, barWindow, settleMs, alpha, horizons: [10, 50], vpinBucket: 2, vpinWarmup: null, carry, skipBad: null };
}

describe('dataset build --carry', { timeout: 300_000 }, () => {
  it('continues VPIN buckets, bars, rolling windows, labels and row numbers across days: the partitions together equal one continuous run', async () => {
    const s = await buildDataset({ sources: files, out: join(dir, 'carry'), params: params(true), jobs: 2, progress: false });
    expect(s.failed).toEqual([]);
    expect(s.built).toBe(DAYS);
    const continuous = await featureRows(`binance:${joined}`, { vpinBucket: 2, horizons: [10, 50] });
    const carried = await datasetRows(join(dir, 'carry'));
    expect(continuous.n).toBeGreaterThan(3 * 3000);
    expect(firstDifference(carried, continuous)).toBeUndefined();
    // Each day holds its own rows: day k's partition starts where its input starts.
    const rec = readRecord(join(dir, 'carry'))!;
    const parts = Object.values(rec.partitions);
    expect(parts.map((p) => p.date)).toEqual(['2024-08-08', '2024-08-09', '2024-08-10']);
    expect(parts.reduce((a, p) => a + p.rows, 0)).toBe(continuous.n);
    expect(parts[1]!.carriedFrom).toBe('venue=binance-spot/symbol=BTCUSDT/date=2024-08-08');
    // A carried day depends on the days before it: its record lists their inputs too.
    expect(parts[2]!.inputs.map((f) => f.path)).toEqual(files);
  });

  it('without --carry every day starts fresh: each partition equals its own day run alone, and differs from the carried one', async () => {
    const s = await buildDataset({ sources: [join(dir, 'in')], out: join(dir, 'fresh'), params: params(false), jobs: 2, progress: false });
    expect(s.built).toBe(DAYS);
    for (let k = 0; k < DAYS; k++) {
      const date = `2024-08-${String(8 + k).padStart(2, '0')}`;
      const alone = await featureRows(`binance:${files[k]}`, { vpinBucket: 2, horizons: [10, 50] });
      expect(firstDifference(await datasetRows(join(dir, 'fresh'), `date = '${date}'`), alone)).toBeUndefined();
    }
    const day2 = `date = '2024-08-09'`;
    expect(firstDifference(await datasetRows(join(dir, 'fresh'), day2), await datasetRows(join(dir, 'carry'), day2), false)).toBeDefined();
  });
});
