/**
 * The software-GPU lane's page: runs in headless Chromium (bundled by bundle.ts, driven by
 * browser.ts). It holds the project's own GpuJsBackend (src/compute/gpujs.ts, the code a GPU box
 * runs in Node) in gpu.js's browser modes, and ONNX Runtime Web sessions; browser.ts sends it
 * SnapshotBatches and model inputs and reads back what the GPU computed.
 *
 * Everything crosses as structured-clone values (typed arrays, plain objects): playwright-core
 * serialises typed arrays both ways.
 */
import * as gpujs from 'gpu.js';
import { GpuJsBackend } from '../gpujs.ts';
import { KERNELS } from '../../../kernels/index.ts';
import { SnapshotBatch } from '../../snapshots/batch.ts';
import { setLogSink } from '../../core/log.ts';
import type { GpuJsMode } from '../backend.ts';
import type { DenseRaw } from '../dense.ts';

/** A SnapshotBatch as it crosses to the page: its shape, windows in use and every array field. */
export interface BatchWire {
  B: number;
  T: number;
  H: number;
  levels: number;
  n: number;
  arrays: Record<string, ArrayLike<unknown>>;
}

/** What the page says about its GPU, before any kernel runs. */
export interface PageAdapters {
  webgl2: string;
  webgl: string;
  webgpu: string;
  userAgent: string;
}

export interface OnnxPlacement {
  /** ORT's verbose lines naming the execution provider nodes were placed on. */
  lines: string[];
}

interface OrtLike {
  env: { wasm: { wasmPaths: string; numThreads: number; proxy: boolean }; logLevel: string; versions?: Record<string, string> };
  InferenceSession: { create(bytes: Uint8Array, opts: object): Promise<SessionLike> };
  Tensor: new (type: string, data: Float32Array, dims: number[]) => unknown;
}
interface SessionLike {
  run(feeds: Record<string, unknown>, fetches: string[]): Promise<Record<string, { data: Float32Array; dims: readonly number[] }>>;
  release(): Promise<void>;
}

// The project's tsconfig has no DOM library: the few browser globals used here.
declare const document: { createElement(t: 'canvas'): { getContext(k: string): GlLike | null } };
declare const navigator: { userAgent: string; gpu?: { requestAdapter(): Promise<{ info?: Record<string, string> } | null> } };
interface GlLike {
  getExtension(n: string): { UNMASKED_RENDERER_WEBGL: number } | null;
  getParameter(p: number): unknown;
  RENDERER: number;
}

setLogSink((line) => console.warn(line));

const backends = new Map<string, GpuJsBackend>();
const sessions = new Map<string, SessionLike>();
let ortModule: Promise<OrtLike> | undefined;

function glRenderer(kind: 'webgl2' | 'webgl'): string {
  const gl = document.createElement('canvas').getContext(kind);
  if (!gl) return `no ${kind} context`;
  const ext = gl.getExtension('WEBGL_debug_renderer_info');
  return String(gl.getParameter(ext ? ext.UNMASKED_RENDERER_WEBGL : gl.RENDERER));
}

/** gpu.js's kernel classes, most specific first (WebGL2Kernel extends WebGLKernel). */
const KERNEL_CLASSES: [string, unknown][] = (['WebGL2Kernel', 'WebGLKernel', 'WebGPUKernel', 'WebAssemblyKernel', 'CPUKernel'] as const)
  .map((n) => [n, (gpujs as unknown as Record<string, unknown>)[n]] as [string, unknown])
  .filter(([, c]) => typeof c === 'function');
const MODE_OF: Record<string, string> = { WebGL2Kernel: 'webgl2', WebGLKernel: 'webgl', WebGPUKernel: 'webgpu', WebAssemblyKernel: 'webasm', CPUKernel: 'cpu' };

/** A kernel's execution: what each gpu.js kernel and pipeline the backend built actually runs on. */
export interface KernelRun {
  /** Batch shape / name within the backend (ofi, dense, pipeline, or whatever the backend adds). */
  kernel: string;
  /** gpu.js mode of its kernel object (its class) or, for a pipeline, of the executor that ran. */
  ran: string;
  fallbackReason?: string;
}

/**
 * Reads the backend's compiled kernels (GpuJsBackend keeps them per batch shape) and names the
 * class each one is an instance of: gpu.js reports every GL kernel's mode as 'gpu', and replaces
 * a kernel whose shader fails with a CPUKernel, so the class is what says a shader ran.
 */
