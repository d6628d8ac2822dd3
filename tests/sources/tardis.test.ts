import { describe, expect, it } from 'vitest';
import { scratchDir } from '../helpers.ts';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openSource } from '../../src/sources/spec.ts';
import type { BookRow } from '../../src/model/row.ts';
import { detectTardisSchema } from '../../src/venues/tardis/capture.ts';
import { bookBuilder } from '../../src/pipeline/book.ts';

const dir = scratchDir('tardis');

async function rows(spec: string) {
  const src = await openSource(spec);
  const out: { bid: number; ask: number; levels: number; trades: number; ts: bigint; bids: number }[] = [];
  const b = bookBuilder({
    levels: 25,
    sink: { onRow: (r: BookRow) => out.push({ bid: r.bidPx[0]!, ask: r.askPx[0]!, levels: r.usableLevels, trades: r.nTrades, ts: src.timeBase.get().toEpochNs(r.ts), bids: r.bidPx.filter((p) => !Number.isNaN(p)).length }) },
  });
  const stats = await src.run(b);
  b.finish();
  return { out, stats, totals: b.totals() };
}

describe('Tardis CSV', () => {
  it('recognises each schema by its header', () => {
    expect(detectTardisSchema('exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount', 'f').schema).toBe('incremental_book_L2');
    expect(detectTardisSchema('exchange,symbol,timestamp,local_timestamp,id,side,price,amount', 'f').schema).toBe('trades');
    expect(detectTardisSchema('exchange,symbol,timestamp,local_timestamp,ask_amount,ask_price,bid_price,bid_amount', 'f').schema).toBe('quotes');
    const h = detectTardisSchema('exchange,symbol,timestamp,local_timestamp,asks[0].price,asks[0].amount,bids[0].price,bids[0].amount,asks[1].price,asks[1].amount,bids[1].price,bids[1].amount', 'f');
    expect([h.schema, h.depth]).toEqual(['book_snapshot', 2]);
    expect(() => detectTardisSchema('a,b,c', 'x.csv')).toThrow(/x\.csv:1: unrecognised Tardis CSV header/);
  });

  it('book_snapshot_25 and _5: one row per line, depth from the header, exchange time in µs', async () => {
    const s25 = await rows('tardis:data/tardis/binance-futures_book_snapshot_25_BTCUSDT.csv');
    expect(s25.out.length).toBe(10);
    expect(s25.out[0]).toMatchObject({ bid: 11657.07, ask: 11657.08, levels: 25, bids: 25 });
    expect(s25.out[0]!.ts).toBe(1_598_918_403_696_000_000n);
    const s5 = await rows('tardis:data/tardis/binance-futures_book_snapshot_5_BTCUSDT.csv');
    expect(s5.out[0]!.levels).toBe(5);
  });

  it('incremental_book_L2: lines with one local_timestamp form one row; a snapshot replaces the book', async () => {
    const r = await rows('tardis:data/tardis/deribit_incremental_book_L2_BTC-PERPETUAL.csv');
    expect(r.out.length).toBe(1); // 15 snapshot lines, one local_timestamp
    expect(r.out[0]!.ask).toBe(6421.5);
    const p = join(dir, 'inc.csv');
    writeFileSync(p, [
      'exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount',
      'x,S,1000,1001,true,bid,10,1', 'x,S,1000,1001,true,ask,11,1',
      'x,S,2000,2001,false,bid,10.5,2', 'x,S,2100,2001,false,ask,11,0', 'x,S,2200,2001,false,ask,12,3',
      'x,S,3000,3001,true,bid,9,1', 'x,S,3000,3001,true,ask,9.5,1',
    ].join('\n'));
    const q = await rows(`tardis:${p}`);
    expect(q.out.map((o) => [o.bid, o.ask])).toEqual([[10, 11], [10.5, 12], [9, 9.5]]);
    expect(q.out[1]!.ts).toBe(2_200_000n); // the group's last exchange time
    expect(q.out[2]!.bids).toBe(1); // the second snapshot replaced the book
  });

  it('quotes + trades: trades go to the first row at or after their receive time', async () => {
    const r = await rows('tardis:data/tardis/tardis_quotes.csv.gz,data/tardis/tardis_trades.csv.gz');
    expect(r.out.length).toBe(9_999);
    expect(r.out[0]!.levels).toBe(1);
    const inRows = r.out.reduce((a, o) => a + o.trades, 0);
    expect(inRows + r.totals.tradesAfterLastRow).toBe(9_999);
    expect(r.totals.tradesAfterLastRow).toBeGreaterThan(9000); // the quotes cover only the first 4 minutes
    const p = join(dir, 'q.csv');
    const t = join(dir, 't.csv');
    writeFileSync(p, 'exchange,symbol,timestamp,local_timestamp,ask_amount,ask_price,bid_price,bid_amount\nx,S,10,100,1,11,10,1\nx,S,20,200,1,11,10,2\n');
    writeFileSync(t, 'exchange,symbol,timestamp,local_timestamp,id,side,price,amount\nx,S,5,50,1,buy,11,1\nx,S,9,100,2,sell,10,2\nx,S,15,150,3,buy,11,4\nx,S,30,300,4,buy,11,8\n');
    const m = await rows(`tardis:${p},${t}`);
    expect(m.out.map((o) => o.trades)).toEqual([2, 1]);
    expect(m.totals.tradesAfterLastRow).toBe(1);
  });

  it('bad lines name the file and line', async () => {
    const p = join(dir, 'bad.csv');
    writeFileSync(p, 'exchange,symbol,timestamp,local_timestamp,ask_amount,ask_price,bid_price,bid_amount\nx,S,10,100,1,11,10,1\nx,S,20\n');
    await expect(rows(`tardis:${p}`)).rejects.toThrow(/bad\.csv:3: expected 8 fields \(quotes\), got 3/);
    const q = join(dir, 'back.csv');
    writeFileSync(q, 'exchange,symbol,timestamp,local_timestamp,ask_amount,ask_price,bid_price,bid_amount\nx,S,10,100,1,11,10,1\nx,S,20,90,1,11,10,1\n');
    await expect(rows(`tardis:${q}`)).rejects.toThrow(/back\.csv:3: local_timestamp 90 is before/);
  });
});
