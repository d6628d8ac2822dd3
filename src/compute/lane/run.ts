/**
 * The software-GPU lane, end to end: Chromium on SwiftShader (or a GPU box's adapter), the
 * project's gpu.js backend in each browser mode against the float64 FeatureEngine on real days
 * (src/compute/parity.ts, the CPU modes' tolerance), the shipped models on ONNX Runtime Web's
 * WebGPU provider against onnxruntime-node's CPU provider, and the record of it (record.ts).
 *
 *   npx tsx src/compute/lane/run.ts [--adapter swiftshader|hardware] [--rows N] [--windows N]
 *                                      [--whole-days] [--no-models] [--no-record]
 *
 * Exit status 1 when a required path fails, 0 otherwise. tests/gpu-lane runs it in CI.
 */
import { hostname } from 'node:os';
import { existsSync, readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { captureDense, compareDense, FLOAT32_TOLERANCE } from '../parity.ts';
import { DENSE_COLUMNS, rawFor, type DenseRaw } from '../dense.ts';
import type { DenseBackend, GpuJsMode } from '../backend.ts';
import type { SnapshotBatch } from '../../snapshots/batch.ts';
import { AMZN, GOOG, SPOT, USDM } from '../../sources/samples.ts';
import { LaneBrowser, type BrowserDenseBackend, type LaneAdapter } from './browser.ts';
import { browserSession, loadEvalDays, onnxParity, EVAL_DAYS, UnsupportedLayout, type OnnxParity } from './onnx.ts';
import { nodeWebGpuParity } from './node-webgpu.ts';
import { writeProof, type GpuProof, type KernelPathResult, type ModelPathResult } from './record.ts';

/**
 * The days, and the slice of each the lane checks in CI: the same first rows as the CPU modes'
 * parity test (tests/compute/parity.test.ts), the Binance captures whole. `--whole-days` (and
 * scripts/gpu-check) checks every row.
 */
export const LANE_SOURCES: readonly { name: string; spec: string; rows: number }[] = [
  { name: 'GOOG', spec: GOOG, rows: 25_000 },
  { name: 'AMZN (5 levels)', spec: AMZN, rows: 10_000 },
  { name: 'BTCUSDT USD-M', spec: USDM, rows: Infinity },
  { name: 'BTCUSDT spot', spec: SPOT, rows: Infinity },
];

export { EVAL_DAYS };

/**
 * gpu.js modes in the lane and the language each compiles the kernels to; every one is required (a
 * failure fails CI). `webgl` writes GLSL ES 1.00, the dialect of Node's headlessgl mode: the lane
 * found its shaders did not compile until the kernels' loop bounds became constants (1a0bafd).
 */
export const LANE_MODES: readonly { mode: GpuJsMode; language: string; required: boolean }[] = [
  { mode: 'webgl2', language: 'GLSL ES 3.00 (WebGL2)', required: true },
  { mode: 'webgpu', language: 'WGSL (WebGPU)', required: true },
  { mode: 'webgl', language: 'GLSL ES 1.00 (WebGL1, as headlessgl)', required: true },
];

/**
 * |p_webgpu - p_cpu| for every class probability: the float32 tolerance of the kernels' parity
 * (1e-5, src/compute/parity.ts) taken as absolute, probabilities being at most 1.
 */
export const ONNX_TOLERANCE = 1e-5;

/** Evaluation windows per model and day in CI (one batch): the transformer runs at ~20 windows/s on SwiftShader. */
export const LANE_WINDOWS = 64;

export interface LaneOptions {
  adapter?: LaneAdapter;
  /** Rows per source (default LANE_SOURCES' slices; Infinity: whole days). */
  rows?: number;
  /** Evaluation windows per model and day (default LANE_WINDOWS). */
  windows?: number;
  /** Model directories (default: every models/<name>/ with a manifest). */
  models?: string[];
  modes?: readonly GpuJsMode[];
  by: string;
  log?: (line: string) => void;
}

/**
 * A lane backend that records its first failure instead of throwing it, and from then on returns
 * NaN (which compareDense counts as mismatches): one broken mode must not hide the others' results.
 */
class Recorded implements DenseBackend {
  error: string | undefined;
  readonly precision = 'float32';
  readonly sync = false;
  constructor(readonly inner: BrowserDenseBackend) {}
  get name(): string {
    return this.inner.name;
  }
  get library(): string {
    return this.inner.library;
  }
  async compute(batch: SnapshotBatch, levels: number): Promise<DenseRaw> {
    if (this.error === undefined) {
      try {
        return await this.inner.compute(batch, levels);
      } catch (e) {
        this.error = firstLines(e);
      }
    }
    const raw = rawFor(batch, 'float32');
    raw.data.fill(NaN);
    return raw;
  }
  computeSync(): DenseRaw {
    throw new Error(`${this.name} is asynchronous`);
  }
  dispose(): Promise<void> {
    return this.inner.dispose();
  }
}

export function shippedModels(root = 'models'): string[] {
  if (!existsSync(root)) return [];
  return readdirSync(root, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(root, d.name, 'manifest.json')))
    .map((d) => join(root, d.name))
    .sort();
}

