/**
 * End to end on the real GOOG day (LOBSTER, 2012-06-21): `flowcast backtest` with the bundled market
 * maker, latencies and fees, through the CLI; the files of --out are checked against each other and
 * against the rules (no fill before its order could reach the exchange, responses after their
 * latency, fees by liquidity, the equity curve ending at the summary's PnL).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { flowcast } from '../cli/run-cli.ts';
import { GOOG, tempDir } from '../helpers.ts';

function csv(path: string): Record<string, string>[] {
  const [head, ...lines] = readFileSync(path, 'utf8').trimEnd().split('\n');
  const cols = head!.split(',');
  return lines.map((l) => Object.fromEntries(l.split(',').map((v, i) => [cols[i]!, v])));
}

describe('backtest on the GOOG day', () => {
  it('runs the market maker end to end and writes consistent reports', async () => {
    const { dir, cleanup } = tempDir('bt-goog');
    try {
      const entry = 100_000;
      const response = 250_000;
      const r = await flowcast(['backtest', '--source', GOOG, '--strategy', 'market-maker', '--queue', 'risk-averse',
        '--latency-entry', String(entry), '--latency-response', String(response), '--latency-feed', '50000',
        '--fee-maker=-0.2', '--fee-taker', '0.3', '--out', dir]);
      expect(r.stderr).toContain('backtest: wrote');
      expect(r.code).toBe(0);
      const lines = r.stdout.trimEnd().split('\n');
      const s = JSON.parse(lines[lines.length - 1]!);
      expect(s.symbols).toEqual(['GOOG']);
      // Every event of the day: 147,916 LOBSTER messages, each an order message and a depth event, plus 11,678 executions.
      expect(s.events).toBe(2 * 147_916 + 11_678);
      expect(s.rows).toBe(147_916);
      expect(s.metrics.sharpe.annualisation).toContain('252 days x 390 minutes');
      const fills = csv(join(dir, 'fills.csv'));
      const orders = new Map(csv(join(dir, 'orders.csv')).map((o) => [o['id']!, o]));
      expect(fills.length).toBe(s.metrics.fills);
      expect(fills.length).toBeGreaterThan(50);
      let pos = 0;
      let makerFees = 0;
      for (const f of fills) {
        const o = orders.get(f['order_id']!)!;
        expect(Number(f['ts_ns'])).toBeGreaterThanOrEqual(Number(o['sent_at_ns']) + entry);
        expect(Number(f['seen_at_ns'])).toBe(Number(f['ts_ns']) + response);
        const notional = Number(f['price']) * Number(f['qty']);
        expect(Number(f['fee'])).toBeCloseTo(notional * (f['liquidity'] === 'maker' ? -0.2 : 0.3) / 1e4, 9);
        if (f['liquidity'] === 'maker') makerFees += Number(f['fee']);
        pos += (f['side'] === 'buy' ? 1 : -1) * Number(f['qty']);
      }
      expect(pos).toBe(s.metrics.pnl.position.GOOG);
      expect(makerFees).toBeCloseTo(s.metrics.fees.maker, 6);
      const eq = csv(join(dir, 'equity.csv'));
      expect(Number(eq[eq.length - 1]!['equity'])).toBeCloseTo(s.pnl, 6);
      const html = readFileSync(join(dir, 'report.html'), 'utf8');
      expect(html).toContain('uPlot');
      // Self-contained: nothing loaded from elsewhere.
      expect(html).not.toMatch(/<(script|link)[^>]+(src|href)=/);
    } finally {
      cleanup();
    }
  }, 300_000);
});
