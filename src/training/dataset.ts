/**
 * Datasets for training and evaluation, from feature data of one symbol:
 *
 * - samples: the window of the last T rows ending at row i (i >= T - 1) with the label of row i;
 * - chronological splits by row: train [0, a), validation [a, b), test [b, n). A label looks k
 *   rows ahead, so the last k samples before each boundary are purged (their labels would read
 *   mids of the next split); windows may reach back across a boundary, which only uses the past;
 * - normalisation (signed log where asked, z-score, clip, NaN -> 0) fitted on the train rows only,
 *   or taken from a model's manifest when evaluating that model on other data.
 *
 * The raw rows stay float64 (what a server sends); the normalised rows are float32, produced by
 * the same InputTransform that serves the model, so training and serving see identical inputs.
 *
 * Segmented data (several inputs, symbols or days: src/training/segments.ts) is the same with three
 * differences: a window must lie inside its segment, labels are computed from mid per segment (a
 * day's last labels do not read the next day's mids; a features file's label columns are not used),
 * and the splits are cut by time on the union of the segments (segments.ts timeCuts), each split's
 * samples purged where their label reads a row at or past the next split's first time.
 */
import { InputTransform } from '../inference/normalize.ts';
import { MANIFEST_SCHEMA, type ColumnTransform, type ModelManifest, type Normalization } from '../inference/manifest.ts';
import { FEATURE_SPEC_VERSION, DEFAULT_INPUTS, columnSpec, labelColumn } from '../features/columns.ts';
import { column, type FeatureData } from './features-file.ts';
import { classIndex, computeLabels, computeTimeLabels, timeLabelColumn } from './labels.ts';
import { DEFAULT_FEATURE_OPTIONS } from '../features/options.ts';
import { timeCuts } from './segments.ts';

/** The label models predict unless told otherwise: FEATURES.md `label_50` at the features' default alpha. */
export const DEFAULT_LABEL = { horizon: 50, alpha: DEFAULT_FEATURE_OPTIONS.alpha } as const;

/** The default model inputs: the registry's (src/features/columns.ts). */
export { DEFAULT_INPUTS };

/** The OFI family: inputs of the logistic-regression baseline. */
export const OFI_INPUTS = DEFAULT_INPUTS.filter((c) => columnSpec(c.name)!.family === 'ofi');

/** The registry's transform of a feature column ('none' for any other name). */
export function transformFor(name: string): ColumnTransform {
  return columnSpec(name)?.modelTransform ?? 'none';
}

export interface SplitFractions {
  train: number;
  val: number;
}

export interface DatasetOptions {
  columns: string[];
  transforms?: ColumnTransform[];
  window: number;
  /** Label horizon in rows (FEATURES.md label_k); ignored where horizonMs is given. */
  horizon: number;
  /** Label horizon in time (ms): labels from the time-weighted mid over (t, t + h] (labels.ts). */
  horizonMs?: number;
  alpha: number;
  /**
   * Past-only lag columns (window-1 models such as the trees): a sample is the row's columns, then
   * each column `l` rows earlier for every l here (lag-major). The window becomes max(lags) + 1
   * rows, so a sample never reads before its symbol's first row or past its own row.
   */
  lags?: number[];
  /** With lags: only these columns are lagged (default: every input column). */
  lagColumns?: string[];
  /** Chronological fractions of rows (test = the rest). {train: 1, val: 0} uses everything as train. */
  split: SplitFractions;
  clip?: number;
  /** Which symbol of the data (required when it holds several). */
  symbol?: string;
  /** Use these statistics instead of fitting them (evaluating a model on other data). */
  normalization?: Normalization | null;
}

export interface Split {
  name: 'train' | 'val' | 'test';
  /** Sample end rows (indices into the dataset's rows). */
  rows: Int32Array;
  /**
   * Row range [from, to) of the split (before purging). Segmented data: positions on the union's
   * time axis (rows before the split's first time, and up to its end), not row indices.
   */
  from: number;
  to: number;
}

