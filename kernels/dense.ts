/**
 * The dense per-row features of spec/FEATURES.md (mid .. ofi_h50), written once as gpu.js kernels.
 * gpu.js transpiles these functions to WGSL (webgpu), GLSL (webgl/headlessgl), WebAssembly
 * (webasm) or JavaScript (cpu); the `cpu` compute backend calls the very same functions as plain
 * JavaScript. So they use only the subset gpu.js understands: numbers, flat typed-array reads,
 * loops with constant bounds, `this.thread.x` and `this.constants`; no closures, no helpers, no NaN.
 *
 * Input: a SnapshotBatch book tensor, flat [B, W, LT, 4] float32 with channels (bid px, bid size,
 * ask px, ask size) in window units: prices in decimal price units (ticks) from the window's
 * reference, sizes in decimal size units (lots), whole numbers that float32 holds exactly (see
 * src/snapshots/batch.ts). The kernels are unit-agnostic; the host scales results back. A missing
 * level is (0, 0): presence is `size > 0` (books never hold a present level of size 0), because
 * GPU shader languages do not promise to keep or compare NaN. Each window holds W = H + T rows:
 * H >= 50 leading history rows, then the T rows whose features are produced. History rows supply
 * the previous row (ofi_m, ret_1) and the 49 earlier ofi_1 values of ofi_h50; a window whose
 * stream started later is left-padded with empty rows, which makes the first real row's ofi 0,
 * its ret_1 undefined and the rolling sums expanding, exactly as the spec says.
 *
 * Undefined values (NaN in the spec) are not produced here: the kernels write 0 and a `flags`
 * column says which rows have a two-sided level 1 (this row and the previous one) and at least two
 * levels per side; `src/compute/finish.ts` turns those into NaN on the host.
 */
import type { IKernelFunctionThis } from 'gpu.js';
import { DENSE_COLUMNS } from '../src/features/columns.ts';

/** Rows of history each window needs ahead of its output rows (ofi_h50 over ofi_1, which needs the previous row). */
export const DENSE_HISTORY = 50;

/** Shape constants compiled into a kernel. */
export interface DenseConstants {
  [name: string]: number;
  /** Rows per window (history + output). */
  W: number;
  /** History rows at the start of each window. */
  H: number;
  /** Output rows per window (W - H). */
  T: number;
  /** Levels per side in the tensor (max(L, 10): imb_10 always looks at 10). */
  LT: number;
  /** L: levels for depth_* and slope_* (the --levels value). */
  LD: number;
  /** Output rows in the batch (B * T). */
  N: number;
}

/**
 * Output columns of `denseFeatures`, in order: the registry's columns by kernelIndex
 * (src/features/columns.ts), then `flags`. Its branches on `c` below are written for those indices.
 */
export const KERNEL_COLUMNS: readonly string[] = [...DENSE_COLUMNS, 'flags'];

/** Bits of the `flags` column. */
export const FLAG_TWO_SIDED = 1;
export const FLAG_PREV_TWO_SIDED = 2;
export const FLAG_BID_2_LEVELS = 4;
export const FLAG_ASK_2_LEVELS = 8;

/**
 * ofi_1 for every row of every window (output [B * W]): the level-1 order-flow imbalance between
 * a row and the row before it in the window; 0 for a window's first row (never an output row).
 */
export function ofiLevel1(this: IKernelFunctionThis<DenseConstants>, book: Float32Array): number {
  const g = this.thread.x;
  const r = g - Math.floor(g / this.constants.W) * this.constants.W;
  let e = 0;
  if (r > 0.5) {
    const cur = g * this.constants.LT * 4;
    const prev = cur - this.constants.LT * 4;
    const pb = book[cur];
    const qb = book[cur + 1];
    const pa = book[cur + 2];
    const qa = book[cur + 3];
    const ppb = book[prev];
    const pqb = book[prev + 1];
    const ppa = book[prev + 2];
    const pqa = book[prev + 3];
    if (qb > 0 && pqb > 0) {
      if (pb >= ppb) e += qb;
      if (pb <= ppb) e -= pqb;
    }
    if (qa > 0 && pqa > 0) {
      if (pa <= ppa) e -= qa;
      if (pa >= ppa) e += pqa;
    }
  }
  return e;
}

/**
 * Every dense column for the output rows (output [KERNEL_COLUMNS.length * N], column-major: value
 * of column c for output row i at c * N + i, output row i = b * T + t, window row H + t).
 * `ofi1` is `ofiLevel1`'s output; `refs[b]` the window's reference price in price units (the
 * absolute mid is refs[b] + mid, used only as the divisor of spread_bps and ret_1).
 */
