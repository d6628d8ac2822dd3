/**
 * A volume curve from a recorded source's trades (any source spec: LOBSTER, Binance, Tardis,
 * recordings): what VWAP reads as its history. Kept apart from volume-curve.ts so a strategy that
 * only reads a curve file does not load the sources.
 */
import { openSource } from '../../sources/spec.ts';
import { buildVolumeCurve, type VolumeCurve } from './volume-curve.ts';

export async function volumeCurveFromSource(spec: string, bucketNs: number, symbol?: string): Promise<VolumeCurve> {
  const source = await openSource(spec);
  const trades: { ts: number; size: number }[] = [];
  await source.run({
    onDepth() {},
    onTrade(e) {
      if (symbol === undefined || e.symbol === symbol) trades.push({ ts: e.ts, size: e.size });
    },
  });
  return buildVolumeCurve(trades, bucketNs, symbol === undefined ? spec : `${spec} (${symbol})`);
}
