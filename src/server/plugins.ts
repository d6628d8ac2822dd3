/**
 * The small interfaces through which the server serves models and health from the modules that
 * compute them (src/inference, src/compute); the shapes the live pipeline hands rows through are in
 * src/pipeline/plugins.ts. Adapters in this folder connect each module.
 */
import type { RowPredictor } from '../pipeline/plugins.ts';
import type { IngestBacklog } from './ingest.ts';

/** One model as /v1/models and the hello frame describe it. */
export interface ModelInfo {
  name: string;
  /** Class names, in the order of `probs`. */
  classes: readonly string[];
  [extra: string]: unknown;
}

/** Makes predictions from each symbol's feature rows (e.g. windows of them through ONNX models). */
export interface Predictor extends RowPredictor {
  models(): ModelInfo[];
  /** POST /v1/predict: the request body (parsed JSON) in, a JSON-able answer out; throws HttpError for a bad request. */
  predict(body: unknown): Promise<unknown>;
  health(): Record<string, unknown>;
  /** Extra Prometheus lines for /metrics (batch sizes, queue and run times). */
  renderMetrics?(out: string[]): void;
  /**
   * While a later book message of a symbol waits in the ingest backlog, its rows are out of date when
   * made: predict it at most once per `intervalMs` until its backlog is gone (src/server/ingest.ts).
   */
  followBacklog?(backlog: IngestBacklog, intervalMs: number): void;
  close(): Promise<void>;
}

/** A named section of /healthz (compute backend, execution providers, ...). */
export interface HealthSection {
  name: string;
  health(): Record<string, unknown> | Promise<Record<string, unknown>>;
}

/** An HTTP error a plug-in can throw from a request handler. */
export class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
    this.name = 'HttpError';
  }
}
