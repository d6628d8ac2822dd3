/**
 * The inference engine the server uses: a model repository (load, validate, hot reload) and one
 * dynamic batcher per model version, behind three calls:
 *
 *   const engine = await InferenceEngine.open({ dir: 'models', watch: true });
 *   const probs = await engine.predict('goog-transformer', 'GOOG', window); // Float32Array [classes]
 *   engine.describe();   // providers, threads, batcher, models: for /healthz and /v1/models
 *   engine.metricsText(); // Prometheus text for /metrics
 *
 * `window` holds the model's input columns (engine.inputSpec(name)) for its last T rows,
 * row-major, oldest first, raw (unnormalised) feature values; NaN where a feature is undefined.
 * A raw-levels model (layout NTLC) takes [T, L, 4] instead: the window of SnapshotBatch.book
 * (ticks from the window's reference, lots), oldest row first.
 */
import * as ort from 'onnxruntime-node';
import { ModelRepository, type ModelStatus, type RepositoryOptions } from './repository.ts';
import { providerAvailability, type ProviderName, type SessionSettings } from './providers.ts';
import type { BatcherSettings } from './batcher.ts';
import type { ModelMetricsSnapshot } from './metrics.ts';
import { sampleSize } from './manifest.ts';

export class UnknownModelError extends Error {
  constructor(name: string, known: string[], refused?: string) {
    super(refused ? `model ${name} is refused: ${refused}` : `no model "${name}" (serving: ${known.join(', ') || 'none'})`);
    this.name = 'UnknownModelError';
  }
}

export interface EngineDescription {
  runtime: { onnxruntime: string; node: string };
  providers: {
    preference: ProviderName[];
    available: { provider: ProviderName; available: boolean; reason: string }[];
  };
  threads: { intraOp: number; interOp: number; spinning: boolean };
  /** Where sessions run: a worker thread per model, or inline on the event loop. */
  runner: string;
  batcher: BatcherSettings;
  modelsDir: string;
  watching: boolean;
  models: (ModelStatus & { metrics?: ModelMetricsSnapshot })[];
}

export interface InputSpec {
  columns: string[];
  window: number;
  /** L, for a raw-levels model (layout NTLC: [T, L, 4], columns are then the four book channels); absent otherwise. */
  levels?: number;
  /** Floats per request: window x columns (x levels for raw book levels). */
  size: number;
  classes: string[];
}

export class InferenceEngine {
  private constructor(readonly repository: ModelRepository, private readonly watching: boolean) {}

  static async open(opts: RepositoryOptions = {}): Promise<InferenceEngine> {
    return new InferenceEngine(await ModelRepository.open(opts), Boolean(opts.watch));
  }

  /** Class probabilities for one sample; batched with concurrent requests for the same model. */
  predict(model: string, symbol: string, window: ArrayLike<number>): Promise<Float32Array> {
    const m = this.repository.get(model);
    if (!m) return Promise.reject(this.unknown(model));
    return m.predict(window, symbol);
  }

  /**
   * Class probabilities for n samples that already form a batch (packed windows, each as predict()
   * takes it, in float32): one ONNX run per maxBatchSize samples, not merged with other requests.
   * Resolves with n x classes floats, in order. `what` names the samples in errors.
   */
  predictMany(model: string, windows: Float32Array, n: number, what: string): Promise<Float32Array> {
    const m = this.repository.get(model);
    if (!m) return Promise.reject(this.unknown(model));
    return m.predictMany(windows, n, what);
  }

  /** What a request for this model must contain. */
  inputSpec(model: string): InputSpec {
    const m = this.repository.get(model);
    if (!m) throw this.unknown(model);
    const { columns, window, book } = m.manifest.input;
    return { columns, window, ...(book ? { levels: book.levels } : {}), size: sampleSize(m.manifest), classes: m.manifest.output.classes };
  }

  models(): ModelStatus[] {
    return this.repository.status();
  }

  describe(): EngineDescription {
    const s: SessionSettings = this.repository.session;
    const snap = this.repository.metrics.snapshot();
    return {
      runtime: { onnxruntime: ort.env.versions.node ?? 'unknown', node: process.version },
      providers: {
        preference: s.providers,
        available: s.providers.map((p) => ({ provider: p, ...providerAvailability(p) })),
      },
      threads: { intraOp: s.intraOpThreads, interOp: s.interOpThreads, spinning: s.spinning },
      runner: this.repository.runnerMode,
      batcher: this.repository.batcher,
      modelsDir: this.repository.dir,
      watching: this.watching,
      models: this.repository.status().map((st) => (snap[st.name] ? { ...st, metrics: snap[st.name] } : st)),
    };
  }

  metricsText(prefix?: string): string {
    return this.repository.metrics.toPrometheus(prefix);
  }

  close(): Promise<void> {
    return this.repository.close();
  }

  private unknown(model: string): UnknownModelError {
    const refused = this.repository.status().find((s) => s.name === model && s.state === 'refused');
    return new UnknownModelError(model, this.repository.status().filter((s) => s.state === 'ready').map((s) => s.name), refused?.error);
  }
}
