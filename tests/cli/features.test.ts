import { describe, expect, it } from 'vitest';
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { DuckDBInstance } from '@duckdb/node-api';
import { parquetReadObjects } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import { flowcast } from './run-cli.ts';
import { SPOT, SPOT_FILE, scratchDir } from '../helpers.ts';
import { FEATURE_COLUMNS } from '../../src/features/columns.ts';

const dir = scratchDir('cli');

describe('flowcast features', () => {
  it('writes CSV: header in spec order, empty field for NaN, round-trip numbers, a summary line', async () => {
    const out = join(dir, 'spot.csv');
    const r = await flowcast(['features', '--source', SPOT, '--out', out, '--vpin-bucket', '2', '--labels']);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/^features: 3,449 rows \(BTCUSDT\) in .* -> .*spot\.csv .*vpin bucket BTCUSDT=2; gaps 0, rows withheld 0, .*late trades 298/m);
    const lines = readFileSync(out, 'utf8').trimEnd().split('\n');
    expect(lines[0]).toBe(['ts_ns', 'symbol', 'row', ...FEATURE_COLUMNS, 'label_10', 'label_50', 'label_100'].join(','));
    expect(lines.length).toBe(3_450);
    const first = lines[1]!.split(',');
    expect(first[0]).toBe('1723161255408000000'); // E of the first applied diff, ms x 1e6
    expect(first[1]).toBe('BTCUSDT');
    expect(first[3 + FEATURE_COLUMNS.indexOf('ret_1')]).toBe(''); // NaN
    for (const v of lines[500]!.split(',').slice(3)) if (v !== '') expect(String(Number(v))).toBe(v);
  });

  it('writes Parquet that DuckDB reads: int64 ts_ns, NaN as null, same values as the CSV', async () => {
    const pq = join(dir, 'spot.parquet');
    const csv = join(dir, 'spot2.csv');
    expect((await flowcast(['features', '--source', SPOT, '--out', pq, '--vpin-bucket', '2', '--quiet'])).code).toBe(0);
    expect((await flowcast(['features', '--source', SPOT, '--out', csv, '--vpin-bucket', '2', '--quiet'])).code).toBe(0);
    const db = await DuckDBInstance.create(':memory:');
    const con = await db.connect();
    const res = await con.runAndReadAll(
      `select count(*)::INTEGER as n, count(vpin)::INTEGER as vp, sum(mid) as s, min(ts_ns)::VARCHAR as t0, typeof(min(ts_ns)) as tt from read_parquet('${pq}')`,
    );
    const [n, vp, s, t0, tt] = res.getRows()[0]! as [number, number, number, string, string];
    expect(n).toBe(3_449);
    expect(tt).toBe('BIGINT');
    expect(t0).toBe('1723161255408000000');
    const lines = readFileSync(csv, 'utf8').trimEnd().split('\n').slice(1).map((l) => l.split(','));
    const vpinCol = 3 + FEATURE_COLUMNS.indexOf('vpin');
    expect(vp).toBe(lines.filter((l) => l[vpinCol] !== '').length);
    expect(vp).toBeGreaterThan(0);
    expect(vp).toBeLessThan(n);
    const midSum = lines.reduce((a, l) => a + Number(l[3]), 0);
    expect(s).toBeCloseTo(midSum, 4);
    const meta = await con.runAndReadAll(`select value::VARCHAR from parquet_kv_metadata('${pq}') where key::VARCHAR = 'flowcast.spec_version'`);
    expect(meta.getRows()[0]![0]).toBe('1');
    // A second, independent reader (pure JS): same rows, int64 time, nulls where the CSV is empty.
    const buf = readFileSync(pq);
    const objs = (await parquetReadObjects({ file: buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength), compressors, columns: ['ts_ns', 'symbol', 'vpin', 'ret_1'] })) as { ts_ns: bigint; symbol: string; vpin: number | null; ret_1: number | null }[];
    expect(objs.length).toBe(3_449);
    expect(objs[0]).toMatchObject({ ts_ns: 1723161255408000000n, symbol: 'BTCUSDT', ret_1: null });
    expect(objs.filter((o) => o.vpin !== null).length).toBe(vp);
  });

  it('usage errors exit 2 with the usage; input errors exit 1 naming the file', async () => {
    const noOut = await flowcast(['features', '--source', SPOT]);
    expect(noOut.code).toBe(2);
    expect(noOut.stderr).toMatch(/--out is required/);
    expect(noOut.stderr).toMatch(/usage|flowcast features --source SPEC/);
    const badFlag = await flowcast(['features', '--source', SPOT, '--out', join(dir, 'x.csv'), '--levls', '5']);
    expect(badFlag.code).toBe(2);
    expect(badFlag.stderr).toMatch(/Unknown option '--levls'/);
    const missing = await flowcast(['features', '--source', 'binance:no/such.jsonl.gz', '--out', join(dir, 'x.csv')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/no\/such\.jsonl\.gz: file not found/);
    const ext = await flowcast(['features', '--source', SPOT, '--out', join(dir, 'x.json')]);
    expect(ext.code).toBe(2);
  });

  it('a failed run leaves no output file behind, and an earlier one as it was (CSV and Parquet)', async () => {
    // A malformed line after 2,000 good ones: the run fails once its writer has written rows.
    const lines = gunzipSync(readFileSync(SPOT_FILE)).toString('utf8').split('\n').slice(0, 3000);
    lines.splice(1999, 0, 'this is not a capture line');
    const bad = join(dir, 'midbad.jsonl.gz');
    writeFileSync(bad, gzipSync(lines.join('\n') + '\n'));
    const outDir = join(dir, 'failed');
    mkdirSync(outDir);
    for (const ext of ['csv', 'parquet']) {
      const out = join(outDir, `failed.${ext}`);
      const args = ['features', '--source', `binance:${bad}`, '--out', out, '--vpin-bucket', '2'];
      const r = await flowcast(args);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/midbad\.jsonl\.gz:2000: /);
      expect(readdirSync(outDir)).toEqual([]);
      writeFileSync(out, 'an earlier run\'s output\n');
      expect((await flowcast(args)).code).toBe(1);
      expect(readdirSync(outDir)).toEqual([`failed.${ext}`]);
      expect(readFileSync(out, 'utf8')).toBe('an earlier run\'s output\n');
      rmSync(out);
    }
  });

  it('--out into a missing directory creates it; one that cannot be created is a usage error naming it, not a crash', async () => {
    const out = join(dir, 'no', 'such', 'dir', 'spot.csv');
    const r = await flowcast(['features', '--source', SPOT, '--out', out, '--vpin-bucket', '2', '--quiet']);
    expect(r.code).toBe(0);
    expect(readFileSync(out, 'utf8').trimEnd().split('\n')).toHaveLength(3_450);
    const blocker = join(dir, 'a-file');
    writeFileSync(blocker, '');
    const under = join(blocker, 'sub', 'x.parquet');
    const refused = await flowcast(['features', '--source', SPOT, '--out', under]);
    expect(refused.code).toBe(2);
    expect(refused.stderr.split('\n')[0]).toBe(`flowcast features: --out ${under}: cannot create the directory ${join(blocker, 'sub')}: ${blocker} is not a directory`);
    const isDir = join(dir, 'isdir.csv');
    mkdirSync(isDir);
    const onDir = await flowcast(['features', '--source', SPOT, '--out', isDir]);
    expect(onDir.code).toBe(2);
    expect(onDir.stderr.split('\n')[0]).toBe(`flowcast features: --out ${isDir}: is a directory`);
    for (const x of [refused, onDir]) expect(x.stderr).not.toMatch(/internal error|\n\s+at /);
  });

  it('--help lists every command', async () => {
    const r = await flowcast(['--help']);
    expect(r.code).toBe(0);
    for (const c of ['features', 'verify-book', 'version']) expect(r.stdout).toMatch(new RegExp(`^  ${c}\\b`, 'm'));
  });
});
