/**
 * The `gpujs:<mode>` backends: the kernels of kernels/dense.ts (DENSE_KERNELS) compiled by gpu.js for
 * one of its modes.
 *
 *  webgpu      WGSL compute shaders through Dawn (a GPU with a Vulkan/Metal/D3D12 driver); the
 *              kernels of the list run as one gpu.js pipeline: one upload, one submit, one readback
 *  headlessgl  GLSL through the `gl` package (an optional gpu.js dependency; needs a GL driver). The
 *              project overrides it with an empty package: its install fetches a prebuilt binary from
 *              GitHub, which these machines cannot reach (add `gl` by hand where a GL driver exists)
 *  webgl(2)    browsers only
 *  webasm      WebAssembly with f32x4 SIMD on the CPU
 *  cpu         gpu.js's own JavaScript translation (float32 results)
 *
 * Kernels are compiled per batch shape (the shape is compiled in as constants) and cached. The
 * mode that actually executed is read back from gpu.js after the first run: gpu.js degrades a
 * kernel it cannot take to its CPU backend with only a console warning, and a backend that did
 * that is reported, never passed off as the mode that was asked for.
 */
import { createRequire } from 'node:module';
import * as gpujs from 'gpu.js';
import { GPU, type IKernelRunShortcut } from 'gpu.js';
import { DENSE_KERNELS, type KernelDef, type KernelInput } from '../../kernels/dense.ts';
import type { SnapshotBatch } from '../snapshots/batch.ts';
import { BackendUnavailable, type DenseBackend, type GpuJsMode } from './backend.ts';
import { batchInputs, denseConstants } from './cpu.ts';
import type { DenseRaw } from './dense.ts';
import { installDawn, releaseDawn } from './webgpu.ts';
import { logger } from '../core/log.ts';

const log = logger('compute');

export const GPUJS_VERSION: string = (createRequire(import.meta.url)('gpu.js/package.json') as { version: string }).version;

/** The kernels of DENSE_KERNELS compiled for one batch shape. */
interface ShapeKernels {
  kernels: IKernelRunShortcut[];
  /** webgpu: the whole list as one gpu.js pipeline (always async). */
  pipeline?: (book: Float32Array, trades: Float32Array, refs: Float32Array) => Promise<Float32Array>;
}

const MAX_SHAPES = 6;

/** Whether a gpu.js mode can run here, and why not. */
export async function gpuJsModeStatus(mode: GpuJsMode): Promise<{ ok: boolean; detail: string }> {
  switch (mode) {
    case 'cpu':
      return { ok: true, detail: 'JavaScript' };
    case 'webasm':
      return GPU.isWebAssemblySupported
        ? { ok: true, detail: 'WebAssembly f32x4 SIMD' }
        : { ok: false, detail: 'WebAssembly is not supported by this runtime' };
    case 'headlessgl':
      return GPU.isHeadlessGLSupported
        ? { ok: true, detail: 'headless-gl context' }
        : { ok: false, detail: 'no headless-gl context (the npm package "gl" is overridden by an empty one in package.json, or no GL driver)' };
    case 'webgl2':
    case 'webgl':
      return (mode === 'webgl2' ? GPU.isWebGL2Supported : GPU.isWebGLSupported)
        ? { ok: true, detail: mode }
        : { ok: false, detail: `${mode} exists only in browsers` };
    case 'webgpu': {
      const s = await installDawn();
      return s;
    }
  }
}

export class GpuJsBackend implements DenseBackend {
  readonly name: string;
  readonly precision = 'float32';
  readonly sync: boolean;
  /** Set after the first run: the gpu.js mode that executed (differs from `mode` only on a gpu.js fallback). */
  executedMode: string | undefined;
  private readonly gpu: GPU;
  private readonly shapes = new Map<string, ShapeKernels>();

  private constructor(readonly mode: GpuJsMode, readonly device: string) {
    this.name = `gpujs:${mode}`;
    this.sync = mode !== 'webgpu';
    this.gpu = new GPU({ mode });
  }

  /** Creates the backend or throws BackendUnavailable saying why. */
  static async create(mode: GpuJsMode): Promise<GpuJsBackend> {
    const s = await gpuJsModeStatus(mode);
    if (!s.ok) throw new BackendUnavailable(`gpujs:${mode}`, s.detail);
    try {
      return new GpuJsBackend(mode, s.detail);
    } catch (e) {
      if (mode === 'webgpu') releaseDawn();
      throw new BackendUnavailable(`gpujs:${mode}`, (e as Error).message);
    }
  }

  get library(): string {
    const ran = this.executedMode && this.executedMode !== this.mode ? `, ran as ${this.executedMode}` : '';
    return `gpu.js ${GPUJS_VERSION} ${this.mode} (${this.device}${ran})`;
  }

