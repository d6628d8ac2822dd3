/**
 * The model manifest (`models/<name>/manifest.json`): what a model reads (spec columns, window,
 * layout), how raw features are normalised (statistics fitted on the training split), what it
 * outputs (classes, horizon, label threshold), and how it was made (data, command, metrics).
 *
 * `parseManifest` validates everything that can be checked without loading the ONNX file and
 * names the exact field at fault; `checkFeatureSet` checks the inputs against the feature columns
 * a server computes. Both throw ManifestError, which the repository records per model so a bad
 * model is refused while the others keep serving.
 */
import { FEATURE_COLUMNS, FEATURE_SPEC_VERSION, columnSpec, type ColumnTransform } from '../features/columns.ts';

export const MANIFEST_SCHEMA = 'flowcast.model/v1';
export const MANIFEST_FILE = 'manifest.json';

/**
 * NTF: [N, T, F] windows of feature columns; NF: [N, F], the latest row; NTLC: [N, T, L, 4] raw book
 * levels (input.book), channels bid px, bid size, ask px, ask size, as SnapshotBatch.book holds them.
 */
export type InputLayout = 'NTF' | 'NF' | 'NTLC';

/** The channels of a raw-levels input, in SnapshotBatch.book order (src/snapshots/ring.ts CHANNELS). */
export const BOOK_CHANNELS = ['bid_px', 'bid_sz', 'ask_px', 'ask_sz'] as const;

/**
 * What a raw-levels (NTLC) input holds: the top `levels` levels per side of the last T book rows,
 * in SnapshotBatch window units (src/snapshots/batch.ts): prices in whole ticks from the window's
 * reference (the mid, on the tick grid, of the two-sided row nearest the middle of the window),
 * sizes in whole lots, a missing level as price 0 and size 0. How the values are transformed
 * (signed log of sizes, z-score per channel) is the manifest's normalisation, one entry per channel.
 */
export interface BookInput {
  /** L: levels per side. */
  levels: number;
  /** Always BOOK_CHANNELS (input.columns repeats them, for the normalisation's per-channel entries). */
  channels: string[];
  prices: 'ticks-from-window-reference';
  sizes: 'lots';
  /**
   * The tick and lot of each symbol trained on, as 10^decimals (SnapshotBatch priceScale and
   * sizeScale: GOOG 100 and 1): a feeder whose scales differ for a symbol must not feed it.
   */
  scales: Record<string, { price: number; size: number }>;
  /** History rows ahead of the T rows in the batch the windows were cut from (SnapshotBatch H; 0 here). */
  history: number;
}
export type { ColumnTransform };

export interface ColumnStats {
  name: string;
  /** Applied before the z-score: slog1p(x) = sign(x) * ln(1 + |x|), for heavy-tailed sizes and flows. */
  transform: ColumnTransform;
  mean: number;
  std: number;
}

export interface Normalization {
  method: 'zscore';
  /** Which rows the statistics were fitted on (train split only). */
  fittedOn: string;
  /** One entry per input column, in input order. */
  columns: ColumnStats[];
  /** |z| is clipped to this (null: no clipping). */
  clip: number | null;
  /** Value for a NaN input after normalisation (0 = the training mean). */
  nanValue: number;
  /**
   * true: model.onnx begins with these operations (Abs/Log/Sign, Sub, Mul, IsNaN/Where, Clip) and
   * takes raw features, so the engine only copies values into the batch; false or absent: the
   * engine normalises in JavaScript before the run.
   */
  inGraph?: boolean;
}

