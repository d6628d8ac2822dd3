/**
 * The flags `backtest` and `paper` share: the strategy and its parameters, the queue model, the
 * latencies and the fees, parsed one way for both, so a strategy run in paper is configured as it
 * was in its backtest.
 */
import { UsageError } from './command.ts';
import { numberFlag } from './args.ts';
import type { Strategy } from '../backtest/strategy.ts';

export const SIM_FLAGS = {
  strategy: { type: 'string' },
  param: { type: 'string', multiple: true },
  queue: { type: 'string' },
  lot: { type: 'string' },
  'latency-feed': { type: 'string' },
  'latency-entry': { type: 'string' },
  'latency-response': { type: 'string' },
  'fee-maker': { type: 'string' },
  'fee-taker': { type: 'string' },
  out: { type: 'string' },
  models: { type: 'string' },
} as const;

type SimValues = { [K in keyof typeof SIM_FLAGS]?: (typeof SIM_FLAGS)[K] extends { multiple: true } ? string[] : string };

export interface SimSettings {
  latency: { feed: number | 'measured'; entry: number; response: number };
  feeMakerBps: number;
  feeTakerBps: number;
  queueName: string;
  lot: number;
}

/**
 * Latencies (ns; the feed's may be `measured` where `measuredFeed`), fees (bps), the queue model's
 * name and the lot its fills round to (`defaultLot` where --lot is absent).
 */
export function simSettings(values: SimValues, o: { measuredFeed: boolean; defaultLot: number }): SimSettings {
  const ns = (v: string | undefined, name: string): number => numberFlag(v, name, 0, { min: 0 });
  const feed = values['latency-feed'];
  return {
    latency: {
      feed: o.measuredFeed && feed === 'measured' ? 'measured' : ns(feed, 'latency-feed'),
      entry: ns(values['latency-entry'], 'latency-entry'),
      response: ns(values['latency-response'], 'latency-response'),
    },
    feeMakerBps: numberFlag(values['fee-maker'], 'fee-maker', 0),
    feeTakerBps: numberFlag(values['fee-taker'], 'fee-taker', 0),
    queueName: values.queue ?? 'risk-averse',
    lot: numberFlag(values.lot, 'lot', o.defaultLot, { min: 0 }),
  };
}

/** The strategy (a bundled name or a module) with its --param values; the queue model's name checked first. */
export async function loadSimStrategy(values: SimValues, queueName: string): Promise<Strategy> {
  if (!values.strategy) throw new UsageError('--strategy is required');
  const { parseParams, loadStrategy } = await import('../backtest/load.ts');
  const { queueModel } = await import('../backtest/queue/index.ts');
  try {
    queueModel(queueName);
    return await loadStrategy(values.strategy, parseParams(values.param ?? []));
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}
