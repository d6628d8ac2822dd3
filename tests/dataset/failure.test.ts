import { describe, expect, it } from 'vitest';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { buildDataset } from '../../src/dataset/build.ts';
import { readRecord } from '../../src/dataset/record.ts';
import { scratchDir } from '../helpers.ts';
import { binanceDayLines, binanceDays } from './fixtures.ts';
import { datasetParams } from './params.ts';

const dir = scratchDir('dataset-failure');
const files = binanceDays(join(dir, 'in'), 3);
const params = datasetParams({ vpinBucket: 2, vpinWarmup: null });

describe('a partition whose input is bad', { timeout: 300_000 }, () => {
  it('fails alone, named with the file and line; the others are built and recorded; fixed, it is built by the next run', async () => {
    const lines = binanceDayLines(1);
    const bad = [...lines.slice(0, 500), `${lines[500]!.slice(0, 40)}`, ...lines.slice(501)];
    writeFileSync(files[1]!, gzipSync(bad.join('\n') + '\n'));
    const out = join(dir, 'ds');
    const s = await buildDataset({ sources: [join(dir, 'in')], out, params, jobs: 2, progress: false });
    expect(s.built).toBe(2);
    expect(s.failed.map((f) => f.partitions)).toEqual([['venue=binance-spot/symbol=BTCUSDT/date=2024-08-09']]);
    expect(s.failed[0]!.error).toMatch(/binance-spot_btcusdt_20240809\.jsonl\.gz:501: /);
    expect(Object.keys(readRecord(out)!.partitions)).toEqual([
      'venue=binance-spot/symbol=BTCUSDT/date=2024-08-08', 'venue=binance-spot/symbol=BTCUSDT/date=2024-08-10',
    ]);
    expect((readdirSync(out, { recursive: true }) as string[]).filter((f) => f.endsWith('.tmp') || f.includes('2024-08-09'))).toEqual([]);

    writeFileSync(files[1]!, gzipSync(lines.join('\n') + '\n'));
    const again = await buildDataset({ sources: [join(dir, 'in')], out, params, jobs: 2, progress: false });
    expect(again).toMatchObject({ built: 1, skipped: 2, failed: [] });
  });
});

describe('the progress display', { timeout: 300_000 }, () => {
  it('is one line for the whole job: partitions done, rows, rows/s, percent and ETA; the last one counts every partition and row', async () => {
    const lines: string[] = [];
    const out = Object.assign(new (await import('node:stream')).Writable({
      write(chunk: Buffer, _enc, cb) { lines.push(...String(chunk).split('\n').filter(Boolean)); cb(); },
    }), { isTTY: false });
    const src = join(dir, 'progress-in');
    binanceDays(src, 2);
    const s = await buildDataset({ sources: [src], out: join(dir, 'progress'), params, jobs: 2, progress: true, progressOut: out });
    expect(lines.length).toBeGreaterThan(0);
    for (const l of lines) expect(l).toMatch(/^dataset: \d+\/2 partitions, [\d,]+ rows, [\d.]+k? rows\/s, [\d.]+% ETA \S+$/);
    expect(lines[lines.length - 1]).toMatch(new RegExp(`^dataset: 2/2 partitions, ${s.rowsBuilt.toLocaleString('en-US')} rows, .* 100\\.0% ETA`));
  });
});
