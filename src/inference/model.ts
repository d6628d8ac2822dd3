/**
 * One loaded version of a model: manifest, ONNX Runtime session, input transform and its own
 * batcher. Loading checks, in order: the manifest, the inputs against the server's feature set,
 * the ONNX file's hash, the session's input/output names, types and shapes against the manifest,
 * and a smoke run on one sample (finite probabilities that sum to 1). Any failure is a
 * ModelLoadError that names the file and the field.
 *
 * What it serves is `run`: the graph's probabilities, rescaled by the manifest's temperature where
 * it has one (output.temperature: softmax(log p / T), src/inference/temperature.ts). `runner` is
 * the graph alone, for tools that compare graphs (ONNX Runtime against another runtime).
 *
 * A version is immutable. Hot reload builds a new one and retires the old: its queued and
 * in-flight requests finish on the old session, which is released afterwards.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { checkFeatureSet, ManifestError, MANIFEST_FILE, parseManifest, sampleDims, sampleSize, type ModelManifest } from './manifest.ts';
import { InputTransform } from './normalize.ts';
import type { ProviderAttempt, ProviderName, SessionSettings } from './providers.ts';
import { DynamicBatcher, type BatcherSettings } from './batcher.ts';
import { AUTO_INLINE_MAX_MS, createRunner, type ModelRunner, type RunnerChoice, type ValueMeta } from './runner.ts';
import type { ModelMetrics } from './metrics.ts';
import { withTemperature } from './temperature.ts';
import type { BatchRunner } from './batcher.ts';

export class ModelLoadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ModelLoadError';
  }
}

export interface LoadOptions {
  session: SessionSettings;
  batcher: BatcherSettings;
  featureColumns: readonly string[];
  featureSpecVersion: number;
  metrics: ModelMetrics;
  /** Where the session runs (default worker); `auto` times a full batch inline and decides. */
  runner?: RunnerChoice;
}

export class ServedModel {
  readonly loadedAt = new Date();
  private retired = false;

  private constructor(
    readonly name: string,
    readonly dir: string,
    readonly manifest: ModelManifest,
    readonly sha256: string,
    readonly bytes: number,
    readonly provider: ProviderName,
    readonly providerAttempts: ProviderAttempt[],
    /** The ONNX graph's session: its raw outputs, before any temperature. */
    readonly runner: ModelRunner,
    /** The served outputs: runner's, rescaled by output.temperature where the manifest has one. */
    readonly served: BatchRunner,
    readonly transform: InputTransform,
    readonly batcher: DynamicBatcher,
    /** Why the session runs where it does (the measurement, for `auto`). */
    readonly runnerReason: string,
  ) {}

  /** Content hash of a model directory (manifest + ONNX bytes): equal hashes need no reload. */
  static async fingerprint(dir: string): Promise<string> {
    const h = createHash('sha256');
    const manifestText = await readFile(join(dir, MANIFEST_FILE));
    h.update(manifestText);
    let file = 'model.onnx';
    try {
      file = String((JSON.parse(manifestText.toString('utf8')) as { onnx?: { file?: string } }).onnx?.file ?? file);
    } catch {
      // an unparsable manifest still has a fingerprint; load() reports the parse error
    }
    h.update(await readFile(join(dir, file)).catch(() => Buffer.alloc(0)));
    return h.digest('hex');
  }

