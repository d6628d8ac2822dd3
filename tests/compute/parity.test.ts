/**
 * Every compute backend that can run here against the float64 FeatureEngine, column by column
 * (every kernel column: the book shape, OFI and its rolling sums, ret_1, rv_h100 and the trade
 * flow), on real GOOG, AMZN (5 levels) and Binance BTCUSDT spot and USD-M rows. On CI that is cpu, gpujs:cpu and
 * gpujs:webasm; a machine with a live GPU mode runs it too (scripts/gpu-check runs the full days).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { availableBackends } from '../../src/compute/select.ts';
import { captureDense, compareDense, FLOAT32_TOLERANCE, FLOAT64_TOLERANCE, type DenseCapture } from '../../src/compute/parity.ts';
import { DENSE_COLUMNS } from '../../src/compute/dense.ts';
import type { DenseBackend } from '../../src/compute/backend.ts';
import { LiveDense } from '../../src/compute/live-dense.ts';
import { DEFAULT_DEPTH } from '../../src/model/depth.ts';
import { GOOG, USDM, SPOT, AMZN_ZIP } from './real-rows.ts';

const SOURCES: [string, string, number][] = [
  ['GOOG', GOOG, 25_000],
  ['AMZN (5 levels)', `lobster:${AMZN_ZIP}`, 10_000],
  ['BTCUSDT USD-M', USDM, Infinity],
  ['BTCUSDT spot', SPOT, Infinity],
];

let backends: DenseBackend[];
const captures = new Map<string, DenseCapture>();

beforeAll(async () => {
  ({ backends } = await availableBackends());
  for (const [name, spec, maxRows] of SOURCES) {
    // The server's path too: each row's dense columns by the kernels over its last 51 rows.
    const live = backends.filter((b) => b.sync && b.name !== 'cpu').map((b) => new LiveDense(b, DEFAULT_DEPTH));
    captures.set(name, await captureDense(spec, backends, { maxRows, live }));
  }
  // Four sources through every backend and the per-row live path (101-row windows each row): minutes on a busy machine.
}, 900_000);

afterAll(async () => {
  for (const b of backends) await b.dispose();
});

describe('dense kernels agree with the float64 FeatureEngine', () => {
  it('runs at least the backends every Node has, over every per-row column', () => {
    expect(backends.map((b) => b.name)).toEqual(expect.arrayContaining(['cpu', 'gpujs:cpu', 'gpujs:webasm']));
    expect(DENSE_COLUMNS).toEqual(expect.arrayContaining(['ofi_h10', 'ofi_h25', 'ofi_h50', 'ret_1', 'rv_h100', 'trade_vol', 'trade_signed_vol', 'tfi_h50']));
  });

  for (const [name, , maxRows] of SOURCES) {
    it(`${name}: every backend, every dense column, within tolerance; NaN exactly where the engine has NaN`, () => {
      const cap = captures.get(name)!;
      expect(cap.rows).toBeGreaterThan(Math.min(maxRows, 3000) - 1);
      // The undefined-value paths are exercised: the first row's ret_1 and rv_h100 at least.
      expect(cap.reference[DENSE_COLUMNS.indexOf('ret_1')]!.some((v) => Number.isNaN(v))).toBe(true);
      expect(cap.reference[DENSE_COLUMNS.indexOf('rv_h100')]!.some((v) => Number.isNaN(v))).toBe(true);
      // And the trade-flow columns see trades.
      expect(cap.reference[DENSE_COLUMNS.indexOf('trade_vol')]!.some((v) => v > 0)).toBe(true);
      const live = backends.filter((b) => b.sync && b.name !== 'cpu').map((b) => ({ name: `live:${b.name}`, precision: b.precision }));
      expect(live.length).toBeGreaterThan(0);
      for (const be of [...backends, ...live]) {
        const res = compareDense(cap, be.name, be.precision === 'float64' ? FLOAT64_TOLERANCE : FLOAT32_TOLERANCE);
        const failed = res.filter((r) => !r.pass).map((r) => `${be.name} ${r.column}: max rel ${r.maxRelError}, worst ${r.worst} at row ${r.worstRow}, NaN mismatches ${r.nanMismatches}`);
        expect(failed).toEqual([]);
        for (const r of res) expect(r.compared).toBeGreaterThan(0);
      }
    });
  }

  it('the comparison catches a float32-sized error in any single column', () => {
    const cap = captures.get('BTCUSDT USD-M')!;
    const out = cap.outputs.get('gpujs:webasm')!;
    for (let c = 0; c < DENSE_COLUMNS.length; c++) {
      const col = out[c]!;
      const i = col.findIndex((v, k) => Number.isFinite(v) && Math.abs(cap.reference[c]![k]!) > 1e-3);
      const saved = col[i]!;
      col[i] = saved * (1 + 3e-5);
      const res = compareDense(cap, 'gpujs:webasm', FLOAT32_TOLERANCE);
      col[i] = saved;
      expect(res.filter((r) => !r.pass).map((r) => r.column)).toEqual([DENSE_COLUMNS[c]]);
    }
  });
});
