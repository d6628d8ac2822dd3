/**
 * What the GPU lanes proved, where and when: one small JSON record per place, written by the lane
 * (run.ts: the vitest lane and scripts/gpu-check) and read by scripts/gpu-check and the server's
 * /healthz (compute section).
 *
 *   out/gpu-proof/software.json   this machine's lane: headless Chromium on SwiftShader
 *   out/gpu-proof/hardware.json   scripts/gpu-check on a GPU box (the same lane on the real adapter)
 *
 * FLOWCAST_GPU_PROOF_DIR moves the folder (default: out/gpu-proof under the repository root).
 *
 *   tsx src/compute/lane/record.ts                           prints both records
 *   tsx src/compute/lane/record.ts merge-parity PARITY.json  adds gpu-check's Node-side GPU parity to hardware.json, then prints
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { dirname, join } from 'node:path';
import { hostname } from 'node:os';

export const PROOF_SCHEMA = 'flowcast.gpu-proof/v1';
export type ProofPlace = 'software' | 'hardware';

export interface KernelSourceResult {
  source: string;
  rows: number;
  /** Largest |error| / |reference| over the columns (src/compute/parity.ts's maxRelError). */
  maxRelError: number;
  /** Largest error / allowed error over the columns (<= 1 passes). */
  worst: number;
  /** Columns that failed, with their worst error ratio and NaN mismatches. */
  failed: string[];
}

export interface KernelPathResult {
  /** gpu.js mode, as the compute backends name it: gpujs:webgl2, gpujs:webgpu ... */
  path: string;
  /** The shading language the mode compiles the kernels to. */
  language: string;
  /** Whether CI requires it (a required path that fails fails the lane's test). */
  required: boolean;
  proven: boolean;
  /** gpu.js kernels built (by batch shape and name) and the mode each ran in. */
  kernels: string[];
  columns: number;
  sources: KernelSourceResult[];
  error?: string;
}

export interface ModelPathResult {
  model: string;
  kind: string;
  /** Input layout: NTF / NF (feature columns), NTLC (raw book levels). */
  layout: string;
  /** Which ONNX Runtime ran the WebGPU provider: the browser's (in the lane's page) or Node's. */
  runtime: 'onnxruntime-web' | 'onnxruntime-node';
  /** What ran it, in words (package, version, providers, adapter). */
  path: string;
  reference: string;
  /** Whether CI requires it: every model whose input layout the lane can build windows for. */
  required: boolean;
  proven: boolean;
  windows: number;
  maxAbsDp: number;
  tolerance: number;
  argmaxDiffers: number;
  placement: Record<string, number>;
  sets: { data: string; symbol: string; rows: string; maxAbsDp: number }[];
  error?: string;
}

export interface GpuProof {
  schema: typeof PROOF_SCHEMA;
  where: ProofPlace;
  ranAt: string;
  /** Who ran it (the test file or scripts/gpu-check) and how long it took. */
  by: string;
  seconds: number;
  host: string;
  runtime: string;
  adapters: Record<string, string>;
  kernels: KernelPathResult[];
  models: ModelPathResult[];
  /** Short lines: what was proven and what failed (gpu-check prints them, /healthz serves them). */
  proven: string[];
  failed: string[];
}

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

export function proofDir(): string {
  return process.env.FLOWCAST_GPU_PROOF_DIR ?? join(REPO, 'out', 'gpu-proof');
}

export function proofFile(where: ProofPlace): string {
  return join(proofDir(), `${where}.json`);
}

/** Writes the record whole (a reader never sees half of one). */
export function writeProof(p: GpuProof, file = proofFile(p.where)): string {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(p, null, 2) + '\n');
  renameSync(tmp, file);
  return file;
}

export function readProof(where: ProofPlace): GpuProof | { missing: string } | { error: string } {
  const file = proofFile(where);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return { missing: `${file}: no record (${where === 'software' ? 'run the lane: npx vitest run tests/gpu-lane, or npx tsx src/compute/lane/run.ts' : 'run scripts/gpu-check on a GPU box'})` };
  }
  try {
    const p = JSON.parse(text) as GpuProof;
    if (p.schema !== PROOF_SCHEMA) return { error: `${file}: schema ${String(p.schema)}, expected ${PROOF_SCHEMA}` };
    return p;
  } catch (e) {
    return { error: `${file}: not valid JSON (${(e as Error).message})` };
  }
}