  static async load(name: string, dir: string, o: LoadOptions): Promise<ServedModel> {
    const manifestPath = join(dir, MANIFEST_FILE);
    let manifest: ModelManifest;
    try {
      const text = await readFile(manifestPath, 'utf8').catch((e: NodeJS.ErrnoException) => {
        throw new ManifestError(manifestPath, e.code === 'ENOENT' ? 'missing (every model directory needs a manifest.json)' : e.message);
      });
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch (e) {
        throw new ManifestError(manifestPath, `not valid JSON: ${(e as Error).message}`);
      }
      manifest = parseManifest(json, manifestPath);
      if (manifest.name !== name) throw new ManifestError(manifestPath, `name is "${manifest.name}" but the directory is "${name}" (they must match)`);
      checkFeatureSet(manifest, manifestPath, o.featureColumns, o.featureSpecVersion);
    } catch (e) {
      throw new ModelLoadError((e as Error).message);
    }

    const onnxPath = join(dir, manifest.onnx.file);
    const bytes = await readFile(onnxPath).catch((e: NodeJS.ErrnoException) => {
      throw new ModelLoadError(`${onnxPath}: ${e.code === 'ENOENT' ? 'missing (named by manifest onnx.file)' : e.message}`);
    });
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    if (manifest.onnx.sha256 && manifest.onnx.sha256 !== sha256) {
      throw new ModelLoadError(`${onnxPath}: sha256 ${sha256} differs from manifest onnx.sha256 ${manifest.onnx.sha256} (a partial copy, or the manifest belongs to another version)`);
    }
    const model = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const choice = o.runner ?? 'worker';
    let runner = await openRunner(choice === 'auto' ? 'inline' : choice, model, manifest, onnxPath, o);
    let runnerReason = 'requested';
    if (choice === 'auto') {
      const ms = await batchMs(runner, manifest, o.batcher.maxBatchSize);
      const inline = ms <= AUTO_INLINE_MAX_MS;
      runnerReason = `auto: a batch of ${o.batcher.maxBatchSize} takes ${ms.toFixed(3)} ms on this thread (${inline ? '<=' : '>'} ${AUTO_INLINE_MAX_MS} ms)`;
      if (!inline) {
        await runner.release().catch(() => undefined);
        runner = await openRunner('worker', model, manifest, onnxPath, o);
      }
    }
    try {
      const transform = new InputTransform(manifest);
      // A worker runner takes the next batch while one runs; in this thread one at a time.
      const maxInflight = o.batcher.maxInflight || (runner.mode === 'worker' ? 2 : 1);
      const C = manifest.output.classes.length;
      const T = manifest.output.temperature?.T;
      const served = T === undefined ? runner : withTemperature(runner, C, T);
      const batcher = new DynamicBatcher(name, served, transform, C, { ...o.batcher, maxInflight }, o.metrics);
      return new ServedModel(name, dir, manifest, sha256, bytes.length, runner.provider, runner.attempts, runner, served, transform, batcher, runnerReason);
    } catch (e) {
      await runner.release().catch(() => undefined);
      throw e;
    }
  }

  get isRetired(): boolean {
    return this.retired;
  }

  predict(window: ArrayLike<number>, symbol: string): Promise<Float32Array> {
    return this.batcher.submit(window, symbol);
  }

  /** The served probabilities of n transformed samples (temperature applied), without the batcher: for batch tools. */
  run(input: Float32Array, n: number): Promise<Float32Array> {
    return this.served.run(input, n);
  }

  /** The temperature the served probabilities are rescaled by (undefined: none). */
  get temperature(): number | undefined {
    return this.manifest.output.temperature?.T;
  }

  /** n packed samples that run as one batch (per maxBatchSize), not merged with other requests. */
  predictMany(windows: Float32Array, n: number, what: string): Promise<Float32Array> {
    return this.batcher.submitMany(windows, n, what);
  }

  /** Lets queued and in-flight requests finish on this version, then releases the session. */
  async retire(): Promise<void> {
    if (this.retired) return;
    this.retired = true;
    await this.batcher.drain();
    await this.runner.release();
  }
}

