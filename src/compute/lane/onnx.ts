/**
 * The shipped models through a WebGPU execution provider (ONNX Runtime Web in the lane's page, or
 * onnxruntime-node's own: node-webgpu.ts) against onnxruntime-node's CPU provider, on the models'
 * evaluation windows: the rows `flowcast evaluate` scores (src/training/evaluate/evaluate.ts): on
 * the model's own training day its chronological test split, on any other day every row with a
 * full window and a label; a raw-book-levels model (NTLC) its own day's test split in SnapshotBatch
 * windows, as src/training/levels/evaluate.ts scores it.
 * The inputs are built once, by the served model's own input transform, and the very same
 * float32 buffer goes to both runtimes.
 */
import { readFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { ServedModel } from '../../inference/model.ts';
import { defaultSessionSettings } from '../../inference/providers.ts';
import { batcherSettings } from '../../inference/batcher.ts';
import { ModelMetrics } from '../../inference/metrics.ts';
import { FEATURE_COLUMNS, FEATURE_SPEC_VERSION } from '../../features/columns.ts';
import { buildDataset, DEFAULT_LABEL, type SplitFractions } from '../../training/dataset.ts';
import { alignRows, LevelsWindows, readBookRings } from '../../training/levels/windows.ts';
import { loadFeatures, type FeatureData } from '../../training/features-file.ts';
import { AMZN, GOOG } from '../../sources/samples.ts';
import type { Lane } from './page.ts';
import type { LaneBrowser } from './browser.ts';

declare const flowcastLane: Lane;

/** The days the models are evaluated on (models/EVALUATION.md): GOOG (their training day: its test split) and AMZN. */
export const EVAL_DAYS: readonly string[] = [GOOG, AMZN];

/** The execution providers asked of ONNX Runtime Web, in order (it places what WebGPU cannot run on its WebAssembly CPU provider). */
export const WEB_PROVIDERS = ['webgpu'];

export interface OnnxEvalSet {
  /** Source spec of the day. */
  data: string;
  symbol: string;
  /** Which rows `flowcast evaluate` scores there, and how many of them the lane took. */
  rows: string;
  windows: number;
  maxAbsDp: number;
  meanAbsDp: number;
  /** Windows whose most likely class differs between the runtimes. */
  argmaxDiffers: number;
  /** Seconds in each side's run() calls (SwiftShader is a CPU: no speed claim, only the lane's cost). */
  gpuSeconds: number;
  cpuSeconds: number;
}

export interface OnnxParity {
  model: string;
  kind: string;
  /** The manifest's input layout (NTF, NF: feature columns; NTLC: raw book levels, scored on its own day only). */
  layout: string;
  /** What ran the GPU path (ORT's package, version, providers) and the CPU reference. */
  gpu: string;
  reference: string;
  /** Nodes per execution provider, from ORT's verbose session log ("Node(s) placed on [X]. Number of nodes: N"). */
  placement: Record<string, number>;
  sets: OnnxEvalSet[];
  maxAbsDp: number;
}

/** The served model on onnxruntime-node's CPU provider, loaded as `flowcast evaluate` loads it. */
async function loadCpu(dir: string): Promise<ServedModel> {
  const abs = resolve(dir);
  return ServedModel.load(basename(abs), abs, {
    session: defaultSessionSettings({ ...process.env, FLOWCAST_EP: 'cpu' }),
    batcher: batcherSettings(),
    featureColumns: FEATURE_COLUMNS,
    featureSpecVersion: FEATURE_SPEC_VERSION,
    metrics: new ModelMetrics(),
    runner: 'inline',
  });
}

/** Evenly spaced picks of at most `max` of `rows` (all of them when max >= rows.length). */
export function spread(rows: Int32Array, max: number): Int32Array {
  if (rows.length <= max) return rows;
  return Int32Array.from({ length: max }, (_, i) => rows[Math.floor((i * rows.length) / max)]!);
}

/**
 * Layouts whose evaluation windows the lane builds: feature columns (`flowcast evaluate`'s
 * datasets) and raw book levels (SnapshotBatch windows, src/training/levels/). A model with another
 * layout is recorded with the reason and not required.
 */
export const LANE_LAYOUTS: readonly string[] = ['NTF', 'NF', 'NTLC'];

export class UnsupportedLayout extends Error {}

/** A session on the GPU path under test, fed the same float32 inputs as the CPU reference. */
export interface GpuSession {
  /** What runs it, e.g. "onnxruntime-web 1.23.2 [webgpu]". */
  label: string;
  /** Nodes per execution provider, from ORT's verbose log ("Node(s) placed on [X]. Number of nodes: N"). */
  placement: Record<string, number>;
  run(input: Float32Array, shape: number[]): Promise<Float32Array>;
  close(): Promise<void>;
}

export type OpenGpuSession = (model: ServedModel, bytes: Uint8Array) => Promise<GpuSession>;

/** Sums ORT's "Node(s) placed on [X]. Number of nodes: N" log lines per provider. */
export function placementOf(lines: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const l of lines) {
    const p = /Node\(s\) placed on \[(\w+)\]\. Number of nodes: (\d+)/.exec(l);
    if (p) out[p[1]!] = (out[p[1]!] ?? 0) + Number(p[2]);
  }
  return out;
}