/** The /healthz view: per place, when and where it ran and what it proved. */
export function proofSummary(): Record<ProofPlace, unknown> {
  const one = (where: ProofPlace): unknown => {
    const p = readProof(where);
    if (!('schema' in p)) return p;
    return { ranAt: p.ranAt, host: p.host, by: p.by, runtime: p.runtime, adapters: p.adapters, proven: p.proven, failed: p.failed };
  };
  return { software: one('software'), hardware: one('hardware') };
}

/** `tsx src/compute/lane/record.ts`: prints both records (scripts/gpu-check's last section). */
export function printProofs(out: (line: string) => void): void {
  for (const where of ['software', 'hardware'] as const) {
    const p = readProof(where);
    if (!('schema' in p)) {
      out(`${where}: ${'missing' in p ? p.missing : p.error}`);
      continue;
    }
    out(`${where}: ${p.runtime}, ran ${p.ranAt} on ${p.host} by ${p.by} (${p.seconds} s)`);
    for (const [k, v] of Object.entries(p.adapters)) out(`  adapter ${k}: ${v}`);
    for (const l of p.proven) out(`  proven: ${l}`);
    for (const l of p.failed) out(`  FAILED: ${l}`);
  }
}

/** Languages of the Node-side gpu.js GPU modes (src/compute/gpujs.ts). */
const NODE_GPU_MODES: Record<string, string> = { 'gpujs:webgpu': 'WGSL through Dawn (npm webgpu)', 'gpujs:headlessgl': 'GLSL ES 1.00 through headless-gl' };

/**
 * Adds what scripts/gpu-check's parity step (src/compute/gpu-check.ts parity --json) proved for
 * the Node-side GPU modes to the hardware record (made if the lane did not run there).
 */
export function mergeNodeParity(parityFile: string, host: string): GpuProof {
  const parity = JSON.parse(readFileSync(parityFile, 'utf8')) as {
    unavailable: Record<string, string>;
    report: Record<string, Record<string, { column: string; pass: boolean; maxRelError: number; worst: number; worstRow: number; nanMismatches: number }[]>>;
  };
  const prev = readProof('hardware');
  const p: GpuProof = 'schema' in prev && prev.host === host ? prev : {
    schema: PROOF_SCHEMA, where: 'hardware', ranAt: new Date().toISOString(), by: 'scripts/gpu-check', seconds: 0, host,
    runtime: 'Node (no browser lane)', adapters: {}, kernels: [], models: [], proven: [], failed: [],
  };
  for (const [path, language] of Object.entries(NODE_GPU_MODES)) {
    const sources = Object.entries(parity.report).filter(([, byBackend]) => byBackend[path]).map(([source, byBackend]) => {
      const cols = byBackend[path]!;
      return {
        source, rows: NaN, maxRelError: Math.max(...cols.map((c) => c.maxRelError)), worst: Math.max(...cols.map((c) => c.worst)),
        failed: cols.filter((c) => !c.pass).map((c) => `${c.column} (worst ${c.worst} at row ${c.worstRow}, NaN mismatches ${c.nanMismatches})`),
      };
    });
    const name = `${path} (Node)`;
    p.kernels = p.kernels.filter((k) => k.path !== name);
    p.proven = p.proven.filter((l) => !l.startsWith(name));
    p.failed = p.failed.filter((l) => !l.startsWith(name));
    if (sources.length === 0) {
      p.failed.push(`${name}: not live (${parity.unavailable[path] ?? 'not run'})`);
      continue;
    }
    const proven = sources.every((s) => s.failed.length === 0);
    p.kernels.push({ path: name, language, required: true, proven, kernels: [], columns: parity.report[sources[0]!.source]![path]!.length, sources });
    if (proven) p.proven.push(`${name} (${language}): every kernel column within the float32 tolerance on ${sources.map((s) => s.source).join(', ')}; max rel error ${Math.max(...sources.map((s) => s.maxRelError)).toExponential(1)}`);
    else p.failed.push(`${name} (${language}): ${sources.flatMap((s) => s.failed.map((f) => `${s.source} ${f}`)).join('; ')}`);
  }
  p.ranAt = new Date().toISOString();
  writeProof(p);
  return p;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  if (process.argv[2] === 'merge-parity') mergeNodeParity(process.argv[3]!, hostname());
  printProofs((l) => process.stdout.write(l + '\n'));
}
