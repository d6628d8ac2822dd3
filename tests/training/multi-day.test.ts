/**
 * Issue 17 item 4: training on several days and symbols at once. Segments (input, symbol, day)
 * keep their windows and labels to themselves, the splits are cut by time over all of them, each
 * symbol's VPIN bucket is sized from its train split alone, and a model trained on two days records
 * both segments by content so that evaluate leaves its training rows out.
 */
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { buildDataset, type Dataset, type DatasetOptions } from '../../src/training/dataset.ts';
import { combineSegments, segmentPartitions, timeCuts } from '../../src/training/segments.ts';
import { cvFolds } from '../../src/training/cv.ts';
import { labelReaches } from '../../src/training/cv-run.ts';
import { loadTrainingSet } from '../../src/training/train-data.ts';
import { loadFeatures, column, type FeatureData } from '../../src/training/features-file.ts';
import { autoBucketVolume } from '../../src/features/vpin.ts';
import { evaluate } from '../../src/training/evaluate/evaluate.ts';
import { probeEngines } from '../../src/training/gbdt/train.ts';
import { scratchDir } from '../helpers.ts';
import { flowcast } from '../cli/run-cli.ts';
import { binanceDayLines, binanceDays } from '../dataset/fixtures.ts';
import { datasetParams } from '../dataset/params.ts';
import { buildDataset as buildDatasetDir } from '../../src/dataset/build.ts';
import { readRecord } from '../../src/dataset/record.ts';

const treeEngine = (await probeEngines()).some((p) => p.available);
const S = 1e9;
const DAY = 86_400n * 1_000_000_000n;
const BASE = 1_700_000_000n * 1_000_000_000n;

/** One symbol's rows of one day: mids and a feature column x, at `times` seconds after midnight of day `day`. */
function day(symbol: string, dayIndex: number, mids: number[], times: number[]): FeatureData {
  const n = mids.length;
  const t0 = times[0]!;
  return {
    source: `${symbol}-day${dayIndex}`,
    n,
    columns: ['mid', 'x'],
    symbols: [symbol],
    symbolId: new Uint16Array(n),
    ts: Float64Array.from(times, (t) => (t - t0) * S),
    startNs: BASE + BigInt(dayIndex) * DAY + BigInt(t0 * S),
    values: new Map([['mid', Float64Array.from(mids)], ['x', Float64Array.from(mids, (_, i) => dayIndex * 100 + i)]]),
  };
}

const opts: DatasetOptions = { columns: ['x'], window: 3, horizon: 2, alpha: 0, split: { train: 1, val: 0 }, normalization: null };

/** `A1:3`: row 3 of symbol A's segment from input a1, for a dataset row. */
const namer = (ds: Dataset) => (r: number): string => {
  const g = ds.segments!.find((x) => r >= x.from && r < x.to)!;
  return `${g.segment.symbol}${g.segment.spec.slice(1)}:${r - g.from}`;
};

describe('segments: windows and labels stay inside their (input, symbol, day)', () => {
  const d1 = day('X', 0, [100, 100, 100, 101, 101, 101], [0, 1, 2, 3, 4, 5]);
  const d2 = day('X', 1, [50, 50, 50, 50, 49, 49], [0, 1, 2, 3, 4, 5]);
  const data = combineSegments([{ spec: 'day1', data: d1 }, { spec: 'day2', data: d2 }], ['X']);

  it('labels a day\'s last rows undefined instead of reading the next day\'s mids', () => {
    expect(data.segments!.map((s) => [s.spec, s.date, s.from, s.to])).toEqual([['day1', '2023-11-14', 0, 6], ['day2', '2023-11-15', 6, 12]]);
    const ds = buildDataset(data, opts);
    // Worked by hand, k = 2, alpha 0: day 1 row 0: mean(100, 100) flat; row 1: mean(100, 101) up; row 2: mean(101, 101) > 100 up; row 3: mean(101, 101) = 101 flat;
    // rows 4, 5: their 2 rows ahead are in day 2, so no label (joined, row 4 would read 101, 50: down).
    // Day 2 row 2: mean(50, 49) < 50 down; row 3: mean(49, 49) < 50 down; rows 4, 5: none.
    // Day 2 rows 0, 1: mean(50, 50) flat.
    expect(Array.from(ds.y)).toEqual([1, 2, 2, 1, -1, -1, 1, 1, 0, 0, -1, -1]);
    // The same rows as one series (no segments) label row 4 from day 2's mids.
    const joined = buildDataset({ ...data, segments: undefined }, opts);
    expect(joined.y[4]).toBe(0);
  });

  it('starts a window only where its T rows are in the sample\'s own segment', () => {
    const ds = buildDataset(data, opts);
    // T = 3: day 1 rows 2, 3 (4, 5 have no label); day 2 rows 8, 9 (6, 7 would start in day 1).
    expect(Array.from(ds.splits.train.rows)).toEqual([2, 3, 8, 9]);
    expect(Array.from(ds.sampleRows())).toEqual([2, 3, 8, 9]);
    expect(Array.from(ds.windowRaw(8))).toEqual([100, 101, 102]);
    // With lags the window grows, and so does the first row a segment can give.
    const lagged = buildDataset(data, { ...opts, window: 1, lags: [3] });
    expect(Array.from(lagged.splits.train.rows)).toEqual([3, 9]);
  });

  it('labels by a time horizon inside the segment too', () => {
    const ds = buildDataset(data, { ...opts, window: 1, horizonMs: 2000 });
    // The mid holds until the next row; t + 2 s must stay within the day: rows 0..3 of each day.
    // Day 1: (0, 2] 100 flat, (1, 3] 100 flat, (2, 4] 100.5 up, (3, 5] 101 flat; day 2: 50, 50, 50 flat, (3, 5] 49.5 down.
    expect(Array.from(ds.y)).toEqual([1, 1, 2, 1, -1, -1, 1, 1, 1, 0, -1, -1]);
  });
});

