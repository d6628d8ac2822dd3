/** `flowcast features --compute`: kernel backends replace the dense columns, nothing else. */
import { describe, expect, it } from 'vitest';
import { featuresInMemory, SPOT } from '../helpers.ts';
import { flowcast } from '../cli/run-cli.ts';
import { DENSE_COLUMNS } from '../../src/compute/dense.ts';
import { FLOAT32_TOLERANCE } from '../../src/compute/parity.ts';
import { FEATURE_COLUMNS } from '../../src/features/columns.ts';

describe('features --compute', () => {
  it('gpujs:webasm: dense columns within the float32 tolerance of the engine, every other column identical', async () => {
    const opts = { vpinBucket: 2, horizons: [10] };
    const ref = await featuresInMemory(SPOT, opts);
    const k = await featuresInMemory(SPOT, { ...opts, compute: 'gpujs:webasm' });
    expect(ref.res.compute).toMatchObject({ backend: 'cpu', precision: 'float64' });
    expect(k.res.compute).toMatchObject({ requested: 'gpujs:webasm', backend: 'gpujs:webasm', precision: 'float32' });
    expect(k.table.n).toBe(ref.table.n);
    expect(Array.from(k.table.row.subarray(0, k.table.n))).toEqual(Array.from(ref.table.row.subarray(0, ref.table.n)));
    let changed = 0;
    for (const col of ref.table.columns) {
      const a = ref.table.column(col), b = k.table.column(col);
      if (!(DENSE_COLUMNS as readonly string[]).includes(col)) {
        expect(b).toEqual(a);
        continue;
      }
      const t = FLOAT32_TOLERANCE[col as (typeof DENSE_COLUMNS)[number]];
      for (let i = 0; i < a.length; i++) {
        if (Number.isNaN(a[i]!)) expect(b[i]).toBeNaN();
        else expect(Math.abs(b[i]! - a[i]!)).toBeLessThanOrEqual(t.rtol * Math.abs(a[i]!) + t.atol * 1e3);
        if (b[i] !== a[i] && !Number.isNaN(a[i]!)) changed++;
      }
    }
    // The values did come from the kernels (float32 rounding shows in some rows).
    expect(changed).toBeGreaterThan(0);
  });

  it('the CLI takes --compute, reports the backend and why, and rejects what it cannot run', async () => {
    const out = `${process.env.TMPDIR ?? '/tmp'}/flowcast-compute-${process.pid}.csv`;
    const wasm = await flowcast(['features', '--source', SPOT, '--out', out, '--vpin-bucket', '2', '--compute', 'gpujs:webasm']);
    expect(wasm.code).toBe(0);
    expect(wasm.stderr).toMatch(/; compute gpujs:webasm \(gpu\.js 2\.\d+\.\d+ webasm .*\): requested$/m);
    const auto = await flowcast(['features', '--source', SPOT, '--out', out, '--vpin-bucket', '2', '--compute', 'auto']);
    expect(auto.code).toBe(0);
    expect(auto.stderr).toMatch(/compute cpu \(FeatureEngine \(float64, streaming\)\): the float64 FeatureEngine computes the dense columns inline.*measured on \d+x\(50\+\d+\)x10 batches: .* rows\/s/);
    const webgl = await flowcast(['features', '--source', SPOT, '--out', out, '--compute', 'gpujs:webgl']);
    expect(webgl.code).toBe(1);
    expect(webgl.stderr).toBe('flowcast features: compute backend gpujs:webgl is not available: webgl exists only in browsers\n');
    expect(FEATURE_COLUMNS.length).toBeGreaterThan(DENSE_COLUMNS.length);
  });
});