  private kernels(batch: SnapshotBatch, levels: number): ShapeKernels {
    const key = `${batch.key}/${levels}`;
    let k = this.shapes.get(key);
    if (k) {
      this.shapes.delete(key);
      this.shapes.set(key, k);
      return k;
    }
    const constants = denseConstants(batch, levels);
    const common = { constants, precision: 'single' as const, tactic: 'precision' as const, fixIntegerDivisionAccuracy: true };
    const last = DENSE_KERNELS.length - 1;
    const kernels = DENSE_KERNELS.map((d, i) => this.gpu.createKernel(d.fn as never, {
      ...common,
      output: [d.output(constants)],
      // Keep the intermediate series on the device (a texture on GL) for the kernels after them.
      pipeline: i < last && this.mode !== 'cpu' && this.mode !== 'webasm' && this.mode !== 'webgpu',
    } as object));
    k = { kernels };
    if (this.mode === 'webgpu') {
      k.pipeline = this.gpu.createPipeline(function (this: unknown, book: unknown, trades: unknown, refs: unknown) {
        return runList(kernels, { book, trades, refs } as Record<string, unknown>);
      }) as unknown as ShapeKernels['pipeline'];
    }
    this.shapes.set(key, k);
    while (this.shapes.size > MAX_SHAPES) {
      const [oldKey, old] = this.shapes.entries().next().value as [string, ShapeKernels];
      this.shapes.delete(oldKey);
      for (const kr of old.kernels) kr.destroy();
    }
    return k;
  }

  computeSync(batch: SnapshotBatch, levels: number): DenseRaw {
    if (!this.sync) throw new Error(`${this.name} is asynchronous: use compute()`);
    const k = this.kernels(batch, levels);
    const data = runList(k.kernels, batchInputs(batch)) as Float32Array;
    this.noteExecuted((k.kernels.at(-1) as unknown as { kernel: { constructor: { mode?: string } } }).kernel.constructor.mode);
    return { data, N: batch.outputRows };
  }

  async compute(batch: SnapshotBatch, levels: number): Promise<DenseRaw> {
    if (this.sync) return this.computeSync(batch, levels);
    const k = this.kernels(batch, levels);
    const data = await k.pipeline!(batch.book, batch.tradeLots, batch.refUnits32);
    this.noteExecuted((k.pipeline as unknown as { backend?: string }).backend);
    return { data, N: batch.outputRows };
  }

  private noteExecuted(mode: string | undefined): void {
    if (this.executedMode !== undefined || mode === undefined) return;
    this.executedMode = mode;
    if (mode !== this.mode) {
      log.warn('gpu.js did not run the dense kernels in the requested mode', { requested: this.mode, executed: mode });
    }
  }

  async dispose(): Promise<void> {
    for (const k of this.shapes.values()) for (const kr of k.kernels) kr.destroy();
    this.shapes.clear();
    await this.gpu.destroy();
    if (this.mode === 'webgpu') releaseDawn();
  }
}

/**
 * Runs the kernels of DENSE_KERNELS in order, each on the batch's tensors and the outputs of the
 * kernels before it; returns the last one's output. Plain JavaScript over gpu.js handles, so it
 * also works as a gpu.js pipeline's orchestration (traced once, at build time).
 */
function runList(kernels: IKernelRunShortcut[], inputs: Record<string, unknown>): unknown {
  const values: Record<string, unknown> = { ...inputs };
  let out: unknown;
  for (let i = 0; i < kernels.length; i++) {
    const d = DENSE_KERNELS[i]!;
    out = (kernels[i] as unknown as (...a: unknown[]) => unknown)(...d.args.map((a) => values[a]));
    values[d.name] = out;
  }
  return out;
}

/**
 * The WGSL that gpu.js generates for each kernel of DENSE_KERNELS at a batch shape, without a
 * device (gpu.js's device-independent build steps). For inspection (scripts/gpu-check --wgsl) and
 * for the test that the kernels stay inside what the WebGPU translator accepts.
 */
export function denseKernelsWgsl(batch: SnapshotBatch, levels: number): Record<string, string> {
  const constants = denseConstants(batch, levels);
  const translate = (d: KernelDef, args: Float32Array[]): string => {
    // Not in gpu.js's type declarations, exported by its index.
    const Kernel = (gpujs as unknown as { WebGPUKernel: unknown }).WebGPUKernel as new (src: string, settings: object) => Record<string, (...a: unknown[]) => unknown> & { threadDim: number[]; paramsLayout: unknown };
    const output = d.output(constants);
    const k = new Kernel(d.fn.toString(), { output: [output], constants, precision: 'single' });
    k.setupConstants!();
    k.setupArguments!(args);
    k.validateSettings!(args);
    k.threadDim = [output, 1, 1];
    k.translateSource!();
    k.paramsLayout = k.computeParamsLayout!();
    return k.assembleWGSL!() as string;
  };
  const values: Record<string, Float32Array> = batchInputs(batch);
  const out: Record<string, string> = {};
  for (const d of DENSE_KERNELS) {
    out[d.name] = translate(d, d.args.map((a: KernelInput) => values[a]!));
    values[d.name] = new Float32Array(d.output(constants));
  }
  return out;
}