/** A segment's rows [from, to) among a segmented dataset's rows. */
export interface DatasetSegment {
  segment: import('../features/data.ts').Segment;
  from: number;
  to: number;
}

export class Dataset {
  readonly n: number;
  readonly F: number;
  readonly T: number;
  /** Raw inputs, n x F row-major, float64. */
  readonly raw: Float64Array;
  /** Normalised inputs, n x F row-major, float32 (equal to `raw` when there is no normalisation). */
  readonly z: Float32Array;
  /** Class index per row (0 down, 1 flat, 2 up), -1 where the label is undefined. */
  readonly y: Int8Array;
  readonly ts: Float64Array;
  readonly normalization: Normalization | null;
  readonly splits: { train: Split; val: Split; test: Split };
  readonly labelColumn: string;
  readonly labelsComputed: boolean;
  /** Row offsets back from a sample's row that make its design vector: 0 first, then the lags. */
  readonly lagSteps: readonly number[];
  /**
   * The design vector as (rows back, column) pairs: every column at 0, then the lagged columns at
   * each lag. Flat offsets into a sample's window (row-major [T, F], oldest row first) in `designPick`.
   */
  private readonly designEntries: readonly (readonly [number, number])[];
  /** Segmented data: the segments of the dataset's symbols, and the first row of each row's segment. */
  readonly segments: DatasetSegment[] | null;
  private readonly segFirst: Int32Array | null;
  /** Segmented data: the first validation and test times (ns on the data's axis; Infinity: none). */
  readonly cuts: { val: number; test: number } | null;

