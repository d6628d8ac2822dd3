/** The run's JSON summary (the last stdout line of `flowcast backtest`, summary.json): metrics plus what was run how. */
import type { BacktestResult } from '../run.ts';
import type { LatencyModel } from '../engine.ts';
import { sessionOf, summarise, type Summary } from './metrics.ts';

export interface RunSettings {
  strategy: string;
  queue: string;
  latency: LatencyModel;
  feeMakerBps: number;
  feeTakerBps: number;
}

export function buildSummary(r: BacktestResult, s: RunSettings): Record<string, unknown> & { metrics: Summary } {
  const rec = r.record;
  const lastMid: Record<string, number> = {};
  for (const sym of r.symbols) lastMid[sym] = r.engine.exchange?.mid(sym) ?? NaN;
  // A symbol whose book emptied at the end: its last equity point's mid.
  const last = rec.equity[rec.equity.length - 1];
  for (const sym of r.symbols) if (!(lastMid[sym]! > 0) && last) lastMid[sym] = last.mid;
  const orders = [...rec.orders.values()];
  const metrics = summarise(rec.fills, orders, rec.equity, lastMid, sessionOf(r.kind));
  const x = r.engine.exchange?.stats;
  return {
    strategy: s.strategy,
    source: r.spec,
    symbols: r.symbols,
    queue: s.queue,
    latencyNs: s.latency,
    feesBps: { maker: s.feeMakerBps, taker: s.feeTakerBps },
    from: new Date(Math.floor(r.baseMs + rec.firstTs / 1e6)).toISOString(),
    to: new Date(Math.floor(r.baseMs + rec.lastTs / 1e6)).toISOString(),
    events: rec.events,
    rows: rec.rows,
    predictions: rec.predictions,
    alerts: rec.alerts,
    seconds: Math.round(r.seconds * 1000) / 1000,
    eventsPerSecond: Math.round(rec.events / r.seconds),
    orders: orders.length,
    logs: rec.logs.length,
    exchange: x ? { ...x } : undefined,
    ...(s.latency.feed === 'measured' ? { feedLatency: { measured: rec.feedMeasured, withoutLocalTime: rec.feedMissing } } : {}),
    pnl: metrics.pnl.total,
    sharpe: metrics.sharpe.sharpe,
    maxDrawdown: metrics.drawdown.maxDrawdown,
    metrics,
  };
}
