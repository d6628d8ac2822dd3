/**
 * The real sample data bundled in data/ (sources and terms in data/README.md), as paths relative to
 * the project root and as source specs: the demo's replays, the benchmarks, gpu-check and the tests
 * all name them from here.
 */
export const GOOG_MSG = 'data/lobster/GOOG_2012-06-21_34200000_57600000_message_10.csv.gz';
export const GOOG_OB = 'data/lobster/GOOG_2012-06-21_34200000_57600000_orderbook_10.csv.gz';
export const GOOG = `lobster:${GOOG_MSG},${GOOG_OB}`;
export const AMZN_ZIP = 'data/lobster/LOBSTER_SampleFile_AMZN_2012-06-21_5.zip';
export const AMZN = `lobster:${AMZN_ZIP}`;
export const USDM_FILE = 'data/binance/binance-usdm_btcusdt_20240808.jsonl.gz';
export const SPOT_FILE = 'data/binance/binance-spot_btcusdt_20240808.jsonl.gz';
export const USDM = `binance:${USDM_FILE}`;
export const SPOT = `binance:${SPOT_FILE}`;
