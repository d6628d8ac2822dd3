/**
 * Inference counters and histograms, per model, in a form the server exports as Prometheus text
 * (`toPrometheus`) and as JSON for /healthz (`snapshot`). Histograms have fixed buckets and
 * O(buckets) observe, no allocation.
 */
import { escapeLabel } from '../core/prometheus.ts';
import { Histogram, LATENCY_BUCKETS_S, powersOfTwo } from '../core/histogram.ts';

export class ModelMetrics {
  requests = 0;
  /** Requests refused because the queue was full (backpressure). */
  rejected = 0;
  errors = 0;
  batches = 0;
  /** Requests waiting now. */
  queueDepth = 0;
  readonly batchSize = new Histogram(powersOfTwo(1024));
  /** Time from enqueue to the start of the batch's run. */
  readonly queueSeconds = new Histogram(LATENCY_BUCKETS_S);
  /** ONNX Runtime run time per batch. */
  readonly runSeconds = new Histogram(LATENCY_BUCKETS_S);
  /** Enqueue to result, per request. */
  readonly latencySeconds = new Histogram(LATENCY_BUCKETS_S);
}

export interface ModelMetricsSnapshot {
  requests: number;
  rejected: number;
  errors: number;
  batches: number;
  queueDepth: number;
  meanBatchSize: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
  meanRunMs: number;
}

export class InferenceMetrics {
  private readonly models = new Map<string, ModelMetrics>();
  reloads = 0;
  reloadFailures = 0;

  model(name: string): ModelMetrics {
    let m = this.models.get(name);
    if (!m) this.models.set(name, (m = new ModelMetrics()));
    return m;
  }

  snapshot(): Record<string, ModelMetricsSnapshot> {
    const out: Record<string, ModelMetricsSnapshot> = {};
    for (const [name, m] of this.models) {
      out[name] = {
        requests: m.requests,
        rejected: m.rejected,
        errors: m.errors,
        batches: m.batches,
        queueDepth: m.queueDepth,
        meanBatchSize: round(m.batchSize.mean(), 2),
        latencyP50Ms: round(m.latencySeconds.quantile(0.5) * 1000, 3),
        latencyP99Ms: round(m.latencySeconds.quantile(0.99) * 1000, 3),
        meanRunMs: round(m.runSeconds.mean() * 1000, 3),
      };
    }
    return out;
  }

  /** Prometheus text exposition format (version 0.0.4). */
  toPrometheus(prefix = 'flowcast_inference'): string {
    const lines: string[] = [];
    const models = [...this.models.entries()];
    const counter = (name: string, help: string, get: (m: ModelMetrics) => number, type = 'counter'): void => {
      lines.push(`# HELP ${prefix}_${name} ${help}`, `# TYPE ${prefix}_${name} ${type}`);
      for (const [model, m] of models) lines.push(`${prefix}_${name}{model="${escapeLabel(model)}"} ${get(m)}`);
    };
    const histogram = (name: string, help: string, get: (m: ModelMetrics) => Histogram): void => {
      lines.push(`# HELP ${prefix}_${name} ${help}`, `# TYPE ${prefix}_${name} histogram`);
      for (const [model, m] of models) {
        get(m).render(lines, `${prefix}_${name}`, `model="${escapeLabel(model)}"`);
      }
    };
    counter('requests_total', 'Prediction requests accepted.', (m) => m.requests);
    counter('rejected_total', 'Prediction requests refused because the queue was full.', (m) => m.rejected);
    counter('errors_total', 'Prediction requests that failed.', (m) => m.errors);
    counter('batches_total', 'Batches run.', (m) => m.batches);
    counter('queue_depth', 'Requests waiting for a batch.', (m) => m.queueDepth, 'gauge');
    histogram('batch_size', 'Requests per batch.', (m) => m.batchSize);
    histogram('queue_seconds', 'Time from enqueue to the start of the batch run.', (m) => m.queueSeconds);
    histogram('run_seconds', 'ONNX Runtime run time per batch.', (m) => m.runSeconds);
    histogram('latency_seconds', 'Time from enqueue to result, per request.', (m) => m.latencySeconds);
    lines.push(`# HELP ${prefix}_reloads_total Model versions loaded by hot reload.`, `# TYPE ${prefix}_reloads_total counter`, `${prefix}_reloads_total ${this.reloads}`);
    lines.push(`# HELP ${prefix}_reload_failures_total Hot reloads refused (the previous version kept serving).`, `# TYPE ${prefix}_reload_failures_total counter`, `${prefix}_reload_failures_total ${this.reloadFailures}`);
    return lines.join('\n') + '\n';
  }
}

function round(v: number, digits: number): number {
  if (!Number.isFinite(v)) return v;
  const k = 10 ** digits;
  return Math.round(v * k) / k;
}
