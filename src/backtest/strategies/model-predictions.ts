/**
 * A model's predictions for every row of a recorded source, computed in batches before the backtest
 * and handed to it row by row: what the taker's evaluation (scripts/eval-backtest.ts) runs on.
 *
 * Each row's prediction is the one `flowcast evaluate` scores (the same inputs, normalisation and
 * session), delivered with the row that made it, which is also what `flowcast backtest --models`
 * does (every row predicted before the next event): on the GOOG day the two give the same 3,015
 * fills and PnL to the cent for the taker on goog-gbdt. What this adds is the choice of rows: the
 * evaluation trades only a model's test rows, not the rows it was trained on.
 *
 * Feature models only (a window of feature rows); raw-levels models read book levels instead.
 */
import { loadServed, predictRows } from '../../training/evaluate/evaluate.ts';
import { loadFeatures, type LoadOptions } from '../../training/features-file.ts';
import { buildDataset, DEFAULT_LABEL } from '../../training/dataset.ts';
import type { Prediction, RowPredictor } from '../../pipeline/plugins.ts';

export interface RowPredictions {
  model: string;
  symbol: string;
  classes: readonly string[];
  /** Rows of the symbol (the pipeline's feed row numbers). */
  n: number;
  /** probs[r * C + c]; NaN before the model's first full window. */
  probs: Float32Array;
  /** Row times, ns after the symbol's first row (to check the replay's rows are these rows). */
  ts: Float64Array;
  /** First row of the test split of the model's training split fractions (0 when the manifest records none). */
  testFrom: number;
}

export async function precomputePredictions(modelDir: string, spec: string, symbol?: string): Promise<RowPredictions> {
  const m = await loadServed(modelDir);
  const man = m.manifest;
  if (man.input.layout === 'NTLC') throw new Error(`${modelDir}: a raw-levels model (reads book levels): precomputed predictions cover feature models only`);
  const p = man.input.features;
  const lo: LoadOptions = { horizons: [man.output.horizon ?? DEFAULT_LABEL.horizon], alpha: man.output.alpha ?? DEFAULT_LABEL.alpha };
  if (p) Object.assign(lo, { levels: p.levels, vpinBuckets: p.vpinBuckets, barMs: p.barMs, barWindow: p.barWindow });
  let data = await loadFeatures(spec, symbol ? { ...lo, symbols: [symbol] } : lo);
  const sym = symbol ?? data.symbols[0]!;
  // The symbol's VPIN bucket as the model was trained with it, where it names one (as evaluate does).
  const want = p?.vpinBucket?.[sym];
  if (want !== undefined && data.params?.vpinBucket?.[sym] !== want) data = await loadFeatures(spec, { ...lo, symbols: [sym], vpinBucket: { [sym]: want } });
  // The model's own split fractions, so `testFrom` is where `flowcast evaluate` starts its test rows.
  const split = (man.training as { split?: { train: number; val: number } } | undefined)?.split;
  const ds = buildDataset(data, {
    columns: man.input.columns, window: man.input.window, horizon: lo.horizons![0]!, alpha: lo.alpha!, split: split ?? { train: 1, val: 0 }, symbol: sym,
    normalization: man.normalization,
  });
  const n = ds.n;
  const C = man.output.classes.length;
  const T = man.input.window;
  const rows = Int32Array.from({ length: Math.max(0, n - T + 1) }, (_, i) => i + T - 1);
  const out = await predictRows(m, ds, rows);
  const probs = new Float32Array(n * C).fill(NaN);
  probs.set(out, (T - 1) * C);
  return { model: man.name, symbol: sym, classes: man.output.classes, n, probs, ts: Float64Array.from(ds.ts, (t) => t - ds.ts[0]!), testFrom: split ? ds.splits.test.from : 0 };
}

/**
 * A RowPredictor that emits the precomputed prediction of each row as the row is made, for rows in
 * [fromRow, toRow). The replay's rows must be the rows predicted: their times are compared and a
 * difference is an error naming the row.
 */
export class PrecomputedPredictor implements RowPredictor {
  private t0 = NaN;
  emitted = 0;

  constructor(private readonly p: RowPredictions, private readonly fromRow = 0, private readonly toRow = Infinity) {}

  onFeatures(symbol: string, ts: number, row: number, _values: Float64Array, enteredAt: number, emit: (p: Prediction) => void): void {
    if (symbol !== this.p.symbol) return;
    if (row === 0) this.t0 = ts;
    if (row >= this.p.n) throw new Error(`precomputed predictions of ${this.p.model}: the replay has row ${row}, the predictions ${this.p.n} rows`);
    const rel = ts - this.t0;
    if (Math.abs(rel - this.p.ts[row]!) > 1_000) {
      throw new Error(`precomputed predictions of ${this.p.model}: row ${row} is at ${rel} ns in the replay, ${this.p.ts[row]} ns in the predictions (not the same rows)`);
    }
    if (row < this.fromRow || row >= this.toRow) return;
    const C = this.p.classes.length;
    const probs = this.p.probs.subarray(row * C, row * C + C);
    if (probs[0] !== probs[0]) return;
    this.emitted++;
    emit({ model: this.p.model, symbol, ts, probs, classes: this.p.classes, row, enteredAt });
  }
}