/** An error's message without its stack (a page error's stack is frames of the bundle). */
function firstLines(e: unknown): string {
  return String((e as Error)?.message ?? e).split(/\n\s+at /)[0]!.trim().slice(0, 2000);
}

const fmt = (x: number): string => (Number.isFinite(x) ? x.toExponential(1) : String(x));

export async function runLane(o: LaneOptions): Promise<GpuProof> {
  const log = o.log ?? (() => undefined);
  const t0 = performance.now();
  const lane = await LaneBrowser.launch(o.adapter ?? 'swiftshader');
  try {
    log(`Chromium ${lane.info.chromium}: WebGL2 ${lane.info.page.webgl2}; WebGPU ${lane.info.page.webgpu}`);
    const dirs = o.models ?? shippedModels();
    const windows = o.windows ?? LANE_WINDOWS;
    // Node's WebGPU provider runs in a child process (node-webgpu.ts): started now, it overlaps the browser's work.
    const nodeRun = dirs.length > 0 ? nodeWebGpuParity(dirs, windows, o.adapter ?? 'swiftshader').catch((e: Error) => e) : undefined;
    const wanted = LANE_MODES.filter((m) => !o.modes || o.modes.includes(m.mode));
    const kernels: KernelPathResult[] = [];
    const live: { rec: Recorded; res: KernelPathResult }[] = [];
    for (const m of wanted) {
      const res: KernelPathResult = { path: `gpujs:${m.mode}`, language: m.language, required: m.required, proven: false, kernels: [], columns: DENSE_COLUMNS.length, sources: [] };
      kernels.push(res);
      try {
        live.push({ rec: new Recorded(await lane.backend(m.mode)), res });
      } catch (e) {
        res.error = `could not create the backend: ${firstLines(e)}`;
      }
    }
    for (const s of LANE_SOURCES) {
      const rows = o.rows ?? s.rows;
      const cap = await captureDense(s.spec, live.map((l) => l.rec), { maxRows: rows });
      for (const { rec, res } of live) {
        const cols = compareDense(cap, rec.name, FLOAT32_TOLERANCE);
        const failed = cols.filter((c) => !c.pass).map((c) => `${c.column} (worst ${fmt(c.worst)} at row ${c.worstRow}, NaN mismatches ${c.nanMismatches})`);
        res.sources.push({
          source: s.name, rows: cap.rows,
          maxRelError: Math.max(...cols.map((c) => c.maxRelError)), worst: Math.max(...cols.map((c) => c.worst)), failed,
        });
      }
      log(`${s.name}: ${cap.rows} rows: ${live.map(({ res }) => `${res.path} ${res.sources.at(-1)!.failed.length ? 'FAIL' : 'ok'}`).join(', ')}`);
    }
    for (const { rec, res } of live) {
      res.kernels = [...new Set(rec.inner.kernels.map((k) => `${k.kernel.split('/').at(-1)}: ${k.ran}`))];
      if (rec.error) res.error = rec.error;
      res.proven = !res.error && res.sources.length > 0 && res.sources.every((s) => s.failed.length === 0);
      await rec.dispose().catch(() => undefined);
    }

    const models: ModelPathResult[] = [];
    const record = (runtime: ModelPathResult['runtime'], dir: string, r: OnnxParity | Error): void => {
      if (r instanceof Error) {
        models.push({
          model: basename(dir), kind: 'unknown', layout: 'unknown', runtime, path: `${runtime} [webgpu]`, reference: 'onnxruntime-node cpu',
          required: !(r instanceof UnsupportedLayout), proven: false, windows: 0,
          maxAbsDp: NaN, tolerance: ONNX_TOLERANCE, argmaxDiffers: 0, placement: {}, sets: [], error: firstLines(r),
        });
        return;
      }
      const n = r.sets.reduce((a, s) => a + s.windows, 0);
      models.push({
        model: r.model, kind: r.kind, layout: r.layout, runtime, path: r.gpu, reference: r.reference, required: true, windows: n,
        proven: n > 0 && r.maxAbsDp <= ONNX_TOLERANCE, maxAbsDp: r.maxAbsDp, tolerance: ONNX_TOLERANCE,
        argmaxDiffers: r.sets.reduce((a, s) => a + s.argmaxDiffers, 0), placement: r.placement,
        sets: r.sets.map((s) => ({ data: s.data, symbol: s.symbol, rows: s.rows, maxAbsDp: s.maxAbsDp })),
      });
      log(`${runtime} ${r.model}: ${n} windows, max |dp| ${fmt(r.maxAbsDp)} (${r.sets.map((s) => `${s.symbol} ${s.gpuSeconds.toFixed(1)} s`).join(', ')} on the GPU path)`);
    };
    if (dirs.length > 0) {
      const days = await loadEvalDays(EVAL_DAYS);
      for (const dir of dirs) {
        record('onnxruntime-web', dir, await onnxParity(browserSession(lane), dir, days, { maxWindows: windows, batch: Math.min(64, windows) }).catch((e: Error) => e));
      }
      // Item 4 of the issue: Node's own WebGPU provider, on SwiftShader too (node-webgpu.ts).
      const node = (await nodeRun)!;
      for (const [i, dir] of dirs.entries()) record('onnxruntime-node', dir, node instanceof Error ? node : node[i]!);
    }

    const proven: string[] = [], failed: string[] = [];
    for (const k of kernels) {
      const where = k.sources.map((s) => `${s.source} ${s.rows}`).join(', ');
      const worst = Math.max(0, ...k.sources.map((s) => s.maxRelError));
      if (k.proven) proven.push(`${k.path} (${k.language}): ${k.columns} kernel columns within the float32 tolerance on ${where} rows; max rel error ${fmt(worst)}`);
      else failed.push(`${k.path} (${k.language})${k.required ? '' : ' [not required]'}: ${k.error ?? k.sources.flatMap((s) => s.failed.map((f) => `${s.source} ${f}`)).join('; ')}`);
    }
    for (const m of models) {
      const line = `${m.path} ${m.model} (${m.kind}) vs ${m.reference}: ${m.windows} evaluation windows, max |dp| ${fmt(m.maxAbsDp)} (tolerance ${fmt(m.tolerance)}); nodes ${Object.entries(m.placement).map(([k, v]) => `${k.replace('ExecutionProvider', '')} ${v}`).join(', ')}`;
      (m.proven ? proven : failed).push(m.error ? `${m.runtime} ${m.model}${m.required ? '' : ' [not required]'}: ${m.error}` : line);
    }
    // Uncaught errors in the page fail nothing by themselves (a path that suffered fails on its own) but are reported.
    for (const e of lane.pageErrors) failed.push(`page error: ${e.split('\n')[0]}`);
    const adapter = o.adapter ?? 'swiftshader';
    return {
      schema: 'flowcast.gpu-proof/v1',
      where: adapter === 'swiftshader' ? 'software' : 'hardware',
      ranAt: new Date().toISOString(), by: o.by, seconds: Math.round((performance.now() - t0) / 100) / 10, host: hostname(),
      runtime: `Chromium ${lane.info.chromium} headless (${lane.info.flags.join(' ')})`,
      adapters: { webgl2: lane.info.page.webgl2, webgl: lane.info.page.webgl, webgpu: lane.info.page.webgpu },
      kernels, models, proven, failed,
    };
  } finally {
    await lane.close();
  }
}

