import type { DatasetParams } from '../../src/dataset/record.ts';
import { FEATURE_SPEC_VERSION } from '../../src/features/columns.ts';
import { DEFAULT_FEATURE_OPTIONS } from '../../src/features/options.ts';

/** The parameters `dataset build` uses by default, with `over` changed. */
export function datasetParams(over: Partial<DatasetParams> = {}): DatasetParams {
  const { levels, vpinBuckets, barMs, barWindow, settleMs, alpha } = DEFAULT_FEATURE_OPTIONS;
  return {
    specVersion: FEATURE_SPEC_VERSION, levels, vpinBuckets, barMs, barWindow, settleMs, alpha, horizons: [],
    vpinBucket: 'auto', vpinWarmup: '30m', carry: false, skipBad: null, ...over,
  };
}
