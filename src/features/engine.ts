/**
 * The float64 reference computation of every FEATURES.md column, streaming: push BookRows (in
 * source order, any number of symbols), receive FeatureBlocks in the same order. The batch
 * `features` command and the live server run this same code.
 *
 * Two kinds of columns cannot be final when their row arrives, and are filled in later while the
 * block waits: the bar-based impact measures (waiting `settleMs` of row time for late trades) and
 * the labels (k rows of lookahead). Blocks leave strictly in order, each once all its rows are final.
 */
import { FEATURE_COLUMNS, FeatureBlock, COL, COLUMNS, outputColumns } from './columns.ts';
import { RowHistory } from './rolling.ts';
import { VpinState } from './vpin.ts';
import { BarImpactState } from './bars.ts';
import type { FeatureOptions } from './options.ts';
import type { BookRow, RowSink } from '../model/row.ts';
import type { TimeBaseRef } from '../model/time.ts';

const OFI_LEVELS = 5;
const NF = FEATURE_COLUMNS.length;

/** A block in flight: rows written so far and how many deferred fills it still waits for. */
class PendingBlock {
  pending = 0;
  constructor(readonly block: FeatureBlock) {}
}

/** Per-symbol streaming state. */
class SymbolFeatures {
  rows = 0;
  readonly prevBidPx = new Float64Array(OFI_LEVELS).fill(NaN);
  readonly prevBidSz = new Float64Array(OFI_LEVELS);
  readonly prevAskPx = new Float64Array(OFI_LEVELS).fill(NaN);
  readonly prevAskSz = new Float64Array(OFI_LEVELS);
  prevMid = NaN;
  readonly ofi1 = new RowHistory(50);
  readonly ret = new RowHistory(100);
  readonly vol = new RowHistory(50);
  readonly signedVol = new RowHistory(50);
  readonly vpin: VpinState;
  bars!: BarImpactState;
  // Rows whose bar columns wait for late trades: FIFO of (block, index, ts).
  barQ: PendingBlock[] = [];
  barQi: number[] = [];
  barQts: number[] = [];
  barQhead = 0;
  // Label lookahead: the last maxK+1 mids and where their rows sit.
  readonly labelMid: Float64Array;
  readonly labelBlock: (PendingBlock | undefined)[];
  readonly labelIdx: Int32Array;

  constructor(readonly id: number, readonly name: string, opts: FeatureOptions, maxK: number) {
    this.vpin = new VpinState(opts.vpinBucketBySymbol?.[name] ?? opts.vpinBucket, opts.vpinBuckets);
    this.labelMid = new Float64Array(maxK + 1);
    this.labelBlock = new Array(maxK + 1);
    this.labelIdx = new Int32Array(maxK + 1);
  }
}

/**
 * Which columns the engine writes. `all` (the default) is the float64 reference for every column.
 * `trade-state` leaves every per-row column (the registry's kernel columns: the book shape, OFI,
 * returns and trade flow, each a function of a row and a fixed number of rows before it) to a
 * kernel backend and computes only what needs the stream's whole trade history: VPIN's buckets and
 * the impact bars (kyle_lambda, hasbrouck_lambda, amihud), plus the labels. It still reads each
 * row's level-1 mid, as the state input of the bars and labels, but writes no per-row column: the
 * caller fills them in the emitted block before passing it on.
 */
export type EngineColumns = 'all' | 'trade-state';

/** The feature columns the engine computes in `trade-state` mode: those with no kernel. */
export const TRADE_STATE_COLUMNS: readonly string[] = COLUMNS.filter((c) => c.kernelIndex === undefined).map((c) => c.name);
// The trade-state branch of onRow writes exactly these; a registry change that moves a column
// between the kernels and the engine must change that branch too.
const WRITTEN_IN_TRADE_STATE = ['vpin', 'kyle_lambda', 'hasbrouck_lambda', 'amihud'];
if (TRADE_STATE_COLUMNS.join() !== WRITTEN_IN_TRADE_STATE.join()) {
  throw new Error(`src/features/engine.ts: trade-state mode writes ${WRITTEN_IN_TRADE_STATE.join(', ')}, but the registry leaves ${TRADE_STATE_COLUMNS.join(', ')} without a kernel`);
}

