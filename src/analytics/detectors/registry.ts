/**
 * Every detector the engine runs, by name: each entry makes one symbol's instance from the analytics
 * options and the symbol's context. Adding a detector is one file implementing Detector, one line
 * here and its test (docs/analytics.md).
 *
 * The order is the order the engine calls the detectors within one event, and with it the order of
 * alerts that one event raises in several of them; it is kept as the engine called them before the
 * registry existed, so the alert streams did not change.
 */
import type { AnalyticsOptions } from '../options.ts';
import type { DetectorContext } from './context.ts';
import type { Detector } from './detector.ts';
import { StuffingMonitor } from './stuffing.ts';
import { SpoofingMonitor } from './spoofing.ts';
import { WhaleMonitor } from './whale.ts';
import { HiddenLiquidityMonitor } from './hidden.ts';
import { WashMonitor } from './wash.ts';
import { LiquidityMonitor } from './liquidity.ts';

export type DetectorFactory = (o: AnalyticsOptions, ctx: DetectorContext) => Detector;

export const DETECTORS: Readonly<Record<string, DetectorFactory>> = {
  stuffing: (o, ctx) => new StuffingMonitor(o.stuffing, ctx),
  spoofing: (o, ctx) => new SpoofingMonitor(o.spoofing, ctx),
  whale: (o, ctx) => new WhaleMonitor(o.whale, ctx),
  hidden: (o, ctx) => new HiddenLiquidityMonitor(o.hidden, ctx),
  wash: (o, ctx) => new WashMonitor(o.wash, ctx),
  liquidity: (o, ctx) => new LiquidityMonitor(o.liquidity, ctx),
};