function kernelRuns(be: GpuJsBackend): KernelRun[] {
  const shapes = (be as unknown as { shapes: Map<string, Record<string, unknown>> }).shapes;
  const out: KernelRun[] = [];
  const one = (name: string, k: unknown): void => {
    const sc = k as { kernel?: object; backend?: string | null; fallbackReason?: string };
    // A gpu.js pipeline (createPipeline) has an executor; a kernel shortcut has a kernel object.
    if (typeof k === 'function' && 'executorKind' in k) {
      out.push({ kernel: name, ran: sc.backend ?? 'not run', ...(sc.fallbackReason ? { fallbackReason: sc.fallbackReason } : {}) });
    } else if (sc?.kernel) {
      const cls = KERNEL_CLASSES.find(([, c]) => sc.kernel instanceof (c as new () => object));
      out.push({ kernel: name, ran: cls ? MODE_OF[cls[0]]! : `unknown class ${sc.kernel.constructor.name}` });
    }
  };
  for (const [shape, ks] of shapes) {
    for (const [field, v] of Object.entries(ks)) {
      // The backend's kernel list runs in the order of kernels/index.ts's KERNELS: named from it.
      if (Array.isArray(v)) v.forEach((k, i) => one(`${shape}/${KERNELS[i]?.name ?? `${field}[${i}]`}`, k));
      else one(`${shape}/${field}`, v);
    }
  }
  return out;
}

function fromWire(w: BatchWire): SnapshotBatch {
  const b = new SnapshotBatch({ windows: w.B, rows: w.T, history: w.H, levels: w.levels });
  const fields = b as unknown as Record<string, unknown>;
  for (const [k, v] of Object.entries(w.arrays)) {
    const dst = fields[k];
    if (ArrayBuffer.isView(dst)) (dst as unknown as { set(a: ArrayLike<unknown>): void }).set(v);
    else if (Array.isArray(dst)) for (let i = 0; i < v.length; i++) dst[i] = v[i];
    else throw new Error(`src/compute/lane/page.ts: SnapshotBatch has no array field "${k}" in the page (bundle out of date?)`);
  }
  b.n = w.n;
  return b;
}

const lane = {
  /** The kernels registered in kernels/index.ts, as bundled into the page. */
  kernelNames(): string[] {
    return KERNELS.map((k) => k.name);
  },

  async adapters(): Promise<PageAdapters> {
    let webgpu = 'no navigator.gpu';
    if (navigator.gpu) {
      const a = await navigator.gpu.requestAdapter();
      const i = a?.info ?? {};
      webgpu = a ? [i.vendor, i.architecture, i.device, i.description].filter(Boolean).join(' ') || 'unnamed adapter' : 'no adapter';
    }
    return { webgl2: glRenderer('webgl2'), webgl: glRenderer('webgl'), webgpu, userAgent: navigator.userAgent };
  },

  /** Creates the gpu.js backend for a mode (the same class and settings as in Node). */
  async createBackend(mode: GpuJsMode): Promise<{ name: string; library: string }> {
    const be = await GpuJsBackend.create(mode);
    backends.set(mode, be);
    return { name: be.name, library: be.library };
  },

  async compute(mode: GpuJsMode, wire: BatchWire, levels: number): Promise<{ raw: DenseRaw; kernels: KernelRun[]; library: string }> {
    const be = backends.get(mode);
    if (!be) throw new Error(`no gpu.js ${mode} backend in the page: call createBackend first`);
    const raw = await be.compute(fromWire(wire), levels);
    return { raw, kernels: kernelRuns(be), library: be.library };
  },

  async disposeBackend(mode: GpuJsMode): Promise<void> {
    await backends.get(mode)?.dispose();
    backends.delete(mode);
  },

  /** Loads ONNX Runtime Web (served by browser.ts under /ort/) once. */
  async ort(): Promise<string> {
    ortModule ??= (async () => {
      const url = '/ort/ort.webgpu.min.mjs';
      const ort = (await import(/* @vite-ignore */ url)) as OrtLike;
      ort.env.wasm.wasmPaths = '/ort/';
      // One thread: SharedArrayBuffer needs cross-origin isolation, which this page does not ask for.
      ort.env.wasm.numThreads = 1;
      ort.env.wasm.proxy = false;
      return ort;
    })();
    const ort = await ortModule;
    return ort.env.versions?.web ?? 'unknown';
  },

  /** Opens a session on `providers` (ORT's verbose log, with its node placements, goes to the console). */
  async openSession(key: string, bytes: Uint8Array, providers: string[]): Promise<void> {
    const ort = await ortModule!;
    const s = await ort.InferenceSession.create(bytes, { executionProviders: providers, logSeverityLevel: 0, logVerbosityLevel: 0, graphOptimizationLevel: 'all' });
    sessions.set(key, s);
  },

  async runSession(key: string, feed: string, fetch: string, input: Float32Array, dims: number[]): Promise<{ data: Float32Array; dims: number[] }> {
    const ort = await ortModule!;
    const s = sessions.get(key);
    if (!s) throw new Error(`no ONNX session "${key}" in the page`);
    const out = await s.run({ [feed]: new ort.Tensor('float32', input, dims) }, [fetch]);
    const t = out[fetch]!;
    return { data: t.data, dims: [...t.dims] };
  },

  async closeSession(key: string): Promise<void> {
    await sessions.get(key)?.release();
    sessions.delete(key);
  },
};

export type Lane = typeof lane;
(globalThis as unknown as { flowcastLane: Lane }).flowcastLane = lane;
