/**
 * Every parameter of the analytics, with its default and unit. docs/analytics.md explains each; the
 * CLI sets any of them with `--param group.name=value` and prints them all with `--params`.
 * Times are milliseconds of exchange time unless named otherwise.
 */
export interface AnalyticsOptions {
  measures: {
    /** Emit a measures snapshot per symbol every this many ms of exchange time (0: never). */
    everyMs: number;
    /**
     * VPIN (FEATURES.md) bucket volume per symbol, in the source's size unit; a symbol not listed has
     * no VPIN. Read when a symbol is first seen, and kept by reference: the server sizes a replayed
     * symbol's bucket from its file after the engine is built, before its first event.
     */
    vpinBucket: Record<string, number>;
    /** VPIN window n (buckets), for both VPIN and the BVC variant. */
    vpinBuckets: number;
    /** Bar length (ms) and window (bars) of Kyle's, Hasbrouck's and Amihud's measures (FEATURES.md). */
    barMs: number;
    barWindow: number;
    /** Bulk-volume-classification VPIN: time-bar length, and the bars (with trades) that define sigma(dP). */
    bvcBarMs: number;
    bvcSigmaBars: number;
    /** Roll's spread: serial covariance over the last this many (aggregated) trades. */
    rollTrades: number;
    /** Realised spread and adverse selection horizon h. */
    horizonMs: number;
    /** Trailing window of the size-weighted spread averages. */
    spreadWindowMs: number;
  };
  liquidity: {
    /** Depth within this many bps of mid, each side. */
    bps: number;
    /** Top-L depth, each side. */
    levels: number;
    /** The fall that triggers: depth <= (1 - dropFrac) x trailing median, lost within fallMs. */
    dropFrac: number;
    /** 1: both measures (near and top-L) must collapse; 0: either. */
    requireBoth: number;
    fallMs: number;
    /** Trailing median: sampled every sampleMs over windowMs; no alert before minSamples samples. */
    windowMs: number;
    sampleMs: number;
    minSamples: number;
    /** critical when depth <= criticalFrac x median (or both sides fall at once). */
    criticalFrac: number;
    /** Re-armed once depth is back above rearmFrac x median, and no sooner than cooldownMs. */
    rearmFrac: number;
    cooldownMs: number;
  };
  stuffing: {
    /** Book updates over windowMs, in 100 ms buckets. */
    windowMs: number;
    /** Trigger: rate >= rateMultiple x baseline (median per-second rate over baselineS s) and >= minRate per s. */
    rateMultiple: number;
    minRate: number;
    baselineS: number;
    minBaselineS: number;
    /** And cancels / adds over the window >= cancelRatio, with at least minAdds adds. */
    cancelRatio: number;
    minAdds: number;
    /** critical at criticalMultiple x baseline. */
    criticalMultiple: number;
    cooldownMs: number;
  };
  spoofing: {
    /** "Large": an add above this quantile of the symbol's recent add sizes (and >= minSize). */
    largeQuantile: number;
    minSize: number;
    /** Non-marketable and away from the touch: behind the best on its side by more than awayBps. */
    awayBps: number;
    /** Cancelled within maxLifeMs with no fill. */
    maxLifeMs: number;
    /** An alert when minRepeats such cancels on one side fall within windowMs. */
    minRepeats: number;
    windowMs: number;
    /** Layering (critical): the repeats span at least layerLevels distinct prices. */
    layerLevels: number;
    cooldownMs: number;
  };
  hidden: {
    /** A print is "hidden liquidity" when its size exceeds the displayed size at its price by more than tolerance (fraction). */
    tolerance: number;
    /** Detections on one side within episodeMs of the previous make one alert. */
    episodeMs: number;
    /** Iceberg: an add at the price and side of an execution within refillMs is a refill. */
    refillMs: number;
    /** An iceberg alert after minRefills refills at one price within episodeMs of each other. */
    minRefills: number;
  };
  whale: {
    /** Above this rolling quantile of the symbol's trade (aggregated) and order-add sizes. */
    quantile: number;
    /** Sizes remembered, refresh cadence, and samples needed before alerting. */
    window: number;
    refreshEvery: number;
    minSamples: number;
    /** critical at criticalMultiple x the threshold. */
    criticalMultiple: number;
    /** Resting orders: only adds within nearBps of the touch are judged; one alert per price and side per repeatMs. */
    nearBps: number;
    repeatMs: number;
  };
  wash: {
    /** minPrints prints of one size at one price, aggressors alternating, within windowMs. */
    minPrints: number;
    windowMs: number;
    /** Sizes making up more than commonShare of the last commonWindow prints (round lots) are ignored. */
    commonShare: number;
    commonWindow: number;
  };
  toxicity: {
    /** toxic-flow when VPIN exceeds this quantile of its own history (per completed bucket). */
    quantile: number;
    rearmQuantile: number;
    minBuckets: number;
  };
  latency: {
    /** Stats over the trailing windowMs of receipts, recomputed every tickMs of local time. */
    windowMs: number;
    tickMs: number;
    /** Baselines: median of the last baselineTicks ticks' values; alerts need minTicks of them. */
    baselineTicks: number;
    minTicks: number;
    /** latency-jitter: jitter (p99 - p50) >= jitterMultiple x baseline and >= minJitterMs. */
    jitterMultiple: number;
    minJitterMs: number;
    /** latency-offset-shift: |offset - baseline offset| >= shiftMs. */
    shiftMs: number;
    cooldownMs: number;
  };
}

