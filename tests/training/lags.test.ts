/**
 * Past-only lag columns for the trees (train gbdt --lags): the design vector of a sample is its
 * row's columns and then each column as it was L rows before; the exported graph takes the window
 * a server gathers ([N, max(L)+1, F]) and picks exactly those rows, in that order.
 */
import { describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import { Dataset } from '../../src/training/dataset.ts';
import { ensembleToOnnx } from '../../src/training/gbdt/onnx.ts';
import type { TreeEnsemble, Tree } from '../../src/training/gbdt/ensemble.ts';
import type { FeatureData } from '../../src/features/data.ts';

/** A stump on one feature: margin +1 when x[f] < t, else -1 (one target, identity link). */
function stump(f: number, t: number): Tree {
  return {
    feature: Int32Array.from([f, -1, -1]), threshold: Float64Array.from([t, 0, 0]), left: Int32Array.from([1, 0, 0]),
    right: Int32Array.from([2, 0, 0]), missingLeft: Uint8Array.from([1, 0, 0]), value: Float64Array.from([0, 1, -1]), target: 0, weight: 1,
  };
}

/**
 * One stump per design entry, exported with the dataset's lag gather; ONNX Runtime on the windows
 * of `rows` against the stumps evaluated on the design vectors built in JavaScript.
 */
async function graphAgainstDesign(ds: Dataset, thresholds: number[], rows: number[]): Promise<{ out: number[]; expected: number[] }> {
  const e: TreeEnsemble = {
    source: 'xgboost', objective: 'reg:squarederror', cmp: 'LT', trees: thresholds.map((t, f) => stump(f, t)), nFeatures: thresholds.length,
    nTargets: 1, baseMargin: [0], link: 'identity', sigmoidScale: 1, average: false,
  };
  const onnx = ensembleToOnnx(e, { lags: { window: ds.T, columns: ds.F, pick: ds.designPick() } });
  const session = await ort.InferenceSession.create(onnx.bytes);
  try {
    const win = new Float32Array(rows.length * ds.T * ds.F);
    rows.forEach((i, j) => win.set(Float32Array.from(ds.windowRaw(i)), j * ds.T * ds.F));
    const out = (await session.run({ [onnx.inputName]: new ort.Tensor('float32', win, [rows.length, ds.T, ds.F]) }))[onnx.outputName]!.data as Float32Array;
    const x = new Float64Array(ds.designWidth);
    const expected = rows.map((i) => {
      ds.design(i, x);
      return thresholds.reduce((s, t, f) => s + (x[f]! < t ? 1 : -1), 0);
    });
    return { out: Array.from(out), expected };
  } finally {
    await session.release();
  }
}

describe('lag columns', () => {
  const n = 30;
  const a = Float64Array.from({ length: n }, (_, i) => i);
  const b = Float64Array.from({ length: n }, (_, i) => 100 + 10 * i);
  const data: FeatureData = {
    source: 'hand-built', n, columns: ['mid', 'a', 'b'], symbols: ['X'], symbolId: new Uint16Array(n),
    ts: Float64Array.from({ length: n }, (_, i) => i * 1e9), startNs: 0n,
    values: new Map([['mid', Float64Array.from({ length: n }, (_, i) => 100 + (i % 3))], ['a', a], ['b', b]]),
  };

  it('a sample is its row then each lag, lag-major; the window and the first sample move back by the largest lag', () => {
    const ds = new Dataset(data, { columns: ['a', 'b'], window: 1, horizon: 2, alpha: 0.0001, lags: [1, 3], split: { train: 0.6, val: 0.2 }, normalization: null }, 'X');
    expect(ds.T).toBe(4);
    expect(ds.designNames()).toEqual(['a', 'b', 'a@lag1', 'b@lag1', 'a@lag3', 'b@lag3']);
    const x = new Float64Array(ds.designWidth);
    ds.design(10, x);
    // Row 10: a = 10, b = 200; row 9: 9, 190; row 7: 7, 170.
    expect(Array.from(x)).toEqual([10, 200, 9, 190, 7, 170]);
    // No sample before row 3: its lag-3 row would be before the symbol's first row.
    expect(ds.splits.train.rows[0]).toBe(3);
    expect(() => new Dataset(data, { columns: ['a'], window: 1, horizon: 2, alpha: 0, lags: [2, 2], split: { train: 0.6, val: 0.2 }, normalization: null }, 'X')).toThrow(/distinct/);
  });

  it('the graph picks the lag rows out of the window: ONNX Runtime on windows equals the trees on design vectors', async () => {
    const ds = new Dataset(data, { columns: ['a', 'b'], window: 1, horizon: 2, alpha: 0.0001, lags: [1, 3], split: { train: 0.6, val: 0.2 }, normalization: null }, 'X');
    // One stump per design entry: each reads a different lag of a different column.
    const { out, expected } = await graphAgainstDesign(ds, [10.5, 195, 8.5, 185, 5.5, 170.5], [3, 6, 9, 10, 12, 20]);
    expect(out).toEqual(expected);
    // The rows were chosen so that the answers differ: a wrong lag order would change them.
    expect(new Set(expected).size).toBeGreaterThan(2);
  });

  it('lags only the named columns; the graph gathers the same entries', async () => {
    const ds = new Dataset(data, { columns: ['a', 'b'], window: 1, horizon: 2, alpha: 0.0001, lags: [1, 3], lagColumns: ['b'], split: { train: 0.6, val: 0.2 }, normalization: null }, 'X');
    expect(ds.designNames()).toEqual(['a', 'b', 'b@lag1', 'b@lag3']);
    const x = new Float64Array(ds.designWidth);
    ds.design(10, x);
    expect(Array.from(x)).toEqual([10, 200, 190, 170]);
    // Offsets in the flattened 4-row window: the newest row's a and b, then b one and three rows back.
    expect(ds.designPick()).toEqual([6, 7, 5, 1]);
    expect(() => new Dataset(data, { columns: ['a'], window: 1, horizon: 2, alpha: 0, lags: [1], lagColumns: ['b'], split: { train: 0.6, val: 0.2 }, normalization: null }, 'X')).toThrow(/lag column b is not one of the input columns/);
    const { out, expected } = await graphAgainstDesign(ds, [10.5, 195, 185, 170.5], [3, 8, 10, 12, 19, 25]);
    expect(out).toEqual(expected);
    expect(new Set(expected).size).toBeGreaterThan(2);
  });
});
