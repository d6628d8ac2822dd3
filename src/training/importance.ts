/**
 * Permutation importance (Breiman 2001; model-agnostic form of Fisher, Rudin & Dominici 2019): how
 * much worse a model scores when one input column is shuffled across the scored samples, which
 * breaks that column's link with the label and with the other columns while keeping its
 * distribution. Measured as the drop in macro-F1 and the increase in log loss, each averaged over
 * `repeats` independent shuffles.
 *
 * Intervals: the circular block bootstrap of the evaluation, over samples, of the repeat-averaged
 * drop, with the shuffles held fixed. Both the permuted and the unpermuted predictions are scored
 * on the same resampled rows (paired), so the interval says how much the drop depends on which test
 * rows there happened to be; the spread over repeats (how much it depends on the shuffle) is given
 * as a standard deviation beside it.
 *
 * For a window model a column is shuffled as a whole: sample i gets sample pi(i)'s window of that
 * column (all T rows), the other columns stay its own. Shuffling single rows inside a window would
 * make series the model never saw (a jump every row) and measure that instead.
 */
import { blockBootstrap, type BootstrapOptions, type Interval } from './evaluate/bootstrap.ts';
import { mulberry32, shuffle } from './random.ts';
import { PROB_FLOOR } from './calibration.ts';

/** Which column to shuffle and the permutation of sample positions (sample j reads sample order[j]'s column). */
export interface Permutation {
  feature: number;
  order: Int32Array;
}

export interface FeatureImportance {
  feature: string;
  /** Macro-F1 unpermuted minus permuted (positive: the model needs the column). */
  macroF1Drop: Interval;
  /** Log loss permuted minus unpermuted (positive: the model needs the column). */
  logLossIncrease: Interval;
  /** Standard deviation over the repeats (the shuffle's own noise). */
  sd: { macroF1Drop: number; logLossIncrease: number };
}

export interface ImportanceResult {
  repeats: number;
  samples: number;
  base: { macroF1: number; logLoss: number };
  /** Sorted by macro-F1 drop, largest first. */
  features: FeatureImportance[];
}

export interface PermutationOptions {
  y: ArrayLike<number>;
  n: number;
  C: number;
  features: string[];
  /** Probabilities (n x C) of the model for the samples, with one column permuted, or none (null). */
  predict: (perm: Permutation | null) => Promise<ArrayLike<number>>;
  repeats: number;
  seed: number;
  bootstrap: BootstrapOptions;
  onLog?: (line: string) => void;
}

/** Weighted macro-F1 from predicted classes (the bootstrap's inner loop: no AUC, no allocation beyond C x C). */
export function macroF1Of(y: ArrayLike<number>, pred: ArrayLike<number>, C: number, w?: ArrayLike<number>, conf = new Float64Array(C * C)): number {
  conf.fill(0);
  for (let i = 0; i < pred.length; i++) {
    const wi = w ? w[i]! : 1;
    if (wi !== 0) conf[y[i]! * C + pred[i]!] += wi;
  }
  let s = 0;
  for (let c = 0; c < C; c++) {
    let predC = 0, trueC = 0;
    for (let k = 0; k < C; k++) {
      predC += conf[k * C + c]!;
      trueC += conf[c * C + k]!;
    }
    const tp = conf[c * C + c]!;
    const precision = predC > 0 ? tp / predC : 0, recall = trueC > 0 ? tp / trueC : 0;
    s += precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
  }
  return s / C;
}

function predsAndLoss(y: ArrayLike<number>, p: ArrayLike<number>, n: number, C: number): { pred: Int32Array; loss: Float64Array } {
  const pred = new Int32Array(n), loss = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let c = 1; c < C; c++) if (p[i * C + c]! > p[i * C + best]!) best = c;
    pred[i] = best;
    loss[i] = -Math.log(Math.max(p[i * C + y[i]!]!, PROB_FLOOR));
  }
  return { pred, loss };
}

function meanW(a: Float64Array, w?: ArrayLike<number>): number {
  let s = 0, t = 0;
  for (let i = 0; i < a.length; i++) {
    const wi = w ? w[i]! : 1;
    s += wi * a[i]!;
    t += wi;
  }
  return t > 0 ? s / t : NaN;
}

const sd = (v: number[]): number => {
  if (v.length < 2) return 0;
  const m = v.reduce((a, b) => a + b, 0) / v.length;
  return Math.sqrt(v.reduce((a, b) => a + (b - m) ** 2, 0) / (v.length - 1));
};

export async function permutationImportance(o: PermutationOptions): Promise<ImportanceResult> {
  const { y, n, C } = o;
  if (!(o.repeats >= 1)) throw new RangeError(`permutation importance: repeats must be at least 1, got ${o.repeats}`);
  const base = predsAndLoss(y, await o.predict(null), n, C);
  const rand = mulberry32(o.seed);
  const runs: { pred: Int32Array; loss: Float64Array }[][] = [];
  for (let f = 0; f < o.features.length; f++) {
    const reps: { pred: Int32Array; loss: Float64Array }[] = [];
    for (let r = 0; r < o.repeats; r++) {
      const order = shuffle(Int32Array.from({ length: n }, (_, i) => i), rand);
      reps.push(predsAndLoss(y, await o.predict({ feature: f, order }), n, C));
    }
    runs.push(reps);
    o.onLog?.(`    permutation importance: ${o.features[f]} (${f + 1}/${o.features.length}), ${o.repeats} shuffles`);
  }
  const conf = new Float64Array(C * C);
  const stat = (w: Float64Array): number[] => {
    const f0 = macroF1Of(y, base.pred, C, w, conf);
    const l0 = meanW(base.loss, w);
    const out: number[] = [];
    for (const reps of runs) {
      let df = 0, dl = 0;
      for (const r of reps) {
        df += f0 - macroF1Of(y, r.pred, C, w, conf);
        dl += meanW(r.loss, w) - l0;
      }
      out.push(df / reps.length, dl / reps.length);
    }
    return out;
  };
  const ci = blockBootstrap(n, stat, o.bootstrap);
  const f0 = macroF1Of(y, base.pred, C), l0 = meanW(base.loss);
  const features: FeatureImportance[] = o.features.map((name, f) => ({
    feature: name,
    macroF1Drop: ci[2 * f]!,
    logLossIncrease: ci[2 * f + 1]!,
    sd: {
      macroF1Drop: sd(runs[f]!.map((r) => f0 - macroF1Of(y, r.pred, C))),
      logLossIncrease: sd(runs[f]!.map((r) => meanW(r.loss) - l0)),
    },
  }));
  features.sort((a, b) => b.macroF1Drop.estimate - a.macroF1Drop.estimate || b.logLossIncrease.estimate - a.logLossIncrease.estimate);
  return { repeats: o.repeats, samples: n, base: { macroF1: f0, logLoss: l0 }, features };
}

/**
 * Windows of raw values for sample rows with one column permuted: sample j's window, except column
 * `perm.feature`, which is taken (all T rows) from sample perm.order[j]'s window. `windowOf` returns
 * a sample's raw window, T x F row-major (Dataset.windowRaw).
 */
export function permutedWindow(windowOf: (j: number) => ArrayLike<number>, j: number, F: number, perm: Permutation | null, out: Float64Array): Float64Array {
  const own = windowOf(j);
  for (let i = 0; i < out.length; i++) out[i] = own[i]!;
  if (perm) {
    const other = windowOf(perm.order[j]!);
    for (let i = perm.feature; i < out.length; i += F) out[i] = other[i]!;
  }
  return out;
}
