/**
 * `flowcast models import xgboost|lightgbm FILE`: a trained tree model -> ONNX TreeEnsemble model
 * directory. The inputs are mapped to feature-spec columns (the model's own feature names, or
 * --columns), the conversion is checked by running ONNX Runtime against flowcast's reference tree
 * evaluator on inputs that probe every split (each threshold, its float32 neighbours, NaN), and the
 * directory is written atomically.
 */
import * as ort from 'onnxruntime-node';
import { createHash } from 'node:crypto';
import { InputError, InputErrorCode } from '../../core/errors.ts';
import { FEATURE_COLUMNS, FEATURE_SPEC_VERSION } from '../../features/columns.ts';
import { writeModelDir, type ManifestDraft } from '../model-dir.ts';
import type { FeatureParams } from '../../inference/manifest.ts';
import { CLASS_NAMES, CLASS_VALUES } from '../labels.ts';
import { mulberry32 } from '../random.ts';
import { readXgboostJson } from './xgboost.ts';
import { readLightgbmText } from './lightgbm.ts';
import { ensembleToOnnx, float32Threshold } from './onnx.ts';
import { marginsToOutput, outputWidth, predictMargins, type TreeEnsemble } from './ensemble.ts';
import { compactUtcStamp } from '../../model/time.ts';

export interface ImportOptions {
  library: 'xgboost' | 'lightgbm';
  /** The feature parameters the model was trained with (manifest input.features), where stated. */
  features?: FeatureParams;
  text: string;
  file: string;
  name: string;
  modelsDir: string;
  columns?: string[];
  classes?: string[];
  labelValues?: number[];
  horizon: number;
  alpha: number;
  version?: string;
  command: string;
}

export interface ImportResult {
  dir: string;
  summary: string;
  maxAbsDiff: number;
}

/** Inputs that reach every side of every split: thresholds, their float32 neighbours, NaN, random values. */
export function probeInputs(e: TreeEnsemble, n: number, seed = 1): Float32Array {
  const thresholds: number[][] = Array.from({ length: e.nFeatures }, () => []);
  for (const t of e.trees) for (let i = 0; i < t.feature.length; i++) if (t.feature[i]! >= 0) thresholds[t.feature[i]!]!.push(float32Threshold(t.threshold[i]!, e.cmp));
  const r = mulberry32(seed);
  const x = new Float32Array(n * e.nFeatures);
  const f32 = new Float32Array(1), u32 = new Uint32Array(f32.buffer);
  for (let i = 0; i < n; i++) {
    for (let f = 0; f < e.nFeatures; f++) {
      const th = thresholds[f]!;
      const pick = r();
      let v: number;
      if (pick < 0.08 || th.length === 0) v = pick < 0.04 ? NaN : (r() - 0.5) * 10;
      else {
        v = th[Math.floor(r() * th.length)]!;
        const k = r();
        if (k < 0.3 && v !== 0) {
          f32[0] = v;
          u32[0]! += k < 0.15 ? 1 : -1;
          v = f32[0]!;
        }
      }
      x[i * e.nFeatures + f] = v;
    }
  }
  return x;
}

