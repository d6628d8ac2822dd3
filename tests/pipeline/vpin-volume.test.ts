/**
 * `vpinBucket: auto` sizes from a LOBSTER day's message file alone (src/pipeline/vpin.ts): the
 * volume must be what a full run of the source delivers as trades, for the pair of files and the zip.
 */
import { describe, expect, it } from 'vitest';
import { openSource } from '../../src/sources/spec.ts';
import { lobsterMessageVolume, tradedVolume } from '../../src/pipeline/vpin.ts';
import { AMZN_ZIP, GOOG, USDM, USDM_FILE } from '../../src/sources/samples.ts';
import type { TradeEvent } from '../../src/model/events.ts';
import { warmupVolume } from '../../src/dataset/worker.ts';
import { BadInputPolicy } from '../../src/core/errors.ts';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';

/** A full run's trades, all of them or those in [first trade, first trade + windowNs); with the time the window ends (epoch ns). */
async function fullRunVolume(spec: string, windowNs = Infinity): Promise<{ trades: number; volume: number; endNs?: string }> {
  let trades = 0;
  let volume = 0;
  let end = NaN;
  const src = await openSource(spec);
  await src.run({
    onDepth() {},
    onTrade(t: TradeEvent) {
      if (end !== end) end = t.ts + windowNs;
      if (t.ts < end) (trades++, volume += t.size);
    },
  });
  return { trades, volume, ...(Number.isFinite(end) ? { endNs: src.timeBase.get().toEpochNs(end).toString() } : {}) };
}

/** Runs `fn` on a copy of `file` whose gzip stream ends at 60% (same name, in a temporary directory): unreadable to its end. */
async function withCutCopy(file: string, fn: (cut: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'flowcast-warmup-'));
  try {
    const gz = readFileSync(file);
    const cut = join(dir, basename(file));
    writeFileSync(cut, gz.subarray(0, Math.floor(gz.length * 0.6)));
    await fn(cut);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('auto VPIN sizing without a second parse', () => {
  for (const spec of [GOOG, `lobster:${AMZN_ZIP}`]) {
    it(`the message-file scan equals a full run's trades (${spec.slice(0, 40)}...)`, async () => {
      const want = await fullRunVolume(spec);
      expect(want.trades).toBeGreaterThan(1000);
      const src = await openSource(spec);
      expect(await lobsterMessageVolume(src.files)).toMatchObject(want);
      const sym = (src as unknown as { symbol: string }).symbol;
      expect(await tradedVolume(src)).toEqual(new Map([[sym, want.volume]]));
      expect(await tradedVolume(src, new Set(['OTHER']))).toEqual(new Map());
      // The source opened for the run was not consumed by the scan: it still delivers every trade.
      let n = 0;
      await src.run({ onDepth() {}, onTrade() { n++; } });
      expect(n).toBe(want.trades);
    });
  }

  it('a warm-up window: the first 30 minutes of trades as a full run counts them, read no further than the window', async () => {
    const win = 30 * 60e9;
    const want = await fullRunVolume(GOOG, win);
    const all = await fullRunVolume(GOOG);
    expect(want.trades).toBeGreaterThan(100);
    expect(want.trades).toBeLessThan(all.trades);
    const src = await openSource(GOOG);
    const got = await lobsterMessageVolume(src.files, win);
    expect({ trades: got.trades, volume: got.volume }).toEqual({ trades: want.trades, volume: want.volume });
    const w = await warmupVolume(GOOG, 'GOOG', 30, new BadInputPolicy());
    expect({ warm: w.warm, warmupEndNs: w.warmupEndNs }).toEqual({ warm: want.volume, warmupEndNs: want.endNs });
    // The day's message file cut after the window: the whole day cannot be read, the window can.
    await withCutCopy(src.files[0]!, async (cut) => {
      await expect(lobsterMessageVolume([cut, src.files[1]!])).rejects.toThrow();
      expect((await lobsterMessageVolume([cut, src.files[1]!], win)).volume).toBe(want.volume);
    });
  });

  it('a Binance warm-up stops a minute past its window, closing its file: the window\'s trades as a full run counts them', async () => {
    const win = 60e9;
    const want = await fullRunVolume(USDM, win);
    expect(want.trades).toBeGreaterThan(100);
    const w = await warmupVolume(USDM, 'BTCUSDT', 1, new BadInputPolicy());
    expect({ warm: w.warm, warmupEndNs: w.warmupEndNs }).toEqual({ warm: want.volume, warmupEndNs: want.endNs });
    // The capture cut (~3.5 of its 5.7 minutes): a full run fails, the 1-minute warm-up does not read that far.
    await withCutCopy(USDM_FILE, async (cut) => {
      await expect(fullRunVolume(`binance:${cut}`)).rejects.toThrow();
      expect((await warmupVolume(`binance:${cut}`, 'BTCUSDT', 1, new BadInputPolicy())).warm).toBe(want.volume);
    });
  });
});
