/**
 * `flowcast models calibrate NAME`: fits a temperature on the model's own validation split and
 * stores it in its manifest (output.temperature), so the server serves softmax(log p / T)
 * (src/inference/temperature.ts). The fit is the one `flowcast evaluate` reports
 * (src/training/calibration.ts fitTemperature): minimum NLL over T on the validation rows of the
 * model's training data, on the graph's own probabilities (a temperature already stored is
 * replaced, not compounded). Which data: the manifest's training.data, or `data` where it has
 * moved, checked by content against the manifest's training inputs, so a temperature is never
 * fitted on rows the manifest does not call its validation split.
 *
 * The manifest is replaced the way every install replaces a model (src/inference/versions.ts):
 * the version it replaces and the new one are kept in models/.versions/NAME, the directory is
 * written aside and renamed, and a watching server reloads it. `clear` removes a stored temperature
 * the same way.
 */
import { basename, dirname, join, resolve } from 'node:path';
import { MANIFEST_FILE, parseManifest, type ModelManifest, type OutputTemperature } from '../inference/manifest.ts';
import { installModelFiles, keepCurrent, keepVersion, readModelFiles, type VersionEntry } from '../inference/versions.ts';
import { fitTemperature } from './calibration.ts';
import { DEFAULT_LABEL, pickSymbol, type SplitFractions } from './dataset.ts';
import { datasetFor, filteredSource, loadServed, modelFeatureData, predictRows } from './evaluate/evaluate.ts';
import { describeInputs, manifestInputs, trainingOverlap } from './provenance.ts';

export interface CalibrateOptions {
  /** The model directory (models/NAME). */
  dir: string;
  /** Where the training data is now (default: the manifest's training.data); must be it by content. */
  data?: string;
  /** Remove a stored temperature instead of fitting one. */
  clear?: boolean;
  /** Fit and report, write nothing. */
  dryRun?: boolean;
  /** The command line, recorded in output.temperature.command. */
  command: string;
  onLog?: (line: string) => void;
}

export interface CalibrateResult {
  model: string;
  /** The temperature stored before (if any) and after (undefined: none). */
  before?: OutputTemperature;
  after?: OutputTemperature;
  written: boolean;
  /** The kept versions: the one replaced and the one installed. */
  replaced?: VersionEntry;
  installed?: VersionEntry;
}

export class CalibrateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CalibrateError';
  }
}

export async function calibrateModel(o: CalibrateOptions): Promise<CalibrateResult> {
  const log = o.onLog ?? (() => undefined);
  const dir = resolve(o.dir);
  const name = basename(dir);
  const root = dirname(dir);
  const manifestPath = join(dir, MANIFEST_FILE);
  const files = readModelFiles(dir);
  const text = files.get(MANIFEST_FILE);
  if (!text) throw new CalibrateError(`${manifestPath}: missing (is ${dir} a model directory?)`);
  // The manifest as written, so every field but output.temperature is kept byte for byte in meaning.
  const json = JSON.parse(Buffer.from(text).toString('utf8')) as ModelManifest & Record<string, unknown>;
  const before = json.output?.temperature;
  let after: OutputTemperature | undefined;
  if (o.clear) {
    if (!before) throw new CalibrateError(`${manifestPath}: has no output.temperature to clear (nothing changed)`);
    log(`${name}: clearing the stored temperature T = ${before.T}`);
  } else after = await fit(dir, name, o, log);
  const result: CalibrateResult = { model: name, ...(before ? { before } : {}), ...(after ? { after } : {}), written: false };
  if (o.dryRun) return result;

  const next = { ...json, output: { ...json.output } } as ModelManifest;
  if (after) next.output.temperature = after;
  else delete next.output.temperature;
  parseManifest(JSON.parse(JSON.stringify(next)), manifestPath);
  const out = new Map(files);
  out.set(MANIFEST_FILE, Buffer.from(JSON.stringify(next, null, 2) + '\n'));
  result.replaced = keepCurrent(root, name, 'replaced');
  installModelFiles(root, name, out);
  result.installed = keepVersion(root, name, out, 'install').entry;
  result.written = true;
  return result;
}