export async function importTreeModel(o: ImportOptions): Promise<ImportResult> {
  let ens: TreeEnsemble;
  try {
    ens = o.library === 'xgboost' ? readXgboostJson(o.text, o.file) : readLightgbmText(o.text, o.file);
  } catch (e) {
    const msg = (e as Error).message;
    throw new InputError(InputErrorCode.Format, o.file, undefined, msg.startsWith(o.file) ? msg.slice(o.file.length).replace(/^:\s*/, '') : msg);
  }
  const fail = (detail: string): never => {
    throw new InputError(InputErrorCode.Format, o.file, undefined, detail);
  };
  if (ens.link === 'identity') fail(`objective "${ens.objective}" is a regression; flowcast serves classifiers (class probabilities)`);

  const columns = o.columns ?? ens.featureNames;
  if (!columns) fail('the model has no feature names; pass --columns with the feature-spec column of each model feature, in order');
  if (columns!.length !== ens.nFeatures) fail(`${columns!.length} columns given for a model with ${ens.nFeatures} features${o.columns ? '' : ' (its own feature names)'}`);
  const unknown = columns!.filter((c) => !(FEATURE_COLUMNS as readonly string[]).includes(c));
  if (unknown.length) fail(`feature ${unknown.map((c) => `"${c}"`).join(', ')} ${unknown.length === 1 ? 'is not a' : 'are not'} feature-spec column${unknown.length === 1 ? '' : 's'}; map the model's features with --columns (spec: ${FEATURE_COLUMNS.join(', ')})`);
  if (new Set(columns).size !== columns!.length) fail(`a column appears twice in ${columns!.join(',')}`);

  const width = outputWidth(ens);
  const classes = o.classes ?? (width === 3 ? [...CLASS_NAMES] : width === 2 ? ['negative', 'positive'] : Array.from({ length: width }, (_, k) => `class_${k}`));
  if (classes.length !== width) fail(`${classes.length} class names for a model with ${width} outputs`);
  const labelValues = o.labelValues ?? (width === 3 ? [...CLASS_VALUES] : width === 2 ? [0, 1] : undefined);
  if (labelValues && labelValues.length !== width) fail(`${labelValues.length} label values for ${width} classes`);

  const onnx = ensembleToOnnx(ens, { metadata: { 'flowcast.model': o.name, 'flowcast.source': `${o.library}:${o.file}` } });
  // ONNX Runtime against the reference evaluator on inputs that probe every split.
  const n = 512;
  const x = probeInputs(ens, n);
  const session = await ort.InferenceSession.create(onnx.bytes);
  let maxAbsDiff = 0;
  try {
    const out = (await session.run({ [onnx.inputName]: new ort.Tensor('float32', x, [n, ens.nFeatures]) }))[onnx.outputName]!.data as Float32Array;
    for (let i = 0; i < n; i++) {
      const want = marginsToOutput(ens, predictMargins(ens, x.subarray(i * ens.nFeatures, (i + 1) * ens.nFeatures)));
      for (let k = 0; k < width; k++) maxAbsDiff = Math.max(maxAbsDiff, Math.abs(out[i * width + k]! - want[k]!));
    }
  } finally {
    await session.release();
  }
  if (!(maxAbsDiff <= 1e-5)) throw new Error(`${o.file}: the ONNX conversion disagrees with the reference evaluator (max |Δp| ${maxAbsDiff}); please report this model`);

  const draft: ManifestDraft = {
    name: o.name,
    version: o.version ?? compactUtcStamp(),
    kind: 'gbdt',
    description: `${o.library} ${ens.objective} (${ens.trees.length} trees) imported from ${o.file}`,
    input: { name: onnx.inputName, columns: columns!, window: 1, layout: 'NF', featureSpecVersion: FEATURE_SPEC_VERSION, ...(o.features ? { features: o.features } : {}) },
    normalization: null,
    output: { name: onnx.outputName, kind: 'probabilities', classes, ...(labelValues ? { labelValues } : {}), horizon: o.horizon, alpha: o.alpha },
    training: {
      imported: o.file,
      library: o.library,
      sourceSha256: createHash('sha256').update(o.text).digest('hex'),
      objective: ens.objective,
      trees: ens.trees.length,
      command: o.command,
    },
    parity: { reference: 'flowcast reference tree evaluator (split-probing inputs)', samples: n, maxAbsDiff, tolerance: 1e-5 },
  };
  const w = writeModelDir(o.modelsDir, draft, onnx.bytes);
  return {
    dir: w.dir,
    maxAbsDiff,
    summary: `${ens.trees.length} trees (${onnx.nodes} nodes), ${columns!.length} inputs -> ${classes.join('/')}; ONNX Runtime vs reference evaluator max |Δp| ${maxAbsDiff.toExponential(2)} on ${n} split-probing inputs`,
  };
}
