/**
 * The `--series` CSV of `flowcast impact`: one line per symbol, sample time and Q, with the book-walk
 * estimates for a buy and a sell and Kyle's lambda * Q. Pure formatting; empty fields where a value
 * is undefined (no two-sided book, lambda not yet defined, the walk ran out of visible levels).
 */
import type { ImpactSample } from './analyzer.ts';
import type { WalkImpact } from './walk.ts';

const SIDE = ['vwap', 'cost_mid', 'cost_mid_bps', 'cost_touch', 'cost_touch_bps', 'mid_move_bps', 'levels', 'exhausted'];

export function seriesCsvHeader(): string {
  return ['ts_ns', 'symbol', 'q', 'book_ts_ns', 'mid', ...SIDE.map((c) => `buy_${c}`), ...SIDE.map((c) => `sell_${c}`), 'kyle_lambda', 'kyle_impact', 'kyle_bps'].join(',');
}

const f = (x: number): string => (Number.isFinite(x) ? String(x) : '');

function side(w: WalkImpact): string[] {
  return [f(w.walk.vwap), f(w.costMid), f(w.costMidBps), f(w.costTouch), f(w.costTouchBps), f(w.midMoveBps), String(w.walk.levels), w.walk.exhausted ? '1' : '0'];
}

export function seriesCsvLine(s: ImpactSample, toEpochNs: (offset: number) => bigint): string {
  return [
    toEpochNs(s.ts).toString(), s.symbol, String(s.q), toEpochNs(s.bookTs).toString(), f(s.mid),
    ...side(s.buy), ...side(s.sell), f(s.kyle), f(s.kyleImpact), f(s.kyleBps),
  ].join(',');
}
