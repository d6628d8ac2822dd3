import { DEFAULT_LEVELS } from '../model/depth.ts';

/** Parameters of the feature computation (FEATURES.md), with their defaults and checks. */
export interface FeatureOptions {
  /** L: levels for depth_* and slope_* (imb_5 / imb_10 always use 5 and 10 levels where the source has them). */
  levels: number;
  /** VPIN bucket volume V, in the source's size unit. */
  vpinBucket: number;
  /** Per-symbol V overriding `vpinBucket` (auto mode sizes each symbol from its own volume). */
  vpinBucketBySymbol?: Readonly<Record<string, number>>;
  /** VPIN window n (buckets). */
  vpinBuckets: number;
  /** Bar length for the impact measures, ms. */
  barMs: number;
  /** W: completed bars in the impact regressions. */
  barWindow: number;
  /** Label horizons in rows; none = no label columns. */
  horizons: readonly number[];
  /** Label threshold. */
  alpha: number;
  /**
   * How long (ms of row time) the bar-based columns of a row wait for late trades before they are
   * final. 0 computes them at once (live feeds); batch runs wait so that a trade arriving a few ms
   * after the row that completed its bar still counts, as the definition (by trade timestamp) says.
   */
  settleMs: number;
  /** Output rows per block. */
  blockRows: number;
}

export const DEFAULT_FEATURE_OPTIONS: Omit<FeatureOptions, 'vpinBucket'> = {
  levels: DEFAULT_LEVELS,
  vpinBuckets: 50,
  barMs: 1000,
  barWindow: 300,
  horizons: [],
  alpha: 0.00002,
  settleMs: 5000,
  blockRows: 8192,
};

export const DEFAULT_HORIZONS = [10, 50, 100] as const;

export function featureOptions(o: Partial<FeatureOptions> & { vpinBucket: number }): FeatureOptions {
  const r: FeatureOptions = { ...DEFAULT_FEATURE_OPTIONS, ...o };
  const check = (ok: boolean, what: string): void => {
    if (!ok) throw new RangeError(what);
  };
  check(Number.isInteger(r.levels) && r.levels >= 1 && r.levels <= 1000, `levels must be an integer in 1..1000, got ${r.levels}`);
  check(r.vpinBucket > 0, `VPIN bucket volume must be > 0, got ${r.vpinBucket}`);
  check(Number.isInteger(r.vpinBuckets) && r.vpinBuckets >= 1, `VPIN window must be a positive integer, got ${r.vpinBuckets}`);
  check(Number.isInteger(r.barMs) && r.barMs >= 1, `bar length must be a positive integer of ms, got ${r.barMs}`);
  check(Number.isInteger(r.barWindow) && r.barWindow >= 2, `bar window must be an integer >= 2, got ${r.barWindow}`);
  check(r.horizons.every((k) => Number.isInteger(k) && k >= 1), `horizons must be positive integers, got ${r.horizons.join(',')}`);
  check(new Set(r.horizons).size === r.horizons.length, `horizons repeat: ${r.horizons.join(',')}`);
  check(r.alpha >= 0, `alpha must be >= 0, got ${r.alpha}`);
  check(r.settleMs >= 0, `settle time must be >= 0, got ${r.settleMs}`);
  check(Number.isInteger(r.blockRows) && r.blockRows >= 1, `block size must be a positive integer, got ${r.blockRows}`);
  return r;
}
