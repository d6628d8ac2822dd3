/**
 * ONNX Runtime's WebGPU provider in Node, on a software adapter: onnxruntime-node (1.30) bundles
 * a WebGPU provider built on Dawn, and Dawn accepts SwiftShader, the software Vulkan device that
 * Debian's chromium package ships (/usr/lib/chromium/libvk_swiftshader.so with its ICD file, and
 * the Vulkan loader libvulkan.so.1 beside it). Pointing the Vulkan loader at that ICD gives Node a
 * WebGPU adapter with no GPU and no browser. (Mesa 22.3's lavapipe, Debian 12's other software
 * Vulkan, is refused by the provider: it lacks shaderUniform*ArrayDynamicIndexing.)
 *
 * The loader search path must be set before the process starts, so this runs as a child process:
 *   node --import tsx src/compute/lane/node-webgpu.ts --log FILE --windows N MODEL_DIR...
 * with its stderr (where ORT's native log goes) in FILE, and prints its results as one JSON line.
 */
import { existsSync, readFileSync, openSync, closeSync, mkdtempSync, rmSync } from 'node:fs';
import { execFileSync, spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { UnsupportedLayout, type OnnxParity, type OpenGpuSession } from './onnx.ts';

/** Where Debian's chromium keeps SwiftShader's Vulkan driver and the Vulkan loader. */
export const CHROMIUM_LIB = process.env.FLOWCAST_CHROMIUM_LIB ?? '/usr/lib/chromium';
const ICD = 'vk_swiftshader_icd.json';

function systemHasVulkanLoader(): boolean {
  try {
    return /libvulkan\.so\.1\b/.test(execFileSync('ldconfig', ['-p'], { encoding: 'utf8' }));
  } catch {
    return false;
  }
}

/**
 * The environment that makes SwiftShader Dawn's Vulkan device (software), or nothing added
 * (hardware: the system's loader and GPU driver); `unavailable` says why it cannot here.
 */
export function nodeWebGpuEnv(adapter: 'swiftshader' | 'hardware'): { env: Record<string, string>; detail: string } | { unavailable: string } {
  if (adapter === 'hardware') return { env: {}, detail: 'the system Vulkan loader and driver' };
  const icd = join(CHROMIUM_LIB, ICD);
  if (!existsSync(icd)) return { unavailable: `no SwiftShader Vulkan ICD at ${icd} (Debian: apt-get install chromium)` };
  const env: Record<string, string> = { VK_ICD_FILENAMES: icd, VK_DRIVER_FILES: icd };
  if (!systemHasVulkanLoader()) {
    if (!existsSync(join(CHROMIUM_LIB, 'libvulkan.so.1'))) return { unavailable: `no libvulkan.so.1 on the system or in ${CHROMIUM_LIB}` };
    env.LD_LIBRARY_PATH = [CHROMIUM_LIB, process.env.LD_LIBRARY_PATH].filter(Boolean).join(':');
  }
  return { env, detail: `SwiftShader Vulkan (${icd})${env.LD_LIBRARY_PATH ? `, Vulkan loader from ${CHROMIUM_LIB}` : ''}` };
}

/**
 * Runs the comparison of onnx.ts in a child process on ORT node's WebGPU provider and returns its
 * results, or throws with the child's last log lines.
 */
export async function nodeWebGpuParity(models: string[], windows: number, adapter: 'swiftshader' | 'hardware'): Promise<(OnnxParity | Error)[]> {
  const e = nodeWebGpuEnv(adapter);
  if ('unavailable' in e) throw new Error(`onnxruntime-node webgpu: ${e.unavailable}`);
  const dir = mkdtempSync(join(tmpdir(), 'flowcast-node-webgpu-'));
  const log = join(dir, 'stderr.log');
  const fd = openSync(log, 'w');
  try {
    const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--log', log, '--windows', String(windows), ...models], {
      env: { ...process.env, ...e.env, FLOWCAST_NODE_WEBGPU_DETAIL: e.detail },
      stdio: ['ignore', 'pipe', fd],
    });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    const code = await new Promise<number | null>((res, rej) => {
      child.on('error', rej);
      child.on('close', res);
    });
    const line = out.split('\n').find((l) => l.startsWith('@@result '));
    if (code !== 0 || !line) {
      const tail = readFileSync(log, 'utf8').split('\n').filter((l) => !/\[[IV]:onnxruntime/.test(l)).slice(-6).join(' | ');
      throw new Error(`onnxruntime-node webgpu child exited ${code}: ${tail}`);
    }
    const rs = JSON.parse(line.slice(9)) as (OnnxParity | { error: string; unsupported: boolean })[];
    return rs.map((r) => ('error' in r ? (r.unsupported ? new UnsupportedLayout(r.error) : new Error(r.error)) : r));
  } finally {
    closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { log: { type: 'string' }, windows: { type: 'string' } } });
  const ort = await import('onnxruntime-node');
  const { onnxParity, loadEvalDays, placementOf, EVAL_DAYS, UnsupportedLayout } = await import('./onnx.ts');
  const detail = process.env.FLOWCAST_NODE_WEBGPU_DETAIL ?? '';
  const open: OpenGpuSession = async (m, bytes) => {
    // A verbose session first, only for ORT's placement lines (it logs every kernel run at that level).
    const from = values.log ? readFileSync(values.log).length : 0;
    const probe = await ort.InferenceSession.create(bytes, { executionProviders: ['webgpu'], logSeverityLevel: 0, logVerbosityLevel: 0 });
    await probe.release();
    const placement = values.log ? placementOf(readFileSync(values.log).subarray(from).toString('utf8').split('\n')) : {};
    const s = await ort.InferenceSession.create(bytes, { executionProviders: ['webgpu'], logSeverityLevel: 3 });
    return {
      label: `onnxruntime-node ${ort.env.versions.node} [webgpu] on ${detail}`,
      placement,
      async run(input, shape) {
        const o = await s.run({ [m.manifest.input.name]: new ort.Tensor('float32', input, shape) }, [m.manifest.output.name]);
        return o[m.manifest.output.name]!.data as Float32Array;
      },
      close: () => s.release(),
    };
  };
  const days = await loadEvalDays(EVAL_DAYS);
  const w = Number(values.windows ?? 64);
  const results: (OnnxParity | { error: string; unsupported: boolean })[] = [];
  for (const dir of positionals) {
    results.push(await onnxParity(open, dir, days, { maxWindows: w, batch: Math.min(64, w) })
      .catch((e: Error) => ({ error: e.message.split('\n')[0]!, unsupported: e instanceof UnsupportedLayout })));
  }
  process.stdout.write(`@@result ${JSON.stringify(results)}\n`);
}