export interface FeatureEngineStats {
  rows: number;
  /** Trades that arrived after a row had already completed their bar (still counted). */
  lateTrades: number;
  /** Trades outside the bar ring (far too late or far ahead), not counted in bars. */
  tradesOutOfRange: number;
}

/**
 * Feeds a row to the FEATURES.md state machines (VPIN buckets, impact bars) exactly as the feature
 * engine does: the analytics feed their own copies through this when no engine runs beside them,
 * so the two always agree.
 */
export function feedSpecStates(vpin: VpinState | undefined, bars: BarImpactState, row: BookRow, first: boolean, mid: number): void {
  if (first) bars.start(row.ts);
  for (let t = 0; t < row.nTrades; t++) {
    const sz = row.tradeSz[t]!;
    const sg = row.tradeSign[t]!;
    vpin?.addTrade(sz, sg);
    bars.addTrade(row.tradeTs[t]!, row.tradePx[t]!, sz, sg);
  }
  bars.onRow(row.ts, mid);
}

export class FeatureEngine implements RowSink {
  readonly columns: string[];
  readonly symbols: string[] = [];
  /** State by the row's symbolId (the builder's id), checked by name; and by name. */
  private readonly bySymbol: SymbolFeatures[] = [];
  private readonly byName = new Map<string, SymbolFeatures>();
  private readonly queue: PendingBlock[] = [];
  private readonly free: PendingBlock[] = [];
  private current: PendingBlock;
  private outRow = 0;
  private readonly maxK: number;
  private readonly settleNs: number;
  private readonly L: number;
  private readonly perRow: boolean;
  /** The output columns this engine writes (all of `columns`, or the trade-state ones and the labels). */
  readonly computed: readonly string[];

  constructor(
    private readonly opts: FeatureOptions,
    private readonly timeBase: TimeBaseRef,
    private readonly emit: (block: FeatureBlock, symbols: readonly string[]) => void,
    mode: EngineColumns = 'all',
  ) {
    this.columns = outputColumns(opts.horizons);
    this.perRow = mode === 'all';
    this.computed = this.perRow ? this.columns : this.columns.filter((c) => !FEATURE_COLUMNS.includes(c as never) || TRADE_STATE_COLUMNS.includes(c));
    this.maxK = opts.horizons.length ? Math.max(...opts.horizons) : 0;
    this.settleNs = opts.settleMs * 1_000_000;
    this.L = opts.levels;
    this.current = this.newBlock();
  }

  /**
   * A symbol's VPIN and bar-measure state machines (after its first row), for consumers that report
   * these measures beside the features (the analytics) without running a second copy.
   */
  specStates(symbol: string): { vpin: VpinState; bars: BarImpactState } | undefined {
    const s = this.byName.get(symbol);
    return s && { vpin: s.vpin, bars: s.bars };
  }

