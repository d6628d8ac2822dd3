/**
 * The feature data a model is trained on, with the feature parameters it was computed with (for
 * the manifest's input.features) and its inputs by content (training.inputs).
 *
 * `--vpin-bucket auto` sizes V from the training split only: the split is by rows and V does not
 * change the rows, so a first pass (V = 1, the vpin column unused) gives the rows, the train
 * split's traded volume is the sum of its rows' `trade_vol`, and a second pass computes the
 * features with V = autoBucketVolume(that volume). Sizing V from the whole input would let the
 * test hours' volume set the scale of a training input.
 */
import { DEFAULT_FEATURE_OPTIONS } from '../features/options.ts';
import { autoBucketVolume } from '../features/vpin.ts';
import type { FeatureParams } from '../inference/manifest.ts';
import { column, isSourceSpec, loadFeatures, type FeatureData } from './features-file.ts';
import { pickSymbol, type SplitFractions } from './dataset.ts';
import { describeInputs, fileDigest, type DataInputs } from './provenance.ts';

export interface TrainingDataOptions {
  horizon: number;
  alpha: number;
  symbol?: string;
  split: SplitFractions;
  levels?: number;
  vpinBucket?: number | 'auto';
  vpinBuckets?: number;
  barMs?: number;
  barWindow?: number;
  /** For a dataset directory: the rows' filter (src/dataset/reader.ts). */
  where?: string;
  onLog?: (line: string) => void;
}

export interface TrainingData {
  data: FeatureData;
  symbol: string;
  params: FeatureParams;
  inputs: DataInputs;
}

/** Traded volume of a symbol's rows [0, end) (the trades assigned to those rows). */
export function splitVolume(data: FeatureData, symbol: string, end: number): { volume: number; rows: number; total: number } {
  const sid = data.symbols.indexOf(symbol);
  const tv = column(data, 'trade_vol');
  let k = 0, volume = 0, total = 0;
  for (let i = 0; i < data.n; i++) {
    if (data.symbolId[i] !== sid) continue;
    const v = tv[i]!;
    if (v === v) {
      if (k < end) volume += v;
      total += v;
    }
    k++;
  }
  return { volume, rows: k, total };
}

/** Rows of a symbol in the data. */
function symbolRows(data: FeatureData, symbol: string): number {
  const sid = data.symbols.indexOf(symbol);
  let k = 0;
  for (let i = 0; i < data.n; i++) if (data.symbolId[i] === sid) k++;
  return k;
}

/** The feature options a training run computes with (V apart), from its flags and the defaults. */
function featureBase(o: Pick<TrainingDataOptions, 'horizon' | 'alpha' | 'levels' | 'vpinBuckets' | 'barMs' | 'barWindow'>) {
  return {
    horizons: [o.horizon],
    alpha: o.alpha,
    levels: o.levels ?? DEFAULT_FEATURE_OPTIONS.levels,
    vpinBuckets: o.vpinBuckets ?? DEFAULT_FEATURE_OPTIONS.vpinBuckets,
    barMs: o.barMs ?? DEFAULT_FEATURE_OPTIONS.barMs,
    barWindow: o.barWindow ?? DEFAULT_FEATURE_OPTIONS.barWindow,
  };
}

