/**
 * Classification metrics with sample weights (the block bootstrap resamples by weighting each
 * sample by how often it was drawn): confusion matrix, per-class precision/recall/F1, macro-F1,
 * accuracy, one-vs-rest ROC AUC (Mann-Whitney, ties counted half) and log loss.
 *
 * AUC in O(n) per call: samples are sorted by each class's score once (`AucOrder`); a weighted
 * pass over that order counts, for every positive, the negative weight ranked below it.
 */

export interface ClassMetrics {
  precision: number;
  recall: number;
  f1: number;
  support: number;
  auc: number;
}

export interface Metrics {
  n: number;
  accuracy: number;
  macroF1: number;
  macroAuc: number;
  logLoss: number;
  perClass: ClassMetrics[];
  /** confusion[true][predicted], weighted counts. */
  confusion: number[][];
}

/** argmax per row of n x C probabilities. */
export function argmax(probs: ArrayLike<number>, n: number, C: number): Int32Array {
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let c = 1; c < C; c++) if (probs[i * C + c]! > probs[i * C + best]!) best = c;
    out[i] = best;
  }
  return out;
}

/** Sample order by descending score, per class (with the scores for tie detection). */
export class AucOrder {
  readonly order: Int32Array[];
  constructor(readonly probs: ArrayLike<number>, readonly n: number, readonly C: number) {
    this.order = [];
    for (let c = 0; c < C; c++) {
      const idx = Int32Array.from({ length: n }, (_, i) => i);
      idx.sort((a, b) => probs[b * C + c]! - probs[a * C + c]!);
      this.order.push(idx);
    }
  }

  /** One-vs-rest AUC of class c under sample weights w (undefined: all 1). NaN if a side is empty. */
  auc(y: ArrayLike<number>, c: number, w?: ArrayLike<number>): number {
    const idx = this.order[c]!;
    const C = this.C, p = this.probs;
    let pos = 0, neg = 0, area = 0;
    // Walk from the lowest score up, in groups of equal scores.
    let i = this.n - 1;
    while (i >= 0) {
      const s = p[idx[i]! * C + c]!;
      let gp = 0, gn = 0;
      let j = i;
      while (j >= 0 && p[idx[j]! * C + c]! === s) {
        const k = idx[j]!;
        const wk = w ? w[k]! : 1;
        if (wk !== 0) {
          if (y[k] === c) gp += wk;
          else gn += wk;
        }
        j--;
      }
      area += gp * (neg + gn / 2);
      pos += gp;
      neg += gn;
      i = j;
    }
    return pos > 0 && neg > 0 ? area / (pos * neg) : NaN;
  }
}

/** What a caller scoring the same predictions many times (the bootstrap) computes once and passes in. */
export interface MetricsReuse {
  /** Sample weights (a bootstrap replicate's multiplicities); absent: 1 each. */
  weights?: ArrayLike<number>;
  order?: AucOrder;
  /** argmax of each sample's probabilities. */
  pred?: Int32Array;
  /** Each sample's negative log-likelihood of its true class (see sampleLoss). */
  loss?: Float64Array;
}

/** One sample's term of the log loss: -ln p(true class), p clamped at 1e-15. */
const nll = (p: number): number => -Math.log(Math.max(p, 1e-15));

/** Each sample's term of the log loss (see nll). */
export function sampleLoss(y: ArrayLike<number>, probs: ArrayLike<number>, n: number, C: number): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = nll(probs[i * C + y[i]!]!);
  return out;
}

export function computeMetrics(y: ArrayLike<number>, probs: ArrayLike<number>, n: number, C: number, reuse: MetricsReuse = {}): Metrics {
  const { weights: w, order, pred, loss } = reuse;
  const yhat = pred ?? argmax(probs, n, C);
  const conf = Array.from({ length: C }, () => new Array<number>(C).fill(0));
  let total = 0, correct = 0, ll = 0;
  for (let i = 0; i < n; i++) {
    const wi = w ? w[i]! : 1;
    if (wi === 0) continue;
    const t = y[i]!;
    conf[t]![yhat[i]!]! += wi;
    total += wi;
    if (t === yhat[i]) correct += wi;
    ll += wi * (loss ? loss[i]! : nll(probs[i * C + t]!));
  }
  const ord = order ?? new AucOrder(probs, n, C);
  const perClass: ClassMetrics[] = [];
  for (let c = 0; c < C; c++) {
    const tp = conf[c]![c]!;
    let predC = 0, trueC = 0;
    for (let k = 0; k < C; k++) {
      predC += conf[k]![c]!;
      trueC += conf[c]![k]!;
    }
    const precision = predC > 0 ? tp / predC : 0;
    const recall = trueC > 0 ? tp / trueC : 0;
    const f1 = precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
    perClass.push({ precision, recall, f1, support: trueC, auc: ord.auc(y, c, w) });
  }
  const aucs = perClass.map((p) => p.auc).filter((a) => a === a);
  return {
    n: total,
    accuracy: total ? correct / total : NaN,
    macroF1: perClass.reduce((s, p) => s + p.f1, 0) / C,
    macroAuc: aucs.length ? aucs.reduce((s, a) => s + a, 0) / aucs.length : NaN,
    logLoss: total ? ll / total : NaN,
    perClass,
    confusion: conf,
  };
}

/** Macro-F1 only (for model selection during training). */
export function macroF1(y: ArrayLike<number>, probs: ArrayLike<number>, n: number, C: number): number {
  return computeMetrics(y, probs, n, C).macroF1;
}
