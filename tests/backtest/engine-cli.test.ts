/**
 * The backtest command's edges: a user's TypeScript strategy module with --param values, on a real
 * Tardis file whose first book row gives the answer (worked out below), and usage errors that name
 * what was wrong.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { flowcast } from '../cli/run-cli.ts';
import { tempDir } from '../helpers.ts';

const TARDIS = 'tardis:data/tardis/binance-futures_book_snapshot_25_BTCUSDT.csv';

const STRATEGY = `
import type { StrategyFactory } from '${join(process.cwd(), 'src/backtest/strategy.ts')}';
const factory: StrategyFactory = (p) => {
  let sent = false;
  return {
    name: 'first-book-' + String(p.side),
    onBook(ctx, b) {
      if (sent) return;
      sent = true;
      ctx.place({ symbol: b.symbol, side: p.side as 'buy' | 'sell', kind: 'market', qty: Number(p.qty) });
      ctx.log('sent', { qty: Number(p.qty), bid: b.bidPx[0] });
    },
  };
};
export default factory;
`;

describe('flowcast backtest command', () => {
  it('runs a TypeScript strategy module with its parameters; a market sell walks the first book', async () => {
    const { dir, cleanup } = tempDir('bt-cli');
    try {
      const file = join(dir, 'first.mts');
      writeFileSync(file, STRATEGY);
      const r = await flowcast(['backtest', '--source', TARDIS, '--strategy', file, '--param', 'side=sell', '--param', 'qty=12', '--fee-taker', '1', '--out', dir]);
      expect(r.code, r.stderr).toBe(0);
      const s = JSON.parse(r.stdout.trimEnd().split('\n').at(-1)!);
      expect(s.strategy).toBe('first-book-sell');
      // The first row's bids: 11657.07 x 10.896, 11656.97 x 0.2, 11655.78 x 0.2, 11655.77 x 0.98. Selling 12
      // takes 10.896 + 0.2 + 0.2 and 0.704 of the fourth level (no latency: the order meets that row).
      const fills = readFileSync(join(dir, 'fills.csv'), 'utf8').trim().split('\n').slice(1).map((l) => l.split(','));
      expect(fills.map((f) => [Number(f[5]), Number(f[6]), f[8]])).toEqual([
        [11657.07, 10.896, 'taker'], [11656.97, 0.2, 'taker'], [11655.78, 0.2, 'taker'], [11655.77, 0.704, 'taker'],
      ]);
      const notional = 11657.07 * 10.896 + 11656.97 * 0.2 + 11655.78 * 0.2 + 11655.77 * 0.704;
      expect(s.metrics.fees.taker).toBeCloseTo(notional / 1e4, 6);
      expect(s.metrics.pnl.position).toEqual({ BTCUSDT: -12 });
      // The strategy's log line, at the time it was written (the first row's exchange time, no feed latency).
      const logs = readFileSync(join(dir, 'logs.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
      expect(logs).toEqual([{ ts_ns: Number(fills[0]![0]), time: '2020-09-01T00:00:03.696Z', message: 'sent', qty: 12, bid: 11657.07 }]);
    } finally {
      cleanup();
    }
  });

  it('names the bundled strategies when the name is unknown, and refuses an unknown queue model', async () => {
    const a = await flowcast(['backtest', '--source', TARDIS, '--strategy', 'no-such']);
    expect(a.code).toBe(2);
    expect(a.stderr).toContain('no bundled strategy of that name');
    expect(a.stderr).toContain('market-maker');
    const b = await flowcast(['backtest', '--source', TARDIS, '--strategy', 'market-maker', '--queue', 'fifo']);
    expect(b.code).toBe(2);
    expect(b.stderr).toContain('fifo');
  });
});
