/**
 * Several symbols in one capture: each keeps its own book and feature state, rows keep source
 * order, and --symbol selects. Built by interleaving the spot capture with the USD-M capture
 * renamed to ETHUSDT (snapshot lines get a `symbol` field, since a bare REST snapshot in a
 * multi-symbol capture is ambiguous).
 */
import { describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { featuresInMemory, SPOT, SPOT_FILE, USDM_FILE, scratchDir } from '../helpers.ts';

const lines = (f: string) => gunzipSync(readFileSync(f)).toString('utf8').split('\n').filter(Boolean);
const spot = lines(SPOT_FILE).map((l) => l.replace('{"lastUpdateId"', '{"symbol":"BTCUSDT","lastUpdateId"'));
const eth = lines(USDM_FILE).map((l) => l.replaceAll('"s":"BTCUSDT"', '"s":"ETHUSDT"').replaceAll('btcusdt@', 'ethusdt@')
  .replace('{"lastUpdateId"', '{"symbol":"ETHUSDT","lastUpdateId"'));
const ts = (l: string) => BigInt(l.slice(0, l.indexOf(' ')));
const merged = [...spot, ...eth].sort((a, b) => (ts(a) < ts(b) ? -1 : ts(a) > ts(b) ? 1 : 0));
const dir = scratchDir('multi');
const file = join(dir, 'two-symbols.jsonl.gz');
writeFileSync(file, gzipSync(merged.join('\n') + '\n'));
const both = `binance:${file}`;

describe('two symbols in one capture', () => {
  it('each symbol gets exactly the rows and values it gets alone', async () => {
    const all = await featuresInMemory(both, { vpinBucket: 2 });
    const alone = await featuresInMemory(SPOT, { vpinBucket: 2 });
    expect([...all.table.symbols].sort()).toEqual(['BTCUSDT', 'ETHUSDT']);
    const btc = all.table.symbols.indexOf('BTCUSDT');
    const idx = [...all.table.symbolId.subarray(0, all.table.n)].flatMap((s, i) => (s === btc ? [i] : []));
    expect(idx.length).toBe(alone.table.n);
    expect(all.table.n).toBe(3_449 + 6_547);
    for (const c of ['mid', 'ofi_h50', 'rv_h100', 'vpin', 'kyle_lambda', 'tfi_h50']) {
      const a = all.table.column(c);
      const b = alone.table.column(c);
      idx.forEach((i, k) => expect(Object.is(a[i], b[k]) || Math.abs(a[i]! - b[k]!) <= 1e-12 * Math.abs(b[k]!), `${c} row ${k}`).toBe(true));
    }
    // Output rows are numbered 0..n-1 across symbols, in source order.
    expect([...all.table.row.subarray(0, 5)]).toEqual([0, 1, 2, 3, 4]);
    for (let i = 1; i < all.table.n; i++) expect(all.table.ts[i]! >= all.table.ts[i - 1]! || all.table.symbolId[i] !== all.table.symbolId[i - 1]).toBe(true);
  });

  it('--symbol keeps one symbol', async () => {
    const only = await featuresInMemory(both, { vpinBucket: 5, symbols: ['ETHUSDT'] });
    expect(only.table.symbols).toEqual(['ETHUSDT']);
    expect(only.table.n).toBe(6_547);
  });

  it('auto VPIN buckets are sized per symbol', async () => {
    const r = await featuresInMemory(both);
    expect(Object.keys(r.res.vpinBucket).sort()).toEqual(['BTCUSDT', 'ETHUSDT']);
    expect(r.res.vpinBucket.BTCUSDT).not.toBe(r.res.vpinBucket.ETHUSDT);
  });
});