/** ONNX Runtime Web in the lane's page, on WEB_PROVIDERS. */
export function browserSession(lane: LaneBrowser): OpenGpuSession {
  return async (m, bytes) => {
    const version = await lane.page.evaluate(() => flowcastLane.ort());
    const key = m.name;
    const logFrom = lane.console.length;
    await lane.page.evaluate(([k, b, p]) => flowcastLane.openSession(k, b, p), [key, bytes, WEB_PROVIDERS] as const);
    return {
      label: `onnxruntime-web ${version} [${WEB_PROVIDERS.join(', ')}] in Chromium ${lane.info.chromium}`,
      placement: placementOf(lane.console.slice(logFrom)),
      async run(input, shape) {
        const r = await lane.page.evaluate(([k, f, o, x, d]) => flowcastLane.runSession(k, f, o, x, d),
          [key, m.manifest.input.name, m.manifest.output.name, input, shape] as const);
        return r.data;
      },
      close: () => lane.page.evaluate((k) => flowcastLane.closeSession(k), key),
    };
  };
}

/**
 * Runs one model directory on every day in `days` (source spec -> loaded features), on the CPU
 * reference and on the session `open` makes, at most `maxWindows` evaluation windows per day
 * (evenly spread over them), in batches of `batch`.
 */
export async function onnxParity(
  open: OpenGpuSession, dir: string, days: Map<string, FeatureData>,
  opts: { maxWindows: number; batch?: number },
): Promise<OnnxParity> {
  const m = await loadCpu(dir);
  try {
    const man = m.manifest;
    if (!LANE_LAYOUTS.includes(man.input.layout)) {
      throw new UnsupportedLayout(`${m.name}: input layout ${man.input.layout}: the lane builds evaluation windows for ${LANE_LAYOUTS.join(', ')} only`);
    }
    const training = (man.training ?? {}) as { data?: string; symbol?: string; split?: { train: number; val: number } };
    const split = training.split ?? { train: 0.7, val: 0.15 };
    const C = man.output.classes.length;
    const size = m.transform.size;
    const dims = man.input.layout === 'NTLC' ? [man.input.window, man.input.book!.levels, man.input.book!.channels.length]
      : man.input.layout === 'NTF' ? [man.input.window, man.input.columns.length] : [man.input.columns.length];
    const gpu = await open(m, new Uint8Array(await readFile(join(m.dir, man.onnx.file))));
    try {
      if (!gpu.placement.WebGpuExecutionProvider) throw new Error(`${m.name}: ${gpu.label} placed no node on WebGPU (placement ${JSON.stringify(gpu.placement)}): nothing of this model would run on the GPU path`);
      const batch = opts.batch ?? 64;
      const sets: OnnxEvalSet[] = [];
      for (const [source, data] of days) {
        for (const symbol of data.symbols) {
          const own = source === training.data && (training.symbol === undefined || training.symbol === symbol);
          const ev = man.input.layout === 'NTLC'
            ? await levelsWindows(m, source, data, symbol, own, split, batch)
            : featureWindows(m, data, symbol, own, split);
          if (!ev || ev.all.length === 0) continue;
          const all = ev.all;
          const rows = spread(all, opts.maxWindows);
          let maxAbs = 0, sumAbs = 0, differ = 0, webS = 0, nodeS = 0;
          const buf = new Float32Array(batch * size);
          for (let s = 0; s < rows.length; s += batch) {
            const b = Math.min(batch, rows.length - s);
            ev.fill(Array.from(rows.subarray(s, s + b)), buf);
            const input = buf.slice(0, b * size);
            const t0 = performance.now();
            const cpu = await m.runner.run(input, b);
            const t1 = performance.now();
            const web = await gpu.run(input, [b, ...dims]);
            nodeS += (t1 - t0) / 1000;
            webS += (performance.now() - t1) / 1000;
            if (web.length !== b * C) throw new Error(`${m.name}: ${gpu.label} returned ${web.length} values for ${b} windows, expected ${b * C}`);
            for (let j = 0; j < b; j++) {
              let am = 0, aw = 0;
              for (let c = 0; c < C; c++) {
                const d = Math.abs(cpu[j * C + c]! - web[j * C + c]!);
                if (!(d <= maxAbs)) maxAbs = d; // a NaN on either side ends up here and poisons maxAbs
                sumAbs += d;
                if (cpu[j * C + c]! > cpu[j * C + am]!) am = c;
                if (web[j * C + c]! > web[j * C + aw]!) aw = c;
              }
              if (am !== aw) differ++;
            }
          }
          const label = ev.label;
          sets.push({
            data: source, symbol, rows: `${label}: ${rows.length} of ${all.length} windows, evenly spread`, windows: rows.length,
            maxAbsDp: maxAbs, meanAbsDp: sumAbs / (rows.length * C), argmaxDiffers: differ, gpuSeconds: webS, cpuSeconds: nodeS,
          });
        }
      }
      return {
        model: m.name, kind: man.kind ?? 'unknown', layout: man.input.layout, gpu: gpu.label, reference: `onnxruntime-node ${m.provider}`, placement: gpu.placement, sets,
        maxAbsDp: sets.reduce((a, s) => (s.maxAbsDp > a || Number.isNaN(s.maxAbsDp) ? s.maxAbsDp : a), 0),
      };
    } finally {
      await gpu.close();
    }
  } finally {
    await m.retire();
  }
}

