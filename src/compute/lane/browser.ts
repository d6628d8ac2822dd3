/**
 * The software-GPU lane's browser: headless Chromium (Debian's /usr/bin/chromium, driven by
 * playwright-core) on SwiftShader, Chromium's own software Vulkan device, where WebGL2, WebGL and
 * WebGPU all run on the CPU through the same shader compilers a GPU's driver is fed from (ANGLE
 * for GLSL, Dawn/Tint for WGSL). The page (page.ts, bundled by bundle.ts) holds the project's
 * GpuJsBackend; BrowserDenseBackend is a DenseBackend whose batches run there, so the parity code
 * (src/compute/parity.ts) compares it with the float64 engine like any other backend.
 *
 * `adapter: 'hardware'` drops the SwiftShader switches, for a machine with a GPU and a driver
 * Chromium can use (scripts/gpu-check on a GPU box).
 */
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, extname } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { SnapshotBatch } from '../../snapshots/batch.ts';
import type { DenseBackend, GpuJsMode } from '../backend.ts';
import type { DenseRaw } from '../dense.ts';
import type { BatchWire, KernelRun, Lane, PageAdapters } from './page.ts';
import { pageBundle } from './bundle.ts';

export const CHROMIUM = process.env.FLOWCAST_CHROMIUM ?? '/usr/bin/chromium';

/** The switches measured to give WebGPU and WebGL2 on SwiftShader in Debian's Chromium (shared/STACK.md). */
export const SWIFTSHADER_FLAGS = ['--enable-unsafe-webgpu', '--enable-features=Vulkan', '--use-webgpu-adapter=swiftshader', '--use-angle=swiftshader'];
/** On a GPU box: WebGPU on the default (hardware) adapter, ANGLE on Vulkan. Not exercised on this machine. */
export const HARDWARE_FLAGS = ['--enable-unsafe-webgpu', '--enable-features=Vulkan', '--use-angle=vulkan', '--ignore-gpu-blocklist'];

export type LaneAdapter = 'swiftshader' | 'hardware';

const ORIGIN = 'https://lane.flowcast';
// require.resolve gives dist/ort.node.min.js (the package exports no package.json).
const ORT_DIST = dirname(createRequire(import.meta.url).resolve('onnxruntime-web'));
const TYPES: Record<string, string> = { '.mjs': 'text/javascript', '.js': 'text/javascript', '.wasm': 'application/wasm' };

declare const flowcastLane: Lane;

export interface LaneInfo {
  adapter: LaneAdapter;
  chromium: string;
  flags: string[];
  page: PageAdapters;
}

export class LaneBrowser {
  /** Console lines of the page (gpu.js fallback warnings, ORT's verbose placement log). */
  readonly console: string[] = [];
  /** Uncaught page errors. */
  readonly pageErrors: string[] = [];

