import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import type { Command } from '../command.ts';
import { UsageError } from '../command.ts';
import { numberFlag, parseFlags } from '../args.ts';
import { DEFAULT_LABEL } from '../../training/dataset.ts';

const usage = `flowcast models list|validate|describe|versions|rollback|calibrate|import ...

  flowcast models list [--models DIR] [--json]
      Loads every model under DIR (default models) as the server would (manifest, feature set,
      ONNX session, shapes, a test run) and prints each one's state; refused models show why.
  flowcast models validate [--models DIR]
      The same; exits 1 if any model is refused (for CI and deploy scripts).
  flowcast models describe NAME [--models DIR]
      Manifest summary, ONNX graph (opsets, operators, size), provider, training and metrics.
  flowcast models versions NAME [--models DIR] [--json]
      The kept versions of a model (DIR/.versions/NAME/vN): id, when and why kept, content hash,
      manifest version, the evaluation headline of its manifest, which one is current, and what is
      wrong with a corrupt one. Every install (train, import) and every replacement a serving
      server sees keeps the version it replaces.
  flowcast models rollback NAME [--to vN] [--models DIR]
      Makes the previous kept version (or vN) the current one, after checking it completely; the
      model directory is replaced whole (written aside, then renamed), and a server watching DIR
      reloads it and logs the rollback. The version rolled back from is kept, so --to undoes it.
  flowcast models calibrate NAME [--data SRC] [--dry-run] [--clear] [--models DIR]
      Fits a temperature T on the model's own validation split (minimum NLL of softmax(log p / T),
      Guo et al. 2017) and stores it in its manifest (output.temperature); the server then serves
      softmax(log p / T) instead of p (the most likely class never changes). The data is the
      manifest's training.data, or --data where it has moved (checked by content against the
      training inputs). Replaces an earlier temperature (fitted on the graph's own probabilities);
      the version replaced is kept, so rollback undoes it. Check \`flowcast evaluate\`'s calibration
      section first: store T where it improves log loss on held-out data.
        --dry-run            fit and print T, write nothing
        --clear              remove the stored temperature (serve the graph's probabilities again)
  flowcast models import xgboost MODEL.json [flags]
  flowcast models import lightgbm MODEL.txt [flags]
      Converts a trained tree model to an ONNX TreeEnsemble (ai.onnx.ml) with a manifest, checks
      ONNX Runtime against flowcast's reference tree evaluator, and writes models/<name>/.
        --name NAME          model name (default: the file name without extension)
        --models DIR         models root (default models)
        --columns C,C,..     feature columns in the model's feature order (default: the model's
                             own feature names, which must then be spec columns)
        --classes A,B,..     class names (default down,flat,up for 3 classes)
        --label-values V,..  label value per class (default -1,0,1 for 3 classes)
        --horizon K          label horizon in rows, for the manifest (default 50)
        --alpha A            label threshold, for the manifest (default 0.00002)
        --version V          manifest version (default: UTC timestamp)
        --levels L --vpin-bucket SYM=V[,SYM=V] --vpin-buckets N --bar-ms MS --bar-window W
                             the feature parameters it was trained with, for input.features
                             (defaults 10, unknown, 50, 1000, 300); a server refuses a model
                             reading vpin without its V, or trained with other parameters

  flowcast models import onnx MODEL.onnx --columns C,C,.. --window N [--softmax] [flags]
      Serves an ONNX model trained elsewhere (PyTorch, Keras, ...): reads its input and output from
      the graph, checks that ONNX Runtime runs it on [N, window, columns] windows (or [N, columns]
      rows with --window 1) and that it outputs class probabilities, and writes models/<name>/ with
      its manifest. The graph takes raw feature values (scaling, if any, inside it).
        --columns C,C,..     feature-spec columns along the input's last axis, in order (required)
        --window N           rows per sample (required; 1 for a [N, F] input)
        --softmax            the model outputs logits: a Softmax is appended to the graph
        --output NAME        the graph output with the scores (default: the first)
        --classes, --label-values, --horizon, --alpha, --name, --models, --version and the
        feature parameters as above

XGBoost models: JSON (Booster.save_model("m.json")); gbtree or dart; multi:softprob/softmax,
binary:logistic, reg:logistic. LightGBM models: text (save_model("m.txt")); multiclass,
multiclassova, binary, cross_entropy; numerical splits (categorical splits and linear trees are
refused with the tree and node named).
`;

