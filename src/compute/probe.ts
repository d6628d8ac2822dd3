/**
 * What compute this machine offers, checked by running things rather than by names: every gpu.js
 * mode runs the dense kernels on a small batch and must agree with the float64 `cpu` backend; the
 * TensorFlow.js runtime is loaded; every ONNX Runtime execution provider runs a one-node model.
 * scripts/gpu-check prints it; a server can put it in /healthz.
 */
import { cpus } from 'node:os';
import { errorLine, GPUJS_MODES, type GpuJsMode } from './backend.ts';
import { CpuBackend } from './cpu.ts';
import { GpuJsBackend, GPUJS_VERSION, gpuJsModeStatus } from './gpujs.ts';
import { denseColumns, DENSE_COLUMNS } from './dense.ts';
import { syntheticBatch } from './select.ts';
import { DEFAULT_DEPTH } from '../model/depth.ts';
import { probeExecutionProviders, type ProviderStatus } from './onnx-probe.ts';

export interface GpuJsModeReport {
  mode: GpuJsMode;
  available: boolean;
  /** Device or why not. */
  detail: string;
  /** The mode gpu.js actually executed (after a run). */
  executed?: string;
  /** Largest relative difference from the float64 backend on the probe batch. */
  maxRelDiff?: number;
  error?: string;
}

export interface ComputeEnvironment {
  node: string;
  platform: string;
  cpus: number;
  gpujs: { version: string; modes: GpuJsModeReport[] };
  tfjs?: { package: string; backend: string; skipped: Record<string, string> } | { error: string };
  onnx?: { version: string; providers: ProviderStatus[] } | { error: string };
}

export async function probeComputeEnvironment(opts: { tfjs?: boolean; onnx?: boolean } = {}): Promise<ComputeEnvironment> {
  const env: ComputeEnvironment = {
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    cpus: cpus().length,
    gpujs: { version: GPUJS_VERSION, modes: [] },
  };
  const L = DEFAULT_DEPTH.levels;
  const batch = syntheticBatch({ windows: 4, rows: 100 }, DEFAULT_DEPTH);
  const cpu = new CpuBackend();
  const ref = denseColumns(batch, cpu.computeSync(batch, L), L);
  for (const mode of GPUJS_MODES) {
    const s = await gpuJsModeStatus(mode);
    const r: GpuJsModeReport = { mode, available: s.ok, detail: s.detail };
    if (s.ok) {
      let be: GpuJsBackend | undefined;
      try {
        be = await GpuJsBackend.create(mode);
        const got = denseColumns(batch, await be.compute(batch, L), L);
        r.executed = be.executedMode;
        let worst = 0;
        for (let c = 0; c < DENSE_COLUMNS.length; c++) {
          for (let i = 0; i < ref[c]!.length; i++) {
            const a = ref[c]![i]!, b = got[c]![i]!;
            if (a !== a || b !== b) {
              if ((a !== a) !== (b !== b)) worst = Infinity;
              continue;
            }
            const d = Math.abs(a - b) / Math.max(Math.abs(a), 1e-6);
            if (d > worst) worst = d;
          }
        }
        r.maxRelDiff = worst;
      } catch (e) {
        r.error = errorLine(e);
      } finally {
        await be?.dispose();
      }
    }
    env.gpujs.modes.push(r);
  }
  if (opts.tfjs !== false) {
    try {
      const { loadTf } = await import('./tf.ts');
      const t = await loadTf();
      env.tfjs = { package: t.package, backend: t.backend, skipped: t.skipped };
    } catch (e) {
      env.tfjs = { error: errorLine(e) };
    }
  }
  if (opts.onnx !== false) env.onnx = await probeExecutionProviders();
  return env;
}
