/**
 * The Node half of scripts/gpu-check (run it on a CUDA box: `npm run gpu-check`).
 *
 *   tsx src/compute/gpu-check.ts probe  [--json FILE]
 *       which gpu.js modes, TensorFlow.js backend and ONNX Runtime execution providers are live
 *   tsx src/compute/gpu-check.ts parity [--json FILE] [--rows N] [--backends cpu,gpujs:webgpu,...]
 *       every live backend against the float64 FeatureEngine on the real GOOG, AMZN and Binance data
 *
 * Exit code 1 when a live backend fails parity (or none but cpu is live with --require-gpu).
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { probeComputeEnvironment } from './probe.ts';
import { availableBackends } from './select.ts';
import { captureDense, compareDense, FLOAT32_TOLERANCE, FLOAT64_TOLERANCE, type ColumnParity } from './parity.ts';
import { AMZN, GOOG, SPOT, USDM } from '../sources/samples.ts';

export const PARITY_SOURCES: Record<string, string> = {
  GOOG,
  'AMZN (5 levels)': AMZN,
  'BTCUSDT USD-M': USDM,
  'BTCUSDT spot': SPOT,
};

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    json: { type: 'string' },
    rows: { type: 'string' },
    backends: { type: 'string' },
    'require-gpu': { type: 'boolean' },
  },
});
const what = positionals[0] ?? 'probe';
const out = (s: string): boolean => process.stdout.write(s + '\n');

if (what === 'probe') {
  const env = await probeComputeEnvironment();
  out(`node ${env.node} ${env.platform}, ${env.cpus} CPUs`);
  out(`gpu.js ${env.gpujs.version}:`);
  for (const m of env.gpujs.modes) {
    const state = !m.available ? 'not available' : m.error ? `FAILED: ${m.error}` : `live (ran as ${m.executed}, max rel diff vs float64 ${m.maxRelDiff?.toExponential(1)})`;
    out(`  ${m.mode.padEnd(11)} ${state} - ${m.detail}`);
  }
  if (env.tfjs) out('error' in env.tfjs ? `TensorFlow.js: ${env.tfjs.error}` : `TensorFlow.js: ${env.tfjs.package}, backend "${env.tfjs.backend}"` +
    (Object.keys(env.tfjs.skipped).length ? ` (not used: ${Object.entries(env.tfjs.skipped).map(([k, v]) => `${k}: ${v}`).join('; ')})` : ''));
  if (env.onnx) {
    if ('error' in env.onnx) out(`ONNX Runtime: ${env.onnx.error}`);
    else {
      out(`ONNX Runtime ${env.onnx.version} execution providers:`);
      for (const p of env.onnx.providers) out(`  ${p.name.padEnd(9)} ${p.live ? 'live' : 'not live'}${p.bundled ? '' : ' (separate install)'} - ${p.detail}`);
    }
  }
  if (values.json) writeFileSync(values.json, JSON.stringify(env, null, 2));
  const gpu = env.gpujs.modes.some((m) => m.available && !m.error && m.mode !== 'cpu' && m.mode !== 'webasm');
  process.exitCode = values['require-gpu'] && !gpu ? 1 : 0;
} else if (what === 'parity') {
  const wanted = values.backends?.split(',').map((s) => s.trim()).filter(Boolean);
  const { backends, unavailable } = await availableBackends(wanted);
  for (const [k, v] of Object.entries(unavailable)) out(`${k}: not run (${v})`);
  const report: Record<string, Record<string, ColumnParity[]>> = {};
  let failed = false;
  for (const [name, spec] of Object.entries(PARITY_SOURCES)) {
    const t0 = performance.now();
    const cap = await captureDense(spec, backends, { maxRows: values.rows ? Number(values.rows) : undefined });
    out(`\n${name}: ${cap.rows.toLocaleString('en-US')} rows (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
    report[name] = {};
    const header = ['column'.padEnd(11), ...backends.map((b) => b.name.padStart(16))].join(' ');
    out(header);
    const results = backends.map((b) => compareDense(cap, b.name, b.precision === 'float64' ? FLOAT64_TOLERANCE : FLOAT32_TOLERANCE));
    backends.forEach((b, i) => (report[name]![b.name] = results[i]!));
    for (let c = 0; c < results[0]!.length; c++) {
      const cells = results.map((r) => {
        const p = r[c]!;
        if (!p.pass) failed = true;
        return `${p.pass ? '' : 'FAIL '}${p.nanMismatches ? `nan!${p.nanMismatches} ` : ''}${p.maxRelError.toExponential(1)}`.padStart(16);
      });
      out([results[0]![c]!.column.padEnd(11), ...cells].join(' '));
    }
  }
  out(`\nmax relative error per column and backend; ${failed ? 'FAILED: see FAIL cells' : 'every backend within tolerance (docs/compute.md)'}`);
  if (values.json) writeFileSync(values.json, JSON.stringify({ unavailable, report }, null, 2));
  for (const b of backends) await b.dispose();
  process.exitCode = failed ? 1 : 0;
} else {
  process.stderr.write(`gpu-check: unknown step "${what}" (probe | parity)\n`);
  process.exitCode = 2;
}
