/**
 * DenseStream: rows in arrival order in, dense columns in the same order out, whatever the block
 * size, window length, symbol interleaving or (a)synchrony of the backend.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DenseStream, type DenseStreamOptions } from '../../src/compute/stream.ts';
import { CpuBackend } from '../../src/compute/cpu.ts';
import { GpuJsBackend } from '../../src/compute/gpujs.ts';
import { DENSE_COLUMNS, type DenseRaw } from '../../src/compute/dense.ts';
import type { DenseBackend } from '../../src/compute/backend.ts';
import type { SnapshotBatch } from '../../src/snapshots/batch.ts';
import type { BookRow } from '../../src/model/row.ts';
import { realRows, GOOG, USDM } from './real-rows.ts';
import { OffloadedDenseStream } from '../../src/compute/offload.ts';
import { BackendUnavailable } from '../../src/compute/backend.ts';
import { DEFAULT_DEPTH } from '../../src/model/depth.ts';

let goog: BookRow[];
let usdm: BookRow[];
let wasm: GpuJsBackend;

beforeAll(async () => {
  [goog, usdm] = await Promise.all([realRows(GOOG, 2500), realRows(USDM, 2500)]);
  wasm = await GpuJsBackend.create('webasm');
});

afterAll(async () => {
  await wasm.dispose();
});

interface Out {
  values: Float64Array[];
  symbols: string[];
  rows: number[];
  ts: number[];
}

async function run(be: DenseBackend, rows: readonly BookRow[], opts: DenseStreamOptions): Promise<Out> {
  const out: Out = { values: DENSE_COLUMNS.map(() => new Float64Array(rows.length)), symbols: [], rows: [], ts: [] };
  const st = new DenseStream(be, opts, (block, symbols) => {
    for (let j = 0; j < block.n; j++) {
      const r = block.row[j]!;
      out.rows.push(r);
      out.ts.push(block.ts[j]!);
      out.symbols.push(symbols[block.symbolId[j]!]!);
      for (let c = 0; c < DENSE_COLUMNS.length; c++) out.values[c]![r] = block.values[c]![j]!;
    }
  });
  for (const r of rows) st.onRow(r);
  await st.finish();
  return out;
}

/** Same values (NaN where NaN) within a relative 1e-12: only the per-window reference differs. */
function expectSame(a: Float64Array[], b: Float64Array[], ia: number[] = [], ib: number[] = []): void {
  for (let c = 0; c < DENSE_COLUMNS.length; c++) {
    const n = ia.length || a[c]!.length;
    for (let k = 0; k < n; k++) {
      const x = a[c]![ia.length ? ia[k]! : k]!, y = b[c]![ib.length ? ib[k]! : k]!;
      if (Number.isNaN(x) || Number.isNaN(y)) expect([DENSE_COLUMNS[c], k, Number.isNaN(x)]).toEqual([DENSE_COLUMNS[c], k, Number.isNaN(y)]);
      else if (Math.abs(x - y) > 1e-12 * Math.max(1, Math.abs(x))) expect([DENSE_COLUMNS[c], k, y]).toEqual([DENSE_COLUMNS[c], k, x]);
    }
  }
}

