/**
 * The contract of a dense-feature compute backend: a SnapshotBatch in, the kernels' raw output
 * (src/compute/dense.ts) out. Backends: `cpu` (the kernel functions run as plain JavaScript in
 * float64) and `gpujs:<mode>` (gpu.js in one of its modes, float32).
 */
import type { SnapshotBatch } from '../snapshots/batch.ts';
import type { DenseRaw } from './dense.ts';

/** gpu.js modes, best first (the order `gpujs` without a mode tries them in). */
export const GPUJS_MODES = ['webgpu', 'headlessgl', 'webgl2', 'webgl', 'webasm', 'cpu'] as const;
export type GpuJsMode = (typeof GPUJS_MODES)[number];

export type ComputeSpec = 'auto' | 'cpu' | 'gpujs' | `gpujs:${GpuJsMode}`;

export const COMPUTE_SPEC_HELP = `auto | cpu | gpujs | gpujs:<${GPUJS_MODES.join('|')}>`;

export function parseComputeSpec(s: string): ComputeSpec {
  if (s === 'auto' || s === 'cpu' || s === 'gpujs') return s;
  if (s.startsWith('gpujs:') && (GPUJS_MODES as readonly string[]).includes(s.slice(6))) return s as ComputeSpec;
  throw new RangeError(`--compute: expected ${COMPUTE_SPEC_HELP}, got "${s}"`);
}

export interface DenseBackend {
  /** `cpu` or `gpujs:<mode>`. */
  readonly name: string;
  /** What actually runs, e.g. "gpu.js 2.24.1 webasm (fused: no)" or "JavaScript float64". */
  readonly library: string;
  /** Arithmetic of the backend. */
  readonly precision: 'float32' | 'float64';
  /** Whether computeSync works (webgpu is asynchronous only). */
  readonly sync: boolean;
  compute(batch: SnapshotBatch, levels: number): Promise<DenseRaw>;
  computeSync(batch: SnapshotBatch, levels: number): DenseRaw;
  /** Frees kernels and device resources (a Dawn instance keeps Node alive until released). */
  dispose(): Promise<void>;
}

/** A backend that cannot run here, with the reason (which library, what failed). */
export class BackendUnavailable extends Error {
  constructor(readonly backend: string, readonly reason: string) {
    super(`${backend} is not available: ${reason}`);
    this.name = 'BackendUnavailable';
  }
}

/** Everything a health report or log line needs about the chosen backend. */
export interface ComputeInfo {
  /** What was asked for (`auto`, `cpu`, `gpujs`, `gpujs:webasm` ...). */
  requested: ComputeSpec;
  /** The backend chosen: `cpu` or `gpujs:<mode>`. */
  backend: string;
  /** The library and mode that executes it. */
  libraryMode: string;
  precision: 'float32' | 'float64';
  /** Why this one: the measurement for auto, the fallback reason, or "requested". */
  reason: string;
  /** Backends tried and why the others were not used. */
  unavailable: Record<string, string>;
  /** Calibration results (rows/s by backend) when auto measured them. */
  measured?: Record<string, number>;
}

/** The first line of an error's message: native-addon load failures run to many lines. */
export function errorLine(e: unknown): string {
  return String((e as Error)?.message ?? e).split('\n')[0]!;
}

/** How rows are handed to the kernels live (src/pipeline/batching.ts): one call per row, micro-batches, or chosen by measurement at start. */
export type LiveBatching = 'row' | 'batch' | 'auto';
export const LIVE_BATCHING: readonly LiveBatching[] = ['row', 'batch', 'auto'];

export interface BatchSettings {
  /** Rows that make a batch leave at once. */
  maxBatchSize: number;
  /** How long the oldest row may wait for others, µs. */
  maxQueueDelayUs: number;
}
