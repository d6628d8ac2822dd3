/**
 * Run-time choice of the dense-feature backend:
 *
 *   cpu            the kernels as plain JavaScript, float64
 *   gpujs:<mode>   that gpu.js mode, or an error saying why it cannot run here
 *   gpujs          the best gpu.js mode present (webgpu > headlessgl > webgl2 > webgl > webasm > cpu)
 *   auto           every backend that can run here is timed on a batch of the caller's shape and
 *                  the fastest wins: a measured crossover, not a name (a GPU loses to the CPU on
 *                  small batches, where uploads and launches dominate)
 *
 * The result carries what a log line and /healthz report: the backend, the library and mode that
 * executes it, its precision, why it was chosen, and why the others were not.
 */
import { CpuBackend } from './cpu.ts';
import { GpuJsBackend } from './gpujs.ts';
import {
  BackendUnavailable, GPUJS_MODES, type ComputeInfo, type ComputeSpec, type DenseBackend, type GpuJsMode,
} from './backend.ts';
import { SnapshotBatch } from '../snapshots/batch.ts';
import { DEFAULT_DEPTH, type Depth } from '../model/depth.ts';
import { logger } from '../core/log.ts';

const log = logger('compute');

export interface CalibrationShape {
  /** B: windows per batch. */
  windows: number;
  /** T: output rows per window. */
  rows: number;
}

export interface SelectOptions {
  /** The run's resolved depth, which auto times candidates at (default DEFAULT_DEPTH). */
  depth?: Depth;
  /**
   * The batch shape the caller will compute (auto times candidates on it, capped at 256 windows to
   * keep start-up short: a GPU only gains from larger batches, so the cap never favours it); default 64 x 100.
   */
  shape?: CalibrationShape;
  /** Time spent timing each candidate after its first (compiling) run, ms (default 150). */
  budgetMs?: number;
  /** Candidates for auto (default: cpu and every gpu.js mode). */
  candidates?: readonly string[];
}

export interface SelectedBackend {
  backend: DenseBackend;
  info: ComputeInfo;
}

export async function selectComputeBackend(spec: ComputeSpec, opts: SelectOptions = {}): Promise<SelectedBackend> {
  const unavailable: Record<string, string> = {};
  let chosen: SelectedBackend;
  if (spec === 'cpu') {
    chosen = describe(spec, new CpuBackend(), 'requested', unavailable);
  } else if (spec.startsWith('gpujs:')) {
    chosen = describe(spec, await GpuJsBackend.create(spec.slice(6) as GpuJsMode), 'requested', unavailable);
  } else if (spec === 'gpujs') {
    let be: DenseBackend | undefined;
    for (const mode of GPUJS_MODES) {
      try {
        be = await GpuJsBackend.create(mode);
        break;
      } catch (e) {
        unavailable[`gpujs:${mode}`] = reasonOf(e);
      }
    }
    const skipped = Object.keys(unavailable).length ? ` (${Object.entries(unavailable).map(([k, v]) => `${k}: ${v}`).join('; ')})` : '';
    chosen = describe(spec, be!, `best gpu.js mode present${skipped}`, unavailable);
  } else {
    chosen = await autoSelect(opts, unavailable);
  }
  log.info('compute backend', { ...chosen.info });
  return chosen;
}

/** Every backend that can run here, created (the caller disposes them); the rest with reasons. */
export async function availableBackends(
  names: readonly string[] = ['cpu', ...GPUJS_MODES.map((m) => `gpujs:${m}`)],
): Promise<{ backends: DenseBackend[]; unavailable: Record<string, string> }> {
  const backends: DenseBackend[] = [];
  const unavailable: Record<string, string> = {};
  for (const name of names) {
    try {
      backends.push(name === 'cpu' ? new CpuBackend() : await GpuJsBackend.create(name.slice(6) as GpuJsMode));
    } catch (e) {
      unavailable[name] = reasonOf(e);
    }
  }
  return { backends, unavailable };
}