describe('DenseStream', () => {
  it('gives the same columns whatever the block size and window length', async () => {
    const cpu = new CpuBackend();
    const base = await run(cpu, usdm, { blockRows: 8192 });
    expect(base.rows).toEqual(usdm.map((_, i) => i));
    expect(base.ts).toEqual(usdm.map((r) => r.ts));
    for (const opts of [{ blockRows: 37 }, { blockRows: 1000, maxWindowRows: 16 }, { blockRows: 333, maxWindowRows: 64 }]) {
      expectSame(base.values, (await run(cpu, usdm, opts)).values);
    }
  });

  it('keeps interleaved symbols apart and in arrival order', async () => {
    const cpu = new CpuBackend();
    const mixed: BookRow[] = [];
    const from: ['GOOG' | 'BTCUSDT', number][] = [];
    let i = 0, j = 0;
    // An uneven interleave: bursts of one symbol, then the other.
    while (i < goog.length || j < usdm.length) {
      for (let k = 0; k < 7 && i < goog.length; k++, i++) (mixed.push(goog[i]!), from.push(['GOOG', i]));
      for (let k = 0; k < 3 && j < usdm.length; k++, j++) (mixed.push(usdm[j]!), from.push(['BTCUSDT', j]));
    }
    const both = await run(cpu, mixed, { blockRows: 500 });
    expect(both.symbols).toEqual(from.map((f) => f[0]));
    const soloGoog = await run(cpu, goog, {});
    const soloUsdm = await run(cpu, usdm, {});
    const at = (s: string) => from.map((f, k) => [f, k] as const).filter(([f]) => f[0] === s);
    expectSame(soloGoog.values, both.values, at('GOOG').map(([f]) => f[1]), at('GOOG').map(([, k]) => k));
    expectSame(soloUsdm.values, both.values, at('BTCUSDT').map(([f]) => f[1]), at('BTCUSDT').map(([, k]) => k));
  });

  it('a smaller last flush reuses a batch shape computed before (no compile at the end of a stream)', async () => {
    const cpu = new CpuBackend();
    const shapes: string[] = [];
    const counting: DenseBackend = {
      name: 'cpu (counting shapes)', library: cpu.library, precision: cpu.precision, sync: true,
      computeSync: (batch: SnapshotBatch, levels: number) => {
        shapes.push(`${batch.B}x${batch.T}`);
        return cpu.computeSync(batch, levels);
      },
      compute: (batch: SnapshotBatch, levels: number) => cpu.compute(batch, levels),
      dispose: async () => undefined,
    };
    // 2,500 rows in blocks of 1,024: two full flushes at one shape, then 452 rows, which alone would plan T = 512.
    const out = await run(counting, usdm, { blockRows: 1024 });
    expect(shapes).toHaveLength(3);
    expect(new Set(shapes).size).toBe(1);
    expectSame((await run(cpu, usdm, { blockRows: 8192 })).values, out.values);
  });

  it('an asynchronous backend (how webgpu runs) emits the same blocks in the same order', async () => {
    // gpujs:webasm driven through the asynchronous path: results arrive later, out of step with onRow.
    const asyncWasm: DenseBackend = {
      name: 'gpujs:webasm (async path)', library: wasm.library, precision: 'float32', sync: false,
      computeSync: () => {
        throw new Error('asynchronous only');
      },
      compute: (batch: SnapshotBatch, levels: number): Promise<DenseRaw> => {
        const raw = wasm.computeSync(batch, levels);
        const copy = { data: raw.data.slice(), N: raw.N };
        return new Promise((resolve) => setTimeout(() => resolve(copy), 1));
      },
      dispose: async () => {},
    };
    const sync = await run(wasm, usdm, { blockRows: 300 });
    const viaAsync = await run(asyncWasm, usdm, { blockRows: 300 });
    expect(viaAsync.rows).toEqual(sync.rows);
    expectSame(sync.values, viaAsync.values);
  });

  it('in a worker thread (OffloadedDenseStream): interleaved symbols, every row once, the in-thread values exactly', async () => {
    const mixed: BookRow[] = [];
    for (let i = 0; i < Math.max(goog.length, usdm.length); i++) {
      if (i < goog.length) mixed.push(goog[i]!);
      if (i % 2 === 0 && i < usdm.length) mixed.push(usdm[i]!);
    }
    const here = await run(wasm, mixed, { blockRows: 8192 });
    const got: Float64Array[] = DENSE_COLUMNS.map(() => new Float64Array(mixed.length).fill(-7));
    const seen: number[] = [];
    const st = OffloadedDenseStream.create('gpujs:webasm', DEFAULT_DEPTH, 8192, (r) => {
      for (let k = 0; k < r.n; k++) seen.push(r.row0 + k);
      for (let c = 0; c < DENSE_COLUMNS.length; c++) got[c]!.set(r.values[c]!, r.row0);
    });
    // Rows are sent while the thread is still starting: they wait for its backend, none is lost.
    for (const r of mixed) st.onRow(r);
    expect((await st.ready).libraryMode).toMatch(/in a worker thread$/);
    await st.finish();
    await st.dispose();
    expect(seen).toEqual(mixed.map((_, i) => i));
    for (let c = 0; c < DENSE_COLUMNS.length; c++) expect(Array.from(got[c]!), DENSE_COLUMNS[c]).toEqual(Array.from(here.values[c]!));
  });

  it('in a worker thread: a backend the thread cannot create fails the stream with its reason, rows sent meanwhile included', async () => {
    // headless-gl is overridden by an empty package here (package.json), so the thread cannot create it.
    const st = OffloadedDenseStream.create('gpujs:headlessgl', DEFAULT_DEPTH, 8192, () => undefined);
    for (const r of goog.slice(0, 5000)) st.onRow(r);
    await expect(st.ready).rejects.toBeInstanceOf(BackendUnavailable);
    const e = await st.finish().then(() => undefined, (x: unknown) => x);
    expect(e).toBeInstanceOf(BackendUnavailable);
    expect((e as BackendUnavailable).backend).toBe('gpujs:headlessgl');
    expect(() => st.onRow(goog[0]!)).toThrow(BackendUnavailable);
    await st.dispose();
  });
});
