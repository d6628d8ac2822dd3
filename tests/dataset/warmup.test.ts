import { describe, expect, it } from 'vitest';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { buildDataset } from '../../src/dataset/build.ts';
import { readRecord } from '../../src/dataset/record.ts';
import { openSource } from '../../src/sources/spec.ts';
import { tradedVolume } from '../../src/pipeline/vpin.ts';
import { autoBucketVolume } from '../../src/features/vpin.ts';
import { scratchDir } from '../helpers.ts';
import { binanceDayLines, binanceDays } from './fixtures.ts';
import { datasetParams } from './params.ts';

const dir = scratchDir('dataset-warmup');
const files = binanceDays(join(dir, 'in'), 3);

/** Day k of the sample cut `minutes` after its first trade: what a run sized from a warm-up must not notice. */
function cutDay(k: number, minutes: number, file: string): string {
  const lines = binanceDayLines(k);
  const firstTrade = lines.find((l) => l.includes('@trade'))!;
  const t0 = (JSON.parse(firstTrade.slice(firstTrade.indexOf(' ') + 1)).data as { T: number }).T;
  const kept = lines.filter((l) => {
    const d = JSON.parse(l.slice(l.indexOf(' ') + 1)) as { data?: { E?: number } };
    return d.data?.E === undefined || d.data.E < t0 + minutes * 60_000;
  });
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, gzipSync(kept.join('\n') + '\n', { level: 1 }));
  return file;
}

describe('dataset build --vpin-bucket auto: sized from a declared warm-up, never from later data', { timeout: 300_000 }, () => {
  it('first N minutes: the bucket is the same when the day after the warm-up is cut away', async () => {
    const p = datasetParams({ vpinWarmup: '2m' });
    const full = await buildDataset({ sources: [files[1]!], out: join(dir, 'full'), params: p, jobs: 1, progress: false });
    const cut = cutDay(1, 3, join(dir, 'cut', 'binance-spot_btcusdt_20240809.jsonl.gz'));
    const short = await buildDataset({ sources: [cut], out: join(dir, 'short'), params: p, jobs: 1, progress: false });
    const a = Object.values(readRecord(join(dir, 'full'))!.partitions)[0]!;
    const b = Object.values(readRecord(join(dir, 'short'))!.partitions)[0]!;
    expect(full.built).toBe(1);
    expect(short.built).toBe(1);
    expect(b.rows).toBeLessThan(a.rows);
    expect(a.vpinBucketFrom).toBe('first 2m of 2024-08-09');
    expect(a.vpinBucket).toBeGreaterThan(0);
    expect(b.vpinBucket).toBe(a.vpinBucket);
    expect(b.warmupEndNs).toBe(a.warmupEndNs);
    // Sized from the whole day, as `features --vpin-bucket auto` does, it would differ: the warm-up is what decided.
    const whole = autoBucketVolume((await tradedVolume(await openSource(`binance:${files[1]}`))).get('BTCUSDT')! * (1440 / 2));
    expect(whole).not.toBe(a.vpinBucket);
  });

  it('prev-day: each day is sized from the day before; the first day is read for that only', async () => {
    const s = await buildDataset({ sources: [join(dir, 'in')], out: join(dir, 'prev'), params: datasetParams({ vpinWarmup: 'prev-day' }), jobs: 2, progress: false });
    expect(s).toMatchObject({ planned: 2, built: 2, warmupDays: ['venue=binance-spot/symbol=BTCUSDT/date=2024-08-08'] });
    const rec = readRecord(join(dir, 'prev'))!;
    expect(Object.keys(rec.partitions)).toEqual(['venue=binance-spot/symbol=BTCUSDT/date=2024-08-09', 'venue=binance-spot/symbol=BTCUSDT/date=2024-08-10']);
    for (const [k, prev] of [[1, 0], [2, 1]] as const) {
      const part = Object.values(rec.partitions)[k - 1]!;
      const vol = (await tradedVolume(await openSource(`binance:${files[prev]}`))).get('BTCUSDT')!;
      expect(part.vpinBucket).toBe(autoBucketVolume(vol));
      expect(part.vpinBucketFrom).toBe(`day 2024-08-${String(8 + prev).padStart(2, '0')}`);
    }
    expect(rec.warmupDays['venue=binance-spot/symbol=BTCUSDT/date=2024-08-08']!.tradedVolume).toBeGreaterThan(0);
  });
});
