/**
 * Paper trading gives the fills of a backtest: a few seconds of the Binance USD-M capture are
 * recorded with `flowcast record`, then the same strategy object runs (1) in a backtest over the
 * recording and (2) in a paper session on the live pipeline fed by the server's replay of that
 * recording at real-time speed (re-stamped onto today's clock). The fills must be the same orders,
 * sides, prices, sizes and liquidity, at the same times from the first event.
 *
 * Latencies are 0.4 and 0.7 ms: Binance times are whole milliseconds and the replay's re-stamping
 * (epoch ms as a double) moves a time by well under a microsecond, so no order reaches the exchange
 * on a tie with an event that the re-stamping could flip.
 */
import { writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { flowcast } from '../cli/run-cli.ts';
import { USDM_FILE, tempDir } from '../helpers.ts';
import { runBacktest } from '../../src/backtest/run.ts';
import { PaperSession } from '../../src/backtest/paper.ts';
import { defaultConfig } from '../../src/server/config.ts';
import { queueModel } from '../../src/backtest/queue/index.ts';
import type { EngineOptions, FillRecord } from '../../src/backtest/engine.ts';
import type { Strategy } from '../../src/backtest/strategy.ts';

/** Quotes one lot at the touch on both sides, re-quoting when filled, and crosses the spread every 40th book. */
function probe(): Strategy {
  let books = 0;
  let side: 'buy' | 'sell' = 'buy';
  return {
    name: 'paper-probe',
    onBook(ctx, b) {
      books++;
      if (b.nBids === 0 || b.nAsks === 0) return;
      const open = ctx.openOrders(b.symbol);
      if (books % 40 === 0) {
        ctx.place({ symbol: b.symbol, side, kind: 'market', qty: 0.01, tag: 'take' });
        side = side === 'buy' ? 'sell' : 'buy';
      }
      if (!open.some((o) => o.side === 'buy')) ctx.place({ symbol: b.symbol, side: 'buy', kind: 'limit', price: b.bidPx[0]!, qty: 0.01, tif: 'POST_ONLY', tag: 'bid' });
      if (!open.some((o) => o.side === 'sell')) ctx.place({ symbol: b.symbol, side: 'sell', kind: 'limit', price: b.askPx[0]!, qty: 0.01, tif: 'POST_ONLY', tag: 'ask' });
      // Stale quotes (2 ticks off the touch) are moved: a cancel-replace.
      for (const o of open) {
        if (o.status !== 'open') continue;
        const touch = o.side === 'buy' ? b.bidPx[0]! : b.askPx[0]!;
        if (Math.abs(o.price - touch) >= 0.2 - 1e-9) ctx.modify(o.id, { price: touch });
      }
    },
  };
}

const opts = (): EngineOptions => ({
  latency: { feed: 300_000, entry: 400_000, response: 700_000 },
  queue: () => queueModel('risk-averse'),
  feeMakerBps: -0.5,
  feeTakerBps: 2,
});

function shape(fills: readonly FillRecord[], t0: number) {
  return fills.map((f) => ({ order: f.orderId, side: f.side, price: f.price, qty: f.qty, liquidity: f.liquidity, fee: f.fee, atUs: Math.round((f.ts - t0) / 1000) }));
}

describe('paper', () => {
  it('over a replayed recording gives the same fills as a backtest over the recording', async () => {
    const { dir, cleanup } = tempDir('paper');
    try {
      // The first 1,500 lines: about 6 s of market, with the REST snapshot at line 55.
      const head = execFileSync('sh', ['-c', `zcat ${USDM_FILE} | head -n 1500`], { maxBuffer: 64 << 20 });
      const file = join(dir, 'head.jsonl');
      writeFileSync(file, head);
      const rec = join(dir, 'rec');
      const r = await flowcast(['record', '--source', `binance:${file}`, '--out', rec]);
      expect(r.code, r.stderr).toBe(0);
      const spec = `recording:${rec}`;

      const bt = await runBacktest(spec, probe(), { ...opts(), features: { vpinBucket: 1 } });
      expect(bt.record.fills.length).toBeGreaterThan(5);
      expect(bt.record.fills.some((f) => f.liquidity === 'maker')).toBe(true);
      expect(bt.record.fills.some((f) => f.liquidity === 'taker')).toBe(true);

      const cfg = defaultConfig();
      cfg.sources = [{ kind: 'replay', spec, speed: 1, loop: false }];
      cfg.features.vpinBucket = 1;
      const paper = new PaperSession(cfg, probe(), { ...opts(), clockGraceMs: Infinity });
      await paper.start();
      await paper.untilEnded();
      const pr = await paper.stop();

      expect(pr.record.events).toBe(bt.record.events);
      expect(shape(pr.record.fills, pr.record.firstTs)).toEqual(shape(bt.record.fills, bt.record.firstTs));
      expect(pr.engine.exchangeState().positions).toEqual(bt.engine.exchangeState().positions);

      // The command: a bundled strategy on the same recording replayed at 10x, the summary last on stdout.
      const cli = await flowcast(['paper', '--strategy', 'market-maker', '--param', 'size=0.01', '--replay', spec, '--speed', '10', '--latency-entry', '400000']);
      expect(cli.code, cli.stderr).toBe(0);
      const summary = JSON.parse(cli.stdout.trimEnd().split('\n').at(-1)!);
      expect(summary).toMatchObject({ strategy: 'market-maker', symbols: ['BTCUSDT'], events: bt.record.events });
      expect(summary.metrics.sharpe.annualisation).toContain('365 days');
    } finally {
      cleanup();
    }
  }, 300_000);
});