const command: Command = {
  name: 'models',
  summary: 'list, validate, describe, version, roll back and import models (XGBoost JSON / LightGBM text / ONNX)',
  usage,
  async run(argv) {
    const [sub, ...rest] = argv;
    if (sub === 'list' || sub === 'validate') return list(rest, sub === 'validate');
    if (sub === 'describe') return describe(rest);
    if (sub === 'versions') return versions(rest);
    if (sub === 'rollback') return rollbackModel(rest);
    if (sub === 'calibrate') return calibrate(rest);
    if (sub === 'import') return importModel(rest);
    throw new UsageError(`expected list, validate, describe, versions, rollback, calibrate or import, got ${sub === undefined ? 'nothing' : `"${sub}"`}`);
  },
};
export default command;

async function list(argv: string[], strict: boolean): Promise<number> {
  const { values, positionals } = parseFlags(argv, { models: { type: 'string' }, json: { type: 'boolean' } }, true);
  if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  const { InferenceEngine } = await import('../../inference/engine.ts');
  const engine = await InferenceEngine.open({ dir: values.models ?? 'models' });
  try {
    const d = engine.describe();
    if (values.json) process.stdout.write(JSON.stringify(d, null, 2) + '\n');
    else {
      const { providerAvailability } = await import('../../inference/providers.ts');
      const lines = [`models in ${d.modelsDir} (${providersLine(d.providers.available, providerAvailability('cuda').summary)})`];
      for (const m of d.models) {
        if (m.state === 'ready') {
          lines.push(`  ${m.name}  ready  ${m.kind} v${m.version}  ${m.input!.layout === 'NTLC' ? `raw book levels (${m.input!.columns.length} channels)` : `${m.input!.columns.length} columns`} x ${m.input!.window} rows -> ${m.output!.classes.join('/')} (horizon ${m.output!.horizon ?? '?'})${m.output!.temperature ? `  T ${m.output!.temperature.T.toFixed(3)}` : ''}  on ${m.provider}${m.versionId ? `  (kept as ${m.versionId})` : ''}`);
        } else lines.push(`  ${m.name}  REFUSED  ${m.error}`);
      }
      if (d.models.length === 0) lines.push('  (none)');
      process.stdout.write(lines.join('\n') + '\n');
    }
    return strict && d.models.some((m) => m.state !== 'ready') ? 1 : 0;
  } finally {
    await engine.close();
  }
}

async function versions(argv: string[]): Promise<number> {
  const { values, positionals } = parseFlags(argv, { models: { type: 'string' }, json: { type: 'boolean' } }, true);
  const [name, extra] = positionals;
  if (!name) throw new UsageError('versions needs a model name');
  if (extra) throw new UsageError(`unexpected argument "${extra}"`);
  const { join } = await import('node:path');
  const { existsSync } = await import('node:fs');
  const { currentVersion, listVersions, verifyVersion, versionsDir } = await import('../../inference/versions.ts');
  const root = values.models ?? 'models';
  // Each version is checked as a rollback would check it, so the listing says which ones can be restored.
  const list = listVersions(root, name).map((v) => {
    if (v.error) return v;
    try {
      verifyVersion(root, name, v.id);
      return v;
    } catch (e) {
      return { ...v, error: (e as Error).message };
    }
  });
  const current = currentVersion(root, name);
  if (!current && list.length === 0) throw new UsageError(`no model ${join(root, name)} and no kept versions in ${versionsDir(root, name)}`);
  const currentId = current?.entry?.id;
  if (values.json) {
    process.stdout.write(JSON.stringify({ model: name, current: current ? { hash: current.hash, versionId: currentId ?? null } : null, versions: list.map((v) => ({ ...v, current: v.id === currentId })) }, null, 2) + '\n');
    return 0;
  }
  const lines = [`${name}: ${list.length} kept version${list.length === 1 ? '' : 's'} in ${versionsDir(root, name)}`];
  for (const v of list) {
    const r = v.record;
    if (!r) lines.push(`  ${v.id.padEnd(4)}  CORRUPT  ${v.error}`);
    else if (v.error) lines.push(`  ${v.id.padEnd(4)}  ${r.created.replace(/\.\d+Z$/, 'Z')}  ${r.hash.slice(0, 12)}  CORRUPT  ${v.error}${v.id === currentId ? '  <- current' : ''}`);
    else lines.push(`  ${v.id.padEnd(4)}  ${r.created.replace(/\.\d+Z$/, 'Z')}  ${r.hash.slice(0, 12)}  ${r.kind} ${r.manifestVersion}  ${r.evaluation ?? 'no evaluation in its manifest'}  (kept: ${r.source})${v.id === currentId ? '  <- current' : ''}`);
  }
  if (!existsSync(join(root, name))) lines.push(`  current: none (no ${join(root, name)})`);
  else if (!current) lines.push(`  current: ${join(root, name)} has no manifest.json`);
  else if (!currentId) lines.push(`  current: ${join(root, name)} (${current.hash.slice(0, 12)}), not kept yet (it will be when it is replaced or rolled back)`);
  process.stdout.write(lines.join('\n') + '\n');
  return 0;
}

