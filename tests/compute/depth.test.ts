/**
 * Depth below 10 levels on the kernel paths (issue 13): `features.levels` 5 with `--compute
 * gpujs:cpu` serves rows (it failed every row: the live batch was cut to 5 levels and imb_10
 * needs 10), and the batch CLI agrees with the engine at that depth. The book carries 10 levels so
 * imb_10 differs from imb_5 and depth_* from a 10-level sum: a kernel reading the wrong depth fails.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DENSE_COLUMNS } from '../../src/compute/dense.ts';
import { CpuBackend } from '../../src/compute/cpu.ts';
import { GpuJsBackend } from '../../src/compute/gpujs.ts';
import { LiveDense } from '../../src/compute/live-dense.ts';
import { captureDense, compareDense, FLOAT32_TOLERANCE, FLOAT64_TOLERANCE } from '../../src/compute/parity.ts';
import { resolveDepth } from '../../src/model/depth.ts';
import { COL } from '../../src/features/columns.ts';
import { loadServerConfig } from '../../src/server/config.ts';
import { startServer, type RunningServer } from '../../src/server/server.ts';
import { loadPlugins } from '../../src/server/wiring.ts';
import { WRITE_KEY, syntheticFeatures } from '../server/helpers.ts';
import { flowcast } from '../cli/run-cli.ts';
import { GOOG, SPOT, scratchDir } from '../helpers.ts';

const ROWS = 120;
const dir = scratchDir('depth');
const servers: RunningServer[] = [];

/** A server as `flowcast serve --config FILE [--compute SPEC]` starts it, FILE setting features.levels. */
async function configured(levels: number, compute?: string): Promise<RunningServer> {
  const file = join(dir, `levels-${levels}.json`);
  writeFileSync(file, JSON.stringify({ features: { levels } }));
  const cfg = loadServerConfig({ file, env: { FLOWCAST_API_KEY: `producer:${WRITE_KEY}` }, overrides: { port: 0, noReplay: true, models: '', compute } });
  const s = await startServer(cfg, { sweepMs: 5, ...(await loadPlugins(cfg)) });
  servers.push(s);
  return s;
}

afterAll(async () => {
  for (const s of servers) await s.close();
});

const isNaNish = (x: number | null | undefined): boolean => x === null || x === undefined || Number.isNaN(x);

describe('resolveDepth', () => {
  it('rows carry what the features and the book frames read; tensors at least the 10 levels imb_10 reads', () => {
    expect(resolveDepth(5)).toEqual({ levels: 5, rowLevels: 10, tensorLevels: 10 });
    expect(resolveDepth(5, { bookLevels: 20 })).toEqual({ levels: 5, rowLevels: 20, tensorLevels: 10 });
    expect(resolveDepth(25, { bookLevels: 20 })).toEqual({ levels: 25, rowLevels: 25, tensorLevels: 25 });
    expect(() => resolveDepth(0)).toThrow('levels must be an integer in 1..1000, got 0');
    expect(() => resolveDepth(2.5)).toThrow(RangeError);
  });
});

describe('depth below 10 levels with the kernels', () => {
  it('the batched and the live kernels at 5 levels agree with the engine on a 10-level source', async () => {
    const depth = resolveDepth(5);
    const cpu = new CpuBackend();
    const gpu = await GpuJsBackend.create('cpu');
    try {
      const cap = await captureDense(GOOG, [cpu, gpu], { depth, maxRows: 3000, live: [new LiveDense(gpu, depth)] });
      expect(cap.rows).toBe(3000);
      for (const [name, tol] of [['cpu', FLOAT64_TOLERANCE], ['gpujs:cpu', FLOAT32_TOLERANCE], ['live:gpujs:cpu', FLOAT32_TOLERANCE]] as const) {
        const res = compareDense(cap, name, tol);
        expect(res.filter((r) => !r.pass).map((r) => `${name} ${r.column}: worst ${r.worst} at row ${r.worstRow}, NaN mismatches ${r.nanMismatches}`)).toEqual([]);
      }
    } finally {
      await gpu.dispose();
    }
  });

  it('serve --compute gpujs:cpu with features.levels 5 serves every row, the dense columns within float32 tolerance of the engine', async () => {
    const kernels = await configured(5, 'gpujs:cpu');
    const engine = await configured(5);
    const [k, e] = [await syntheticFeatures(kernels, ROWS), await syntheticFeatures(engine, ROWS)];
    expect(k.map((f) => f.row)).toEqual(e.map((f) => f.row));
    // depth_bid at 5 levels is not the 10-level sum: the feature depth reached the kernels.
    expect(e[0]!.v[COL.depth_bid]).toBe(3 + 4 + 5 + 6 + 7);
    expect(e[0]!.v[COL.imb_10]).not.toBe(e[0]!.v[COL.imb_5]);
    for (let i = 0; i < k.length; i++) {
      for (const col of DENSE_COLUMNS) {
        const a = k[i]!.v[COL[col]], b = e[i]!.v[COL[col]];
        if (isNaNish(a) || isNaNish(b)) {
          expect([isNaNish(a), col, i]).toEqual([isNaNish(b), col, i]);
          continue;
        }
        expect(Math.abs(a! - b!), `${col} row ${i}: ${a} vs ${b}`).toBeLessThanOrEqual(1e-5 * Math.abs(b!) + 1e-12);
      }
    }
    const health = (await (await fetch(`${kernels.url}healthz`)).json()) as { compute: Record<string, unknown> };
    expect(health.compute).toMatchObject({ backend: 'gpujs:cpu' });
    expect(health.compute['kernelRows']).toBeGreaterThanOrEqual(ROWS);
  });

  it('features --levels 5 --compute gpujs:cpu writes the engine\'s dense columns within float32 tolerance', async () => {
    const outK = join(dir, 'k5.csv'), outE = join(dir, 'e5.csv');
    const rk = await flowcast(['features', '--source', SPOT, '--out', outK, '--levels', '5', '--compute', 'gpujs:cpu', '--vpin-bucket', '2', '--quiet']);
    expect(rk.stderr).toBe('');
    expect(rk.code).toBe(0);
    expect((await flowcast(['features', '--source', SPOT, '--out', outE, '--levels', '5', '--vpin-bucket', '2', '--quiet'])).code).toBe(0);
    const read = (f: string): string[][] => readFileSync(f, 'utf8').trimEnd().split('\n').map((l) => l.split(','));
    const [k, e] = [read(outK), read(outE)];
    expect(k[0]).toEqual(e[0]);
    expect(k.length).toBe(e.length);
    const idx = DENSE_COLUMNS.map((c) => e[0]!.indexOf(c));
    for (let i = 1; i < e.length; i++) {
      for (const j of idx) {
        const a = k[i]![j]!, b = e[i]![j]!;
        if (a === '' || b === '') {
          expect([a === '', e[0]![j], i]).toEqual([b === '', e[0]![j], i]);
          continue;
        }
        // OFI: the engine's float64 sums of decimal sizes leave ~1e-14 where the lots sum to 0 (docs/compute.md).
        const atol = e[0]![j]!.startsWith('ofi') ? 1e-9 : 1e-12;
        expect(Math.abs(Number(a) - Number(b)), `${e[0]![j]} row ${i}: ${a} vs ${b}`).toBeLessThanOrEqual(1e-5 * Math.abs(Number(b)) + atol);
      }
    }
  });
});
