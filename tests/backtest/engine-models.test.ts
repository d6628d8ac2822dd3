/**
 * Predictions in a backtest: the shipped GBDT model (models/goog-gbdt) through the server's
 * predictor on the first 20,000 messages of the GOOG day. Every row is predicted before the next
 * event goes on (src/backtest/predict.ts), each prediction reaches the strategy at its row's time +
 * the feed latency, and two runs give the same predictions and the same fills.
 */
import { cpSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { GOOG_MSG, GOOG_OB, tempDir } from '../helpers.ts';
import { runBacktest } from '../../src/backtest/run.ts';
import { pacedPredictor } from '../../src/backtest/predict.ts';
import { queueModel } from '../../src/backtest/queue/index.ts';
import { builtinStrategies } from '../../src/backtest/strategies/index.ts';
import { defaultConfig } from '../../src/server/config.ts';
import type { Strategy } from '../../src/backtest/strategy.ts';

const FEED = 250_000;

async function run(spec: string, models: string) {
  const cfg = defaultConfig();
  cfg.models.dir = models;
  const vpin: Record<string, number> = {};
  cfg.features.vpinBucketBySymbol = vpin;
  const paced = await pacedPredictor(cfg.models, cfg.features);
  const taker = builtinStrategies['taker']!({ size: 1, maxPosition: 3 });
  const seen: [number, number, number][] = [];
  // The bundled taker, with its predictions recorded as they arrive (when, for which row time, P(up)).
  const s: Strategy = {
    ...taker,
    name: taker.name,
    onPrediction(ctx, p) {
      seen.push([ctx.now(), p.ts, p.probs[p.classes.indexOf('up')]!]);
      taker.onPrediction!(ctx, p);
    },
  };
  const r = await runBacktest(spec, s, {
    latency: { feed: FEED, entry: 100_000, response: 100_000 }, queue: () => queueModel('risk-averse'), feeMakerBps: 0, feeTakerBps: 0.3,
    vpinBucketBySymbol: vpin, predictor: paced.predictor, paced,
  });
  return { r, seen };
}

describe('backtest with a model', () => {
  it('predicts every row, delivers each after the feed latency, and repeats exactly', async () => {
    const { dir, cleanup } = tempDir('bt-models');
    try {
      const msg = join(dir, 'GOOG_2012-06-21_34200000_57600000_message_10.csv');
      const ob = join(dir, 'GOOG_2012-06-21_34200000_57600000_orderbook_10.csv');
      writeFileSync(msg, execFileSync('sh', ['-c', `zcat ${GOOG_MSG} | head -n 20000`], { maxBuffer: 64 << 20 }));
      writeFileSync(ob, execFileSync('sh', ['-c', `zcat ${GOOG_OB} | head -n 20000`], { maxBuffer: 64 << 20 }));
      const models = join(dir, 'models');
      cpSync('models/goog-gbdt', join(models, 'goog-gbdt'), { recursive: true });
      const spec = `lobster:${msg},${ob}`;
      const a = await run(spec, models);
      expect(a.r.record.rows).toBe(20_000);
      expect(a.r.record.predictions).toBe(a.r.record.rows);
      expect(a.seen).toHaveLength(20_000);
      // Each at its row's time + the feed latency (never later: nothing waited for a busy model).
      for (const [now, ts] of a.seen) expect(now).toBe(ts + FEED);
      expect(a.r.record.fills.length).toBeGreaterThan(0);
      const b = await run(spec, models);
      expect(b.seen).toEqual(a.seen);
      expect(b.r.record.fills.map((f) => [f.ts, f.price, f.qty, f.side])).toEqual(a.r.record.fills.map((f) => [f.ts, f.price, f.qty, f.side]));
    } finally {
      cleanup();
    }
  }, 300_000);
});