export async function loadTrainingData(pathOrSpec: string, o: TrainingDataOptions): Promise<TrainingData> {
  const log = o.onLog ?? (() => undefined);
  const base = featureBase(o);
  const symbols = o.symbol ? [o.symbol] : undefined;
  if (isSourceSpec(pathOrSpec)) {
    const V = o.vpinBucket ?? 'auto';
    let data: FeatureData;
    let symbol: string;
    let sizing: string;
    if (V === 'auto') {
      const first = await loadFeatures(pathOrSpec, { ...base, symbols, vpinBucket: 1 });
      symbol = pickSymbol(first, o.symbol);
      const n = symbolRows(first, symbol);
      const a = Math.floor(n * o.split.train);
      const vol = splitVolume(first, symbol, a);
      const bucket = autoBucketVolume(vol.volume);
      const whole = autoBucketVolume(vol.total);
      if (!(bucket > 0)) throw new Error(`${pathOrSpec}: ${symbol} has no trades in the train split (rows 0..${a - 1}), so --vpin-bucket auto has nothing to size V from; give --vpin-bucket V`);
      sizing = `auto: traded volume of the train split (${symbol} rows 0..${a - 1}, ${vol.volume}) / 500, 2 significant digits; the whole input would give ${whole}`;
      log(`vpin bucket: ${symbol} V = ${bucket} from the train split's volume ${vol.volume} (the whole input's ${vol.total} would give ${whole})`);
      data = await loadFeatures(pathOrSpec, { ...base, symbols: [symbol], vpinBucket: { [symbol]: bucket } });
    } else {
      data = await loadFeatures(pathOrSpec, { ...base, symbols, vpinBucket: V });
      symbol = pickSymbol(data, o.symbol);
      sizing = 'fixed (--vpin-bucket)';
    }
    const params: FeatureParams = { ...data.params!, vpinBucket: { [symbol]: data.params!.vpinBucket![symbol] ?? (V === 'auto' ? NaN : V) }, vpinSizing: sizing };
    return { data, symbol, params, inputs: await describeInputs(pathOrSpec, data) };
  }
  const data = await loadFeatures(pathOrSpec, { horizons: [o.horizon], alpha: o.alpha, symbols, ...(o.where !== undefined ? { where: o.where } : {}) });
  const symbol = pickSymbol(data, o.symbol);
  const rec = data.params;
  // A features file was computed already: the flags state what it was computed with, where it does not record it.
  const stated = (flag: number | undefined, recorded: number | undefined, name: string, dflt: number): number => {
    if (flag !== undefined && recorded !== undefined && flag !== recorded) throw new Error(`${pathOrSpec} records ${name} ${recorded}, not ${flag}: features files are used as computed (recompute them, or train from the source spec)`);
    return flag ?? recorded ?? dflt;
  };
  const params: FeatureParams = {
    levels: stated(o.levels, rec?.levels, 'levels', DEFAULT_FEATURE_OPTIONS.levels),
    vpinBucket: null,
    vpinBuckets: stated(o.vpinBuckets, rec?.vpinBuckets, 'vpinBuckets', DEFAULT_FEATURE_OPTIONS.vpinBuckets),
    barMs: stated(o.barMs, rec?.barMs, 'barMs', DEFAULT_FEATURE_OPTIONS.barMs),
    barWindow: stated(o.barWindow, rec?.barWindow, 'barWindow', DEFAULT_FEATURE_OPTIONS.barWindow),
    ...(rec?.settleMs !== undefined ? { settleMs: rec.settleMs } : {}),
  };
  const recV = rec?.vpinBucket?.[symbol];
  if (typeof o.vpinBucket === 'number') {
    if (recV !== undefined && recV !== o.vpinBucket) throw new Error(`${pathOrSpec} records VPIN bucket ${recV} for ${symbol}, not ${o.vpinBucket}`);
    params.vpinBucket = { [symbol]: o.vpinBucket };
    params.vpinSizing = 'stated with --vpin-bucket (the features file was computed with it)';
  } else if (recV !== undefined) {
    params.vpinBucket = { [symbol]: recV };
    params.vpinSizing = rec!.vpinSizing;
  } else {
    params.vpinSizing = rec ? rec.vpinSizing : 'unknown: the features file records no parameters';
    log(`${pathOrSpec}: the VPIN bucket volume these features were computed with is not recorded${rec ? '' : ` (and neither are levels, VPIN window or bars: ${params.levels}, ${params.vpinBuckets}, ${params.barMs} ms x ${params.barWindow} assumed, the defaults of flowcast features)`}; a server refuses the model while it reads vpin: state it with --vpin-bucket V, or train from the source spec`);
  }
  if (o.vpinBucket === 'auto') log(`--vpin-bucket auto: ${pathOrSpec} is a features file, computed already; its vpin column is used as it is`);
  return { data, symbol, params, inputs: await describeInputs(pathOrSpec, data) };
}

export interface TrainingSetOptions extends Omit<TrainingDataOptions, 'symbol' | 'vpinBucket'> {
  /** Symbols to train on: a list, or 'all' (every symbol of the inputs); absent: the inputs' only one. */
  symbols?: string[] | 'all';
  /** A fixed V (every symbol), V per symbol (a model's, when evaluate reloads its training data), or 'auto'. */
  vpinBucket?: number | 'auto' | Record<string, number>;
}