export interface ModelManifest {
  schema: typeof MANIFEST_SCHEMA;
  name: string;
  version: string;
  kind: 'transformer' | 'gbdt' | 'other';
  description?: string;
  onnx: { file: string; sha256?: string; opset?: number; producer?: string };
  input: {
    /** The ONNX graph input. */
    name: string;
    /** Feature-spec columns along the last axis, in order (NTLC: the four book channels). */
    columns: string[];
    /** Rows per sample (T); 1 for row models. */
    window: number;
    /** NTF: [N, T, F] windows (oldest row first); NF: [N, F], the latest row only; NTLC: [N, T, L, 4] book levels. */
    layout: InputLayout;
    /** Required with layout NTLC (and only there): the raw book levels' shape and units. */
    book?: BookInput;
    /**
     * Trees over past-only lag columns (informational: the graph itself picks the rows): the window
     * is max(lags) + 1 rows, and the model reads the newest row and the rows these many before it.
     */
    lags?: number[];
    /** The columns lagged (absent: every input column). */
    lagColumns?: string[];
    featureSpecVersion: number;
    /**
     * The parameters the feature columns were computed with at training. A server feeds the model
     * only where it computes the columns the model reads with these values (checkFeatureParams);
     * absent in manifests written before issue 17, which then serve only models whose columns
     * depend on none of them.
     */
    features?: FeatureParams;
  };
  /** null: raw features go to the model as they are (trees, which handle NaN themselves). */
  normalization: Normalization | null;
  output: {
    name: string;
    kind: 'probabilities';
    classes: string[];
    /** Label values for the classes, in order (FEATURES.md: -1 down, 0 flat, 1 up). */
    labelValues?: number[];
    labelColumn?: string;
    /** Horizon of the label in rows. */
    horizon?: number;
    /** Horizon of the label in time (ms), where it was a time horizon (then `horizon` is absent). */
    horizonMs?: number;
    alpha?: number;
    /**
     * Temperature scaling (Guo et al. 2017), fitted after training: the engine serves
     * softmax(log p / T) for the graph's probabilities p (docs/models.md, "Calibration"). Absent:
     * the graph's probabilities as they are. Written by `flowcast models calibrate`.
     */
    temperature?: OutputTemperature;
  };
  training?: Record<string, unknown>;
  metrics?: Record<string, unknown>;
  parity?: { reference: string; samples: number; maxAbsDiff: number; tolerance: number };
}

/** A fitted temperature and where it comes from (output.temperature). */
export interface OutputTemperature {
  /** T > 0: above 1 softens overconfident probabilities, below 1 sharpens underconfident ones. */
  T: number;
  /** Which rows it was fitted on (the model's validation split, by data, symbol and rows). */
  fittedOn: string;
  /** Samples it was fitted on, and their mean negative log-likelihood at T = 1 and at T. */
  samples?: number;
  nllBefore?: number;
  nllAfter?: number;
  /** When and by what command (ISO 8601; the command line). */
  fitted?: string;
  command?: string;
}

/** The parameters of the feature computation (src/features/options.ts) a model's columns depend on. */
export interface FeatureParams {
  /** L: levels summed by depth_* and slope_*. */
  levels: number;
  /**
   * VPIN bucket volume V per symbol the model was trained on (the `vpin` column's scale); null:
   * unknown (features files that do not record it). Other symbols are served with the server's V.
   */
  vpinBucket: Record<string, number> | null;
  /** How V was chosen, for people (e.g. "auto: traded volume of the train split / 500"). */
  vpinSizing?: string;
  /** VPIN window n in buckets. */
  vpinBuckets: number;
  /** Bar length (ms) and window (bars) of kyle_lambda, hasbrouck_lambda and amihud. */
  barMs: number;
  barWindow: number;
  /** Row time the bar columns waited for late trades in the batch run (informational: a live server uses 0). */
  settleMs?: number;
}

/** What the feature computation a server runs uses: the same parameters, V per symbol as it stands. */
export interface ServerFeatureParams {
  specVersion: number;
  /**
   * Whether the server gathers [1, T, L, 4] raw-level windows from its snapshot rings for models
   * (absent or false: it feeds feature columns only, and refuses NTLC models).
   */
  feedsBookLevels?: boolean;
  levels: number;
  vpinBuckets: number;
  barMs: number;
  barWindow: number;
  /** The V the server computes `vpin` of a symbol with; undefined: not fixed (yet). */
  vpinBucketOf(symbol: string): number | undefined;
}

/** Which parameters a list of columns depends on. */
export function featureDependencies(columns: readonly string[]): { levels: string[]; vpin: string[]; bars: string[] } {
  const levels: string[] = [], vpin: string[] = [], bars: string[] = [];
  for (const c of columns) {
    const f = columnSpec(c)?.family;
    if (c === 'depth_bid' || c === 'depth_ask' || c === 'slope_bid' || c === 'slope_ask') levels.push(c);
    else if (f === 'vpin') vpin.push(c);
    else if (f === 'bars') bars.push(c);
  }
  return { levels, vpin, bars };
}