async function autoSelect(opts: SelectOptions, unavailable: Record<string, string>): Promise<SelectedBackend> {
  const asked = opts.shape ?? { windows: 64, rows: 100 };
  const shape = { windows: Math.min(asked.windows, 256), rows: asked.rows };
  const depth = opts.depth ?? DEFAULT_DEPTH;
  const { backends, unavailable: un } = await availableBackends(opts.candidates);
  Object.assign(unavailable, un);
  const batch = syntheticBatch(shape, depth);
  const measured: Record<string, number> = {};
  let best: DenseBackend | undefined;
  for (const be of backends) {
    try {
      measured[be.name] = await rowsPerSecond(be, batch, depth.levels, opts.budgetMs ?? 150);
      if (!best || measured[be.name]! > measured[best.name]!) best = be;
    } catch (e) {
      unavailable[be.name] = `failed during calibration: ${reasonOf(e)}`;
    }
  }
  for (const be of backends) if (be !== best) await be.dispose();
  if (!best) throw new BackendUnavailable('auto', 'no compute backend could run');
  const ranking = Object.entries(measured).sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k} ${formatRows(v)}`).join(' > ');
  const where = `${shape.windows}x(${batch.H}+${shape.rows})x${batch.levels}`;
  const sel = describe('auto', best, `fastest measured on ${where} batches: ${ranking} rows/s`, unavailable);
  sel.info.measured = measured;
  return sel;
}

/** Output rows per second of one backend on one batch (after a first, compiling, run). */
export async function rowsPerSecond(be: DenseBackend, batch: SnapshotBatch, levels: number, budgetMs: number): Promise<number> {
  await be.compute(batch, levels);
  const times: number[] = [];
  const start = performance.now();
  while (times.length < 3 || (performance.now() - start < budgetMs && times.length < 200)) {
    const t0 = performance.now();
    await be.compute(batch, levels);
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  const median = times[times.length >> 1]!;
  return batch.outputRows / (Math.max(median, 1e-3) / 1000);
}

/**
 * A batch with a plausible book in every row (a drifting two-sided book, whole ticks and lots,
 * the odd missing level) for timing backends; the values do not matter, the shape does.
 */
export function syntheticBatch(shape: CalibrationShape, depth: Depth = DEFAULT_DEPTH): SnapshotBatch {
  const LT = depth.tensorLevels;
  const batch = new SnapshotBatch({ windows: shape.windows, rows: shape.rows, levels: LT });
  const rows = batch.B * batch.W;
  let seed = 12345;
  const rnd = (): number => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
  let mid = 0;
  for (let g = 0; g < rows; g++) {
    if (rnd() < 0.2) mid += rnd() < 0.5 ? -1 : 1;
    const o = g * LT * 4;
    for (let l = 0; l < LT; l++) {
      const missing = l > 6 && rnd() < 0.05;
      batch.book[o + l * 4] = missing ? 0 : mid - 1 - l * 2;
      batch.book[o + l * 4 + 1] = missing ? 0 : 1 + Math.floor(rnd() * 500);
      batch.book[o + l * 4 + 2] = missing ? 0 : mid + 1 + l * 2;
      batch.book[o + l * 4 + 3] = missing ? 0 : 1 + Math.floor(rnd() * 500);
    }
  }
  for (let b = 0; b < batch.B; b++) {
    batch.refs[b] = 100;
    batch.priceScale[b] = 100;
    batch.sizeScale[b] = 1;
    batch.refUnits[b] = batch.refUnits32[b] = 10_000;
    batch.filled[b] = batch.W;
  }
  batch.n = batch.B;
  return batch;
}

function describe(requested: ComputeSpec, be: DenseBackend, reason: string, unavailable: Record<string, string>): SelectedBackend {
  return {
    backend: be,
    info: { requested, backend: be.name, libraryMode: be.library, precision: be.precision, reason, unavailable },
  };
}

function reasonOf(e: unknown): string {
  return e instanceof BackendUnavailable ? e.reason : String((e as Error)?.message ?? e);
}

function formatRows(v: number): string {
  return v >= 1e6 ? `${(v / 1e6).toFixed(2)}M` : v >= 1e3 ? `${(v / 1e3).toFixed(0)}k` : v.toFixed(0);
}