export function denseFeatures(
  this: IKernelFunctionThis<DenseConstants>,
  book: Float32Array,
  ofi1: Float32Array,
  refs: Float32Array,
): number {
  const N = this.constants.N;
  const T = this.constants.T;
  const W = this.constants.W;
  const LT = this.constants.LT;
  const LD = this.constants.LD;
  const c = Math.floor(this.thread.x / N);
  const i = this.thread.x - c * N;
  const b = Math.floor(i / T);
  const g = b * W + this.constants.H + (i - b * T);
  const cur = g * LT * 4;
  const prev = cur - LT * 4;

  const b1 = book[cur];
  const qb1 = book[cur + 1];
  const a1 = book[cur + 2];
  const qa1 = book[cur + 3];
  let twoSided = 0;
  if (qb1 > 0 && qa1 > 0) twoSided = 1;
  const mid = (a1 + b1) / 2;
  const spread = a1 - b1;
  let out = 0;

  if (c < 0.5) {
    out = mid;
  } else if (c < 1.5) {
    out = spread;
  } else if (c < 2.5) {
    const absMid = refs[b] + mid;
    if (absMid !== 0) out = (10000 * spread) / absMid;
  } else if (c < 3.5) {
    const q = qb1 + qa1;
    out = mid;
    if (q > 0) out = (b1 * qa1 + a1 * qb1) / q;
  } else if (c < 6.5) {
    // imb_1, imb_5, imb_10: missing levels have size 0, so summing to 5 or 10 is min(k, depth).
    let k = 1;
    if (c > 4.5) k = 5;
    if (c > 5.5) k = 10;
    let sb = 0;
    let sa = 0;
    for (let l = 0; l < 10; l++) {
      if (l < k) {
        sb += book[cur + l * 4 + 1];
        sa += book[cur + l * 4 + 3];
      }
    }
    if (sb + sa > 0) out = (sb - sa) / (sb + sa);
  } else if (c < 8.5) {
    let side = 1;
    if (c > 7.5) side = 3;
    let s = 0;
    for (let l = 0; l < LD; l++) s += book[cur + l * 4 + side];
    out = s;
  } else if (c < 10.5) {
    // OLS slope of cumulative size on distance from mid, over the leading present levels.
    let side = 0;
    if (c > 9.5) side = 2;
    let m = 0;
    let run = 1;
    for (let l = 0; l < LD; l++) {
      if (run > 0.5 && book[cur + l * 4 + side + 1] > 0) {
        m += 1;
      } else {
        run = 0;
      }
    }
    if (m > 1.5 && twoSided > 0.5) {
      let sx = 0;
      let sy = 0;
      let cum = 0;
      for (let l = 0; l < LD; l++) {
        if (l < m) {
          cum += book[cur + l * 4 + side + 1];
          sx += Math.abs(book[cur + l * 4 + side] - mid);
          sy += cum;
        }
      }
      const mx = sx / m;
      const my = sy / m;
      let sxy = 0;
      let sxx = 0;
      cum = 0;
      for (let l = 0; l < LD; l++) {
        if (l < m) {
          cum += book[cur + l * 4 + side + 1];
          const dx = Math.abs(book[cur + l * 4 + side] - mid) - mx;
          sxy += dx * (cum - my);
          sxx += dx * dx;
        }
      }
      if (sxx > 0) out = sxy / sxx;
    }
  } else if (c < 15.5) {
    // ofi_1..ofi_5: level m of this row against level m of the previous row. The same lines as in
    // ofiLevel1, on purpose: gpu.js's webasm mode cannot pass an array to a helper function.
    const o = (c - 11) * 4;
    const pb = book[cur + o];
    const qb = book[cur + o + 1];
    const pa = book[cur + o + 2];
    const qa = book[cur + o + 3];
    const ppb = book[prev + o];
    const pqb = book[prev + o + 1];
    const ppa = book[prev + o + 2];
    const pqa = book[prev + o + 3];
    if (qb > 0 && pqb > 0) {
      if (pb >= ppb) out += qb;
      if (pb <= ppb) out -= pqb;
    }
    if (qa > 0 && pqa > 0) {
      if (pa <= ppa) out -= qa;
      if (pa >= ppa) out += pqa;
    }
  } else if (c < 16.5) {
    // ret_1 = ln(mid / prevMid) = log1p(x), x = (mid - prevMid) / (ref + prevMid): relative prices
    // keep the difference exact-ish, and the series keeps log1p accurate where ln(1 + x) would not.
    const pmid = (book[prev] + book[prev + 2]) / 2;
    if (twoSided > 0.5 && book[prev + 1] > 0 && book[prev + 3] > 0) {
      const x = (mid - pmid) / (refs[b] + pmid);
      if (Math.abs(x) < 0.01) {
        out = x * (1 - x * (0.5 - x * (1 / 3 - x * (0.25 - x * (0.2 - x / 6)))));
      } else {
        out = Math.log(1 + x);
      }
    }
  } else if (c < 19.5) {
    let h = 10;
    if (c > 17.5) h = 25;
    if (c > 18.5) h = 50;
    let s = 0;
    for (let k = 0; k < 50; k++) {
      if (k < h) s += ofi1[g - k];
    }
    out = s;
  } else {
    let f = twoSided;
    if (book[prev + 1] > 0 && book[prev + 3] > 0) f += 2;
    if (book[cur + 1] > 0 && book[cur + 5] > 0) f += 4;
    if (book[cur + 3] > 0 && book[cur + 7] > 0) f += 8;
    out = f;
  }
  return out;
}
