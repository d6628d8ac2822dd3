import { describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LobsterSource, parseLobsterName } from '../../src/venues/lobster/capture.ts';
import { openSource } from '../../src/sources/spec.ts';
import { BadInputPolicy, InputError } from '../../src/core/errors.ts';
import type { DepthEvent, OrderEvent, TradeEvent } from '../../src/model/events.ts';
import { AMZN_ZIP, GOOG, featuresInMemory, scratchDir } from '../helpers.ts';

const dir = scratchDir('lobster');

async function collect(spec: string, policy?: BadInputPolicy) {
  const src = await openSource(spec, { policy });
  const rows: { ts: number; bid: number; ask: number; n: number }[] = [];
  const trades: { sign: number; size: number; hidden: boolean }[] = [];
  const orders: number[] = [];
  const stats = await src.run({
    onDepth: (e: DepthEvent) => rows.push({ ts: e.ts, bid: e.bidPx[0]!, ask: e.askPx[0]!, n: e.nBids }),
    onTrade: (t: TradeEvent) => trades.push({ sign: t.sign, size: t.size, hidden: t.hidden }),
    onOrder: (o: OrderEvent) => orders.push(o.type),
  });
  return { src, rows, trades, orders, stats };
}

/** A tiny LOBSTER pair (2 levels) written to disk under a proper LOBSTER file name. */
function pair(msg: string, ob: string, sym = 'TEST'): string {
  const m = join(dir, `${sym}_2012-06-21_34200000_57600000_message_2.csv`);
  const o = join(dir, `${sym}_2012-06-21_34200000_57600000_orderbook_2.csv`);
  writeFileSync(m, msg);
  writeFileSync(o, ob);
  return `lobster:${m},${o}`;
}

describe('LOBSTER source', () => {
  it('GOOG day: every row, exact New York times, executions as trades with the aggressor sign', async () => {
    const { src, rows, trades, orders } = await collect(GOOG);
    expect(rows.length).toBe(147_916);
    const tb = src.timeBase.get();
    // 34200.015105074 s after midnight EDT (UTC-4) on 2012-06-21.
    expect(tb.toEpochNs(rows[0]!.ts)).toBe(1_340_285_400_015_105_074n);
    expect((rows[0]!.bid + rows[0]!.ask) / 2).toBe(579.815);
    expect(orders.filter((t) => t === 4).length).toBe(7_765);
    expect(orders.filter((t) => t === 5).length).toBe(3_913);
    expect(trades.length).toBe(7_765 + 3_913);
    expect(trades.filter((t) => t.hidden).reduce((a, t) => a + t.size, 0)).toBe(213_616);
    expect(trades.filter((t) => !t.hidden).reduce((a, t) => a + t.size, 0)).toBe(492_509);
    expect(trades[0]!.sign).toBe(-1); // direction +1 (a buy order was hit): seller-initiated
  });

  it("reads LOBSTER's own sample zip (AMZN, 5 levels)", async () => {
    const { rows, orders, src } = await collect(`lobster:${AMZN_ZIP}`);
    expect(rows.length).toBe(155_935);
    expect((src as LobsterSource).levels).toBe(5);
    expect((rows[0]!.bid + rows[0]!.ask) / 2).toBe(223.565);
    expect(orders[0]).toBe(5);
    expect(rows.reduce((m, r) => Math.max(m, r.n), 0)).toBe(5);
  });

  it('parses symbol, date and levels from the file name', () => {
    expect(parseLobsterName('x/GOOG_2012-06-21_34200000_57600000_message_10.csv.gz')).toEqual({ symbol: 'GOOG', date: '2012-06-21', levels: 10 });
    expect(parseLobsterName('goog.csv')).toBeUndefined();
  });

  it('treats padded levels as missing', async () => {
    const spec = pair('34200.1,1,1,100,1000000,1\n', '1010000,50,1000000,100,9999999999,0,-9999999999,0\n', 'PAD');
    const { rows } = await collect(spec);
    expect(rows[0]!.n).toBe(1);
  });
});

describe('LOBSTER bad input', () => {
  const ob = '1010000,50,1000000,100,1020000,10,990000,20\n';
  it('a malformed message line names the file and line', async () => {
    const spec = pair('34200.1,1,1,100,1000000,1\n34200.2,one,2,100,1000000,1\n', ob + ob, 'BADMSG');
    await expect(collect(spec)).rejects.toThrow(/BADMSG_.*message_2\.csv:2: expected a LOBSTER message/);
  });

  it('--skip-bad malformed-line skips and counts it', async () => {
    const spec = pair('34200.1,1,1,100,1000000,1\n34200.2,one,2,100,1000000,1\n34200.3,1,3,5,1000000,1\n', ob + ob + ob, 'SKIPMSG');
    const policy = BadInputPolicy.parse('malformed-line');
    const { rows } = await collect(spec, policy);
    expect(rows.length).toBe(2);
    expect(policy.summary()).toEqual({ 'malformed-line': 1 });
  });

  it('--skip-bad holds in the first pass that sizes VPIN buckets (vpin-bucket auto), counted once', async () => {
    const spec = pair('34200.1,4,1,100,1000000,1\n34200.2,one,2,100,1000000,1\n34200.3,4,3,5,1000000,-1\n', ob + ob + ob, 'SKIPAUTO');
    const policy = BadInputPolicy.parse('malformed-line');
    const { table } = await featuresInMemory(spec, { policy });
    expect(table.n).toBe(2);
    expect(policy.summary()).toEqual({ 'malformed-line': 1 });
    await expect(featuresInMemory(spec)).rejects.toThrow(/message_2\.csv:2: expected a LOBSTER message/);
  });

  it('an orderbook row with the wrong number of fields', async () => {
    const spec = pair('34200.1,1,1,100,1000000,1\n', '1010000,50,1000000\n', 'BADOB');
    await expect(collect(spec)).rejects.toThrow(/orderbook_2\.csv:1: expected 8 numeric fields/);
  });

  it('files that are not aligned row by row', async () => {
    const spec = pair('34200.1,1,1,100,1000000,1\n34200.2,1,2,100,1000000,1\n', ob, 'SHORT');
    await expect(collect(spec)).rejects.toThrow(/orderbook file ends after 1 rows/);
  });

  it('time going backwards', async () => {
    const spec = pair('34200.2,1,1,100,1000000,1\n34200.1,1,2,100,1000000,1\n', ob + ob, 'BACK');
    const err = await collect(spec).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    expect((err as InputError).code).toBe('non-monotonic-time');
    expect((err as InputError).line).toBe(2);
  });

  it('a file name that does not say symbol, date and levels', async () => {
    writeFileSync(join(dir, 'm.csv'), '');
    writeFileSync(join(dir, 'o.csv'), '');
    await expect(openSource(`lobster:${join(dir, 'm.csv')},${join(dir, 'o.csv')}`)).rejects.toThrow(/not a LOBSTER message file name/);
  });

  it('a missing file and an unknown source kind', async () => {
    await expect(openSource('lobster:nope_message.csv,nope_orderbook.csv')).rejects.toThrow(/nope_message\.csv: file not found/);
    await expect(openSource('kraken:x.csv')).rejects.toThrow(/unknown source kind "kraken"/);
    await expect(openSource('data.csv')).rejects.toThrow(/not a source spec/);
  });
});
