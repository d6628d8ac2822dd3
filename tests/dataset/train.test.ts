import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildDataset } from '../../src/dataset/build.ts';
import { readRecord } from '../../src/dataset/record.ts';
import { loadTrainingData } from '../../src/training/train-data.ts';
import { scratchDir } from '../helpers.ts';
import { flowcast } from '../cli/run-cli.ts';
import { binanceDays } from './fixtures.ts';
import { datasetParams } from './params.ts';

const dir = scratchDir('dataset-train');
binanceDays(join(dir, 'in'), 3);
const ds = join(dir, 'ds');

describe('train reads a dataset directory with a partition filter', { timeout: 300_000 }, () => {
  it('loads only the rows the filter keeps, with the dataset\'s parameters and VPIN bucket', async () => {
    await buildDataset({ sources: [join(dir, 'in')], out: ds, params: datasetParams({ vpinWarmup: '2m', horizons: [50] }), jobs: 2, progress: false });
    const rec = readRecord(ds)!;
    const day = (d: string) => rec.partitions[`venue=binance-spot/symbol=BTCUSDT/date=${d}`]!;
    const t = await loadTrainingData(ds, { horizon: 50, alpha: 0.00002, split: { train: 0.7, val: 0.15 }, where: `symbol='BTCUSDT' and date<'2024-08-10'` });
    expect(t.data.n).toBe(day('2024-08-08').rows + day('2024-08-09').rows);
    expect(t.symbol).toBe('BTCUSDT');
    // The latest selected day's bucket is the one a model serves with; every day's is in the sizing text.
    expect(t.params.vpinBucket).toEqual({ BTCUSDT: day('2024-08-09').vpinBucket });
    expect(t.params.vpinSizing).toMatch(/auto from warm-up 2m, per day BTCUSDT 2024-08-08 [\d.]+; BTCUSDT 2024-08-09 [\d.]+/);
    expect(t.inputs.files.map((f) => f.path.replace(/.*\/(date=[^/]+)\/.*/, '$1'))).toEqual(['date=2024-08-08', 'date=2024-08-09']);
    expect(t.inputs.recorded!.files.map((f) => f.sha256)).toEqual([...day('2024-08-08').inputs, ...day('2024-08-09').inputs].map((f) => f.sha256));
    await expect(loadTrainingData(join(dir, 'in', 'binance-spot_btcusdt_20240808.jsonl.gz'), { horizon: 50, alpha: 0, split: { train: 0.7, val: 0.15 }, where: 'true' }))
      .rejects.toThrow(/a --where filter needs a dataset directory/);
  });

  it('flowcast train --data DIR --where trains on those rows and writes the bucket into the manifest', async () => {
    const models = join(dir, 'models');
    const r = await flowcast(['train', 'transformer', '--data', ds, '--where', "date < '2024-08-10'", '--models', models, '--name', 'ds-tiny', '--window', '20', '--patch', '4',
      '--d-model', '8', '--heads', '2', '--layers', '1', '--ffn', '16', '--epochs', '1', '--samples-per-epoch', '256', '--val-samples', '128', '--version', 't1']);
    expect(r.code, r.stderr).toBe(0);
    const m = JSON.parse(readFileSync(join(models, 'ds-tiny', 'manifest.json'), 'utf8')) as { input: { features: { vpinBucket: Record<string, number>; vpinSizing: string } }; training: { data: string; where: string } };
    expect([m.training.data, m.training.where]).toEqual([ds, "date < '2024-08-10'"]);
    const day2 = readRecord(ds)!.partitions['venue=binance-spot/symbol=BTCUSDT/date=2024-08-09']!;
    expect(m.input.features.vpinBucket).toEqual({ BTCUSDT: day2.vpinBucket });
    // Two partitions kept: two segments (a day each) whose recorded buckets agree (docs/models.md, multi-day).
    expect(m.input.features.vpinSizing).toMatch(/^per symbol over its segments: BTCUSDT [\d.]+ \(recorded by its 2 segments: dataset .*: auto from warm-up 2m/);
  });

  it('flowcast evaluate --data DIR --where scores the filtered rows; the baselines fit on the rows the model was trained on', async () => {
    const models = join(dir, 'models');
    const rec = readRecord(ds)!;
    const rows = (d: string): number => rec.partitions[`venue=binance-spot/symbol=BTCUSDT/date=${d}`]!.rows;
    const r = await flowcast(['evaluate', join(models, 'ds-tiny'), '--data', ds, '--where', "date = '2024-08-10'", '--baselines', 'none', '--calibration-bins', '0', '--importance', 'none', '--replicates', '20']);
    expect(r.code, r.stderr).toBe(0);
    // The baselines' training data is the model's own filtered rows (days 1 and 2, split as the model was).
    const base = /Baselines are fitted on the train split of (.*) \(BTCUSDT, rows 0\.\.(\d+),/.exec(r.stdout);
    expect(base?.[1]).toBe(`${ds} (where date < '2024-08-10')`);
    expect(Number(base![2]) + 1).toBe(Math.floor((rows('2024-08-08') + rows('2024-08-09')) * 0.7));
    // Day 3 alone is scored, every row of it (it is not the training data).
    expect(r.stdout).toContain(`## BTCUSDT: ${ds} (where date = '2024-08-10')`);
    expect(r.stdout).toContain(`all rows (${rows('2024-08-10')});`);
    const bad = await flowcast(['evaluate', join(models, 'ds-tiny'), '--data', join(dir, 'in', 'binance-spot_btcusdt_20240808.jsonl.gz'), '--where', 'true']);
    expect(bad.stderr).toMatch(/--where needs a dataset directory/);
  });

  it('evaluate over two days scores each day as its own segment, the training day\'s seen rows left out', async () => {
    const models = join(dir, 'models');
    const rec = readRecord(ds)!;
    const rows = (d: string): number => rec.partitions[`venue=binance-spot/symbol=BTCUSDT/date=${d}`]!.rows;
    const m = JSON.parse(readFileSync(join(models, 'ds-tiny', 'manifest.json'), 'utf8')) as { training: { inputs: { segments: { date: string; seen: { rows: [number, number] } }[] } } };
    const b2 = m.training.inputs.segments.find((g) => g.date === '2024-08-09')!.seen.rows[1];
    const r = await flowcast(['evaluate', join(models, 'ds-tiny'), '--data', ds, '--where', "date >= '2024-08-09'", '--baselines', 'none', '--calibration-bins', '0', '--importance', 'none', '--replicates', '20']);
    expect(r.code, r.stderr).toBe(0);
    // Day 2 from its test cut (labels inside day 2: its last 50 rows have none) and day 3 whole (windows of
    // 20 rows and labels inside day 3). Read as one series, day 2's last labels would read day 3's mids.
    const want = (rows('2024-08-09') - b2 - 50) + (rows('2024-08-10') - 50 - 19);
    expect(r.stdout).toMatch(new RegExp(`; ${want} samples; label horizon 50 rows`));
  });
});