  constructor(readonly data: FeatureData, readonly opts: DatasetOptions, readonly symbol: string) {
    const { columns, window: T, horizon: k } = opts;
    const rows: number[] = [];
    if (data.segments) {
      const keep = new Set(symbol.split(','));
      this.segments = [];
      for (const seg of data.segments) {
        if (!keep.has(seg.symbol)) continue;
        this.segments.push({ segment: seg, from: rows.length, to: rows.length + seg.to - seg.from });
        for (let i = seg.from; i < seg.to; i++) rows.push(i);
      }
      this.segFirst = new Int32Array(rows.length);
      for (const s of this.segments) this.segFirst.fill(s.from, s.from, s.to);
    } else {
      this.segments = null;
      this.segFirst = null;
      const sid = data.symbols.indexOf(symbol);
      for (let i = 0; i < data.n; i++) if (data.symbolId[i] === sid) rows.push(i);
    }
    const n = (this.n = rows.length);
    const F = (this.F = columns.length);
    this.lagSteps = [0, ...(opts.lags ?? [])];
    if (opts.lags && (opts.lags.some((l) => !(Number.isInteger(l) && l >= 1)) || new Set(opts.lags).size !== opts.lags.length)) {
      throw new RangeError(`lags must be distinct integers >= 1, got ${opts.lags.join(',')}`);
    }
    this.T = opts.lags?.length ? Math.max(T, Math.max(...opts.lags) + 1) : T;
    const lagCols = (opts.lagColumns ?? columns).map((c) => {
      const f = columns.indexOf(c);
      if (f < 0) throw new RangeError(`lag column ${c} is not one of the input columns (${columns.join(', ')})`);
      return f;
    });
    this.designEntries = [...columns.map((_, f) => [0, f] as const), ...(opts.lags ?? []).flatMap((l) => lagCols.map((f) => [l, f] as const))];
    const cols = columns.map((c) => column(data, c));
    this.raw = new Float64Array(n * F);
    for (let r = 0; r < n; r++) for (let f = 0; f < F; f++) this.raw[r * F + f] = cols[f]![rows[r]!]!;
    this.ts = Float64Array.from(rows, (i) => data.ts[i]!);

    const hMs = opts.horizonMs;
    this.labelColumn = hMs !== undefined ? timeLabelColumn(hMs) : labelColumn(k);
    let labels: Float64Array;
    // Segmented: labels per segment (computeLabels groups rows by the id it is given).
    const groups = data.segments ? segmentIds(data) : data.symbolId;
    if (hMs !== undefined) {
      labels = computeTimeLabels(column(data, 'mid'), data.ts, groups, hMs * 1e6, opts.alpha);
      this.labelsComputed = true;
    } else if (data.values.has(this.labelColumn) && !data.segments) {
      labels = column(data, this.labelColumn);
      this.labelsComputed = false;
    } else {
      labels = computeLabels(column(data, 'mid'), groups, k, opts.alpha);
      this.labelsComputed = true;
    }
    this.y = Int8Array.from(rows, (i) => classIndex(labels[i]!));

    const fa = opts.split.train, fv = opts.split.val;
    if (!(fa > 0 && fv >= 0 && fa + fv <= 1)) throw new RangeError(`split fractions train ${fa}, val ${fv} must be > 0, >= 0 and sum to at most 1`);
    const transforms = opts.transforms ?? columns.map(transformFor);
    if (this.segments) {
      const cuts = (this.cuts = timeCuts(this.ts, opts.split));
      // One pass: the rows before each cut (the splits' positions), the train rows among them.
      const trainRows: number[] = [];
      let b = 0;
      for (let r = 0; r < n; r++) {
        if (this.ts[r]! < cuts.val) trainRows.push(r);
        if (this.ts[r]! < cuts.test) b++;
      }
      const a = trainRows.length;
      this.splits = {
        train: this.timeSplit('train', -Infinity, cuts.val, 0, a),
        val: this.timeSplit('val', cuts.val, cuts.test, a, b),
        test: this.timeSplit('test', cuts.test, Infinity, b, n),
      };
      const fitted = `${this.segments.filter((s) => this.ts[s.from]! < cuts.val).map((s) => `${s.segment.symbol} ${s.segment.date}`).join(', ')}: rows before the first validation time (train split)`;
      this.normalization = opts.normalization !== undefined ? opts.normalization : fitNormalization(this.raw, F, trainRows, columns, transforms, opts.clip ?? 5, fitted);
    } else {
      this.cuts = null;
      const a = Math.floor(n * fa), b = Math.floor(n * (fa + fv));
      this.splits = {
        train: this.split('train', 0, a, k),
        val: this.split('val', a, b, k),
        test: this.split('test', b, n, 0),
      };
      this.normalization = opts.normalization !== undefined ? opts.normalization : fitNormalization(this.raw, F, a, columns, transforms, opts.clip ?? 5, `${data.source} ${symbol} rows 0..${a - 1} (train split)`);
    }
    const rowTransform = new InputTransform(rowManifest(columns, this.normalization));
    this.z = new Float32Array(n * F);
    for (let r = 0; r < n; r++) rowTransform.write(this.raw.subarray(r * F, (r + 1) * F), this.z, r * F);
  }

  /**
   * Sample rows of [from, to) whose labels read nothing at or past `to`: the last `purge` rows go
   * (a row horizon), or with a time horizon every row whose t + h reaches the first time of `to`.
   */
  private split(name: Split['name'], from: number, to: number, purge: number): Split {
    const out: number[] = [];
    let end = to - purge;
    const hMs = this.opts.horizonMs;
    if (hMs !== undefined && purge > 0) {
      end = to;
      if (to < this.n) while (end > from && this.ts[end - 1]! + hMs * 1e6 >= this.ts[to]!) end--;
    }
    for (let i = Math.max(from, this.T - 1); i < end; i++) if (this.y[i]! >= 0) out.push(i);
    return { name, rows: Int32Array.from(out), from, to };
  }

  /** Whether row i has a full window inside its segment (unsegmented: inside the symbol's rows). */
  hasWindow(i: number): boolean {
    return this.segFirst ? i - this.T + 1 >= this.segFirst[i]! : i >= this.T - 1;
  }

