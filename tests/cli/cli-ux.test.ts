/**
 * What a newcomer sees from the CLI: no npm noise, a CPU machine treated as the normal case, a
 * version report that names the native pieces, one-line errors for an unavailable compute backend,
 * and README/docs commands that run as written after `npm install`.
 */
import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { flowcast, type CliResult } from './run-cli.ts';
import { providerAvailability } from '../../src/inference/providers.ts';
import { gpuJsModeStatus } from '../../src/compute/gpujs.ts';
import { releaseDawn } from '../../src/compute/webgpu.ts';
import { scratchDir } from '../helpers.ts';

const version = (pkg: string): string => (JSON.parse(readFileSync(`node_modules/${pkg}/package.json`, 'utf8')) as { version: string }).version;

function npx(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile('npx', args, { env: { ...process.env, ...env } }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: unknown }).code) || 1 : 0, stdout, stderr });
    });
  });
}

const BTC = 'binance:data/binance/binance-spot_btcusdt_20240808.jsonl.gz';
const cudaInstalled = providerAvailability('cuda').available;
const scratch = scratchDir('cli-ux');

describe('npx flowcast', () => {
  it('prints no npm warning (the project .npmrc holds only settings npm knows)', async () => {
    const r = await npx(['flowcast', 'version']);
    expect(r.code).toBe(0);
    expect(r.stderr).not.toMatch(/npm (warn|WARN)/);
    expect(r.stdout).toMatch(/^flowcast \d+\.\d+\.\d+/);
  });
});

describe('flowcast version', () => {
  it('names each native piece, its version and whether it loads here, as its help says', async () => {
    const help = await flowcast(['version', '--help']);
    for (const piece of ['onnxruntime-node', 'uWebSockets.js', 'msgpackr', 'parquet-wasm', 'gpu.js']) expect(help.stdout).toContain(piece);
    const r = await flowcast(['version']);
    expect(r.code).toBe(0);
    const out = r.stdout;
    expect(out).toMatch(new RegExp(`onnxruntime-node ${version('onnxruntime-node')}: native binding .*onnxruntime_binding\\.node`));
    expect(out).toMatch(/execution providers: cpu \(bundled, ran a session\)/);
    expect(out).toMatch(cudaInstalled ? /cuda \(separate, installed/ : /cuda \(separate, not installed: docs\/deploy-cuda\.md\)/);
    expect(out).toContain(`uWebSockets.js ${version('uWebSockets.js')}: native addon uws_${process.platform}_${process.arch}_${process.versions.modules}.node`);
    expect(out).toMatch(new RegExp(`msgpackr ${version('msgpackr')}: (native string decoding \\(msgpackr-extract [\\d.]+\\)|pure JavaScript)`));
    expect(out).toContain(`parquet-wasm ${version('parquet-wasm')}: WebAssembly module loaded`);
    const gpujs = out.split('\n').find((l) => l.startsWith(`  gpu.js ${version('gpu.js')}: `)) ?? '';
    for (const mode of ['webgpu', 'headlessgl', 'webgl2', 'webgl', 'webasm', 'cpu']) expect(gpujs).toMatch(new RegExp(`[ ,]${mode} (yes|no)(,|$)`));
    expect(out).toMatch(/^ {4}webgpu: \S/m);
    const json = JSON.parse((await flowcast(['version', '--json'])).stdout) as Record<string, Record<string, unknown>>;
    expect(Object.keys(json)).toEqual(expect.arrayContaining(['flowcast', 'node', 'onnxruntime', 'uws', 'msgpackr', 'parquetWasm', 'gpujs']));
    expect(json['uws']!['native']).toBe(true);
  });
});

describe('an unavailable compute backend', () => {
  it('is one line naming the backend and why, exit 1, no usage dump', async () => {
    const modes = ['webgl'];
    const webgpu = await gpuJsModeStatus('webgpu');
    releaseDawn();
    if (!webgpu.ok) modes.push('webgpu');
    for (const mode of modes) {
      for (const args of [
        ['features', '--compute', `gpujs:${mode}`, '--source', BTC, '--out', `${scratch}/f.csv`],
        ['serve', '--compute', `gpujs:${mode}`, '--port', '0', '--no-replay', '--models', ''],
      ]) {
        const r = await flowcast(args);
        expect([args.join(' '), r.code]).toEqual([args.join(' '), 1]);
        const lines = r.stderr.trimEnd().split('\n');
        expect(lines, r.stderr).toHaveLength(1);
        expect(lines[0]).toMatch(new RegExp(`^flowcast ${args[0]}: compute backend gpujs:${mode} is not available: \\S`));
        expect(r.stdout).toBe('');
      }
    }
  });
});

describe.skipIf(cudaInstalled)('flowcast models list on a CPU machine', () => {
  it('says once, in words, that CUDA is not installed; no JSON warning unless --verbose', async () => {
    const r = await flowcast(['models', 'list'], { FLOWCAST_LOG: 'warn' });
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout.split('\n')[0]).toMatch(/^models in .*models \(on cpu; CUDA is not installed here: docs\/deploy-cuda\.md\)$/);
    expect(r.stdout.match(/cuda/gi)).toHaveLength(2);
    const v = await flowcast(['models', 'list', '--verbose'], { FLOWCAST_LOG: 'warn' });
    expect(v.stderr).toMatch(/"level":"info".*"execution provider cpu".*libonnxruntime_providers_cuda\.so is not installed/);
  });

  it('warns when CUDA was asked for by name (FLOWCAST_EP=cuda) and is not there', async () => {
    const r = await flowcast(['models', 'list'], { FLOWCAST_LOG: 'warn', FLOWCAST_EP: 'cuda' });
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/"level":"warn".*execution provider cpu \(preferred cuda unavailable\)/);
  });
});

describe('README and docs', () => {
  it('spell commands `npx flowcast ...`: a bare `flowcast` is not on PATH after npm install', () => {
    const commands = readdirSync('src/cli/commands').map((f) => f.replace(/\.ts$/, '')).join('|');
    // A command in a fenced block (`flowcast CMD`, `$ flowcast CMD`, `X=1 flowcast CMD`; not output
    // such as "flowcast features: error: ..."), or an inline code span that starts with one.
    const inBlock = new RegExp(`(^|[\\s(])flowcast (${commands})( |$)`);
    const inline = new RegExp(`\`flowcast (${commands})[ \`]`);
    const files = ['README.md', ...readdirSync('docs').filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
    const bare: string[] = [];
    for (const f of files) {
      let fenced = false;
      readFileSync(f, 'utf8').split('\n').forEach((line, i) => {
        if (/^\s*```/.test(line)) fenced = !fenced;
        // Headings name a command; their anchors are linked to.
        else if (!fenced && line.startsWith('#')) return;
        else if ((fenced ? inBlock : inline).test(line.replaceAll('npx flowcast', ''))) bare.push(`${f}:${i + 1}: ${line.trim()}`);
      });
    }
    expect(bare).toEqual([]);
  });
});