/** Checks the graph's input/output against the manifest; returns the per-sample input dims. */
function checkSessionShapes(inputs: ValueMeta[], outputs: ValueMeta[], m: ModelManifest, file: string): number[] {
  const fail = (d: string): never => {
    throw new ModelLoadError(`${file}: ${d}`);
  };
  const { input, output } = m;
  const inMeta = inputs.find((v) => v.name === input.name);
  if (!inMeta) return fail(`has no input "${input.name}" (manifest input.name); its inputs are ${inputs.map((v) => v.name).join(', ')}`);
  const outMeta = outputs.find((v) => v.name === output.name);
  if (!outMeta) return fail(`has no output "${output.name}" (manifest output.name); its outputs are ${outputs.map((v) => v.name).join(', ')}`);
  const dims = sampleDims(m);
  const want = `[N, ${dims.join(', ')}]`;
  const what = input.layout === 'NTLC' ? `${input.window} rows x ${input.book!.levels} levels x ${input.columns.length} channels` : `${input.window} rows x ${input.columns.length} columns`;
  if (inMeta.isTensor) {
    if (inMeta.type !== 'float32') fail(`input "${input.name}" is ${inMeta.type}, expected float32`);
    const shape = inMeta.shape ?? [];
    if (shape.length !== dims.length + 1) fail(`input "${input.name}" has rank ${shape.length}, expected ${want} for layout ${input.layout}`);
    dims.forEach((d, i) => {
      const s = shape[i + 1];
      if (typeof s === 'number' && s !== d) {
        fail(`input "${input.name}" has shape [${shape.join(', ')}], expected ${want} (${what} in the manifest)`);
      }
    });
  } else fail(`input "${input.name}" is not a tensor`);
  if (outMeta.isTensor) {
    const shape = outMeta.shape ?? [];
    const last = shape[shape.length - 1];
    if (typeof last === 'number' && last !== output.classes.length) {
      fail(`output "${output.name}" has ${last} values per sample, but the manifest lists ${output.classes.length} classes`);
    }
  }
  return dims;
}

/** A runner that has passed the shape checks and the smoke test. */
async function openRunner(mode: 'worker' | 'inline', model: Uint8Array, manifest: ModelManifest, onnxPath: string, o: LoadOptions): Promise<ModelRunner> {
  let runner: ModelRunner;
  try {
    runner = await createRunner(mode, model, o.session, `${manifest.name} (${onnxPath})`);
  } catch (e) {
    throw new ModelLoadError(`${onnxPath}: onnxruntime could not load it: ${(e as Error).message}`);
  }
  try {
    runner.bind(manifest.input.name, manifest.output.name, checkSessionShapes(runner.inputs, runner.outputs, manifest, onnxPath));
    await smokeTest(runner, manifest, onnxPath);
    return runner;
  } catch (e) {
    await runner.release().catch(() => undefined);
    throw e;
  }
}

/** Models loading together measure one at a time: an inline run of one would land in another's timing. */
let measuring: Promise<unknown> = Promise.resolve();

/**
 * Time of a full batch (normalised zeros) on this thread: the fastest of five after a warm-up run,
 * because anything else the event loop runs meanwhile only ever adds to a run's time.
 */
function batchMs(runner: ModelRunner, m: ModelManifest, n: number): Promise<number> {
  const measure = async (): Promise<number> => {
    const x = new Float32Array(sampleSize(m) * n);
    await runner.run(x, n);
    let best = Infinity;
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      await runner.run(x, n);
      best = Math.min(best, performance.now() - t0);
    }
    return best;
  };
  const next = measuring.then(measure, measure);
  measuring = next.catch(() => undefined);
  return next;
}

async function smokeTest(runner: ModelRunner, m: ModelManifest, file: string): Promise<void> {
  const transform = new InputTransform(m);
  const x = new Float32Array(sampleSize(m));
  transform.write(new Float32Array(sampleSize(m)), x, 0);
  let out: Float32Array;
  try {
    out = await runner.run(x, 1);
  } catch (e) {
    throw new ModelLoadError(`${file}: a test run on one sample failed: ${(e as Error).message}`);
  }
  const C = m.output.classes.length;
  if (out.length !== C) throw new ModelLoadError(`${file}: a test run returned ${out.length} values for one sample, expected ${C} (one per class)`);
  let sum = 0;
  for (const p of out) {
    if (!(p >= 0 && p <= 1)) throw new ModelLoadError(`${file}: a test run returned ${p}, not a probability`);
    sum += p;
  }
  if (Math.abs(sum - 1) > 1e-3) throw new ModelLoadError(`${file}: a test run's probabilities sum to ${sum}, not 1`);
}
