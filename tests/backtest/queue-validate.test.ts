/**
 * The queue models on the real GOOG day (LOBSTER, 10 levels), through the validation's simulation
 * (src/backtest/queue/validate.ts). What is asserted holds by construction of the models, so a
 * failure is a bug, not a bad day:
 * - the exact model never has more ahead than LOBSTER's own orderbook rows show at the price, for
 *   orders whose price stayed within the file's levels (its order map agrees with the book);
 * - risk-averse fed only visible trades never fills before exact: every visible execution at our
 *   price takes from the orders ahead first, and the level bounds both;
 * - a probabilistic model never fills after risk-averse on the same feed: its estimate starts equal
 *   and only ever moves further forward (min() and the split are monotone).
 */
import { describe, expect, it } from 'vitest';
import { LobsterSource } from '../../src/venues/lobster/capture.ts';
import { TimeBaseRef } from '../../src/model/time.ts';
import { BadInputPolicy } from '../../src/core/errors.ts';
import { GOOG_MSG, GOOG_OB } from '../../src/sources/samples.ts';
import { QueueValidation, compare, exactSummary } from '../../src/backtest/queue/validate.ts';

async function goog(): Promise<QueueValidation> {
  const timeBase = new TimeBaseRef();
  const src = await LobsterSource.open(`lobster:${GOOG_MSG},${GOOG_OB}`, [GOOG_MSG, GOOG_OB], { policy: new BadInputPolicy(), timeBase });
  const v = new QueueValidation({
    everyS: 30,
    horizonS: 60,
    qty: 100,
    conflateS: 1,
    firstS: 9.5 * 3600 + 5 * 60,
    lastS: 15 * 3600 + 55 * 60,
    dayStart: () => timeBase.get().fromEpochNs(src.midnightNs),
  });
  await src.run(v);
  v.finish();
  return v;
}

describe('queue models on the GOOG LOBSTER day', () => {
  it('exact agrees with the orderbook rows; risk-averse (visible trades) is never early; prob models are never later than risk-averse', async () => {
    const v = await goog();
    const x = exactSummary(v);
    // 09:35-15:55 every 30 s, bid and ask.
    expect(x.placed).toBeGreaterThan(1500);
    expect(x.compared).toBeGreaterThan(1000);
    expect(x.queueFills).toBeGreaterThan(100);
    expect(x.belowInView).toBe(0);

    const ra = compare(v, 'risk-averse / visible trades');
    expect(ra.falseFills).toBe(0);
    expect(ra.dt.filter((d) => d < 0)).toEqual([]);

    const idx = (label: string) => v.specs.findIndex((m) => m.label === label);
    for (const feed of ['per-message', 'visible trades', 'conflated']) {
      const r = idx(`risk-averse / ${feed}`);
      for (const name of ['prob-power:2', 'prob-power:3', 'prob-log']) {
        const p = idx(`${name} / ${feed}`);
        const later = v.orders.filter((o) => {
          const a = o.runs[r]!.firstFill;
          const b = o.runs[p]!.firstFill;
          return !Number.isNaN(a) && (Number.isNaN(b) || b > a);
        });
        expect(later.length, `${name} / ${feed} later than risk-averse`).toBe(0);
      }
    }
  }, 180_000);
});
