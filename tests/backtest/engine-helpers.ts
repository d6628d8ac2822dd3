/**
 * A minimal risk-averse queue model for the engine's own tests only (the project's models are in
 * src/backtest/queue/): it joins behind the whole visible level and moves up only by trades at its
 * price and by the level shrinking below what it thinks is ahead.
 */
import type { QueueModel, QueueState } from '../../src/backtest/queue/model.ts';

export function testRiskAverse(): QueueModel {
  return {
    name: 'test-risk-averse',
    join: (levelSize, qty) => ({ ahead: levelSize, remaining: qty }),
    onTrade(s: QueueState, size: number) {
      const past = Math.max(0, size - s.ahead);
      s.ahead = Math.max(0, s.ahead - size);
      const f = Math.min(past, s.remaining);
      s.remaining -= f;
      return f;
    },
    onDepth(s: QueueState, _before: number, after: number) {
      // The level shrinking below our estimate: at most `after` (minus us, who are not in the record) can be ahead.
      if (after < s.ahead) s.ahead = after;
    },
  };
}