export interface TrainingSet extends TrainingData {
  /** Segmented data (several inputs, symbols or days): each segment's inputs by content, as data.segments. */
  segmentInputs?: DataInputs[];
}

/**
 * Whether some inputs and symbols make segmented training data rather than the single input and
 * symbol of loadTrainingData: several inputs, several symbols (or `all`), or a dataset directory
 * whose filter keeps several partitions of the symbol.
 */
export async function isSegmented(inputs: string[], symbols: string[] | 'all' | undefined, where?: string): Promise<boolean> {
  if (inputs.length !== 1 || symbols === 'all' || (symbols?.length ?? 0) > 1) return true;
  const { isDatasetDir, selectPartitions } = await import('../dataset/reader.ts');
  if (isSourceSpec(inputs[0]!) || !isDatasetDir(inputs[0]!)) return false;
  const parts = (await selectPartitions(inputs[0]!, where)).filter((p) => !symbols || symbols.includes(p.symbol));
  return parts.length > 1;
}

/**
 * The training data of one or several inputs (issue 17 item 4). One input and one symbol (one
 * partition of a dataset directory): loadTrainingData, unchanged. Otherwise segmented data
 * (src/training/segments.ts), each symbol with one VPIN bucket V for all its segments:
 *
 * - `--vpin-bucket auto`, a symbol whose segments are all computed here (source specs): V =
 *   autoBucketVolume(its traded volume over its train-split rows / the number of its segments with
 *   train rows), i.e. its mean traded volume per training day / 500, 2 significant digits. The
 *   train split is cut by time over the union of every segment (timeCuts) from a first pass with
 *   V = 1, which gives the same rows and times (V changes no row); with one segment this is exactly
 *   loadTrainingData's rule. Every source input is then computed again with its symbols' V.
 * - a symbol with segments computed already (features files, dataset partitions): their recorded
 *   V must agree, and is its V (source inputs of that symbol are computed with it); disagreeing
 *   segments are refused with their V. `--vpin-bucket V` states one V for every symbol.
 */