/** The evaluation windows of one model on one day and symbol, and how to write a batch of them as model input. */
interface EvalWindows {
  label: string;
  all: Int32Array;
  /** Writes the model's input for `rows` (one window each) into `buf`, as the served model's transform does. */
  fill(rows: number[], buf: Float32Array): void;
}

/** Feature-column windows (NTF, NF): `flowcast evaluate`'s rows. */
function featureWindows(m: ServedModel, data: FeatureData, symbol: string, own: boolean, split: SplitFractions): EvalWindows {
  const man = m.manifest;
  const ds = buildDataset(data, {
    columns: man.input.columns, window: man.input.window,
    horizon: man.output.horizon ?? DEFAULT_LABEL.horizon, alpha: man.output.alpha ?? DEFAULT_LABEL.alpha,
    split, symbol, normalization: man.normalization,
  });
  const size = m.transform.size;
  return {
    label: own ? `test split (rows ${ds.splits.test.from}..${ds.splits.test.to - 1})` : 'all rows with a full window and a label',
    all: own ? ds.splits.test.rows : allRows(ds.y, ds.T),
    fill: (rows, buf) => rows.forEach((r, j) => m.transform.write(ds.windowRaw(r), buf, j * size)),
  };
}

/**
 * Raw-book-levels windows (NTLC): SnapshotBatch windows of the model's own day and symbol, its test
 * split, as src/training/levels/evaluate.ts scores it (its scales hold for that symbol only).
 */
async function levelsWindows(m: ServedModel, source: string, data: FeatureData, symbol: string, own: boolean, split: SplitFractions, batch: number): Promise<EvalWindows | undefined> {
  if (!own) return undefined;
  const man = m.manifest;
  const ref = buildDataset(data, {
    columns: ['mid'], window: man.input.window, split, symbol,
    horizon: man.output.horizon ?? DEFAULT_LABEL.horizon, alpha: man.output.alpha ?? DEFAULT_LABEL.alpha,
  });
  const ring = (await readBookRings(source, { levels: man.input.book!.levels, symbols: [symbol] })).get(symbol);
  if (!ring) throw new Error(`${m.name}: no ${symbol} rows in ${source}`);
  alignRows(ring, ref);
  const w = new LevelsWindows(ring, ref, man.input.book!.levels, batch);
  const size = m.transform.size;
  return {
    label: `test split (rows ${ref.splits.test.from}..${ref.splits.test.to - 1}), SnapshotBatch windows`,
    all: ref.splits.test.rows,
    fill(rows, buf) {
      const raw = w.raw(rows);
      for (let j = 0; j < rows.length; j++) m.transform.write(raw.subarray(j * size, (j + 1) * size), buf, j * size);
    },
  };
}

/** The evaluation days: features computed from each source spec with the labels the models use. */
export async function loadEvalDays(specs: readonly string[], horizon = DEFAULT_LABEL.horizon, alpha = DEFAULT_LABEL.alpha): Promise<Map<string, FeatureData>> {
  const out = new Map<string, FeatureData>();
  for (const s of specs) out.set(s, await loadFeatures(s, { horizons: [horizon], alpha }));
  return out;
}

function allRows(y: Int8Array, T: number): Int32Array {
  const out: number[] = [];
  for (let i = T - 1; i < y.length; i++) if (y[i]! >= 0) out.push(i);
  return Int32Array.from(out);
}