/** Whether every required path (required kernel modes, every model the lane can feed) was proven. */
export function lanePassed(p: GpuProof): boolean {
  return p.kernels.every((k) => k.proven || !k.required) && p.models.every((m) => m.proven || !m.required);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { values } = parseArgs({
    options: {
      adapter: { type: 'string', default: 'swiftshader' },
      rows: { type: 'string' },
      windows: { type: 'string' },
      'whole-days': { type: 'boolean' },
      'no-models': { type: 'boolean' },
      'no-record': { type: 'boolean' },
      by: { type: 'string', default: 'src/compute/lane/run.ts' },
    },
  });
  if (values.adapter !== 'swiftshader' && values.adapter !== 'hardware') {
    process.stderr.write(`run.ts: --adapter must be swiftshader or hardware, got ${values.adapter}\n`);
    process.exit(64);
  }
  const out = (s: string): boolean => process.stdout.write(s + '\n');
  const proof = await runLane({
    adapter: values.adapter, by: values.by!, log: out,
    rows: values['whole-days'] ? Infinity : values.rows ? Number(values.rows) : undefined,
    windows: values.windows ? Number(values.windows) : undefined,
    models: values['no-models'] ? [] : undefined,
  });
  for (const l of proof.proven) out(`proven: ${l}`);
  for (const l of proof.failed) out(`FAILED: ${l}`);
  if (!values['no-record']) out(`record: ${writeProof(proof)}`);
  process.exitCode = lanePassed(proof) ? 0 : 1;
}