async function fit(dir: string, name: string, o: CalibrateOptions, log: (l: string) => void): Promise<OutputTemperature> {
  const m = await loadServed(dir);
  try {
    const mf = m.manifest;
    const t = (mf.training ?? {}) as Record<string, unknown>;
    const recorded = typeof t.data === 'string' ? (typeof t.where === 'string' ? filteredSource(t.data, t.where) : t.data) : undefined;
    const src = o.data ?? recorded;
    if (!src) throw new CalibrateError(`${join(dir, MANIFEST_FILE)}: records no training.data, so its validation split is unknown; pass --data with the data it was trained on`);
    const split = (t.split as SplitFractions | undefined) ?? { train: 0.7, val: 0.15 };
    const horizon = mf.output.horizon ?? DEFAULT_LABEL.horizon;
    const alpha = mf.output.alpha ?? DEFAULT_LABEL.alpha;
    log(`${name}: loading its training data ${src}`);
    const data = await modelFeatureData(src, mf, horizon, alpha);
    const trained = typeof t.symbol === 'string' ? t.symbol : undefined;
    if (trained !== undefined && !data.symbols.includes(trained)) throw new CalibrateError(`${src} holds no ${trained} rows (symbols: ${data.symbols.join(', ')}): not ${name}'s training data; a temperature is fitted on the model's own validation split only`);
    const sym = pickSymbol(data, trained);
    const ds = datasetFor(mf, data, sym, split);
    const fp = manifestInputs(mf.training);
    if (fp) {
      // The rows called validation here must be the manifest's: the same content, or the same time span.
      const ov = trainingOverlap(fp, await describeInputs(src, data), data, sym, ds.ts, horizon);
      if (ov.match === 'none') throw new CalibrateError(`${src} ${sym} is not ${name}'s training data (${ov.detail}); a temperature is fitted on the model's own validation split only`);
      const val = fp.splits?.val;
      if (val && (val.rows[0] !== ds.splits.val.from || val.rows[1] !== ds.splits.val.to)) {
        throw new CalibrateError(`${src} ${sym}: the validation split here is rows ${ds.splits.val.from}..${ds.splits.val.to - 1}, the manifest's training.inputs says ${val.rows[0]}..${val.rows[1] - 1}; not the data it was trained on`);
      }
    } else if (o.data !== undefined && o.data !== recorded) {
      throw new CalibrateError(`${join(dir, MANIFEST_FILE)} records no training.inputs (checksums), so --data ${o.data} cannot be checked against its training data ${recorded ?? '(none recorded)'}`);
    }
    const vr = ds.splits.val.rows;
    if (!vr.length) throw new CalibrateError(`${src} ${sym}: the validation split holds no samples; nothing to fit a temperature on`);
    const C = mf.output.classes.length;
    const p = await predictRows(m, ds, vr, 512, { raw: true });
    const f = fitTemperature(ds.labelsOf(vr), p, vr.length, C);
    const fittedOn = `the validation split of its training data (${src} ${sym} rows ${ds.splits.val.from}..${ds.splits.val.to - 1})`;
    log(`${name}: T = ${f.T.toFixed(4)} on ${vr.length} validation samples (NLL ${f.nllBefore.toFixed(4)} -> ${f.nllAfter.toFixed(4)})`);
    return { T: f.T, fittedOn, samples: vr.length, nllBefore: f.nllBefore, nllAfter: f.nllAfter, fitted: new Date().toISOString(), command: o.command };
  } finally {
    await m.retire();
  }
}

/** The manifest's stored temperature in one line (for describe and list). */
export function temperatureLine(t: OutputTemperature | undefined): string {
  if (!t) return 'none (the graph\'s probabilities are served as they are)';
  const nll = t.nllBefore !== undefined && t.nllAfter !== undefined ? `, validation NLL ${t.nllBefore.toFixed(4)} -> ${t.nllAfter.toFixed(4)}` : '';
  return `T = ${t.T.toFixed(4)}: serves softmax(log p / T), fitted on ${t.fittedOn}${t.samples ? ` (${t.samples} samples${nll})` : nll}`;
}

