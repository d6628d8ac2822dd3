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
import { describeInputs, type DataInputs } from './provenance.ts';

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

export async function loadTrainingData(pathOrSpec: string, o: TrainingDataOptions): Promise<TrainingData> {
  const log = o.onLog ?? (() => undefined);
  const base = {
    horizons: [o.horizon],
    alpha: o.alpha,
    levels: o.levels ?? DEFAULT_FEATURE_OPTIONS.levels,
    vpinBuckets: o.vpinBuckets ?? DEFAULT_FEATURE_OPTIONS.vpinBuckets,
    barMs: o.barMs ?? DEFAULT_FEATURE_OPTIONS.barMs,
    barWindow: o.barWindow ?? DEFAULT_FEATURE_OPTIONS.barWindow,
  };
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