  /**
   * Whether the label of row i reads a row at time `t` or later: with a row horizon, its k-th row
   * ahead (in its segment, where a label exists) is at or past t; with a time horizon, t_i + h >= t.
   */
  labelReachesTime(i: number, t: number): boolean {
    const hMs = this.opts.horizonMs;
    if (hMs !== undefined) return this.ts[i]! + hMs * 1e6 >= t;
    const j = i + this.opts.horizon;
    return j < this.n && this.ts[j]! >= t;
  }

  /** Segmented: the samples with times in [lo, hi) whose labels read nothing at or past hi. */
  private timeSplit(name: Split['name'], lo: number, hi: number, from: number, to: number): Split {
    const out: number[] = [];
    for (let i = 0; i < this.n; i++) {
      const t = this.ts[i]!;
      if (t < lo || t >= hi || this.y[i]! < 0 || !this.hasWindow(i)) continue;
      if (hi !== Infinity && this.labelReachesTime(i, hi)) continue;
      out.push(i);
    }
    return { name, rows: Int32Array.from(out), from, to };
  }

  /** Copies the normalised window ending at row i into out[offset..]. */
  windowZ(i: number, out: Float32Array, offset: number): void {
    const s = (i - this.T + 1) * this.F;
    out.set(this.z.subarray(s, s + this.T * this.F), offset);
  }

  /** The raw window ending at row i (a view). */
  windowRaw(i: number): Float64Array {
    const s = (i - this.T + 1) * this.F;
    return this.raw.subarray(s, s + this.T * this.F);
  }

  /** Normalised windows for sample rows, packed [rows.length, T, F]. */
  gatherZ(rows: ArrayLike<number>, out?: Float32Array): Float32Array {
    const size = this.T * this.F;
    const buf = out ?? new Float32Array(rows.length * size);
    for (let j = 0; j < rows.length; j++) this.windowZ(rows[j]!, buf, j * size);
    return buf;
  }

  /**
   * Every sample row with a label, in time order, whatever the split (cross-validation cuts its
   * own). Segmented: every segment's, sorted by time (ties by row), so groups cut from it are
   * periods of time across all segments.
   */
  sampleRows(): Int32Array {
    const out: number[] = [];
    for (let i = this.T - 1; i < this.n; i++) if (this.y[i]! >= 0 && this.hasWindow(i)) out.push(i);
    if (this.segments) out.sort((a, b) => this.ts[a]! - this.ts[b]! || a - b);
    return Int32Array.from(out);
  }

  /** Width of a design vector. */
  get designWidth(): number {
    return this.designEntries.length;
  }

  /** Names of a design vector's entries: `ofi_1`, then `ofi_1@lag2` for lag 2. */
  designNames(): string[] {
    return this.designEntries.map(([l, f]) => (l === 0 ? this.opts.columns[f]! : `${this.opts.columns[f]!}@lag${l}`));
  }

  /** Where each design entry sits in a sample's window, row-major [T, F] with the oldest row first. */
  designPick(): number[] {
    return this.designEntries.map(([l, f]) => (this.T - 1 - l) * this.F + f);
  }

  /** The raw design vector of sample row i (its columns, then the lagged ones at each lag) into out[offset..]. */
  design(i: number, out: Float64Array, offset = 0): void {
    const F = this.F;
    const e = this.designEntries;
    for (let k = 0; k < e.length; k++) out[offset + k] = this.raw[(i - e[k]![0]) * F + e[k]![1]]!;
  }

  labelsOf(rows: ArrayLike<number>): Int32Array {
    return Int32Array.from({ length: rows.length }, (_, j) => this.y[rows[j]!]!);
  }

  /** Class counts over sample rows. */
  classCounts(rows: ArrayLike<number>, C = 3): number[] {
    const c = new Array<number>(C).fill(0);
    for (let j = 0; j < rows.length; j++) c[this.y[rows[j]!]!]!++;
    return c;
  }

