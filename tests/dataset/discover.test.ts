import { describe, expect, it } from 'vitest';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { discoverInputs, globRegex } from '../../src/dataset/discover.ts';
import { scratchDir, AMZN_ZIP, SPOT_FILE } from '../helpers.ts';
import { flowcast } from '../cli/run-cli.ts';
import { readRecord } from '../../src/dataset/record.ts';

const dir = scratchDir('dataset-discover');
const touch = (rel: string): string => {
  const f = join(dir, rel);
  mkdirSync(join(f, '..'), { recursive: true });
  writeFileSync(f, '');
  return f;
};

describe('dataset inputs from specs, directories, globs and manifests', () => {
  it('pairs LOBSTER message and orderbook files by name, Binance files by symbol and date, Tardis book and trades by exchange, date and symbol', () => {
    const m1 = touch('a/GOOG_2012-06-21_34200000_57600000_message_10.csv.gz');
    const o1 = touch('a/GOOG_2012-06-21_34200000_57600000_orderbook_10.csv.gz');
    const m2 = touch('a/GOOG_2012-06-22_34200000_57600000_message_10.csv.gz');
    const o2 = touch('a/GOOG_2012-06-22_34200000_57600000_orderbook_10.csv.gz');
    const b1 = touch('a/sub/binance-usdm_btcusdt_20240808.jsonl.gz');
    const b2 = touch('a/sub/binance-spot_btcusdt_20240808.jsonl.gz');
    const tb = touch('a/t/deribit_incremental_book_L2_2020-04-01_BTC-PERPETUAL.csv.gz');
    const tt = touch('a/t/deribit_trades_2020-04-01_BTC-PERPETUAL.csv.gz');
    touch('a/notes.txt');
    const d = discoverInputs([join(dir, 'a')]);
    expect(d.inputs.map((i) => [i.venue, i.symbol, i.date, i.spec, i.sessionMinutes])).toEqual([
      ['binance-spot', 'BTCUSDT', '2024-08-08', `binance:${b2}`, 1440],
      ['binance-usdm', 'BTCUSDT', '2024-08-08', `binance:${b1}`, 1440],
      ['deribit', 'BTC-PERPETUAL', '2020-04-01', `tardis:${tb},${tt}`, 1440],
      ['lobster', 'GOOG', '2012-06-21', `lobster:${m1},${o1}`, 390],
      ['lobster', 'GOOG', '2012-06-22', `lobster:${m2},${o2}`, 390],
    ]);
    expect(d.ignored.map((f) => f.endsWith('notes.txt'))).toEqual([true]);
    // A glob, a spec and the same files again through another --source: each partition once.
    const g = discoverInputs([join(dir, 'a', '**', '*2012-06-2[1]*'), `lobster:${m2},${o2}`, join(dir, 'a', 'GOOG_2012-06-22_34200000_57600000_message_10.csv.gz'), o2]);
    expect(g.inputs.map((i) => i.date)).toEqual(['2012-06-21', '2012-06-22']);
  });

  it('says what is wrong: an unpaired LOBSTER file, two inputs for one partition, a name it cannot read, a glob matching nothing', () => {
    touch('b/AAPL_2012-06-21_34200000_57600000_message_10.csv');
    expect(() => discoverInputs([join(dir, 'b')])).toThrow(/LOBSTER AAPL_2012-06-21_34200000_57600000_10: needs one message and one orderbook file, found AAPL_2012-06-21_34200000_57600000_message_10.csv/);
    const x = touch('c/binance-spot_btcusdt_20240808.jsonl');
    const y = touch('c/binance-spot_btcusdt_20240808.jsonl.gz');
    expect(() => discoverInputs([x, y])).toThrow(/is a second input for venue=binance-spot\/symbol=BTCUSDT\/date=2024-08-08 \(the first: binance:.*\.jsonl\)/);
    expect(() => discoverInputs([`binance:${touch('c/capture.jsonl')}`])).toThrow(/cannot tell the venue, symbol and date of .*capture\.jsonl from its name; name the input in a manifest/);
    expect(() => discoverInputs([join(dir, 'nothing', '*.gz')])).toThrow(/the glob matches no file/);
  });

  it('globs: ** any depth, * and ? within a name, [..] a class', () => {
    expect(globRegex('d/**/*.gz').test('d/x/y/z.gz')).toBe(true);
    expect(globRegex('d/**/*.gz').test('d/z.gz')).toBe(true);
    expect(globRegex('d/*.gz').test('d/x/z.gz')).toBe(false);
    expect(globRegex('d/a?[0-9].csv').test('d/ab7.csv')).toBe(true);
    expect(globRegex('d/a?[!0-9].csv').test('d/ab7.csv')).toBe(false);
  });

  it('a manifest names venue, symbol and date for a spec whose names do not say them (the CLI end to end, and dataset info)', async () => {
    const m = join(dir, 'm');
    mkdirSync(m, { recursive: true });
    copyFileSync(SPOT_FILE, join(m, 'capture.jsonl.gz'));
    copyFileSync(AMZN_ZIP, join(m, 'LOBSTER_SampleFile_AMZN_2012-06-21_5.zip'));
    writeFileSync(join(m, 'inputs.json'), JSON.stringify({ inputs: [
      { source: 'binance:capture.jsonl.gz', venue: 'binance-spot', symbol: 'BTCUSDT', date: '2024-08-08' },
      { source: 'LOBSTER_SampleFile_AMZN_2012-06-21_5.zip' },
    ] }));
    const out = join(dir, 'm-ds');
    const r = await flowcast(['dataset', 'build', '--source', join(m, 'inputs.json'), '--out', out, '--vpin-warmup', '5m', '--jobs', '2']);
    expect(r.stderr).toMatch(/^dataset: 2 partitions: 2 built, 0 unchanged \(skipped\), 0 failed; [\d,]+ rows written in .* 2 workers/m);
    expect(r.code).toBe(0);
    const rec = readRecord(out)!;
    expect(Object.keys(rec.partitions)).toEqual(['venue=binance-spot/symbol=BTCUSDT/date=2024-08-08', 'venue=lobster/symbol=AMZN/date=2012-06-21']);
    expect(rec.partitions['venue=lobster/symbol=AMZN/date=2012-06-21']!.vpinBucketFrom).toBe('first 5m of 2012-06-21');
    const info = await flowcast(['dataset', 'info', out]);
    expect(info.code).toBe(0);
    expect(info.stdout).toMatch(/2 partitions, [\d,]+ rows/);
    expect(info.stdout).toMatch(/lobster AMZN: 1 days 2012-06-21\.\.2012-06-21/);
  });

  it('builds Tardis downloads paired by name: quotes with the trades of the same exchange, date and symbol', async () => {
    const t = join(dir, 'tardis');
    mkdirSync(t, { recursive: true });
    copyFileSync('data/tardis/tardis_quotes.csv.gz', join(t, 'binance-futures_quotes_2020-02-22_BTCUSDT.csv.gz'));
    copyFileSync('data/tardis/tardis_trades.csv.gz', join(t, 'binance-futures_trades_2020-02-22_BTCUSDT.csv.gz'));
    const out = join(dir, 'tardis-ds');
    const r = await flowcast(['dataset', 'build', t, '--out', out, '--vpin-bucket', '0.5', '--jobs', '1', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ built: 1, failed: [] });
    const p = readRecord(out)!.partitions['venue=binance-futures/symbol=BTCUSDT/date=2020-02-22']!;
    expect(p.spec).toMatch(/^tardis:.*binance-futures_quotes_2020-02-22_BTCUSDT\.csv\.gz,.*binance-futures_trades_2020-02-22_BTCUSDT\.csv\.gz$/);
    expect(p.rows).toBeGreaterThan(1000);
  });
});
