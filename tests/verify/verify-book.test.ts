import { describe, expect, it } from 'vitest';
import { flowcast } from '../cli/run-cli.ts';
import { GOOG, SPOT, USDM } from '../helpers.ts';

const lastJson = (s: string) => JSON.parse(s.trimEnd().split('\n').at(-1)!);

describe('flowcast verify-book', () => {
  it('Binance USD-M: 629 bookTicker checks, 0 mismatches', async () => {
    const r = await flowcast(['verify-book', '--source', USDM]);
    expect(r.code).toBe(0);
    expect(lastJson(r.stdout)).toEqual({ source: USDM, rows: 6_547, checks: 629, mismatches: 0 });
  });

  it('Binance spot: 564 checks, 0 mismatches', async () => {
    const r = await flowcast(['verify-book', '--source', SPOT]);
    expect(lastJson(r.stdout)).toEqual({ source: SPOT, rows: 3_449, checks: 564, mismatches: 0 });
  });

  it('LOBSTER GOOG: 147,915 steps, 0 mismatches; the continuous rebuild says when and why level 1 diverges', async () => {
    const r = await flowcast(['verify-book', '--source', GOOG]);
    expect(r.code).toBe(0);
    expect(lastJson(r.stdout)).toEqual({ source: GOOG, rows: 147_916, checks: 147_915, mismatches: 0 });
    expect(r.stdout).toMatch(/level 1 first diverges at row 226, 09:30:12\.205 New York time/);
    expect(r.stdout).toMatch(/best bid 577\.51 x 110 is missing from the rebuilt book .* entered the file's view at row 64, as level 10/);
  });

  it('a source without ground truth is refused with a reason', async () => {
    const r = await flowcast(['verify-book', '--source', 'tardis:data/tardis/binance-futures_book_snapshot_5_BTCUSDT.csv']);
    expect(r.code).toBe(2);
    // The venues whose verifyBook the registry lists, by id.
    expect(r.stderr).toContain('verify-book needs a source that carries ground truth (binance: bookTicker, lobster: orderbook rows); tardis files carry none');
  });
});