/**
 * Why a server computing features with `server` cannot feed this model, one reason per parameter
 * (empty: it can). Only parameters the model's columns depend on count; a model trained before its
 * manifest recorded them is refused for exactly the ones it reads. `symbols`: the symbols the model
 * is trained on whose V must match (default: every symbol in the manifest's vpinBucket).
 */
export function featureParamProblems(m: ModelManifest, server: ServerFeatureParams): string[] {
  const p = featureParamProblemsBySymbol(m, server);
  return [...p.model, ...Object.values(p.symbols).flat()];
}

/**
 * The same problems, split by reach: `model` ones stop the model for every symbol (spec version,
 * levels, bars, the VPIN window, a missing record); `symbols` ones concern one symbol's VPIN bucket
 * volume only, so the server still feeds the model every other symbol (a model trained on GOOG
 * with V = 760 is not fed GOOG's vpin computed with 1,400, but nothing stops it for AMZN).
 */
export function featureParamProblemsBySymbol(m: ModelManifest, server: ServerFeatureParams): { model: string[]; symbols: Record<string, string[]> } {
  const out: string[] = [];
  const symbols: Record<string, string[]> = {};
  if (m.input.layout === 'NTLC' && !server.feedsBookLevels) {
    const b = m.input.book;
    out.push(`the model reads raw book levels (input.layout NTLC, [N, ${m.input.window}, ${b?.levels ?? '?'}, 4]), but this server gathers model inputs from feature columns only (it does not feed book levels: ServerFeatureParams.feedsBookLevels)`);
  }
  if (m.input.featureSpecVersion !== server.specVersion) out.push(`input.featureSpecVersion is ${m.input.featureSpecVersion}, but the server computes feature spec v${server.specVersion}`);
  const dep = featureDependencies(m.input.columns);
  const p = m.input.features;
  const need = (cols: string[], what: string): boolean => {
    if (!cols.length) return false;
    if (!p) {
      out.push(`the model reads ${cols.join(', ')} but its manifest does not record the ${what} it was trained with (input.features); retrain, or add input.features`);
      return false;
    }
    return true;
  };
  if (need(dep.levels, 'levels') && p!.levels !== server.levels) out.push(`input.features.levels is ${p!.levels} (${dep.levels.join(', ')}), but the server computes ${server.levels} levels (features.levels)`);
  if (need(dep.bars, 'bar length and window')) {
    if (p!.barMs !== server.barMs) out.push(`input.features.barMs is ${p!.barMs} (${dep.bars.join(', ')}), but the server's bars are ${server.barMs} ms (features.barMs)`);
    if (p!.barWindow !== server.barWindow) out.push(`input.features.barWindow is ${p!.barWindow} (${dep.bars.join(', ')}), but the server's bar window is ${server.barWindow} (features.barWindow)`);
  }
  if (need(dep.vpin, 'VPIN bucket volume and window')) {
    if (p!.vpinBuckets !== server.vpinBuckets) out.push(`input.features.vpinBuckets is ${p!.vpinBuckets}, but the server's VPIN window is ${server.vpinBuckets} buckets (features.vpinBuckets)`);
    if (p!.vpinBucket === null) out.push('the model reads vpin but the VPIN bucket volume it was trained with is not recorded (input.features.vpinBucket is null: trained on a features file that does not say); retrain from the source spec, or from features with --vpin-bucket V');
    else {
      for (const [sym, v] of Object.entries(p!.vpinBucket)) {
        const s = server.vpinBucketOf(sym);
        if (s === undefined) (symbols[sym] ??= []).push(`input.features.vpinBucket.${sym} is ${v}, but the server's VPIN bucket volume for ${sym} is not fixed; set features.vpinBucketBySymbol.${sym} to ${v}`);
        else if (s !== v) (symbols[sym] ??= []).push(`input.features.vpinBucket.${sym} is ${v}, but the server computes ${sym}'s vpin with buckets of ${s} (features.vpinBucketBySymbol.${sym}); the model's vpin input would be on another scale`);
      }
    }
  }
  return { model: out, symbols };
}