  describe(): Record<string, unknown> {
    const s = (x: Split) => ({ rows: [x.from, x.to], samples: x.rows.length, classes: this.classCounts(x.rows) });
    return {
      source: this.data.source,
      symbol: this.symbol,
      rows: this.n,
      window: this.T,
      label: this.labelColumn + (this.labelsComputed ? ' (computed from mid)' : ''),
      splits: { train: s(this.splits.train), val: s(this.splits.val), test: s(this.splits.test) },
      ...(this.segments ? { segments: this.segments.map((g) => ({ input: g.segment.spec, symbol: g.segment.symbol, date: g.segment.date, ...(g.segment.partition ? { partition: g.segment.partition } : {}), rows: g.to - g.from })) } : {}),
    };
  }
}

/**
 * The one symbol a dataset is built from: the requested one, or the data's only one. Segmented
 * data: its symbols, comma-joined (`all` or nothing: every one of them; a list: those).
 */
export function pickSymbol(data: FeatureData, requested?: string): string {
  if (data.segments) {
    if (!requested || requested === 'all') return data.symbols.join(',');
    const want = requested.split(',');
    const missing = want.filter((s) => !data.symbols.includes(s));
    if (missing.length) throw new Error(`${data.source}: no rows for symbol ${missing.join(', ')} (symbols: ${data.symbols.join(', ')})`);
    return want.join(',');
  }
  if (requested) {
    if (!data.symbols.includes(requested)) throw new Error(`${data.source}: no rows for symbol ${requested} (symbols: ${data.symbols.join(', ')})`);
    return requested;
  }
  if (data.symbols.length !== 1) throw new Error(`${data.source} holds ${data.symbols.length} symbols (${data.symbols.join(', ')}); choose one with --symbol`);
  return data.symbols[0]!;
}

export function buildDataset(data: FeatureData, opts: DatasetOptions): Dataset {
  return new Dataset(data, opts, pickSymbol(data, opts.symbol));
}

/** The segment of every row of segmented data (computeLabels' grouping): 1, 2, ...; 0 for rows of no segment. */
function segmentIds(data: FeatureData): Uint16Array {
  const segs = data.segments!;
  if (segs.length >= 0xffff) throw new RangeError(`${segs.length} segments: at most 65534`);
  const id = new Uint16Array(data.n);
  segs.forEach((s, j) => id.fill(j + 1, s.from, s.to));
  return id;
}

/** Mean and std of each transformed column over rows [0, end) (or the listed rows), NaNs skipped. */
export function fitNormalization(raw: Float64Array, F: number, end: number | readonly number[], columns: string[], transforms: ColumnTransform[], clip: number, fittedOn: string): Normalization {
  const list = typeof end === 'number' ? null : end;
  const count = list ? list.length : (end as number);
  const stats = columns.map((name, f) => {
    let s = 0, s2 = 0, c = 0;
    const slog = transforms[f] === 'slog1p';
    for (let q = 0; q < count; q++) {
      const r = list ? list[q]! : q;
      let v = raw[r * F + f]!;
      if (v !== v) continue;
      if (slog) v = v < 0 ? -Math.log1p(-v) : Math.log1p(v);
      s += v;
      s2 += v * v;
      c++;
    }
    const mean = c ? s / c : 0;
    const variance = c > 1 ? Math.max(0, (s2 - c * mean * mean) / (c - 1)) : 0;
    const std = Math.sqrt(variance);
    return { name, transform: transforms[f]!, mean, std: std > 1e-12 ? std : 1 };
  });
  return { method: 'zscore', fittedOn, columns: stats, clip, nanValue: 0 };
}

/** A manifest stub describing one-row samples with this normalisation (to reuse InputTransform). */
export function rowManifest(columns: string[], normalization: Normalization | null): ModelManifest {
  return {
    schema: MANIFEST_SCHEMA,
    name: 'rows',
    version: '0',
    kind: 'other',
    onnx: { file: 'model.onnx' },
    input: { name: 'x', columns, window: 1, layout: 'NF', featureSpecVersion: FEATURE_SPEC_VERSION },
    // Always in JavaScript here: these rows feed training, whatever a served graph does.
    normalization: normalization ? { ...normalization, inGraph: false } : null,
    output: { name: 'y', kind: 'probabilities', classes: ['a', 'b'] },
  };
}