async function rollbackModel(argv: string[]): Promise<number> {
  const { values, positionals } = parseFlags(argv, { models: { type: 'string' }, to: { type: 'string' } }, true);
  const [name, extra] = positionals;
  if (!name) throw new UsageError('rollback needs a model name');
  if (extra) throw new UsageError(`unexpected argument "${extra}"`);
  const { rollback, VersionError } = await import('../../inference/versions.ts');
  const root = values.models ?? 'models';
  try {
    const r = rollback(root, name, values.to);
    const rec = r.to.record!;
    process.stdout.write(`${name}: rolled back from ${r.from.id} to ${r.to.id} (${rec.kind} ${rec.manifestVersion}, ${rec.hash.slice(0, 12)}${rec.evaluation ? `, ${rec.evaluation}` : ''}); ${r.dir} now holds it (a watching server reloads it)\n`);
    return 0;
  } catch (e) {
    if (e instanceof VersionError) {
      process.stderr.write(`flowcast models rollback: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}

async function calibrate(argv: string[]): Promise<number> {
  const { values, positionals } = parseFlags(argv, { models: { type: 'string' }, data: { type: 'string' }, 'dry-run': { type: 'boolean' }, clear: { type: 'boolean' } }, true);
  const [name, extra] = positionals;
  if (!name) throw new UsageError('calibrate needs a model name');
  if (extra) throw new UsageError(`unexpected argument "${extra}"`);
  if (values.clear && values.data !== undefined) throw new UsageError('--clear fits nothing: it takes no --data');
  const { join } = await import('node:path');
  const { existsSync } = await import('node:fs');
  const { calibrateModel, CalibrateError, temperatureLine } = await import('../../training/calibrate-model.ts');
  const dir = join(values.models ?? 'models', name);
  if (!existsSync(dir)) throw new UsageError(`no model directory ${dir}`);
  try {
    const r = await calibrateModel({
      dir, data: values.data, clear: values.clear === true, dryRun: values['dry-run'] === true,
      command: `flowcast models calibrate ${argv.join(' ')}`, onLog: (l) => process.stderr.write(l + '\n'),
    });
    const lines = [`${name}: before: ${temperatureLine(r.before)}`, `${name}: ${r.written ? 'now' : 'would be (--dry-run: nothing written)'}: ${temperatureLine(r.after)}`];
    if (r.written) lines.push(`${name}: ${dir} replaced (kept ${r.replaced ? `the previous version as ${r.replaced.id}` : 'no previous version'}, the new one as ${r.installed!.id}; a watching server reloads it; \`flowcast models rollback ${name}\` undoes it)`);
    process.stdout.write(lines.join('\n') + '\n');
    return 0;
  } catch (e) {
    if (e instanceof CalibrateError) {
      process.stderr.write(`flowcast models calibrate: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}

/**
 * The execution providers in a few words: "on cpu; CUDA is not installed here: docs/deploy-cuda.md".
 * A CPU machine is the normal case, so it is said once; --json and --verbose carry the paths.
 */
function providersLine(available: { provider: string; available: boolean }[], cudaSummary: string): string {
  const usable = available.filter((p) => p.available).map((p) => p.provider);
  const cuda = available.find((p) => p.provider === 'cuda');
  const head = `on ${usable.join(', ') || 'no provider'}`;
  if (!cuda || cuda.available) return head;
  return `${head}; CUDA is ${cudaSummary === 'not installed' ? 'not installed here' : `unavailable here (${cudaSummary})`}: docs/deploy-cuda.md`;
}

async function describe(argv: string[]): Promise<number> {
  const { values, positionals } = parseFlags(argv, { models: { type: 'string' } }, true);
  const name = positionals[0];
  if (!name) throw new UsageError('describe needs a model name');
  const { join } = await import('node:path');
  const { decodeModel, DATA_TYPE_NAMES } = await import('../../inference/onnx/proto.ts');
  const { InferenceEngine } = await import('../../inference/engine.ts');
  const root = values.models ?? 'models';
  const engine = await InferenceEngine.open({ dir: root, only: [name] });
  try {
    const st = engine.models().find((m) => m.name === name);
    if (!st) throw new UsageError(`no model directory ${join(root, name)}`);
    if (st.state !== 'ready') {
      process.stdout.write(`${name}: REFUSED: ${st.error}\n`);
      return 1;
    }
    const m = engine.repository.get(name)!;
    const mf = m.manifest;
    const model = decodeModel(readFileSync(join(m.dir, mf.onnx.file)));
    const graph = model.graph;
    const ops = new Map<string, number>();
    for (const n of graph.nodes) ops.set(n.opType, (ops.get(n.opType) ?? 0) + 1);
    const out = [
      `${name} (${mf.kind}, version ${mf.version}) on ${m.provider}`,
      mf.description ? `  ${mf.description}` : '',
      mf.input.book
        ? `  input  ${mf.input.name}: float32 [N, ${mf.input.window}, ${mf.input.book.levels}, ${mf.input.columns.length}] raw book levels (${mf.input.columns.join(', ')}; prices in ticks from the window's reference, sizes in lots: SnapshotBatch units)`
        : `  input  ${mf.input.name}: float32 [N, ${mf.input.layout === 'NTF' ? `${mf.input.window}, ` : ''}${mf.input.columns.length}] ${mf.input.columns.join(', ')}`,
      `  feature parameters: ${featuresLine(mf.input.features)}`,
      `  normalisation: ${mf.normalization ? `z-score fitted on ${mf.normalization.fittedOn}, clip ${mf.normalization.clip}, NaN -> ${mf.normalization.nanValue}` : 'none (raw features; NaN is missing)'}`,
      `  output ${mf.output.name}: probabilities of ${mf.output.classes.join('/')} (${mf.output.labelColumn ?? 'label'}, horizon ${mf.output.horizon ?? '?'} rows, alpha ${mf.output.alpha ?? '?'})`,
      `  temperature: ${(await import('../../training/calibrate-model.ts')).temperatureLine(mf.output.temperature)}`,
      `  onnx: ${mf.onnx.file} ${(m.bytes / 1024).toFixed(0)} KiB, sha256 ${m.sha256.slice(0, 16)}…, IR ${model.irVersion}, opsets ${model.opsetImports.map((o) => `${o.domain || 'ai.onnx'} ${o.version}`).join(', ')}, producer ${model.producerName ?? '?'}`,
      `  graph: ${graph.nodes.length} nodes (${[...ops].map(([k, v]) => `${k} ${v}`).join(', ')}), ${graph.initializers.length} initializers; inputs ${graph.inputs.map((v) => `${v.name} ${DATA_TYPE_NAMES[v.elemType]} [${(v.shape ?? []).join(', ')}]`).join('; ')}`,
    ];
    const tr = mf.training as Record<string, unknown> | undefined;
    if (tr) out.push(`  trained: ${tr.command ?? '?'} (${tr.library ?? '?'}, ${tr.seconds ?? '?'} s)`);
    if (mf.metrics) out.push(`  metrics: ${JSON.stringify(mf.metrics)}`);
    if (mf.parity) out.push(`  parity: ONNX Runtime vs ${mf.parity.reference}: max |Δp| ${mf.parity.maxAbsDiff.toExponential(2)} on ${mf.parity.samples} samples (tolerance ${mf.parity.tolerance})`);
    process.stdout.write(out.filter(Boolean).join('\n') + '\n');
    return 0;
  } finally {
    await engine.close();
  }
}

async function importModel(argv: string[]): Promise<number> {
  const { values, positionals } = parseFlags(argv, {
    name: { type: 'string' }, models: { type: 'string' }, columns: { type: 'string' }, classes: { type: 'string' },
    'label-values': { type: 'string' }, horizon: { type: 'string' }, alpha: { type: 'string' }, version: { type: 'string' },
    window: { type: 'string' }, softmax: { type: 'boolean' }, output: { type: 'string' }, levels: { type: 'string' }, 'vpin-bucket': { type: 'string' },
    'vpin-buckets': { type: 'string' }, 'bar-ms': { type: 'string' }, 'bar-window': { type: 'string' },
  }, true);
  const [lib, file, extra] = positionals;
  if (lib === 'onnx') return importOnnxModel(argv, values, file, extra);
  for (const f of ['window', 'softmax', 'output'] as const) {
    if (values[f] !== undefined) throw new UsageError(`--${f} applies to import onnx only`);
  }
  if (lib !== 'xgboost' && lib !== 'lightgbm') throw new UsageError(`import: expected xgboost, lightgbm or onnx, got ${lib === undefined ? 'nothing' : `"${lib}"`}`);
  if (!file) throw new UsageError(`import ${lib}: the model file is required`);
  if (extra) throw new UsageError(`unexpected argument "${extra}"`);
  const { importTreeModel } = await import('../../training/gbdt/import.ts');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new UsageError(`${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
  const split = (v: string | undefined) => v?.split(',').map((s) => s.trim()).filter(Boolean);
  const labelValues = values['label-values'] ? values['label-values'].split(',').map((s) => {
    const v = Number(s);
    if (!Number.isFinite(v)) throw new UsageError(`--label-values: "${s}" is not a number`);
    return v;
  }) : undefined;
  const res = await importTreeModel({
    library: lib,
    text,
    file,
    name: values.name ?? basename(file).replace(/\.(json|txt|model)$/i, ''),
    modelsDir: values.models ?? 'models',
    columns: split(values.columns),
    classes: split(values.classes),
    labelValues,
    horizon: numberFlag(values.horizon, 'horizon', 50, { min: 1, integer: true }),
    alpha: numberFlag(values.alpha, 'alpha', DEFAULT_LABEL.alpha, { min: 0 }),
    version: values.version,
    features: await featureParamsFlags(values),
    command: `flowcast models import ${argv.join(' ')}`,
  });
  process.stdout.write(`${res.dir}: ${res.summary}\n`);
  return 0;
}

async function importOnnxModel(argv: string[], values: Record<string, string | boolean | undefined>, file: string | undefined, extra: string | undefined): Promise<number> {
  if (!file) throw new UsageError('import onnx: the model file is required');
  if (extra) throw new UsageError(`unexpected argument "${extra}"`);
  const str = (k: string) => values[k] as string | undefined;
  const split = (v: string | undefined) => v?.split(',').map((s) => s.trim()).filter(Boolean);
  const columns = split(str('columns'));
  if (!columns?.length) throw new UsageError('import onnx: --columns is required (the feature-spec columns along the input\'s last axis, in order)');
  const { FEATURE_COLUMNS } = await import('../../features/columns.ts');
  const unknown = columns.filter((c) => !(FEATURE_COLUMNS as readonly string[]).includes(c));
  if (unknown.length) throw new UsageError(`--columns: ${unknown.join(', ')} ${unknown.length === 1 ? 'is not a feature-spec column' : 'are not feature-spec columns'} (${FEATURE_COLUMNS.join(', ')})`);
  if (str('window') === undefined) throw new UsageError('import onnx: --window is required (rows per sample; 1 for a [N, F] input)');
  const window = numberFlag(str('window'), 'window', 1, { min: 1, integer: true });
  const classes = split(str('classes')) ?? ['down', 'flat', 'up'];
  const labelValues = str('label-values') ? str('label-values')!.split(',').map((s) => {
    const v = Number(s);
    if (!Number.isFinite(v)) throw new UsageError(`--label-values: "${s}" is not a number`);
    return v;
  }) : classes.length === 3 ? [-1, 0, 1] : undefined;
  const { compactUtcStamp } = await import('../../model/time.ts');
  const { importOnnx } = await import('../../training/onnx-import.ts');
  let res;
  try {
    res = await importOnnx({
      file,
      name: str('name') ?? basename(file).replace(/\.onnx$/i, ''),
      modelsDir: str('models') ?? 'models',
      version: str('version') ?? compactUtcStamp(),
      columns,
      window,
      classes,
      labelValues,
      horizon: numberFlag(str('horizon'), 'horizon', 50, { min: 1, integer: true }),
      alpha: numberFlag(str('alpha'), 'alpha', DEFAULT_LABEL.alpha, { min: 0 }),
      softmax: values.softmax === true,
      output: str('output'),
      features: await featureParamsFlags(values),
      command: `flowcast models import ${argv.join(' ')}`,
    });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new UsageError(`${file}: no such file`);
    throw e;
  }
  // Loaded as the server loads it (manifest, feature set, session, shapes, a test run).
  const { loadServed } = await import('../../training/evaluate/evaluate.ts');
  const served = await loadServed(res.dir);
  await served.retire();
  const m = res.manifest;
  process.stdout.write(`${res.dir}: ${m.input.columns.length} columns x ${m.input.window} rows (${res.layout}, input "${res.inputName}") -> ${m.output.classes.join('/')} (output "${res.outputName}"); ` +
    `ONNX Runtime check on ${res.check.samples} windows: ${res.check.what} ${res.check.maxAbsDiff.toExponential(2)}\n`);
  return 0;
}

/**
 * The feature parameters an imported model was trained with, from --levels, --vpin-bucket SYM=V,..,
 * --vpin-buckets, --bar-ms, --bar-window (defaults: the features' defaults, V unknown).
 */
async function featureParamsFlags(values: Record<string, string | boolean | undefined>): Promise<import('../../inference/manifest.ts').FeatureParams> {
  const str = (k: string) => values[k] as string | undefined;
  let vpinBucket: Record<string, number> | null = null;
  if (str('vpin-bucket')) {
    vpinBucket = {};
    for (const part of str('vpin-bucket')!.split(',').map((x) => x.trim()).filter(Boolean)) {
      const m = /^([^=]+)=(.+)$/.exec(part);
      const v = m ? Number(m[2]) : NaN;
      if (!m || !(v > 0)) throw new UsageError(`--vpin-bucket: expected SYM=V with V > 0, got "${part}"`);
      vpinBucket[m[1]!.trim()] = v;
    }
  }
  const { DEFAULT_FEATURE_OPTIONS } = await import('../../features/options.ts');
  return {
    levels: numberFlag(str('levels'), 'levels', DEFAULT_FEATURE_OPTIONS.levels, { min: 1, integer: true }),
    vpinBucket,
    vpinSizing: vpinBucket ? 'stated at import (--vpin-bucket)' : 'unknown: not stated at import',
    vpinBuckets: numberFlag(str('vpin-buckets'), 'vpin-buckets', DEFAULT_FEATURE_OPTIONS.vpinBuckets, { min: 1, integer: true }),
    barMs: numberFlag(str('bar-ms'), 'bar-ms', DEFAULT_FEATURE_OPTIONS.barMs, { min: 1, integer: true }),
    barWindow: numberFlag(str('bar-window'), 'bar-window', DEFAULT_FEATURE_OPTIONS.barWindow, { min: 2, integer: true }),
  };
}

function featuresLine(f: import('../../inference/manifest.ts').FeatureParams | undefined): string {
  if (!f) return 'not recorded (a manifest older than issue 17: a server refuses it while it reads depth_*, slope_*, vpin or the bar columns)';
  const V = f.vpinBucket ? Object.entries(f.vpinBucket).map(([s, v]) => `${s} ${v}`).join(', ') : 'not recorded';
  return `levels ${f.levels}; VPIN bucket ${V}${f.vpinSizing ? ` (${f.vpinSizing})` : ''}, window ${f.vpinBuckets}; bars ${f.barMs} ms x ${f.barWindow}`;
}
