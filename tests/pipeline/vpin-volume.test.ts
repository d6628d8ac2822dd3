/**
 * `vpinBucket: auto` sizes from a LOBSTER day's message file alone (src/pipeline/vpin.ts): the
 * volume must be what a full run of the source delivers as trades, for the pair of files and the zip.
 */
import { describe, expect, it } from 'vitest';
import { openSource } from '../../src/sources/spec.ts';
import { lobsterMessageVolume, tradedVolume } from '../../src/pipeline/vpin.ts';
import { AMZN_ZIP, GOOG } from '../../src/sources/samples.ts';
import type { TradeEvent } from '../../src/model/events.ts';

async function fullRunVolume(spec: string): Promise<{ trades: number; volume: number }> {
  let trades = 0;
  let volume = 0;
  await (await openSource(spec)).run({ onDepth() {}, onTrade(t: TradeEvent) { trades++; volume += t.size; } });
  return { trades, volume };
}

describe('auto VPIN sizing without a second parse', () => {
  for (const spec of [GOOG, `lobster:${AMZN_ZIP}`]) {
    it(`the message-file scan equals a full run's trades (${spec.slice(0, 40)}...)`, async () => {
      const want = await fullRunVolume(spec);
      expect(want.trades).toBeGreaterThan(1000);
      const src = await openSource(spec);
      expect(await lobsterMessageVolume(src.files)).toEqual(want);
      const sym = (src as unknown as { symbol: string }).symbol;
      expect(await tradedVolume(src)).toEqual(new Map([[sym, want.volume]]));
      expect(await tradedVolume(src, new Set(['OTHER']))).toEqual(new Map());
      // The source opened for the run was not consumed by the scan: it still delivers every trade.
      let n = 0;
      await src.run({ onDepth() {}, onTrade() { n++; } });
      expect(n).toBe(want.trades);
    });
  }
});