export async function loadTrainingSet(inputs: string[], o: TrainingSetOptions): Promise<TrainingSet> {
  const perSymbolV = typeof o.vpinBucket === 'object' ? o.vpinBucket : undefined;
  if (!perSymbolV && !(await isSegmented(inputs, o.symbols, o.where))) {
    const syms = o.symbols as string[] | undefined;
    return loadTrainingData(inputs[0]!, { ...o, vpinBucket: o.vpinBucket as number | 'auto' | undefined, ...(syms?.length ? { symbol: syms[0]! } : {}) });
  }
  const log = o.onLog ?? (() => undefined);
  const { isDatasetDir, requireRecord } = await import('../dataset/reader.ts');
  const { combineSegments, timeCuts } = await import('./segments.ts');
  if (new Set(inputs).size !== inputs.length) throw new Error(`--data: ${inputs.find((x, i) => inputs.indexOf(x) !== i)} is given twice`);
  const isDir = inputs.map((x) => !isSourceSpec(x) && isDatasetDir(x));
  if (o.where !== undefined && !isDir.some(Boolean)) throw new Error(`--where needs a dataset directory among --data (${inputs.join(', ')})`);
  const base = featureBase(o);
  const fixedV = typeof o.vpinBucket === 'number' ? o.vpinBucket : undefined;
  const auto = !perSymbolV && fixedV === undefined;
  // First pass: every input as it is (sources with V = 1 where V is to be sized, else with the given V).
  const loadSource = (spec: string, V: number | Record<string, number>, symbols?: string[]): Promise<FeatureData> =>
    loadFeatures(spec, { ...base, ...(symbols ? { symbols } : {}), vpinBucket: V });
  const first: FeatureData[] = [];
  for (let k = 0; k < inputs.length; k++) {
    const x = inputs[k]!;
    log(`train: loading ${x}${isDir[k] && o.where !== undefined ? ` where ${o.where}` : ''}`);
    if (isSourceSpec(x)) first.push(await loadSource(x, auto ? 1 : (fixedV ?? 1)));
    else first.push(await loadFeatures(x, { horizons: [o.horizon], alpha: o.alpha, ...(isDir[k] && o.where !== undefined ? { where: o.where } : {}) }));
  }
  const all = [...new Set(first.flatMap((d) => d.symbols))];
  let symbols: string[];
  if (o.symbols === 'all') symbols = all;
  else if (o.symbols?.length) symbols = o.symbols;
  else if (all.length === 1) symbols = all;
  else throw new Error(`${inputs.join(', ')} hold ${all.length} symbols (${all.join(', ')}); choose with --symbol S[,S...] or --symbol all`);

  // Feature parameters: those of features computed here, and the recorded ones of the rest, which must agree.
  const stated = { levels: o.levels, vpinBuckets: o.vpinBuckets, barMs: o.barMs, barWindow: o.barWindow };
  const params: FeatureParams = { levels: base.levels, vpinBucket: null, vpinBuckets: base.vpinBuckets, barMs: base.barMs, barWindow: base.barWindow, settleMs: DEFAULT_FEATURE_OPTIONS.settleMs };
  const fromFiles = inputs.map((x, k) => ({ x, p: first[k]!.params })).filter(({ x }) => !isSourceSpec(x));
  for (const key of ['levels', 'vpinBuckets', 'barMs', 'barWindow'] as const) {
    const seen = fromFiles.filter(({ p }) => p !== undefined).map(({ x, p }) => ({ x, v: p![key] }));
    const values = [...new Set([...seen.map((s) => s.v), ...(stated[key] !== undefined || inputs.some(isSourceSpec) ? [params[key]] : [])])];
    if (values.length > 1) throw new Error(`the inputs disagree on ${key}: ${[...seen.map((s) => `${s.x}: ${s.v}`), ...(inputs.some(isSourceSpec) || stated[key] !== undefined ? [`computed here: ${params[key]}`] : [])].join('; ')}`);
    if (values.length === 1) params[key] = values[0]!;
  }

  // V per symbol.
  const firstData = combineSegments(inputs.map((spec, k) => ({ spec, data: first[k]! })), symbols);
  const cuts = timeCuts(firstData.ts, o.split);
  const V: Record<string, number> = {};
  const sizing: string[] = [];
  for (const sym of symbols) {
    const segs = firstData.segments!.filter((s) => s.symbol === sym);
    const recorded = segs.filter((s) => !isSourceSpec(s.spec)).map((s) => {
      const d = first[s.input]!;
      const v = s.partition ? d.dataset?.partitions?.find((q) => q.key === s.partition)?.vpinBucket ?? null : d.params?.vpinBucket?.[sym] ?? null;
      return { name: `${s.spec}${s.partition ? ` ${s.partition}` : ''} (${s.date})`, v, sizing: d.params?.vpinSizing };
    });
    const known = [...new Set(recorded.map((r) => r.v).filter((v): v is number => v !== null))];
    if (perSymbolV) {
      if (perSymbolV[sym] === undefined) throw new Error(`no VPIN bucket given for ${sym}`);
      V[sym] = perSymbolV[sym]!;
      sizing.push(`${sym} ${V[sym]} (given)`);
    } else if (recorded.length) {
      if (known.length > 1 || (fixedV !== undefined && known.length && known[0] !== fixedV)) {
        throw new Error(`${sym}: the segments were computed with different VPIN buckets (${recorded.map((r) => `${r.name}: ${r.v ?? 'none'}`).join('; ')}${fixedV !== undefined ? `; --vpin-bucket ${fixedV}` : ''}); a model serves a symbol with one V: train on segments that agree, or rebuild them with --vpin-bucket V`);
      }
      const v = fixedV ?? known[0];
      if (v === undefined) {
        log(`${sym}: the VPIN bucket its segments were computed with is not recorded; a server refuses the model while it reads vpin: state it with --vpin-bucket V`);
        sizing.push(`${sym} not recorded`);
        continue;
      }
      V[sym] = v;
      const how = [...new Set(recorded.map((r) => r.sizing).filter(Boolean))];
      sizing.push(`${sym} ${v} (${fixedV !== undefined ? 'stated with --vpin-bucket' : `recorded by its ${recorded.length} segment${recorded.length > 1 ? 's' : ''}${how.length ? `: ${how.join('; ')}` : ''}`})`);
    } else if (fixedV !== undefined) {
      V[sym] = fixedV;
      sizing.push(`${sym} ${fixedV} (fixed, --vpin-bucket)`);
    } else {
      const tv = column(firstData, 'trade_vol');
      let volume = 0, total = 0;
      const days = new Set<number>();
      for (const s of segs) {
        for (let i = s.from; i < s.to; i++) {
          const v = tv[i]!;
          if (v !== v) continue;
          total += v;
          if (firstData.ts[i]! < cuts.val) volume += v;
        }
        // A segment has train rows when its first row is before the cut (its rows are in time order).
        if (firstData.ts[s.from]! < cuts.val) days.add(s.from);
      }
      const bucket = autoBucketVolume(volume / Math.max(1, days.size));
      if (!(bucket > 0)) throw new Error(`${sym} has no trades in the train split, so --vpin-bucket auto has nothing to size V from; give --vpin-bucket V`);
      V[sym] = bucket;
      sizing.push(`${sym} ${bucket} (auto: train-split traded volume ${+volume.toPrecision(6)} over ${days.size} segment${days.size > 1 ? 's' : ''} / ${days.size} / 500; all ${segs.length} segments' ${+total.toPrecision(6)} would give ${autoBucketVolume(total / segs.length)})`);
      log(`vpin bucket: ${sym} V = ${bucket} from the train split's volume ${+volume.toPrecision(6)} over ${days.size} of its ${segs.length} segments (the whole of them would give ${autoBucketVolume(total / segs.length)})`);
    }
  }
  // Second pass: source inputs computed with their symbols' V, where the first pass did not use it.
  const final = [...first];
  for (let k = 0; k < inputs.length; k++) {
    if (!isSourceSpec(inputs[k]!)) continue;
    const mine = first[k]!.symbols.filter((s) => symbols.includes(s));
    if (!mine.length) continue;
    const used = first[k]!.params?.vpinBucket ?? {};
    if (mine.every((s) => V[s] === undefined || used[s] === V[s])) continue;
    final[k] = await loadSource(inputs[k]!, Object.fromEntries(mine.map((s) => [s, V[s] ?? 1])), mine);
  }
  const data = combineSegments(inputs.map((spec, k) => ({ spec, data: final[k]! })), symbols);
  params.vpinBucket = Object.keys(V).length ? V : null;
  params.vpinSizing = `per symbol over its segments: ${sizing.join('; ')}`;
  data.params = params;

  // By content: every input, and each segment's own (a dataset partition: its file and the inputs it was built from).
  const described = await Promise.all(inputs.map((x, k) => describeInputs(x, final[k]!)));
  const partInputs = new Map<string, DataInputs>();
  const segmentInputs: DataInputs[] = [];
  for (const s of data.segments!) {
    if (!s.partition) {
      segmentInputs.push(described[s.input]!);
      continue;
    }
    let di = partInputs.get(`${s.input} ${s.partition}`);
    if (!di) {
      const rec = requireRecord(s.spec).partitions[s.partition];
      const file = final[s.input]!.dataset!.partitions!.find((q) => q.key === s.partition)!.file;
      di = { kind: 'features', spec: file, files: [await fileDigest(file)], recorded: { files: (rec?.inputs ?? []).map((f) => ({ path: f.path, bytes: f.bytes, sha256: f.sha256 })), unreadable: [] } };
      partInputs.set(`${s.input} ${s.partition}`, di);
    }
    segmentInputs.push(di);
  }
  const inputsAll: DataInputs = {
    kind: described.every((d) => d.kind === 'source') ? 'source' : 'features',
    spec: inputs.join(' + '),
    files: described.flatMap((d) => d.files),
    ...(described.some((d) => d.recorded) ? { recorded: { files: described.flatMap((d) => d.recorded?.files ?? []), unreadable: described.flatMap((d) => d.recorded?.unreadable ?? []) } } : {}),
  };
  log(`segments: ${data.segments!.map((s) => `${s.symbol} ${s.date} (${s.to - s.from} rows${s.partition ? `, ${s.partition}` : ''})`).join(', ')}`);
  return { data, symbol: symbols.join(','), params, inputs: inputsAll, segmentInputs };
}
