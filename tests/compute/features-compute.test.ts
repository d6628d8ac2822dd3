/**
 * `flowcast features --compute`: with a kernel backend the kernels compute every per-row column
 * and the engine only the trade state (VPIN, bars) and labels; no column is computed twice.
 */
import { describe, expect, it } from 'vitest';
import { featuresInMemory, SPOT, USDM } from '../helpers.ts';
import { flowcast } from '../cli/run-cli.ts';
import { DENSE_COLUMNS } from '../../src/compute/dense.ts';
import { FLOAT32_TOLERANCE } from '../../src/compute/parity.ts';
import { FEATURE_COLUMNS, FeatureBlock, outputColumns } from '../../src/features/columns.ts';
import { FeatureEngine, TRADE_STATE_COLUMNS } from '../../src/features/engine.ts';
import { featureOptions } from '../../src/features/options.ts';
import { openSource } from '../../src/sources/spec.ts';
import { realRows } from './real-rows.ts';

describe('features --compute', () => {
  it('no column is computed by both the engine and the kernels, in any mode, and every column by one of them', async () => {
    const opts = { vpinBucket: 2, horizons: [10, 50] };
    const all = outputColumns(opts.horizons);
    for (const compute of ['cpu', 'gpujs:cpu', 'gpujs:webasm', 'gpujs', 'auto'] as const) {
      const { res } = await featuresInMemory(SPOT, { ...opts, compute });
      const { engine, kernels } = res.computedBy;
      expect(engine.filter((c) => kernels.includes(c)), compute).toEqual([]);
      expect([...engine, ...kernels].sort(), compute).toEqual([...all].sort());
      if (res.compute.backend === 'cpu') expect(kernels, compute).toEqual([]);
      else expect([...kernels], compute).toEqual([...DENSE_COLUMNS]);
    }
  });

  it('trade-state mode: the engine writes none of the kernel columns, and its own columns exactly as in full mode', async () => {
    const rows = await realRows(SPOT);
    const run = async (mode: 'all' | 'trade-state') => {
      const src = await openSource(SPOT);
      await src.run({ onDepth() {}, onTrade() {}, onOrder() {} } as never);
      const cols = outputColumns([10]);
      const out = cols.map(() => [] as number[]);
      const e = new FeatureEngine(featureOptions({ vpinBucket: 2, horizons: [10], blockRows: 512 }), src.timeBase, (b: FeatureBlock) => {
        for (let c = 0; c < cols.length; c++) out[c]!.push(...b.values[c]!.subarray(0, b.n));
      }, mode);
      for (const r of rows) e.onRow(r);
      e.finish();
      return { out, cols, computed: e.computed };
    };
    const full = await run('all');
    const part = await run('trade-state');
    expect(part.computed).toEqual([...TRADE_STATE_COLUMNS, 'label_10']);
    expect(full.computed).toEqual(full.cols);
    for (let c = 0; c < part.cols.length; c++) {
      const name = part.cols[c]!;
      // The engine's blocks start zeroed and are reused: a column it never writes stays 0.
      if ((DENSE_COLUMNS as readonly string[]).includes(name)) expect(part.out[c]!.every((v) => v === 0), name).toBe(true);
      else expect(part.out[c], name).toEqual(full.out[c]);
    }
    expect(full.out[full.cols.indexOf('mid')]!.every((v) => v === 0)).toBe(false);
  });

  it('gpujs:webasm computes in a worker thread, and writes exactly what the same kernels write in this thread', async () => {
    const opts = { vpinBucket: 2, horizons: [10] };
    // `gpujs` picks the best mode present in this thread: webasm wherever no GPU mode is live.
    const here = await featuresInMemory(USDM, { ...opts, compute: 'gpujs' });
    const thread = await featuresInMemory(USDM, { ...opts, compute: 'gpujs:webasm' });
    expect(thread.res.compute.libraryMode).toMatch(/webasm .*, in a worker thread$/);
    expect(here.res.compute.libraryMode).not.toMatch(/worker/);
    if (here.res.compute.backend !== 'gpujs:webasm') return;
    expect(thread.table.n).toBe(here.table.n);
    for (const col of here.table.columns) expect(Array.from(thread.table.column(col)), col).toEqual(Array.from(here.table.column(col)));
  });

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
    // auto times both whole paths on the same rows and takes the faster; which wins depends on the machine and its load.
    expect(auto.stderr).toMatch(/; compute (cpu \(FeatureEngine \(float64, streaming\)\): the float64 engine alone is faster here|gpujs:\w+ \(gpu\.js .*\): the kernels are faster here), measured on 4,096 synthetic rows: the engine alone [\d.]+[kM] rows\/s, \S+ kernels \+ the engine's trade state [\d.]+[kM] rows\/s \(kernels: fastest measured on \d+x\(100\+\d+\)x10 batches: .* rows\/s\)$/m);
    const webgl = await flowcast(['features', '--source', SPOT, '--out', out, '--compute', 'gpujs:webgl']);
    expect(webgl.code).toBe(1);
    expect(webgl.stderr).toBe('flowcast features: compute backend gpujs:webgl is not available: webgl exists only in browsers\n');
    expect(FEATURE_COLUMNS.length).toBeGreaterThan(DENSE_COLUMNS.length);
  });
});