  private constructor(private readonly browser: Browser, readonly page: Page, readonly info: LaneInfo) {
    page.on('console', (m) => this.console.push(`${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => this.pageErrors.push(e.message));
  }

  static available(): boolean {
    return existsSync(CHROMIUM);
  }

  static async launch(adapter: LaneAdapter = 'swiftshader'): Promise<LaneBrowser> {
    if (!existsSync(CHROMIUM)) throw new Error(`software-GPU lane: no Chromium at ${CHROMIUM} (Debian: apt-get install chromium; or set FLOWCAST_CHROMIUM)`);
    const script = await pageBundle();
    const flags = adapter === 'swiftshader' ? SWIFTSHADER_FLAGS : HARDWARE_FLAGS;
    // No timeouts (0): a busy machine makes everything slow, and nothing here can hang without failing.
    const browser = await chromium.launch({
      timeout: 0,
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-background-networking', '--disable-component-update', '--no-first-run', ...flags],
    });
    try {
      const page = await browser.newPage();
      // The page and ONNX Runtime Web's files are served from memory and node_modules: nothing leaves the machine.
      await page.route(`${ORIGIN}/**`, async (route) => {
        const path = new URL(route.request().url()).pathname;
        if (path === '/') {
          return route.fulfill({ contentType: 'text/html', body: '<!doctype html><meta charset="utf-8"><title>flowcast software-GPU lane</title><script src="/lane.js"></script>' });
        }
        if (path === '/lane.js') return route.fulfill({ contentType: 'text/javascript', body: script });
        if (path.startsWith('/ort/') && !path.includes('..')) {
          const file = join(ORT_DIST, path.slice(5));
          if (existsSync(file)) return route.fulfill({ contentType: TYPES[extname(file)] ?? 'application/octet-stream', body: await readFile(file) });
        }
        return route.fulfill({ status: 404, body: `not served by the lane: ${path}` });
      });
      // An https origin: WebGPU exists only in secure contexts.
      await page.goto(`${ORIGIN}/`, { timeout: 0 });
      await page.waitForFunction(() => typeof flowcastLane === 'object', undefined, { timeout: 0 });
      const pageInfo = await page.evaluate(() => flowcastLane.adapters());
      return new LaneBrowser(browser, page, { adapter, chromium: browser.version(), flags, page: pageInfo });
    } catch (e) {
      await browser.close();
      throw e;
    }
  }

  /** The project's gpu.js backend in `mode`, running in the page. */
  async backend(mode: GpuJsMode): Promise<BrowserDenseBackend> {
    const made = await this.page.evaluate((m) => flowcastLane.createBackend(m), mode);
    return new BrowserDenseBackend(this, mode, made.library);
  }

  async close(): Promise<void> {
    await this.browser.close();
  }
}

/** Every array field of a batch and its shape, as the page rebuilds it (new fields travel without a change here). */
export function batchWire(batch: SnapshotBatch): BatchWire {
  const arrays: Record<string, ArrayLike<unknown>> = {};
  for (const [k, v] of Object.entries(batch)) {
    if (ArrayBuffer.isView(v) || Array.isArray(v)) arrays[k] = v as ArrayLike<unknown>;
  }
  return { B: batch.B, T: batch.T, H: batch.H, levels: batch.levels, n: batch.n, arrays };
}

/**
 * A DenseBackend whose batches run in the lane's page, in the gpu.js mode asked for. It refuses a
 * result that gpu.js computed another way (gpu.js falls back to its CPU backend with a warning
 * when a shader does not compile or link): the lane exists to run the shaders.
 */
export class BrowserDenseBackend implements DenseBackend {
  readonly name: string;
  readonly precision = 'float32';
  readonly sync = false;
  /** Every kernel the page built, and the mode it ran in (all equal to `mode`, or compute() threw). */
  kernels: KernelRun[] = [];

  constructor(private readonly lane: LaneBrowser, readonly mode: GpuJsMode, private pageLibrary: string) {
    this.name = `browser:gpujs:${mode}`;
  }

  get library(): string {
    return `${this.pageLibrary} in ${this.lane.info.chromium}`;
  }

  async compute(batch: SnapshotBatch, levels: number): Promise<DenseRaw> {
    const mode = this.mode;
    const r = await this.lane.page.evaluate(([m, w, l]) => flowcastLane.compute(m, w, l), [mode, batchWire(batch), levels] as const);
    this.pageLibrary = r.library;
    this.kernels = r.kernels;
    const wrong = r.kernels.filter((k) => k.ran !== mode);
    if (wrong.length > 0 || r.kernels.length === 0) {
      const what = wrong.map((k) => `${k.kernel} ran as ${k.ran}${k.fallbackReason ? ` (${k.fallbackReason})` : ''}`).join('; ') || 'no kernel was built';
      const warnings = this.lane.console.filter((l) => /fall|warn|error/i.test(l)).slice(-3).join(' | ');
      throw new Error(`${this.name}: not every kernel ran in ${mode} (gpu.js moves a kernel whose shader does not compile or link to the CPU): ${what}; page console: ${warnings || 'empty'}`);
    }
    return r.raw;
  }

  computeSync(): DenseRaw {
    throw new Error(`${this.name} is asynchronous (it runs in a browser page): use compute()`);
  }

  async dispose(): Promise<void> {
    await this.lane.page.evaluate((m) => flowcastLane.disposeBackend(m), this.mode);
  }
}
