/**
 * Binance as a live source: `{"binance": "spot"|"usdm", "symbols": [...]}` in the server's config,
 * `--binance usdm:BTCUSDT,ETHUSDT` on the command line, served by the connector.
 */
import type { ConfigReader, LiveSourceConfig, LiveVenue } from '../venue.ts';
import { BinanceConnector, type BinanceMarket } from './connector.ts';

export type BinanceLiveConfig = {
  kind: 'binance';
  market: BinanceMarket;
  symbols: string[];
  /** Base URLs (tests point them at the mock exchange). */
  wsUrl?: string;
  restUrl?: string;
  /** Diff stream suffix (default @depth@100ms). */
  depthStream?: string;
};

// Only this venue's parseConfig and parseFlag make the configs it is handed.
const own = (c: LiveSourceConfig): BinanceLiveConfig => c as BinanceLiveConfig;

export const binanceLive: LiveVenue = {
  configForm: '{"binance": "spot"|"usdm", "symbols": [...]}',
  parseConfig(o: Record<string, unknown>, path: string, r: ConfigReader): LiveSourceConfig {
    r.known(o, ['binance', 'symbols', 'wsUrl', 'restUrl', 'depthStream'], path);
    const market = r.str(o, 'binance', path);
    if (market !== 'spot' && market !== 'usdm') r.fail(`${path}binance`, `expected "spot" or "usdm", got ${JSON.stringify(market)}`);
    const symbols = r.strings(o, 'symbols', path);
    if (!symbols || symbols.length === 0) r.fail(`${path}symbols`, 'expected a non-empty array of symbols');
    const depthStream = r.str(o, 'depthStream', path);
    if (depthStream !== undefined && !/^@depth(@\d+ms)?$/.test(depthStream)) r.fail(`${path}depthStream`, `expected @depth, @depth@100ms, @depth@500ms ..., got ${JSON.stringify(depthStream)}`);
    const c: BinanceLiveConfig = { kind: 'binance', market, symbols: symbols.map((x) => x.toUpperCase()), wsUrl: r.str(o, 'wsUrl', path), restUrl: r.str(o, 'restUrl', path), depthStream };
    return c;
  },
  flagForm: 'spot:SYMBOL[,SYMBOL...] or usdm:SYMBOL[,SYMBOL...]',
  parseFlag(v) {
    const m = /^(spot|usdm):([A-Za-z0-9,]+)$/.exec(v.trim());
    if (!m) return undefined;
    const c: BinanceLiveConfig = { kind: 'binance', market: m[1] as BinanceMarket, symbols: m[2]!.split(',').filter(Boolean).map((s) => s.toUpperCase()) };
    return c;
  },
  sourceName: (c) => `binance-${own(c).market}:${c.symbols.join(',')}`,
  describe: (c) => `binance ${own(c).market} ${c.symbols.join(',')}`,
  connect(c, timeBase, target) {
    const b = own(c);
    return new BinanceConnector({ market: b.market, symbols: b.symbols, timeBase, wsUrl: b.wsUrl, restUrl: b.restUrl, depthStream: b.depthStream }, target);
  },
};
