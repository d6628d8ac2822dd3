/**
 * The queue-position models by name: what `--queue` accepts and what the simulated exchange builds.
 * Formulas and the validation against the exact queue: docs/backtest.md.
 */
import type { QueueModel } from './model.ts';
import { RiskAverseModel, logModel, powerModel, type L2Options } from './l2.ts';
import { ExactQueueModel } from './exact.ts';

export type { QueueModel, QueueState } from './model.ts';
export { RiskAverseModel, ProbQueueModel, powerModel, logModel, behindShareOf, type L2Options, type ProbState } from './l2.ts';
export { ExactQueueModel, priceKey, type ExactState, type ExactStats, type ExactOptions } from './exact.ts';

/** The spec forms, for help texts and error messages. */
export const QUEUE_MODEL_FORMS = ['risk-averse', 'prob-power:N', 'prob-log', 'exact'] as const;
/** The named models the validation compares (and a help text can list). */
export const QUEUE_MODEL_NAMES = ['risk-averse', 'prob-power:2', 'prob-power:3', 'prob-log', 'exact'] as const;
/** The models that need only level sizes and trades (any source); `exact` needs order messages. */
export const L2_QUEUE_MODEL_NAMES = ['risk-averse', 'prob-power:2', 'prob-power:3', 'prob-log'] as const;

/** Whether a model needs the order messages of the symbol (onOrder) to work. */
export function needsOrders(spec: string): boolean {
  return spec.trim() === 'exact';
}

/**
 * A new model for one symbol (the exact model keeps that symbol's order book, so one instance per
 * symbol; the L2 models keep nothing between orders and could be shared, but need not be).
 * `opts.lot` rounds L2 fills to whole lots; the exact model's fills are whole venue sizes already.
 */
export function queueModel(spec: string, opts: L2Options = {}): QueueModel {
  const s = spec.trim();
  if (s === 'risk-averse') return new RiskAverseModel(opts);
  if (s === 'prob-log') return logModel(opts);
  if (s === 'exact') return new ExactQueueModel();
  const m = /^prob-power:(.+)$/.exec(s);
  if (m) {
    const n = Number(m[1]);
    if (!(n > 0) || !Number.isFinite(n)) {
      throw new RangeError(`queue model "${spec}": the exponent of prob-power:N must be a number > 0, got "${m[1]}"`);
    }
    return powerModel(n, opts);
  }
  throw new RangeError(`queue model "${spec}": unknown; choose one of ${QUEUE_MODEL_FORMS.join(', ')} (e.g. ${QUEUE_MODEL_NAMES.join(', ')})`);
}
