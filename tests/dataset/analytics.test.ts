/**
 * analytics over a dataset directory (issue 15 item 6): `--where` keeps partitions the way DuckDB
 * judges their keys, each kept partition's source is analysed for its symbol with the bucket it was
 * built with, and the result equals running analytics on that source directly. backtest takes a
 * dataset the same way, one partition at a time.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { buildDataset } from '../../src/dataset/build.ts';
import { selectPartitions } from '../../src/dataset/reader.ts';
import { scratchDir, SPOT_FILE, USDM_FILE } from '../helpers.ts';
import { datasetParams } from './params.ts';
import { flowcast } from '../cli/run-cli.ts';

const dir = scratchDir('dataset-analytics');
const out = join(dir, 'ds');

describe('analytics --source DATASET [--where]', { timeout: 300_000 }, () => {
  it('analyses the kept partitions exactly as their sources; refuses a filter on other columns', async () => {
    await buildDataset({ sources: [SPOT_FILE, USDM_FILE], out, params: datasetParams({ vpinBucket: 5, vpinWarmup: null }), jobs: 1, progress: false });
    expect((await selectPartitions(out, "venue = 'binance-usdm' and date = DATE '2024-08-08'")).map((p) => p.venue)).toEqual(['binance-usdm']);
    expect((await selectPartitions(out, "date < DATE '2024-08-08'"))).toEqual([]);
    expect((await selectPartitions(out)).map((p) => p.venue)).toEqual(['binance-spot', 'binance-usdm']);

    const m = (name: string): string => join(dir, name);
    const one = await flowcast(['analytics', '--source', out, '--where', "venue='binance-usdm'", '--measures', m('one.csv'), '--out', m('one.jsonl'), '--every-ms', '1000', '--quiet']);
    expect(one.code, one.stderr).toBe(0);
    const direct = await flowcast(['analytics', '--source', `binance:${USDM_FILE}`, '--vpin-bucket', '5', '--measures', m('direct.csv'), '--out', m('direct.jsonl'), '--every-ms', '1000', '--quiet']);
    expect(direct.code, direct.stderr).toBe(0);
    expect(readFileSync(m('one.csv'), 'utf8')).toBe(readFileSync(m('direct.csv'), 'utf8'));
    expect(readFileSync(m('one.jsonl'), 'utf8')).toBe(readFileSync(m('direct.jsonl'), 'utf8'));

    // Both partitions: the spot run's lines, then the USD-M run's, under one header.
    const both = await flowcast(['analytics', '--source', out, '--measures', m('both.csv'), '--every-ms', '1000', '--quiet']);
    expect(both.code, both.stderr).toBe(0);
    const spot = await flowcast(['analytics', '--source', `binance:${SPOT_FILE}`, '--vpin-bucket', '5', '--measures', m('spot.csv'), '--every-ms', '1000', '--quiet']);
    expect(spot.code, spot.stderr).toBe(0);
    const lines = (f: string): string[] => readFileSync(m(f), 'utf8').trimEnd().split('\n');
    expect(lines('both.csv')).toEqual([...lines('spot.csv'), ...lines('direct.csv').slice(1)]);

    const bad = await flowcast(['analytics', '--source', out, '--where', 'foo = 1']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/where foo = 1: DuckDB: .*foo.*a partition filter may use venue, symbol and date/);
    const notDir = await flowcast(['analytics', '--source', `binance:${SPOT_FILE}`, '--where', "venue='x'"]);
    expect(notDir.stderr).toMatch(/--where needs a dataset directory/);
  });

  it('backtest --source DATASET --where replays the one partition kept, as a backtest of its source with its bucket', async () => {
    const args = ['--strategy', 'market-maker', '--latency-entry', '100000'];
    const viaDataset = await flowcast(['backtest', '--source', out, '--where', "venue='binance-usdm'", ...args]);
    expect(viaDataset.code, viaDataset.stderr).toBe(0);
    // The dataset records its inputs' absolute paths.
    const direct = await flowcast(['backtest', '--source', `binance:${resolve(USDM_FILE)}`, '--vpin-bucket', '5', ...args]);
    expect(direct.code, direct.stderr).toBe(0);
    const last = (o: string): Record<string, unknown> => {
      const j = JSON.parse(o.trimEnd().split('\n').at(-1)!) as Record<string, unknown>;
      // Timings differ from run to run; everything else must not.
      for (const k of ['seconds', 'eventsPerSecond']) delete j[k];
      return j;
    };
    const a = last(viaDataset.stdout);
    expect(a['orders']).toBeGreaterThan(0);
    expect(a).toEqual(last(direct.stdout));
    const two = await flowcast(['backtest', '--source', out, ...args]);
    expect(two.code).not.toBe(0);
    expect(two.stderr).toMatch(/keeps 2 partitions \(binance-spot\/BTCUSDT\/2024-08-08, binance-usdm\/BTCUSDT\/2024-08-08\); a backtest replays one/);
  });
});
