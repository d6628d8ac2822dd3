/**
 * The measures snapshot: per symbol, every `measures.everyMs` of exchange time, the toxicity,
 * impact, spread and book-health numbers as of that instant (docs/analytics.md defines each).
 * Streaming consumers get it as a Float64Array in this column order; batch runs write it as CSV.
 */
import type { TimeBase } from '../../model/time.ts';

export const MEASURE_COLUMNS = [
  'mid',
  'spread_bps',
  'vpin',
  'vpin_bvc',
  'kyle_lambda',
  'hasbrouck_lambda',
  'amihud',
  'roll_spread',
  'roll_spread_bps',
  'effective_spread_bps',
  'realized_spread_bps',
  'adverse_selection_bps',
  'depth_bid_near',
  'depth_ask_near',
  'depth_bid_top',
  'depth_ask_top',
  'update_rate',
  'cancel_ratio',
  'trades',
  'volume',
  'latency_offset_ms',
  'latency_jitter_ms',
  'alerts',
] as const;
export type MeasureColumn = (typeof MEASURE_COLUMNS)[number];
export const M = Object.fromEntries(MEASURE_COLUMNS.map((c, i) => [c, i])) as Record<MeasureColumn, number>;

/** Receives snapshots; `values` is reused after the call returns. */
export type MeasuresSink = (symbol: string, ts: number, values: Float64Array) => void;

export interface MeasuresJson {
  type: 'measures';
  symbol: string;
  ts_ns: string;
  ts_ms: number;
  values: Record<MeasureColumn, number | null>;
}

export function measuresToJson(symbol: string, ts: number, values: Float64Array, tb: TimeBase): MeasuresJson {
  const v = {} as Record<MeasureColumn, number | null>;
  for (let i = 0; i < MEASURE_COLUMNS.length; i++) {
    const x = values[i]!;
    v[MEASURE_COLUMNS[i]!] = Number.isFinite(x) ? x : null;
  }
  const t = Math.round(ts);
  return { type: 'measures', symbol, ts_ns: tb.toEpochNs(t).toString(), ts_ms: tb.toEpochMs(t), values: v };
}
