/**
 * Every per-row column of spec/FEATURES.md (the registry's kernel columns: mid .. ofi_h50, ret_1,
 * rv_h100, trade_vol, trade_signed_vol, tfi_h50), written once as gpu.js kernels. gpu.js transpiles
 * these functions to WGSL (webgpu), GLSL (webgl/headlessgl), WebAssembly (webasm) or JavaScript
 * (cpu); the `cpu` compute backend calls the very same functions as plain JavaScript. So they use
 * only the subset gpu.js understands: numbers, flat typed-array reads, loops with constant bounds
 * (written as `this.constants.X` or a literal, never a local copy: GLSL ES 1.00, WebGL1's, accepts
 * only those), `this.thread.x` and `this.constants`; no closures, no helpers, no NaN.
 *
 * Inputs: a SnapshotBatch's book tensor, flat [B, W, LT, 4] float32 with channels (bid px, bid size,
 * ask px, ask size) in window units: prices in decimal price units (ticks) from the window's
 * reference, sizes in decimal size units (lots), whole numbers that float32 holds exactly (see
 * src/snapshots/batch.ts); its trades tensor in the same units, [B, W, 2] (traded size and signed
 * traded size of each row, in lots: `tradeLots`); and each window's reference in price units. The
 * kernels are unit-agnostic; the host scales results back. A missing level is (0, 0): presence is
 * `size > 0` (books never hold a present level of size 0), because GPU shader languages do not
 * promise to keep or compare NaN. Each window holds W = H + T rows: H >= 100 leading history rows,
 * then the T rows whose features are produced. History rows supply the previous row (ofi_m, ret_1)
 * and the 99 earlier rows of the longest rolling window (rv_h100); a window whose stream started
 * later is left-padded with empty rows, which makes the first real row's ofi 0, its ret_1
 * undefined and the rolling sums expanding, exactly as the spec says.
 *
 * Three kernels, run in the order of DENSE_KERNELS:
 *  1. `rowSeries`: the per-row series the rolling columns sum, for every row of every window
 *     (history included): ofi_1, ret_1 (0 where undefined), whether ret_1 is defined, traded size
 *     and signed traded size.
 *  2. `blockScan`: a segmented scan of those series: the window is cut into blocks of S rows, and
 *     each row gets the inclusive prefix sum of its series from its block's start and the suffix
 *     sum to its block's end (ret_1 squared, for rv_h100).
 *  3. `denseFeatures`: every column for the output rows. A rolling sum over the h rows (a, r] is
 *     suffix(a + 1) + the totals of the whole blocks between + prefix(r): O(h / S) reads instead of
 *     h, and only additions of partial sums. Why not one prefix over the whole window and
 *     prefix(r) - prefix(a): in float32 that difference is exact only while the running total stays
 *     below 2^24 lots (Binance spot sizes, in 1e-5 BTC lots, pass that within a window), and on ret_1
 *     squared it would cancel; partial sums of at most h values have neither problem.
 *
 * Undefined values (NaN in the spec) are not produced here: the kernels write 0 and a `flags`
 * column says which rows have a two-sided level 1 (this row and the previous one) and at least two
 * levels per side; rv_h100 is written as -1 when no ret_1 in its window is defined (a volatility is
 * never negative). `src/compute/dense.ts` turns those into NaN on the host.
 */
import type { IKernelFunctionThis } from 'gpu.js';
import { DENSE_COLUMNS } from '../src/features/columns.ts';

/** Rows of history each window needs ahead of its output rows: rv_h100's 100 returns need 100 rows and the row before them, which is the window's row H - 100 (>= 0). */
export const DENSE_HISTORY = 100;

/** Rows per scan block (S). Smaller than the shortest rolling window (10), so a window always spans two blocks or more. */
export const SCAN_BLOCK = 8;

/** Series of `rowSeries`, in order. */
export const SERIES = ['ofi_1', 'ret_1', 'ret_defined', 'trade_vol', 'trade_signed_vol'] as const;

/** Longest rolling window (rows). */
const MAX_WINDOW = 100;

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
  /** Rows in the batch (B * W). */
  BW: number;
  /** Series per row (SERIES.length). */
  NS: number;
  /** Scan block (SCAN_BLOCK). */
  S: number;
  /** Most whole blocks strictly inside a rolling window (the middle loop's bound). */
  MID: number;
}