export class ManifestError extends Error {
  constructor(readonly file: string, detail: string) {
    super(`${file}: ${detail}`);
    this.name = 'ManifestError';
  }
}

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** Validates a parsed manifest.json; `file` names it in errors. */
export function parseManifest(json: unknown, file: string): ModelManifest {
  const fail = (detail: string): never => {
    throw new ManifestError(file, detail);
  };
  const obj = (v: unknown, path: string): Record<string, unknown> => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(`${path} must be an object`);
    return v as Record<string, unknown>;
  };
  const str = (o: Record<string, unknown>, k: string, path: string, optional = false): string => {
    const v = o[k];
    if (v === undefined && optional) return '';
    if (typeof v !== 'string' || v === '') fail(`${path}${k} must be a non-empty string, got ${JSON.stringify(v)}`);
    return v as string;
  };
  const num = (v: unknown, path: string, check: (x: number) => boolean, what: string): number => {
    // String() for numbers: JSON.stringify would print Infinity (what 1e999 parses to) as null.
    if (typeof v !== 'number' || !Number.isFinite(v) || !check(v)) fail(`${path} must be ${what}, got ${typeof v === 'number' ? String(v) : JSON.stringify(v)}`);
    return v as number;
  };

  const m = obj(json, 'the manifest');
  if (m.schema !== MANIFEST_SCHEMA) fail(`schema must be "${MANIFEST_SCHEMA}", got ${JSON.stringify(m.schema)}`);
  const name = str(m, 'name', '');
  if (!NAME_RE.test(name)) fail(`name "${name}" may use letters, digits, ".", "_" and "-" only`);
  str(m, 'version', '');
  if (!['transformer', 'gbdt', 'other'].includes(m.kind as string)) fail(`kind must be "transformer", "gbdt" or "other", got ${JSON.stringify(m.kind)}`);

  const onnx = obj(m.onnx, 'onnx');
  const onnxFile = str(onnx, 'file', 'onnx.');
  if (onnxFile.includes('/') || onnxFile.includes('\\')) fail(`onnx.file must be a file name inside the model directory, got "${onnxFile}"`);
  if (onnx.sha256 !== undefined && !/^[0-9a-f]{64}$/.test(String(onnx.sha256))) fail(`onnx.sha256 must be 64 lowercase hex digits`);

  const input = obj(m.input, 'input');
  str(input, 'name', 'input.');
  const columns = input.columns;
  if (!Array.isArray(columns) || columns.length === 0) fail('input.columns must be a non-empty array of feature column names');
  const cols = columns as unknown[];
  cols.forEach((c, i) => {
    if (typeof c !== 'string' || c === '') fail(`input.columns[${i}] must be a column name, got ${JSON.stringify(c)}`);
  });
  const dup = cols.find((c, i) => cols.indexOf(c) !== i);
  if (dup !== undefined) fail(`input.columns lists "${dup}" twice`);
  const window = num(input.window, 'input.window', (x) => Number.isInteger(x) && x >= 1 && x <= 100_000, 'a positive integer');
  if (input.layout !== 'NTF' && input.layout !== 'NF' && input.layout !== 'NTLC') fail(`input.layout must be "NTF", "NF" or "NTLC", got ${JSON.stringify(input.layout)}`);
  if (input.layout === 'NF' && window !== 1) fail(`input.layout "NF" takes one row; input.window must be 1, got ${window}`);
  if (input.layout === 'NTLC') parseBookInput(input, cols, fail, obj, num);
  else if (input.book !== undefined) fail(`input.book describes raw book levels and goes with input.layout "NTLC" only (layout is "${String(input.layout)}")`);
  num(input.featureSpecVersion, 'input.featureSpecVersion', (x) => Number.isInteger(x) && x >= 1, 'a positive integer');
  if (input.features !== undefined) {
    const f = obj(input.features, 'input.features');
    const int = (k: string, min: number) => num(f[k], `input.features.${k}`, (x) => Number.isInteger(x) && x >= min, `an integer >= ${min}`);
    int('levels', 1);
    int('vpinBuckets', 1);
    int('barMs', 1);
    int('barWindow', 2);
    if (f.settleMs !== undefined) num(f.settleMs, 'input.features.settleMs', (x) => x >= 0, 'a number >= 0');
    if (f.vpinBucket !== null) {
      const by = obj(f.vpinBucket, 'input.features.vpinBucket (per symbol, or null)');
      for (const [sym, v] of Object.entries(by)) num(v, `input.features.vpinBucket.${sym}`, (x) => x > 0, 'a number > 0');
    }
    if (f.vpinSizing !== undefined && typeof f.vpinSizing !== 'string') fail('input.features.vpinSizing must be a string');
  }

  if (m.normalization !== null) {
    const n = obj(m.normalization, 'normalization (or null)');
    if (n.method !== 'zscore') fail(`normalization.method must be "zscore", got ${JSON.stringify(n.method)}`);
    str(n, 'fittedOn', 'normalization.');
    if (!Array.isArray(n.columns) || n.columns.length !== cols.length) {
      fail(`normalization.columns must have one entry per input column (${cols.length}), got ${Array.isArray(n.columns) ? n.columns.length : typeof n.columns}`);
    }
    (n.columns as unknown[]).forEach((c, i) => {
      const s = obj(c, `normalization.columns[${i}]`);
      if (s.name !== cols[i]) fail(`normalization.columns[${i}].name is ${JSON.stringify(s.name)} but input.columns[${i}] is "${cols[i]}"`);
      if (s.transform !== 'none' && s.transform !== 'slog1p') fail(`normalization.columns[${i}].transform must be "none" or "slog1p", got ${JSON.stringify(s.transform)}`);
      // Prices are signed ticks around the reference, a missing level is 0: only sizes may be logged.
      if (input.layout === 'NTLC' && s.transform !== 'none' && (cols[i] === 'bid_px' || cols[i] === 'ask_px')) {
        fail(`normalization.columns[${i}] (${String(cols[i])}) must have transform "none": raw-level prices are ticks from the window's reference; only the size channels may be "slog1p"`);
      }
      num(s.mean, `normalization.columns[${i}].mean`, () => true, 'a finite number');
      num(s.std, `normalization.columns[${i}].std`, (x) => x > 0, 'a finite number > 0');
    });
    if (n.clip !== null) num(n.clip, 'normalization.clip', (x) => x > 0, 'a number > 0 or null');
    num(n.nanValue, 'normalization.nanValue', () => true, 'a finite number');
    if (n.inGraph !== undefined && typeof n.inGraph !== 'boolean') fail(`normalization.inGraph must be true or false, got ${JSON.stringify(n.inGraph)}`);
  }

  const out = obj(m.output, 'output');
  str(out, 'name', 'output.');
  if (out.kind !== 'probabilities') fail(`output.kind must be "probabilities", got ${JSON.stringify(out.kind)}`);
  if (!Array.isArray(out.classes) || out.classes.length < 2 || out.classes.some((c) => typeof c !== 'string' || c === '')) {
    fail('output.classes must list at least two class names');
  }
  const classes = out.classes as string[];
  if (new Set(classes).size !== classes.length) fail('output.classes repeats a name');
  if (out.labelValues !== undefined && (!Array.isArray(out.labelValues) || out.labelValues.length !== classes.length)) {
    fail(`output.labelValues must have one value per class (${classes.length})`);
  }
  if (out.horizon !== undefined) num(out.horizon, 'output.horizon', (x) => Number.isInteger(x) && x >= 1, 'a positive integer');
  if (out.horizonMs !== undefined) num(out.horizonMs, 'output.horizonMs', (x) => x > 0, 'a positive number of milliseconds');
  if (out.temperature !== undefined) {
    const t = obj(out.temperature, 'output.temperature (or absent)');
    // JSON has no NaN: JSON.stringify writes it as null, so null (and "NaN") land here, named as they were written.
    num(t.T, 'output.temperature.T', (x) => x > 0, 'a finite number > 0 (the engine serves softmax(log p / T))');
    str(t, 'fittedOn', 'output.temperature.');
    if (t.samples !== undefined) num(t.samples, 'output.temperature.samples', (x) => Number.isInteger(x) && x >= 1, 'a positive integer');
    for (const k of ['nllBefore', 'nllAfter'] as const) if (t[k] !== undefined) num(t[k], `output.temperature.${k}`, (x) => x >= 0, 'a finite number >= 0');
  }
  return m as unknown as ModelManifest;
}

