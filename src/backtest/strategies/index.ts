/**
 * The bundled strategies by the name `--strategy NAME` picks them (a path to a module picks a
 * user's own). Each is a StrategyFactory over the strategy API alone (../strategy.ts), so the same
 * object runs in `flowcast backtest` and `flowcast paper`. What each does and its parameters:
 * docs/backtest.md, section Strategies.
 */
import type { StrategyFactory } from '../strategy.ts';
import { immediate, pov, twap, vwap } from './execution.ts';
import { marketMaker } from './market-maker.ts';
import { taker } from './taker.ts';

export const builtinStrategies: Record<string, StrategyFactory> = {
  'market-maker': marketMaker,
  taker,
  twap,
  vwap,
  pov,
  immediate,
};