/** The constants for a batch shape. */
export function shapeConstants(B: number, H: number, T: number, LT: number, LD: number): DenseConstants {
  return {
    W: H + T, H, T, LT, LD, N: B * T, BW: B * (H + T), NS: SERIES.length, S: SCAN_BLOCK, MID: Math.ceil(MAX_WINDOW / SCAN_BLOCK),
  };
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
 * The rolling series of every row of every window (output [NS * B * W], series-major: series s of
 * window row g at s * BW + g). Row 0 of a window has no previous row (it is never inside a rolling
 * window of an output row): its book series are 0.
 */
export function rowSeries(
  this: IKernelFunctionThis<DenseConstants>,
  book: Float32Array,
  trades: Float32Array,
  refs: Float32Array,
): number {
  const BW = this.constants.BW;
  const W = this.constants.W;
  const s = Math.floor(this.thread.x / BW);
  const g = this.thread.x - s * BW;
  const b = Math.floor(g / W);
  const r = g - b * W;
  let out = 0;
  if (s > 2.5) {
    let k = 0;
    if (s > 3.5) k = 1;
    out = trades[g * 2 + k];
  } else if (r > 0.5) {
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
    if (s < 0.5) {
      // ofi_1: level-1 order-flow imbalance against the previous row.
      if (qb > 0 && pqb > 0) {
        if (pb >= ppb) out += qb;
        if (pb <= ppb) out -= pqb;
      }
      if (qa > 0 && pqa > 0) {
        if (pa <= ppa) out -= qa;
        if (pa >= ppa) out += pqa;
      }
    } else if (qb > 0 && qa > 0 && pqb > 0 && pqa > 0) {
      if (s < 1.5) {
        // ret_1 = ln(mid / prevMid) = log1p(x), x = (mid - prevMid) / (ref + prevMid): relative prices
        // keep the difference exact, and the series keeps log1p accurate where ln(1 + x) would not.
        const mid = (pb + pa) / 2;
        const pmid = (ppb + ppa) / 2;
        const x = (mid - pmid) / (refs[b] + pmid);
        if (Math.abs(x) < 0.01) {
          out = x * (1 - x * (0.5 - x * (1 / 3 - x * (0.25 - x * (0.2 - x / 6)))));
        } else {
          out = Math.log(1 + x);
        }
      } else {
        out = 1;
      }
    }
  }
  return out;
}

/**
 * The segmented scan (output [2 * NS * B * W]): at (p * NS + s) * BW + g, for p = 0 the sum of
 * series s from the start of row g's block to g, for p = 1 from g to its block's end (the window's
 * last row for a last, partial block). Series 1 (ret_1) is summed squared.
 */
export function blockScan(this: IKernelFunctionThis<DenseConstants>, series: Float32Array): number {
  const BW = this.constants.BW;
  const W = this.constants.W;
  const S = this.constants.S;
  const NSBW = this.constants.NS * BW;
  const p = Math.floor(this.thread.x / NSBW);
  const rest = this.thread.x - p * NSBW;
  const s = Math.floor(rest / BW);
  const g = rest - s * BW;
  const b = Math.floor(g / W);
  const r = g - b * W;
  const k0 = Math.floor(r / S) * S;
  let lo = k0;
  let hi = r;
  if (p > 0.5) {
    lo = r;
    hi = Math.min(k0 + S - 1, W - 1);
  }
  // Squared for ret_1, as is otherwise: v * (sq * v + (1 - sq)), a product rather than a branch
  // (the bracket keeps 1 - sq exact; v + 1 - 1 would round small returns away).
  let sq = 0;
  if (s > 0.5 && s < 1.5) sq = 1;
  const base = s * BW + b * W;
  let acc = 0;
  for (let i = 0; i < this.constants.S; i++) {
    const q = k0 + i;
    if (q >= lo && q <= hi) {
      const v = series[base + q];
      acc += v * (sq * v + (1 - sq));
    }
  }
  return acc;
}

/**
 * Every kernel column for the output rows (output [KERNEL_COLUMNS.length * N], column-major: value
 * of column c for output row i at c * N + i, output row i = b * T + t, window row H + t).
 * `series` is rowSeries' output, `scan` blockScan's; `refs[b]` the window's reference price in
 * price units (the absolute mid is refs[b] + mid, used only as the divisor of spread_bps).
 */
export function denseFeatures(
  this: IKernelFunctionThis<DenseConstants>,
  book: Float32Array,
  series: Float32Array,
  scan: Float32Array,
  refs: Float32Array,
): number {
  const N = this.constants.N;
  const T = this.constants.T;
  const W = this.constants.W;
  const BW = this.constants.BW;
  const S = this.constants.S;
  const LT = this.constants.LT;
  const c = Math.floor(this.thread.x / N);
  const i = this.thread.x - c * N;
  const b = Math.floor(i / T);
  const r = this.constants.H + (i - b * T);
  const g = b * W + r;
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
    for (let l = 0; l < this.constants.LD; l++) s += book[cur + l * 4 + side];
    out = s;
  } else if (c < 10.5) {
    // OLS slope of cumulative size on distance from mid, over the leading present levels.
    let side = 0;
    if (c > 9.5) side = 2;
    let m = 0;
    let run = 1;
    for (let l = 0; l < this.constants.LD; l++) {
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
      for (let l = 0; l < this.constants.LD; l++) {
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
      for (let l = 0; l < this.constants.LD; l++) {
        if (l < m) {
          cum += book[cur + l * 4 + side + 1];
          const dx = Math.abs(book[cur + l * 4 + side] - mid) - mx;
          sxy += dx * (cum - my);
          sxx += dx * dx;
        }
      }
      if (sxx > 0) out = sxy / sxx;
    }
  } else if (c < 11.5) {
    out = series[g];
  } else if (c < 15.5) {
    // ofi_2..ofi_5: level m of this row against level m of the previous row; rowSeries' ofi_1 at
    // deeper levels (written out again: gpu.js's webasm mode cannot pass an array to a helper).
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
    out = series[BW + g];
  } else if (c > 20.5 && c < 22.5) {
    // trade_vol, trade_signed_vol: the row's own series.
    out = series[(c - 18) * BW + g];
  } else if (c < 23.5) {
    // Rolling sums: ofi_h10/25/50 (ofi_1), rv_h100 (ret_1 squared; and how many are defined),
    // tfi_h50 (signed traded size; and traded size).
    let h = 10;
    let s1 = 0;
    let s2 = -1;
    if (c > 17.5) h = 25;
    if (c > 18.5) h = 50;
    if (c > 19.5) {
      h = 100;
      s1 = 1;
      s2 = 2;
    }
    if (c > 22.5) {
      h = 50;
      s1 = 4;
      s2 = 3;
    }
    const first = r - h + 1;
    const kf = Math.floor(first / S);
    const kr = Math.floor(r / S);
    const sfx = this.constants.NS * BW;
    let sum1 = 0;
    let sum2 = 0;
    for (let q = 0; q < 2; q++) {
      let s = s1;
      if (q > 0.5) s = s2;
      if (s > -0.5) {
        const row0 = s * BW + b * W;
        let sum = scan[sfx + row0 + first] + scan[row0 + r];
        for (let m = 0; m < this.constants.MID; m++) {
          const k = kf + 1 + m;
          if (k < kr) sum += scan[row0 + k * S + S - 1];
        }
        if (q < 0.5) {
          sum1 = sum;
        } else {
          sum2 = sum;
        }
      }
    }
    out = sum1;
    if (c > 19.5 && c < 20.5) {
      out = -1;
      if (sum2 > 0.5) out = Math.sqrt(sum1);
    }
    if (c > 22.5) {
      out = 0;
      if (sum2 > 0) out = sum1 / sum2;
    }
  } else {
    let f = twoSided;
    if (book[prev + 1] > 0 && book[prev + 3] > 0) f += 2;
    if (book[cur + 1] > 0 && book[cur + 5] > 0) f += 4;
    if (book[cur + 3] > 0 && book[cur + 7] > 0) f += 8;
    out = f;
  }
  return out;
}

/** A kernel's inputs: the batch's tensors, or an earlier kernel's output by its name. */
export type KernelInput = 'book' | 'trades' | 'refs' | 'rowSeries' | 'blockScan';

/** One kernel of the list: its function, its arguments in order, and its output size at a shape. */
export interface KernelDef {
  readonly name: string;
  readonly fn: (this: IKernelFunctionThis<DenseConstants>, ...args: Float32Array[]) => number;
  readonly args: readonly KernelInput[];
  output(c: DenseConstants): number;
}

/** The kernels of the per-row columns, in the order they run; the last one's output is the columns. */
export const DENSE_KERNELS: readonly KernelDef[] = [
  { name: 'rowSeries', fn: rowSeries, args: ['book', 'trades', 'refs'], output: (c) => c.NS * c.BW },
  { name: 'blockScan', fn: blockScan, args: ['rowSeries'], output: (c) => 2 * c.NS * c.BW },
  { name: 'denseFeatures', fn: denseFeatures, args: ['book', 'rowSeries', 'blockScan', 'refs'], output: (c) => KERNEL_COLUMNS.length * c.N },
];

// The windowed branch reads columns 17..20 and 23 by index, and trade_vol / trade_signed_vol as
// series 3 and 4 at columns 21 and 22; a registry change that moves them must move these too.
const EXPECTED = ['ofi_1', 'ret_1', 'ofi_h10', 'ofi_h25', 'ofi_h50', 'rv_h100', 'trade_vol', 'trade_signed_vol', 'tfi_h50'];
const AT = [11, 16, 17, 18, 19, 20, 21, 22, 23];
if (EXPECTED.some((n, k) => DENSE_COLUMNS[AT[k]!] !== n) || KERNEL_COLUMNS.length !== 25) {
  throw new Error(`kernels/dense.ts: the branches are written for ${EXPECTED.map((n, k) => `${n} at ${AT[k]}`).join(', ')} and 24 columns; the registry has ${DENSE_COLUMNS.join(', ')}`);
}
if (SCAN_BLOCK >= 10) throw new Error('kernels/dense.ts: SCAN_BLOCK must be below the shortest rolling window (10)');
