/**
 * The mock exchange's sync rule (written from Binance's documentation) and the book's
 * (src/venues/binance/sequence.ts) are two implementations of one procedure: on the real captures they must pick
 * the same first diff after any snapshot, and see the same gaps between diffs. A bug in either shows
 * here, rather than being shared by the connector tests, which rely on both.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { BINANCE_FUTURES, BINANCE_SPOT } from '../../src/venues/binance/sequence.ts';
import type { SeqRule } from '../../src/model/sequence.ts';
import { DepthEvent } from '../../src/model/events.ts';
import { binanceContinues, binanceSyncPoint, diffIds, readBinanceCapture, type BinanceMarket, type DiffIds } from '../support/mock-exchange.ts';

const CAPTURES = {
  spot: 'data/binance/binance-spot_btcusdt_20240808.jsonl.gz',
  usdm: 'data/binance/binance-usdm_btcusdt_20240808.jsonl.gz',
} as const;
const RULE: Record<BinanceMarket, SeqRule> = { spot: BINANCE_SPOT, usdm: BINANCE_FUTURES };

const loaded = new Map<BinanceMarket, { lastUpdateId: number; diffs: DiffIds[] }>();
beforeAll(async () => {
  for (const market of ['spot', 'usdm'] as const) {
    const c = await readBinanceCapture(CAPTURES[market]);
    const diffs = c.messages.map((m) => diffIds(m.d)).filter((d) => d !== undefined);
    loaded.set(market, { lastUpdateId: c.snapshot['lastUpdateId'] as number, diffs });
  }
});

function event(d: DiffIds): DepthEvent {
  const e = new DepthEvent();
  e.firstSeq = d.U;
  e.lastSeq = d.u;
  e.prevSeq = d.pu ?? NaN;
  return e;
}

/** The book's choice: stale diffs skipped, then the first other one applied or refused as a gap. */
function bookSyncPoint(rule: SeqRule, lid: number, events: DepthEvent[]): { index: number; ok: boolean } | undefined {
  for (let i = 0; i < events.length; i++) {
    const v = rule.firstAfterSnapshot(lid, events[i]!);
    if (v !== 'stale') return { index: i, ok: v === 'apply' };
  }
  return undefined;
}

describe.each(['spot', 'usdm'] as const)('Binance sync rule, %s capture', (market) => {
  it('the captured snapshot: both pick the same diff (found by reading the capture: spot the 3rd, USD-M the 5th)', () => {
    const { lastUpdateId, diffs } = loaded.get(market)!;
    const want = { index: market === 'spot' ? 2 : 4, ok: true };
    expect(binanceSyncPoint(market, lastUpdateId, diffs)).toEqual(want);
    expect(bookSyncPoint(RULE[market], lastUpdateId, diffs.map(event))).toEqual(want);
  });

  it('a snapshot at any update id around each diff: both pick the same first diff, or both see a gap', () => {
    const { lastUpdateId, diffs } = loaded.get(market)!;
    const events = diffs.map(event);
    // Around each diff's U and u: where spot's +1 and USD-M's < against <= make the rules differ.
    // Each id is tried on the stream from three diffs before the one it came from (the whole stream
    // for the captured snapshot and the ends): a sync point is the first diff not dropped, so both
    // rules judge the same diffs one at a time either way, without a scan from the start per id.
    const tries: [lid: number, from: number][] = [[lastUpdateId, 0], [diffs[0]!.U - 5, 0], [diffs[diffs.length - 1]!.u + 5, 0]];
    diffs.forEach((d, k) => {
      for (const lid of [d.U - 1, d.U, d.U + 1, d.u - 1, d.u, d.u + 1]) tries.push([lid, Math.max(0, k - 3)]);
    });
    let applied = 0, gaps = 0, none = 0;
    for (const [lid, from] of tries) {
      const mock = binanceSyncPoint(market, lid, diffs.slice(from));
      const book = bookSyncPoint(RULE[market], lid, events.slice(from));
      if (mock?.index !== book?.index || mock?.ok !== book?.ok) {
        expect.fail(`lastUpdateId ${lid} (from diff ${from}): the documented rule picks ${JSON.stringify(mock)}, src/venues/binance/sequence.ts ${JSON.stringify(book)}`);
      }
      if (!mock) none++;
      else if (mock.ok) applied++;
      else gaps++;
    }
    // Each outcome occurs, so the agreement covers all three.
    expect(applied).toBeGreaterThan(diffs.length);
    expect(gaps).toBeGreaterThan(0);
    expect(none).toBeGreaterThan(0);
  });

  it('between diffs: the capture continues at every step for both, and skipping or repeating a diff is a break for both', () => {
    const { diffs } = loaded.get(market)!;
    const events = diffs.map(event);
    const book = (a: number, b: number) => RULE[market].nextAfter(diffs[a]!.u, events[b]!) === 'apply';
    const wrong: string[] = [];
    const check = (a: number, b: number, want: boolean): void => {
      const mock = binanceContinues(market, diffs[a]!, diffs[b]!);
      if (mock !== want || book(a, b) !== want) wrong.push(`diff ${b} after ${a}: documented rule ${mock}, src/venues/binance/sequence.ts ${book(a, b)}, want ${want}`);
    };
    for (let k = 0; k + 2 < diffs.length; k++) {
      check(k, k + 1, true);
      check(k, k + 2, false);
      check(k + 1, k, false);
    }
    expect(wrong.slice(0, 5)).toEqual([]);
  });
});