export const DEFAULT_ANALYTICS_OPTIONS: AnalyticsOptions = {
  measures: {
    everyMs: 10_000,
    vpinBucket: {},
    vpinBuckets: 50,
    barMs: 1000,
    barWindow: 300,
    bvcBarMs: 1000,
    bvcSigmaBars: 300,
    rollTrades: 1000,
    horizonMs: 1000,
    spreadWindowMs: 300_000,
  },
  liquidity: {
    bps: 10,
    levels: 10,
    dropFrac: 0.7,
    requireBoth: 1,
    fallMs: 100,
    windowMs: 60_000,
    sampleMs: 1000,
    minSamples: 10,
    criticalFrac: 0.1,
    rearmFrac: 0.5,
    cooldownMs: 5000,
  },
  stuffing: {
    windowMs: 1000,
    rateMultiple: 20,
    minRate: 200,
    baselineS: 300,
    minBaselineS: 30,
    cancelRatio: 0.95,
    minAdds: 50,
    criticalMultiple: 100,
    cooldownMs: 5000,
  },
  spoofing: {
    largeQuantile: 0.99,
    minSize: 0,
    awayBps: 0,
    maxLifeMs: 2000,
    minRepeats: 3,
    windowMs: 10_000,
    layerLevels: 3,
    cooldownMs: 10_000,
  },
  hidden: {
    tolerance: 0,
    episodeMs: 1000,
    refillMs: 10,
    minRefills: 2,
  },
  whale: {
    quantile: 0.995,
    window: 5000,
    refreshEvery: 1000,
    minSamples: 500,
    criticalMultiple: 5,
    nearBps: 25,
    repeatMs: 60_000,
  },
  wash: {
    minPrints: 4,
    windowMs: 2000,
    commonShare: 0.05,
    commonWindow: 2000,
  },
  toxicity: {
    quantile: 0.99,
    rearmQuantile: 0.9,
    minBuckets: 200,
  },
  latency: {
    windowMs: 5000,
    tickMs: 1000,
    baselineTicks: 300,
    minTicks: 30,
    jitterMultiple: 4,
    minJitterMs: 50,
    shiftMs: 250,
    cooldownMs: 10_000,
  },
};

type Group = Exclude<keyof AnalyticsOptions, never>;

/** Deep-merges overrides onto the defaults and checks every value. */
export function analyticsOptions(over: DeepPartial<AnalyticsOptions> = {}): AnalyticsOptions {
  const d = DEFAULT_ANALYTICS_OPTIONS;
  const out = {} as AnalyticsOptions;
  for (const g of Object.keys(d) as Group[]) {
    (out as unknown as Record<string, unknown>)[g] = { ...d[g], ...(over[g] ?? {}) };
  }
  out.measures.vpinBucket = (over.measures?.vpinBucket ?? {}) as Record<string, number>;
  checkOptions(out);
  return out;
}

export type DeepPartial<T> = { [K in keyof T]?: T[K] extends Record<string, unknown> ? Partial<T[K]> : T[K] };

type Rule = 'pos' | 'posInt' | 'nonneg' | 'frac' | ((v: number) => string | null);

