/** Shared test helpers: real data paths and running the feature pipeline into memory. */
import { runFeatures, type FeaturesRunOptions } from '../src/pipeline/features.ts';
import { FeatureTable } from '../src/store/memory.ts';
import type { TimeBaseRef } from '../src/core/time.ts';

export const GOOG_MSG = 'data/lobster/GOOG_2012-06-21_34200000_57600000_message_10.csv.gz';
export const GOOG_OB = 'data/lobster/GOOG_2012-06-21_34200000_57600000_orderbook_10.csv.gz';
export const GOOG = `lobster:${GOOG_MSG},${GOOG_OB}`;
export const AMZN_ZIP = 'data/lobster/LOBSTER_SampleFile_AMZN_2012-06-21_5.zip';
export const USDM_FILE = 'data/binance/binance-usdm_btcusdt_20240808.jsonl.gz';
export const SPOT_FILE = 'data/binance/binance-spot_btcusdt_20240808.jsonl.gz';
export const USDM = `binance:${USDM_FILE}`;
export const SPOT = `binance:${SPOT_FILE}`;

export async function featuresInMemory(spec: string, opts: FeaturesRunOptions = {}) {
  let table!: FeatureTable;
  let tb!: TimeBaseRef;
  const res = await runFeatures(spec, opts, (columns, timeBase) => {
    tb = timeBase;
    return (table = new FeatureTable(columns));
  });
  return { table, timeBase: tb, res };
}
