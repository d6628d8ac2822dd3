/**
 * `serve --compute`: the kernels on the live path. Both servers get the same producer stream; the
 * kernel server's dense columns must equal the engine's within the float32 tolerance of
 * docs/compute.md, its /healthz must say the kernels computed every row, and a backend that cannot
 * run on the live path stops the server at start with the reason.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DENSE_COLUMNS } from '../../src/compute/dense.ts';
import { BackendUnavailable } from '../../src/compute/backend.ts';
import { liveCompute } from '../../src/compute/live-dense.ts';
import { DEFAULT_DEPTH } from '../../src/model/depth.ts';
import { COL } from '../../src/features/columns.ts';
import { ConfigError, loadServerConfig } from '../../src/server/config.ts';
import type { RunningServer } from '../../src/server/server.ts';
import { syntheticFeatures, testServer } from './helpers.ts';

const ROWS = 120;
let kernels: RunningServer;
let engine: RunningServer;

beforeAll(async () => {
  kernels = await testServer(() => {}, { compute: 'gpujs:cpu' }, { plugins: true });
  engine = await testServer(() => {}, {}, { plugins: true });
});

afterAll(async () => {
  await kernels?.close();
  await engine?.close();
});

describe('serve --compute', () => {
  it('computes each live row\'s dense columns with the kernels, within float32 tolerance of the engine', async () => {
    const [k, e] = [await syntheticFeatures(kernels, ROWS), await syntheticFeatures(engine, ROWS)];
    expect(k.map((f) => f.row)).toEqual(e.map((f) => f.row));
    let differ = 0;
    for (let i = 0; i < k.length; i++) {
      for (const col of DENSE_COLUMNS) {
        const a = k[i]!.v[COL[col]] as number | null, b = e[i]!.v[COL[col]] as number | null;
        if (a === null || b === null || Number.isNaN(a) || Number.isNaN(b)) {
          expect([a === null || Number.isNaN(a), col, i]).toEqual([b === null || Number.isNaN(b as number), col, i]);
          continue;
        }
        // ofi sums integer lots here, exact in float32; the rest round once or twice (docs/compute.md).
        expect(Math.abs(a - b), `${col} row ${i}: ${a} vs ${b}`).toBeLessThanOrEqual(1e-5 * Math.abs(b) + 1e-12);
        if (a !== b) differ++;
      }
    }
    // The kernel values are float32 arithmetic: some differ from the float64 engine in the last bits.
    expect(differ).toBeGreaterThan(0);
    const health = (await (await fetch(`${kernels.url}healthz`)).json()) as { compute: Record<string, unknown> };
    expect(health.compute).toMatchObject({ requested: 'gpujs:cpu', backend: 'gpujs:cpu', precision: 'float32' });
    expect(health.compute['kernelRows']).toBeGreaterThanOrEqual(ROWS);
    expect(String(health.compute['path'])).toMatch(/dense columns by gpu\.js/);
    const plain = (await (await fetch(`${engine.url}healthz`)).json()) as { compute: Record<string, unknown> };
    expect(plain.compute).toMatchObject({ requested: 'cpu', backend: 'cpu', precision: 'float64' });
  });

  it('auto measures the kernels at the live shape and keeps the engine, saying why', async () => {
    const c = await liveCompute('auto', DEFAULT_DEPTH);
    expect(c.dense).toBeUndefined();
    expect(c.info.backend).toBe('cpu');
    // Which backend measures fastest depends on the machine and its load: plain JS often wins here.
    expect(c.info.reason).toMatch(/would only add time to every row: the fastest here, (cpu|gpujs:\w+), measured on 1x\(100\+1\)x10 batches/);
    expect(Object.keys(c.info.measured ?? {})).toEqual(expect.arrayContaining(['cpu', 'gpujs:cpu', 'gpujs:webasm']));
    await c.dispose();
  });

  it('refuses a bad spec by name, and a backend that cannot run here with its reason', async () => {
    expect(() => loadServerConfig({ env: {}, overrides: { noReplay: true, compute: 'gpu' } })).toThrow(ConfigError);
    expect(() => loadServerConfig({ env: {}, overrides: { noReplay: true, compute: 'gpu' } })).toThrow('flags: --compute: expected auto | cpu | gpujs | gpujs:<');
    expect(() => loadServerConfig({ env: { FLOWCAST_COMPUTE: 'tpu' } })).toThrow('environment: FLOWCAST_COMPUTE: expected auto');
    // WebGPU: absent here (Dawn cannot load), asynchronous where present: never on the live path.
    await expect(liveCompute('gpujs:webgpu', DEFAULT_DEPTH)).rejects.toBeInstanceOf(BackendUnavailable);
  });
});