  /** The VPIN bucket volume each symbol uses. */
  vpinBuckets(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [name, s] of this.byName) out[name] = s.vpin.bucketVolume;
    return out;
  }

  stats(): FeatureEngineStats {
    let late = 0;
    let out = 0;
    for (const s of this.byName.values()) {
      late += s.bars.lateTrades;
      out += s.bars.tradesOutOfRange;
    }
    return { rows: this.outRow, lateTrades: late, tradesOutOfRange: out };
  }

  onRow(row: BookRow): void {
    let s = this.bySymbol[row.symbolId];
    if (!s || s.name !== row.symbol) s = this.symbolState(row);
    const pb = this.current;
    const b = pb.block;
    const j = b.n++;
    const v = b.values;
    b.ts[j] = row.ts;
    b.symbolId[j] = s.id;
    b.row[j] = this.outRow++;
    if (!this.perRow) {
      this.tradeState(s, pb, j, row);
      return;
    }

    // Level 1 and the book shape.
    const bp = row.bidPx, bq = row.bidSz, ap = row.askPx, aq = row.askSz;
    const b1 = bp[0]!, a1 = ap[0]!, qb1 = bq[0]!, qa1 = aq[0]!;
    const mid = (a1 + b1) / 2;
    const spread = a1 - b1;
    const usable = row.usableLevels;
    const nDepth = this.L < usable ? this.L : usable;
    v[COL.mid]![j] = mid;
    v[COL.spread]![j] = spread;
    v[COL.spread_bps]![j] = mid === 0 ? 0 : (10_000 * spread) / mid;
    const q1 = qb1 + qa1;
    v[COL.wmid]![j] = q1 === 0 ? mid : (b1 * qa1 + a1 * qb1) / q1;
    v[COL.imb_1]![j] = q1 === 0 ? 0 : (qb1 - qa1) / q1;
    v[COL.imb_5]![j] = imbalance(bq, aq, usable < 5 ? usable : 5);
    v[COL.imb_10]![j] = imbalance(bq, aq, usable < 10 ? usable : 10);
    let db = 0, da = 0;
    for (let i = 0; i < nDepth; i++) {
      db += bq[i]!;
      da += aq[i]!;
    }
    v[COL.depth_bid]![j] = db;
    v[COL.depth_ask]![j] = da;
    v[COL.slope_bid]![j] = slope(bp, bq, nDepth, mid);
    v[COL.slope_ask]![j] = slope(ap, aq, nDepth, mid);

    // Order-flow imbalance at levels 1..5 against the previous row.
    const first = s.rows === 0;
    for (let m = 0; m < OFI_LEVELS; m++) {
      let e = 0;
      if (!first) {
        const pb_ = m < usable ? bp[m]! : NaN, qb = m < usable ? bq[m]! : 0;
        const pa_ = m < usable ? ap[m]! : NaN, qa = m < usable ? aq[m]! : 0;
        const ppb = s.prevBidPx[m]!, pqb = s.prevBidSz[m]!, ppa = s.prevAskPx[m]!, pqa = s.prevAskSz[m]!;
        if (pb_ === pb_ && ppb === ppb) e += (pb_ >= ppb ? qb : 0) - (pb_ <= ppb ? pqb : 0);
        if (pa_ === pa_ && ppa === ppa) e += (pa_ >= ppa ? pqa : 0) - (pa_ <= ppa ? qa : 0);
      }
      v[COL.ofi_1 + m]![j] = e;
    }
    s.ofi1.push(v[COL.ofi_1]![j]!);
    v[COL.ofi_h10]![j] = s.ofi1.sumLast(10);
    v[COL.ofi_h25]![j] = s.ofi1.sumLast(25);
    v[COL.ofi_h50]![j] = s.ofi1.sumLast(50);

    const ret = first ? NaN : Math.log(mid / s.prevMid);
    v[COL.ret_1]![j] = ret;
    s.ret.push(ret);
    const rv = s.ret.sumSquaresSkipNaN(100);
    v[COL.rv_h100]![j] = rv === rv ? Math.sqrt(rv) : NaN;

    // Trades assigned to this row.
    feedSpecStates(s.vpin, s.bars, row, first, mid);
    let tv = 0, tsv = 0;
    for (let t = 0; t < row.nTrades; t++) {
      const sz = row.tradeSz[t]!;
      tv += sz;
      tsv += row.tradeSign[t]! * sz;
    }
    v[COL.trade_vol]![j] = tv;
    v[COL.trade_signed_vol]![j] = tsv;
    s.vol.push(tv);
    s.signedVol.push(tsv);
    const den = s.vol.sumLast(50);
    v[COL.tfi_h50]![j] = den === 0 ? 0 : s.signedVol.sumLast(50) / den;
    v[COL.vpin]![j] = s.vpin.value();
    this.deferred(s, pb, j, row.ts, mid);

    for (let m = 0; m < OFI_LEVELS; m++) {
      s.prevBidPx[m] = m < usable ? bp[m]! : NaN;
      s.prevBidSz[m] = m < usable ? bq[m]! : 0;
      s.prevAskPx[m] = m < usable ? ap[m]! : NaN;
      s.prevAskSz[m] = m < usable ? aq[m]! : 0;
    }
    s.prevMid = mid;
    s.rows++;

    if (b.full) {
      this.queue.push(pb);
      this.current = this.newBlock();
    }
    this.flush();
  }

  /** `trade-state` mode: VPIN, bars and labels from the row's trades and its level-1 mid; no per-row column. */
  private tradeState(s: SymbolFeatures, pb: PendingBlock, j: number, row: BookRow): void {
    const b = pb.block;
    const mid = (row.askPx[0]! + row.bidPx[0]!) / 2;
    feedSpecStates(s.vpin, s.bars, row, s.rows === 0, mid);
    b.values[COL.vpin]![j] = s.vpin.value();
    this.deferred(s, pb, j, row.ts, mid);
    s.rows++;
    if (b.full) {
      this.queue.push(pb);
      this.current = this.newBlock();
    }
    this.flush();
  }

  /** Bar columns (now or once settled) and labels of row j. */
  private deferred(s: SymbolFeatures, pb: PendingBlock, j: number, ts: number, mid: number): void {
    if (this.settleNs === 0) this.fillBars(s, pb.block, j, ts);
    else {
      pb.pending++;
      s.barQ.push(pb);
      s.barQi.push(j);
      s.barQts.push(ts);
      this.settleBars(s, ts - this.settleNs);
    }
    if (this.maxK > 0) this.labels(s, pb, j, mid);
  }

  /** End of stream: settles every deferred column (labels past the end are NaN) and emits the rest. */
  finish(): void {
    for (const s of this.byName.values()) {
      this.settleBars(s, Infinity);
      if (this.maxK > 0) this.finishLabels(s);
    }
    if (this.current.block.n > 0) {
      this.queue.push(this.current);
      this.current = this.newBlock();
    }
    this.flush();
  }

  private symbolState(row: BookRow): SymbolFeatures {
    let s = this.byName.get(row.symbol);
    if (!s) {
      s = new SymbolFeatures(this.symbols.length, row.symbol, this.opts, this.maxK);
      s.bars = new BarImpactState(this.timeBase.get(), this.opts.barMs, this.opts.barWindow, this.settleNs);
      this.symbols.push(row.symbol);
      this.byName.set(row.symbol, s);
    }
    this.bySymbol[row.symbolId] = s;
    return s;
  }

  private fillBars(s: SymbolFeatures, b: FeatureBlock, j: number, ts: number): void {
    const bv = s.bars.valuesAt(ts);
    b.values[COL.kyle_lambda]![j] = bv.kyle;
    b.values[COL.hasbrouck_lambda]![j] = bv.hasbrouck;
    b.values[COL.amihud]![j] = bv.amihud;
  }

  /** Finalises the bar columns of queued rows at or before `upTo`. */
  private settleBars(s: SymbolFeatures, upTo: number): void {
    let h = s.barQhead;
    while (h < s.barQ.length && s.barQts[h]! <= upTo) {
      const pb = s.barQ[h]!;
      this.fillBars(s, pb.block, s.barQi[h]!, s.barQts[h]!);
      pb.pending--;
      h++;
    }
    if (h > 1024 && h * 2 > s.barQ.length) {
      s.barQ = s.barQ.slice(h);
      s.barQi = s.barQi.slice(h);
      s.barQts = s.barQts.slice(h);
      h = 0;
    }
    s.barQhead = h;
  }

  /** Records this row's mid; the row maxK back now has all its future mids. */
  private labels(s: SymbolFeatures, pb: PendingBlock, j: number, mid: number): void {
    const cap = this.maxK + 1;
    const t = s.rows;
    const slot = t % cap;
    s.labelMid[slot] = mid;
    s.labelBlock[slot] = pb;
    s.labelIdx[slot] = j;
    pb.pending++;
    if (t >= this.maxK) this.writeLabels(s, t - this.maxK, this.maxK);
  }

  /** Writes the labels of row r of symbol s, whose next `ahead` mids are known. */
  private writeLabels(s: SymbolFeatures, r: number, ahead: number): void {
    const cap = this.maxK + 1;
    const slot = r % cap;
    const pb = s.labelBlock[slot]!;
    const j = s.labelIdx[slot]!;
    const m0 = s.labelMid[slot]!;
    const hz = this.opts.horizons;
    const alpha = this.opts.alpha;
    for (let h = 0; h < hz.length; h++) {
      const k = hz[h]!;
      let out = NaN;
      if (k <= ahead) {
        let sum = 0;
        for (let i = 1; i <= k; i++) sum += s.labelMid[(r + i) % cap]!;
        const l = (sum / k - m0) / m0;
        out = l > alpha ? 1 : l < -alpha ? -1 : l === l ? 0 : NaN;
      }
      pb.block.values[NF + h]![j] = out;
    }
    s.labelBlock[slot] = undefined;
    pb.pending--;
  }

  private finishLabels(s: SymbolFeatures): void {
    const last = s.rows - 1;
    for (let r = Math.max(0, s.rows - this.maxK); r <= last; r++) {
      if (s.labelBlock[r % (this.maxK + 1)] !== undefined) this.writeLabels(s, r, last - r);
    }
  }

  private flush(): void {
    while (this.queue.length > 0 && this.queue[0]!.pending === 0) {
      const pb = this.queue.shift()!;
      this.emit(pb.block, this.symbols);
      pb.block.n = 0;
      this.free.push(pb);
    }
  }

  private newBlock(): PendingBlock {
    const pb = this.free.pop() ?? new PendingBlock(new FeatureBlock(this.columns, this.opts.blockRows));
    pb.pending = 0;
    pb.block.n = 0;
    return pb;
  }
}