describe('the split is by time over every segment', () => {
  // Two symbols, two days, 8 rows each; A at whole seconds, B half a second later.
  const t = (off: number) => Array.from({ length: 8 }, (_, i) => i + off);
  const mids = [10, 11, 12, 13, 14, 15, 16, 17];
  const parts = [
    { spec: 'a1', data: day('A', 0, mids, t(0)) }, { spec: 'a2', data: day('A', 1, mids, t(0)) },
    { spec: 'b1', data: day('B', 0, mids, t(0.5)) }, { spec: 'b2', data: day('B', 1, mids, t(0.5)) },
  ];
  const data = combineSegments(parts, ['A', 'B']);
  const ds = buildDataset(data, { ...opts, window: 1, split: { train: 0.5, val: 0.25 }, symbol: 'all' });
  const name = namer(ds);

  it('cuts train | val | test at one time for every symbol and purges each label that reads past it', () => {
    expect(data.segments!.map((s) => s.spec)).toEqual(['a1', 'a2', 'b1', 'b2']);
    // 32 rows: train = the first 16 times (all of day 1), val from the 17th (day 2, 0 s), test from the 25th (day 2, 4 s).
    const day2 = Number(DAY);
    expect(ds.cuts).toEqual({ val: day2, test: day2 + 4 * S });
    expect(timeCuts(ds.ts, { train: 0.5, val: 0.25 })).toEqual(ds.cuts);
    // Day 1: rows 0..5 of each symbol (6, 7 have no label inside the day); nothing purged, no label reads day 2.
    expect(Array.from(ds.splits.train.rows, name)).toEqual(['A1:0', 'A1:1', 'A1:2', 'A1:3', 'A1:4', 'A1:5', 'B1:0', 'B1:1', 'B1:2', 'B1:3', 'B1:4', 'B1:5']);
    // Day 2 before 4 s: A rows 0..3, B rows 0..3 (0.5..3.5 s); rows 2, 3 read rows at or past 4 s: purged.
    expect(Array.from(ds.splits.val.rows, name)).toEqual(['A2:0', 'A2:1', 'B2:0', 'B2:1']);
    expect(Array.from(ds.splits.test.rows, name)).toEqual(['A2:4', 'A2:5', 'B2:4', 'B2:5']);
    // No test row of a symbol precedes a train row of it (or of the other symbol).
    const maxTrain = Math.max(...Array.from(ds.splits.train.rows, (r) => ds.ts[r]!));
    expect(Math.min(...Array.from(ds.splits.test.rows, (r) => ds.ts[r]!))).toBeGreaterThan(maxTrain);
  });

  it('cross-validation folds are periods of time across the segments, purged and embargoed at them', () => {
    const rows = ds.sampleRows();
    // Time order across the segments: A1:0 (0 s), B1:0 (0.5 s), A1:1 ...
    expect(Array.from(rows.slice(0, 4), name)).toEqual(['A1:0', 'B1:0', 'A1:1', 'B1:1']);
    const reaches = labelReaches(ds);
    for (const scheme of ['walk-forward', 'purged-kfold'] as const) {
      const folds = cvFolds(rows, { scheme, k: 2, embargo: 2 }, reaches, 0);
      for (const f of folds) {
        const t0 = Math.min(...Array.from(f.test, (r) => ds.ts[r]!)), t1 = Math.max(...Array.from(f.test, (r) => ds.ts[r]!));
        for (const r of f.train) {
          const tr = ds.ts[r]!;
          expect(tr < t0 || tr > t1, `${scheme} fold ${f.fold}: ${name(r)} inside the test period`).toBe(true);
          // Before the test period: its label (2 rows ahead in its segment) reads nothing at or past it.
          if (tr < t0) expect(ds.ts[r + 2]! < t0, `${scheme} fold ${f.fold}: ${name(r)}'s label reads the test period`).toBe(true);
          if (scheme === 'walk-forward') expect(tr < t0).toBe(true);
        }
      }
    }
    // Day 1 alone, walk-forward, 3 groups of 4 samples in time. Fold 1 tests A1:2 B1:2 A1:3 B1:3 (from
    // 2 s): every earlier sample's label reads 2 s or later (A1:0 reads A1:2 at 2 s, B1:1 B1:3 at
    // 3.5 s), so it trains on nothing; fold 2 tests from 4 s and keeps the four whose labels end before.
    const small = buildDataset({ ...data, segments: data.segments!.filter((s) => s.spec.endsWith('1')) }, { ...opts, window: 1, split: { train: 1, val: 0 }, symbol: 'all' });
    const wf = cvFolds(small.sampleRows(), { scheme: 'walk-forward', k: 2, embargo: 0 }, labelReaches(small), 0);
    const sn = namer(small);
    expect(Array.from(wf[0]!.test, sn)).toEqual(['A1:2', 'B1:2', 'A1:3', 'B1:3']);
    expect(Array.from(wf[0]!.train, sn)).toEqual([]);
    expect(Array.from(wf[1]!.test, sn)).toEqual(['A1:4', 'B1:4', 'A1:5', 'B1:5']);
    expect(Array.from(wf[1]!.train, sn)).toEqual(['A1:0', 'B1:0', 'A1:1', 'B1:1']);
  });
});

