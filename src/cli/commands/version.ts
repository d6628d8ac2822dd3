import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import type { Command } from '../command.ts';
import { parseFlags } from '../args.ts';

const usage = `flowcast version [--json]

Prints the flowcast version, Node and platform, and which native pieces load on this machine, each
with its version:

  onnxruntime-node   its native binding (the file), and each execution provider the build lists:
                     cpu runs a one-node session; cuda/tensorrt: whether their provider libraries
                     are installed (docs/deploy-cuda.md); others are listed, flowcast uses cuda or cpu
  uWebSockets.js     the native addon for this Node ABI, or its pure-JS fallback (serve refuses it)
  msgpackr           native string decoding (msgpackr-extract) or pure JavaScript
  parquet-wasm       its WebAssembly module
  gpu.js             which modes can run here (cpu, webasm, headlessgl, webgl2, webgl, webgpu), and
                     why not

  --json    the same as one JSON object
`;

const require = createRequire(import.meta.url);
const ROOT = join(dirname(require.resolve('../../../package.json')));
/** A package's version, found the way Node resolves it (some packages' exports hide package.json). */
function versionOf(pkg: string, from = require): string {
  for (const dir of from.resolve.paths(pkg) ?? []) {
    const file = join(dir, pkg, 'package.json');
    if (existsSync(file)) return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
  }
  throw new Error(`${pkg} is not installed`);
}
const firstLine = (e: unknown): string => String((e as Error)?.message ?? e).split('\n')[0]!;
const rel = (p: string): string => relative(process.cwd(), p) || p;

interface Report {
  flowcast: string;
  node: { version: string; abi: string; platform: string };
  onnxruntime: { version?: string; binding?: string; providers?: { name: string; bundled: boolean; state: string }[]; error?: string };
  uws: { version: string; native: boolean; addon: string };
  msgpackr: { version: string; native: boolean; extract?: string };
  parquetWasm: { version: string; loaded: boolean; error?: string };
  gpujs: { version: string; modes: { mode: string; ok: boolean; detail: string }[] };
}

async function onnxruntime(): Promise<Report['onnxruntime']> {
  try {
    const ort = await import('onnxruntime-node');
    const { ortBindingDir, providerAvailability } = await import('../../inference/providers.ts');
    const { probeExecutionProviders } = await import('../../compute/onnx-probe.ts');
    const probe = await probeExecutionProviders(['cpu']);
    const cpu = 'providers' in probe ? probe.providers.find((p) => p.name === 'cpu') : undefined;
    const dir = ortBindingDir();
    const providers = ort.listSupportedBackends().map(({ name, bundled }) => {
      let state: string;
      if (name === 'cpu') state = cpu?.live ? 'ran a session' : `failed: ${cpu?.detail ?? ('error' in probe ? probe.error : '?')}`;
      else if (name === 'cuda') {
        const a = providerAvailability('cuda');
        state = a.available ? `installed, ${rel(a.reason.replace(/ present$/, ''))}` : `${a.summary}: docs/deploy-cuda.md`;
      } else if (!bundled) {
        // Provider libraries that come separately, like CUDA's (the TensorRT one arrives with it).
        const lib = join(dir, `libonnxruntime_providers_${name}.so`);
        state = existsSync(lib) ? `installed, ${rel(lib)}` : 'not installed';
      } else state = 'in the build; flowcast uses cuda or cpu';
      return { name, bundled, state };
    });
    return { version: ort.env.versions.node ?? ort.env.versions.common, binding: join(dir, 'onnxruntime_binding.node'), providers };
  } catch (e) {
    return { error: `failed to load: ${firstLine(e)}` };
  }
}

async function report(): Promise<Report> {
  const { uwsIsNative } = await import('../../server/uws.ts');
  const msgpackr = await import('msgpackr');
  const msgpackrRequire = createRequire(require.resolve('msgpackr'));
  let extract: string | undefined;
  try {
    extract = versionOf('msgpackr-extract', msgpackrRequire);
  } catch { /* optional dependency absent */ }
  let parquet: Report['parquetWasm'];
  try {
    const pq = await import('parquet-wasm');
    parquet = { version: versionOf('parquet-wasm'), loaded: typeof pq.readParquet === 'function' };
  } catch (e) {
    parquet = { version: versionOf('parquet-wasm'), loaded: false, error: firstLine(e) };
  }
  const { gpuJsModeStatus, GPUJS_VERSION } = await import('../../compute/gpujs.ts');
  const { GPUJS_MODES } = await import('../../compute/backend.ts');
  const { releaseDawn } = await import('../../compute/webgpu.ts');
  const modes: Report['gpujs']['modes'] = [];
  for (const mode of GPUJS_MODES) {
    const s = await gpuJsModeStatus(mode);
    modes.push({ mode, ok: s.ok, detail: s.detail });
  }
  // Dawn, when it loaded, keeps the process alive.
  releaseDawn();
  return {
    flowcast: (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version,
    node: { version: process.version, abi: process.versions.modules, platform: `${process.platform}-${process.arch}` },
    onnxruntime: await onnxruntime(),
    uws: { version: versionOf('uWebSockets.js'), native: uwsIsNative(), addon: `uws_${process.platform}_${process.arch}_${process.versions.modules}.node` },
    msgpackr: { version: versionOf('msgpackr'), native: Boolean((msgpackr as { isNativeAccelerationEnabled?: boolean }).isNativeAccelerationEnabled), extract },
    parquetWasm: parquet,
    gpujs: { version: GPUJS_VERSION, modes },
  };
}

function text(r: Report): string {
  const o = r.onnxruntime;
  const lines = [
    `flowcast ${r.flowcast} (node ${r.node.version}, ${r.node.platform}, ABI ${r.node.abi})`,
    o.error ? `  onnxruntime-node: ${o.error}` : `  onnxruntime-node ${o.version}: native binding ${rel(o.binding!)}`,
  ];
  if (o.providers) lines.push(`    execution providers: ${o.providers.map((p) => `${p.name} (${p.bundled ? 'bundled' : 'separate'}, ${p.state})`).join('; ')}`);
  lines.push(
    r.uws.native
      ? `  uWebSockets.js ${r.uws.version}: native addon ${r.uws.addon}`
      : `  uWebSockets.js ${r.uws.version}: NO native addon ${r.uws.addon}; its pure-JS fallback loaded, which serve refuses`,
    `  msgpackr ${r.msgpackr.version}: ${r.msgpackr.native ? `native string decoding (msgpackr-extract ${r.msgpackr.extract ?? '?'})` : `pure JavaScript${r.msgpackr.extract ? ` (msgpackr-extract ${r.msgpackr.extract} did not load)` : ''}`}`,
    `  parquet-wasm ${r.parquetWasm.version}: ${r.parquetWasm.loaded ? 'WebAssembly module loaded' : `failed to load: ${r.parquetWasm.error ?? '?'}`}`,
    `  gpu.js ${r.gpujs.version}: ${r.gpujs.modes.map((m) => `${m.mode} ${m.ok ? 'yes' : 'no'}`).join(', ')}`,
    ...r.gpujs.modes.map((m) => `    ${m.mode}: ${m.detail}`),
  );
  return lines.join('\n') + '\n';
}

const command: Command = {
  name: 'version',
  summary: 'print the version, Node and native-addon status',
  usage,
  async run(argv) {
    const { values } = parseFlags(argv, { json: { type: 'boolean' } });
    const r = await report();
    process.stdout.write(values.json ? JSON.stringify(r, null, 2) + '\n' : text(r));
    return 0;
  },
};
export default command;