/** Validates input.book of an NTLC input (parseManifest's helpers passed in). */
function parseBookInput(
  input: Record<string, unknown>,
  cols: unknown[],
  fail: (d: string) => never,
  obj: (v: unknown, path: string) => Record<string, unknown>,
  num: (v: unknown, path: string, check: (x: number) => boolean, what: string) => number,
): void {
  const b = obj(input.book, 'input.book (required with input.layout "NTLC")');
  num(b.levels, 'input.book.levels', (x) => Number.isInteger(x) && x >= 1 && x <= 1000, 'a positive integer (levels per side)');
  const want = JSON.stringify(BOOK_CHANNELS);
  if (JSON.stringify(b.channels) !== want) fail(`input.book.channels must be ${want} (SnapshotBatch.book order), got ${JSON.stringify(b.channels)}`);
  if (JSON.stringify(cols) !== want) fail(`input.columns of an NTLC input must be the book channels ${want}, got ${JSON.stringify(cols)}`);
  if (b.prices !== 'ticks-from-window-reference') fail(`input.book.prices must be "ticks-from-window-reference" (SnapshotBatch units), got ${JSON.stringify(b.prices)}`);
  if (b.sizes !== 'lots') fail(`input.book.sizes must be "lots" (SnapshotBatch units), got ${JSON.stringify(b.sizes)}`);
  num(b.history, 'input.book.history', (x) => Number.isInteger(x) && x >= 0, 'an integer >= 0');
  const scales = obj(b.scales, 'input.book.scales (per symbol)');
  if (Object.keys(scales).length === 0) fail('input.book.scales must name at least one symbol (the tick and lot the model was trained with)');
  const pow10 = (x: number) => x >= 1 && Number.isInteger(Math.log10(x)) && 10 ** Math.round(Math.log10(x)) === x;
  for (const [sym, v] of Object.entries(scales)) {
    const sc = obj(v, `input.book.scales.${sym}`);
    num(sc.price, `input.book.scales.${sym}.price`, pow10, 'a power of ten (10^price decimals)');
    num(sc.size, `input.book.scales.${sym}.size`, pow10, 'a power of ten (10^size decimals)');
  }
}