describe('several inputs of real data', { timeout: 300_000 }, () => {
  const dir = scratchDir('multi-day');
  const [btc1, btc2] = binanceDays(dir, 2).map((f) => `binance:${f}`) as [string, string];
  /** The BTCUSDT sample as ETHUSDT with three times the traded quantity: a second symbol with another V. */
  const eth = (k: number): string => {
    const f = join(dir, `binance-spot_ethusdt_2024080${8 + k}.jsonl.gz`);
    const lines = binanceDayLines(k).map((l) => l.replace(/btcusdt/g, 'ethusdt').replace(/BTCUSDT/g, 'ETHUSDT')
      .replace(/("e":"trade".*"q":")([\d.]+)"/, (_, a: string, q: string) => `${a}${(Number(q) * 3).toFixed(8)}"`));
    writeFileSync(f, gzipSync(lines.join('\n') + '\n', { level: 1 }));
    return `binance:${f}`;
  };
  const [eth1, eth2] = [eth(0), eth(1)];
  const split = { train: 0.7, val: 0.15 };

  it('sizes each symbol\'s V from its own train-split volume per training day, and computes every segment with it', async () => {
    const inputs = [btc1, eth1, btc2, eth2];
    const t = await loadTrainingSet(inputs, { horizon: 50, alpha: 0.00002, split, symbols: 'all' });
    // Worked independently: each input with V = 1 (V changes no row), one time axis, the cut at 70% of the times.
    const raw = await Promise.all(inputs.map((x) => loadFeatures(x, { horizons: [50], vpinBucket: 1 })));
    const t0 = raw.reduce((m, d) => (d.startNs < m ? d.startNs : m), raw[0]!.startNs);
    const times = raw.flatMap((d) => Array.from(d.ts, (x) => x + Number(d.startNs - t0))).sort((a, b) => a - b);
    const cut = times[Math.floor(times.length * 0.7)]!;
    const want: Record<string, number> = {}, whole: Record<string, number> = {};
    for (const sym of ['BTCUSDT', 'ETHUSDT']) {
      let vol = 0, all = 0;
      const days = new Set<number>();
      raw.forEach((d, k) => {
        if (d.symbols[0] !== sym) return;
        const tv = column(d, 'trade_vol');
        for (let i = 0; i < d.n; i++) {
          if (tv[i]! !== tv[i]!) continue;
          all += tv[i]!;
          if (d.ts[i]! + Number(d.startNs - t0) < cut) (vol += tv[i]!), days.add(k);
        }
      });
      expect(days.size, sym).toBe(2);
      want[sym] = autoBucketVolume(vol / 2);
      whole[sym] = autoBucketVolume(all / 2);
    }
    expect(t.params.vpinBucket).toEqual(want);
    // The test rows do not set it: the whole of the days gives another V for each symbol.
    expect(want.BTCUSDT).not.toBe(whole.BTCUSDT);
    expect(want.ETHUSDT).not.toBe(whole.ETHUSDT);
    expect(want.ETHUSDT).not.toBe(want.BTCUSDT);
    expect(t.symbol).toBe('BTCUSDT,ETHUSDT');
    expect(t.data.segments!.map((s) => `${s.symbol} ${s.date}`)).toEqual(['BTCUSDT 2024-08-08', 'BTCUSDT 2024-08-09', 'ETHUSDT 2024-08-08', 'ETHUSDT 2024-08-09']);
    // Every segment's vpin column is that input computed with its symbol's V.
    for (const s of t.data.segments!) {
      const d = await loadFeatures(s.spec, { horizons: [50], vpinBucket: want[s.symbol]! });
      expect(Array.from(column(t.data, 'vpin').subarray(s.from, s.to)), s.spec).toEqual(Array.from(column(d, 'vpin')));
    }
    expect(t.params.vpinSizing).toMatch(/^per symbol over its segments: BTCUSDT [\d.]+ \(auto: train-split traded volume [\d.]+ over 2 segments \/ 2 \/ 500/);
  });

  it('refuses dataset partitions of one symbol built with different VPIN buckets, naming them and their V', async () => {
    // Day 2 with three times the traded quantity: its partition's warm-up sizes another V.
    const src = join(dir, 'ds-in');
    mkdirSync(src, { recursive: true });
    copyFileSync(btc1.slice('binance:'.length), join(src, 'binance-spot_btcusdt_20240808.jsonl.gz'));
    const heavy = binanceDayLines(1).map((l) => l.replace(/("e":"trade".*"q":")([\d.]+)"/, (_, a: string, q: string) => `${a}${(Number(q) * 3).toFixed(8)}"`));
    writeFileSync(join(src, 'binance-spot_btcusdt_20240809.jsonl.gz'), gzipSync(heavy.join('\n') + '\n', { level: 1 }));
    const ds = join(dir, 'ds');
    await buildDatasetDir({ sources: [src], out: ds, params: datasetParams({ vpinWarmup: '2m' }), jobs: 1, progress: false });
    const parts = readRecord(ds)!.partitions;
    const v1 = parts['venue=binance-spot/symbol=BTCUSDT/date=2024-08-08']!.vpinBucket, v2 = parts['venue=binance-spot/symbol=BTCUSDT/date=2024-08-09']!.vpinBucket;
    expect(v1).not.toBe(v2);
    const esc = (v: number | null) => String(v).replace('.', '\\.');
    await expect(loadTrainingSet([ds], { horizon: 50, alpha: 0.00002, split })).rejects.toThrow(new RegExp(
      `BTCUSDT: the segments were computed with different VPIN buckets \\(.*date=2024-08-08 \\(2024-08-08\\): ${esc(v1)}; .*date=2024-08-09 \\(2024-08-09\\): ${esc(v2)}\\)`));
    // Read for scoring (evaluate), the two days are two segments: each day's last 50 rows have no label.
    const read = segmentPartitions(await loadFeatures(ds, { horizons: [50] }));
    const rows = (d: string) => parts[`venue=binance-spot/symbol=BTCUSDT/date=${d}`]!.rows;
    expect(read.segments!.map((g) => [g.partition, g.to - g.from])).toEqual([['venue=binance-spot/symbol=BTCUSDT/date=2024-08-08', rows('2024-08-08')], ['venue=binance-spot/symbol=BTCUSDT/date=2024-08-09', rows('2024-08-09')]]);
    const labelled = buildDataset(read, { ...opts, columns: ['ofi_1'], window: 1, horizon: 50 }).sampleRows().length;
    expect(labelled).toBe(rows('2024-08-08') + rows('2024-08-09') - 100);
    // One partition: a single input as before, with its own V.
    const one = await loadTrainingSet([ds], { horizon: 50, alpha: 0.00002, split, where: "date = '2024-08-09'" });
    expect(one.data.segments).toBeUndefined();
    expect(one.params.vpinBucket).toEqual({ BTCUSDT: v2 });
  });

  it('refuses a day given twice, and a symbol list that names a symbol not in the inputs', async () => {
    const copy = join(dir, 'copy-of-day1.jsonl.gz');
    copyFileSync(btc1.slice('binance:'.length), copy);
    await expect(loadTrainingSet([btc1, `binance:${copy}`], { horizon: 50, alpha: 0, split })).rejects.toThrow(/segments overlap in time: .*BTCUSDT 2024-08-08 and .*copy-of-day1.*BTCUSDT 2024-08-08/);
    await expect(loadTrainingSet([btc1, btc2], { horizon: 50, alpha: 0, split, symbols: ['BTCUSDT', 'SOLUSDT'] })).rejects.toThrow(/no rows for SOLUSDT/);
    await expect(loadTrainingSet([btc1, eth1], { horizon: 50, alpha: 0, split })).rejects.toThrow(/hold 2 symbols \(BTCUSDT, ETHUSDT\); choose with --symbol/);
  });

  // Skipped (and so reported) where no tree library is installed; .ci/run installs python3-xgboost.
  it.skipIf(!treeEngine)('flowcast train gbdt on two days records both segments; evaluate leaves the training rows out by content', async () => {
    const models = join(dir, 'models');
    const r = await flowcast(['train', 'gbdt', '--data', btc1, '--data', btc2, '--models', models, '--name', 'two-days', '--rounds', '10', '--threads', '1', '--version', 't1', '--cv', 'walk-forward:2']);
    expect(r.code, r.stderr).toBe(0);
    const m = JSON.parse(readFileSync(join(models, 'two-days', 'manifest.json'), 'utf8'));
    // Walk-forward over the two days: 3 periods of the samples in time; fold 1 tests the one that spans the end of day 1 and the start of day 2.
    const folds = m.metrics.cv.perFold as { testTime: [string, string] }[];
    expect(folds.map((f) => f.testTime.map((x) => x.slice(0, 10)))).toEqual([['2024-08-08', '2024-08-09'], ['2024-08-09', '2024-08-09']]);
    expect(r.stderr).toMatch(/cv walk-forward fold 2\/2: test 2024-08-09T\S+ \.\. 2024-08-09T/);
    expect(m.training.data).toEqual([btc1, btc2]);
    const segs = m.training.inputs.segments as { input: string; date: string; rows: number; symbol: string; data: { files: { sha256: string }[] }; samples: { train: number; val: number; test: number }; seen: { rows: [number, number] } }[];
    expect(segs.map((s) => [s.input, s.symbol, s.date, s.rows])).toEqual([[btc1, 'BTCUSDT', '2024-08-08', 3449], [btc2, 'BTCUSDT', '2024-08-09', 3449]]);
    const sha = (spec: string) => createHash('sha256').update(readFileSync(spec.slice('binance:'.length))).digest('hex');
    expect(segs.map((s) => s.data.files[0]!.sha256)).toEqual([sha(btc1), sha(btc2)]);
    // Day 1 is all train (its last 50 rows have no label inside the day); day 2 holds the cuts.
    expect(segs[0]!.samples).toEqual({ train: 3449 - 50, val: 0, test: 0 });
    expect(segs[1]!.samples.test).toBe(m.metrics.test.samples);
    expect(Object.keys(m.input.features.vpinBucket)).toEqual(['BTCUSDT']);

    // Day 2 under another name: the same content, so only its test rows are scored; day 1 is training data throughout.
    const copy2 = join(dir, 'day2-renamed.jsonl.gz');
    copyFileSync(btc2.slice('binance:'.length), copy2);
    const ev = await evaluate({ models: [join(models, 'two-days')], data: [btc1, `binance:${copy2}`], block: 200, replicates: 10, level: 0.95, seed: 7, sameInputBaselines: { logreg: false, gbdt: false }, calibration: false, importance: { on: 'none', repeats: 1, shapRows: 0 } });
    expect(ev.sets.map((s) => s.data)).toEqual([`binance:${copy2}`]);
    const s2 = ev.sets[0]!;
    expect(s2.overlap[0]!.match).toBe('content');
    expect(s2.samples).toBe(segs[1]!.samples.test);
    expect(s2.rows).toBe(`test split (rows ${segs[1]!.seen.rows[1]}..3448, the model's training data)`);
    expect(ev.notes.join('\n')).toMatch(/binance:.*20240808\.jsonl\.gz BTCUSDT: not scored: every row with a full window and a label overlaps the training data/);
    // The baselines are fitted on the model's own segments, split by time as it was.
    expect(ev.baselineTraining.samples).toBe(segs[0]!.samples.train + segs[1]!.samples.train);
  });
});
