/** Shared test helpers: real data paths and running the feature pipeline into memory. */
import { runFeatures, type FeaturesRunOptions } from '../src/pipeline/features.ts';
import { FeatureTable } from '../src/store/memory.ts';
import type { TimeBaseRef } from '../src/core/time.ts';

export { GOOG_MSG, GOOG_OB, GOOG, AMZN_ZIP, AMZN, USDM_FILE, SPOT_FILE, USDM, SPOT } from '../src/sources/samples.ts';

export async function featuresInMemory(spec: string, opts: FeaturesRunOptions = {}) {
  let table!: FeatureTable;
  let tb!: TimeBaseRef;
  const res = await runFeatures(spec, opts, (columns, timeBase) => {
    tb = timeBase;
    return (table = new FeatureTable(columns));
  });
  return { table, timeBase: tb, res };
}