/** (sum bid sizes - sum ask sizes) / their total over the first n levels; 0 when the total is 0. */
function imbalance(bq: Float64Array, aq: Float64Array, n: number): number {
  let sb = 0, sa = 0;
  for (let i = 0; i < n; i++) {
    sb += bq[i]!;
    sa += aq[i]!;
  }
  const d = sb + sa;
  return d === 0 ? 0 : (sb - sa) / d;
}

/**
 * OLS slope (with intercept) of cumulative size against distance from mid over the levels present
 * among the first n; 0 with fewer than 2 levels or no spread in distance; NaN when mid is undefined.
 */
function slope(px: Float64Array, sz: Float64Array, n: number, mid: number): number {
  let m = 0;
  while (m < n && px[m] === px[m]) m++;
  if (m < 2) return 0;
  if (mid !== mid) return NaN;
  let sx = 0, sy = 0, cum = 0;
  for (let i = 0; i < m; i++) {
    cum += sz[i]!;
    sx += Math.abs(px[i]! - mid);
    sy += cum;
  }
  const mx = sx / m, my = sy / m;
  let sxy = 0, sxx = 0;
  cum = 0;
  for (let i = 0; i < m; i++) {
    cum += sz[i]!;
    const dx = Math.abs(px[i]! - mid) - mx;
    sxy += dx * (cum - my);
    sxx += dx * dx;
  }
  return sxx === 0 ? 0 : sxy / sxx;
}