/**
 * Refuses a model whose inputs the server cannot feed: an unknown column, or a feature spec
 * version other than the one computed. `available` is the server's feature set. An NTLC model
 * reads book levels, not feature columns: it passes here (the engine serves it to callers that
 * send raw-level windows) and featureParamProblems says whether a live server can feed it.
 */
export function checkFeatureSet(m: ModelManifest, file: string, available: readonly string[] = FEATURE_COLUMNS, specVersion = FEATURE_SPEC_VERSION): void {
  if (m.input.featureSpecVersion !== specVersion) {
    throw new ManifestError(file, `input.featureSpecVersion is ${m.input.featureSpecVersion}, but this server computes feature spec v${specVersion}`);
  }
  if (m.input.layout === 'NTLC') return;
  const have = new Set(available);
  const missing = m.input.columns.map((c, i) => [c, i] as const).filter(([c]) => !have.has(c));
  if (missing.length) {
    const list = missing.map(([c, i]) => `input.columns[${i}] "${c}"`).join(', ');
    throw new ManifestError(file, `${list} ${missing.length === 1 ? 'is' : 'are'} not in the feature set (spec v${specVersion}: ${available.join(', ')})`);
  }
}

/** Per-sample input dims: [T, F], [F], or [T, L, 4] for raw book levels. */
export function sampleDims(m: ModelManifest): number[] {
  const i = m.input;
  if (i.layout === 'NTLC') return [i.window, i.book!.levels, i.columns.length];
  return i.layout === 'NTF' ? [i.window, i.columns.length] : [i.columns.length];
}

/** Floats per sample: window x columns (x levels for raw book levels). */
export function sampleSize(m: ModelManifest): number {
  return sampleDims(m).reduce((a, b) => a * b, 1);
}