/** What each parameter must be; a parameter not listed here has no check of its own. */
const RULES: { [G in keyof AnalyticsOptions]: Partial<Record<keyof AnalyticsOptions[G], Rule>> } = {
  measures: {
    everyMs: 'nonneg', vpinBuckets: 'posInt', barMs: 'posInt', bvcBarMs: 'posInt', horizonMs: 'nonneg', spreadWindowMs: 'pos',
    barWindow: (v) => (v >= 2 && Number.isInteger(v) ? null : 'an integer >= 2'),
    bvcSigmaBars: (v) => (v >= 2 && Number.isInteger(v) ? null : 'an integer >= 2'),
    rollTrades: (v) => (v >= 3 && Number.isInteger(v) ? null : 'an integer >= 3'),
  },
  liquidity: {
    bps: 'pos', levels: 'posInt', dropFrac: 'frac', fallMs: 'pos', windowMs: 'pos', sampleMs: 'pos', minSamples: 'posInt',
    criticalFrac: 'frac', rearmFrac: 'frac', cooldownMs: 'nonneg',
    requireBoth: (v) => (v === 0 || v === 1 ? null : '0 or 1'),
  },
  stuffing: {
    windowMs: (v) => (v >= 100 && v % 100 === 0 ? null : 'a multiple of 100 ms'),
    rateMultiple: 'pos', minRate: 'nonneg', baselineS: 'posInt', minBaselineS: 'posInt', cancelRatio: 'frac', minAdds: 'nonneg',
    criticalMultiple: 'pos', cooldownMs: 'nonneg',
  },
  spoofing: {
    largeQuantile: 'frac', minSize: 'nonneg', awayBps: 'nonneg', maxLifeMs: 'pos', minRepeats: 'posInt', windowMs: 'pos',
    layerLevels: 'posInt', cooldownMs: 'nonneg',
  },
  hidden: { tolerance: 'nonneg', episodeMs: 'pos', refillMs: 'nonneg', minRefills: 'posInt' },
  whale: { quantile: 'frac', window: 'posInt', refreshEvery: 'posInt', minSamples: 'posInt', criticalMultiple: 'pos', nearBps: 'nonneg', repeatMs: 'nonneg' },
  wash: {
    minPrints: (v) => (v >= 2 && Number.isInteger(v) ? null : 'an integer >= 2'),
    windowMs: 'pos', commonShare: 'frac', commonWindow: 'posInt',
  },
  toxicity: { quantile: 'frac', rearmQuantile: 'frac', minBuckets: 'posInt' },
  latency: {
    windowMs: 'pos', tickMs: 'pos', baselineTicks: 'posInt', minTicks: 'posInt', jitterMultiple: 'pos', minJitterMs: 'nonneg',
    shiftMs: 'pos', cooldownMs: 'nonneg',
  },
};

const RULE_TEXT = { pos: 'a positive number', posInt: 'a positive integer', nonneg: '>= 0', frac: 'in [0, 1]' } as const;

function violates(rule: Rule, v: number): string | null {
  if (typeof rule === 'function') return rule(v);
  const ok = rule === 'pos' ? v > 0 : rule === 'posInt' ? v > 0 && Number.isInteger(v) : rule === 'nonneg' ? v >= 0 : v >= 0 && v <= 1;
  return ok ? null : RULE_TEXT[rule];
}

function checkOptions(o: AnalyticsOptions): void {
  const bad: string[] = [];
  for (const g of Object.keys(RULES) as (keyof AnalyticsOptions)[]) {
    const values = o[g] as unknown as Record<string, number>;
    for (const [k, rule] of Object.entries(RULES[g]) as [string, Rule][]) {
      const why = violates(rule, values[k]!);
      if (why) bad.push(`${g}.${k} must be ${why}, got ${values[k]}`);
    }
  }
  if (o.liquidity.windowMs / o.liquidity.sampleMs > 100_000) bad.push('liquidity.windowMs / liquidity.sampleMs must be <= 100000 samples');
  for (const [s, v] of Object.entries(o.measures.vpinBucket)) if (!(v > 0)) bad.push(`measures.vpinBucket for ${s} must be > 0, got ${v}`);
  if (bad.length) throw new RangeError(`analytics options: ${bad.join('; ')}`);
}

/**
 * Applies `group.name=value` settings (CLI `--param`) onto an override object; throws naming the
 * setting when the group or name is unknown or the value is not a number.
 */
export function applyParams(over: DeepPartial<AnalyticsOptions>, settings: readonly string[]): DeepPartial<AnalyticsOptions> {
  const d = DEFAULT_ANALYTICS_OPTIONS as unknown as Record<string, Record<string, unknown>>;
  const o = over as Record<string, Record<string, unknown>>;
  for (const s of settings) {
    const m = /^([a-z]+)\.([A-Za-z]+)=(.+)$/.exec(s.trim());
    if (!m) throw new RangeError(`--param "${s}": expected group.name=value (e.g. liquidity.bps=5)`);
    const [, g, k, raw] = m as unknown as [string, string, string, string];
    if (!(g in d)) throw new RangeError(`--param "${s}": unknown group "${g}" (one of ${Object.keys(d).join(', ')})`);
    const dv = d[g]![k];
    if (typeof dv !== 'number') {
      throw new RangeError(`--param "${s}": unknown parameter "${k}" in ${g} (one of ${Object.keys(d[g]!).filter((x) => typeof d[g]![x] === 'number').join(', ')})`);
    }
    const v = Number(raw);
    if (!Number.isFinite(v)) throw new RangeError(`--param "${s}": "${raw}" is not a number`);
    (o[g] ??= {})[k] = v;
  }
  return over;
}
