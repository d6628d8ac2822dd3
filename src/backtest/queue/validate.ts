/**
 * The L2 queue models against the exact queue on one order-level day (issue 18, item 3): the same
 * passive orders are placed on a schedule and followed by every model at once. The L2 models see
 * only the level size at the order's price and the trades; the exact model sees the order messages
 * and is the reference. Pure computation: a MarketSink fed by an order-level source (LOBSTER), whose
 * results scripts/validate-queue.ts turns into the tables of docs/backtest.md.
 *
 * Each order is an independent what-if: none of them is in the data, so they never meet one another,
 * and two placed at the same price do not queue behind each other.
 */
import { ASK, BID, type DepthEvent, type MarketSink, type OrderEvent, type Side, type TradeEvent } from '../../model/events.ts';
import { ExactQueueModel, priceKey } from './exact.ts';
import { L2_QUEUE_MODEL_NAMES, queueModel } from './index.ts';
import type { QueueModel, QueueState } from './model.ts';

const NS = 1e9;

/**
 * What an L2 model is fed. `per-message`: every trade and the level after every message (the most
 * an L2 feed can give). `visible trades`: the same without executions against hidden orders (a feed
 * that flags them, and a simulator that keeps them from the queue). `conflated`: every trade, but the
 * level only at the first update after each conflation boundary (a conflated L2 feed), so several
 * trades and cancels fall between two depth updates.
 */
export type Feed = 'per-message' | 'visible trades' | 'conflated';

export interface ValidationOptions {
  /** Seconds between placements (one bid at the best bid and one ask at the best ask each time). */
  everyS: number;
  /** Seconds each order rests at most. */
  horizonS: number;
  qty: number;
  /** Seconds between the depth updates of the conflated feed. */
  conflateS: number;
  /** First and last placement, seconds after the day's start (New York midnight for LOBSTER). */
  firstS: number;
  lastS: number;
  /** Resolved on the first event: the day's start in event time (ns). */
  dayStart: () => number;
}

export interface ModelSpec {
  label: string;
  name: string;
  feed: Feed;
}

export const FEEDS: readonly Feed[] = ['per-message', 'visible trades', 'conflated'];

export function modelSpecs(): ModelSpec[] {
  return [
    ...FEEDS.flatMap((feed) => L2_QUEUE_MODEL_NAMES.map((name) => ({ label: `${name} / ${feed}`, name, feed }))),
    { label: 'exact', name: 'exact', feed: 'per-message' as const },
  ];
}

export type FillCause = '' | 'queue' | 'price';

/** One model's run of one order. */
export interface Run {
  spec: ModelSpec;
  model: QueueModel;
  s: QueueState;
  /** Conflated feed: the level size the model last heard of, and the conflation slot it heard it in. */
  heardLevel: number;
  heardSlot: number;
  filled: number;
  firstFill: number;
  fullFill: number;
  cause: FillCause;
  done: boolean;
}

export interface SimOrder {
  side: Side;
  price: number;
  key: number;
  t0: number;
  expiry: number;
  /** Level size at the order's price in the previous depth update; NaN while the feed does not show it. */
  level: number;
  /** Visible quantity ahead at the join that no order message had introduced (the exact model's lump). */
  unknownAtJoin: number;
  aheadAtJoin: number;
  /**
   * The order's price lay beyond the file's levels at some point of its life: LOBSTER writes no
   * message for orders there, so the exact queue is not exact for it.
   */
  outOfView: boolean;
  /** Depth updates that showed the level smaller than the exact model's quantity ahead. */
  exactBelow: number;
  runs: Run[];
}

export class QueueValidation implements MarketSink {
  readonly specs = modelSpecs();
  /** Our orders are separate experiments: none takes an execution away from another. */
  readonly exact = new ExactQueueModel({ shareExecutions: false });
  readonly orders: SimOrder[] = [];
  messages = 0;
  private readonly l2 = new Map<string, QueueModel>();
  private readonly active: SimOrder[] = [];
  private dayStart = NaN;
  private nextPlace = NaN;

  constructor(readonly opts: ValidationOptions) {
    for (const m of this.specs) if (m.name !== 'exact' && !this.l2.has(m.name)) this.l2.set(m.name, queueModel(m.name));
  }

  onOrder(e: OrderEvent): void {
    if (Number.isNaN(this.dayStart)) {
      this.dayStart = this.opts.dayStart();
      this.nextPlace = this.dayStart + this.opts.firstS * NS;
    }
    this.messages++;
    this.retire(e.ts);
    this.exact.onOrder(e);
  }

  onTrade(t: TradeEvent): void {
    // LOBSTER trades carry the aggressor's sign: a sell aggressor (-1) hits resting bids.
    const resting: Side = t.sign === -1 ? BID : ASK;
    const key = priceKey(t.price);
    for (const o of this.active) {
      if (o.side !== resting) continue;
      if (o.key === key) {
        for (const r of o.runs) {
          if (r.done || (r.spec.feed === 'visible trades' && t.hidden)) continue;
          this.record(r, r.model.onTrade(r.s, t.size, t.ts), t.ts, 'queue');
        }
      } else if (resting === BID ? t.price < o.price : t.price > o.price) {
        this.fillAll(o, t.ts);
      }
    }
  }

  onDepth(d: DepthEvent): void {
    const slot = Math.floor(d.ts / (this.opts.conflateS * NS));
    for (const o of this.active) {
      const crossed = o.side === BID ? d.nAsks > 0 && d.askPx[0]! <= o.price : d.nBids > 0 && d.bidPx[0]! >= o.price;
      if (crossed) {
        this.fillAll(o, d.ts);
        continue;
      }
      const after = levelAt(d, o.side, o.key, o.price);
      if (Number.isNaN(after)) {
        o.level = NaN;
        o.outOfView = true;
        for (const r of o.runs) r.heardLevel = NaN;
        continue;
      }
      const before = Number.isNaN(o.level) ? after : o.level;
      for (const r of o.runs) {
        if (r.done) continue;
        if (r.model === this.exact && r.s.ahead > after) o.exactBelow++;
        if (r.spec.feed === 'conflated') {
          if (slot === r.heardSlot) continue;
          r.model.onDepth(r.s, Number.isNaN(r.heardLevel) ? after : r.heardLevel, after, d.ts);
          r.heardLevel = after;
          r.heardSlot = slot;
        } else {
          r.model.onDepth(r.s, before, after, d.ts);
        }
      }
      o.level = after;
    }
    if (d.ts >= this.nextPlace && d.ts <= this.dayStart + this.opts.lastS * NS) {
      this.place(d, BID);
      this.place(d, ASK);
      while (this.nextPlace <= d.ts) this.nextPlace += this.opts.everyS * NS;
    }
  }

  /** Ends every order still resting (call after the source's last event). */
  finish(): void {
    this.retire(Infinity);
  }

  private record(r: Run, qty: number, ts: number, cause: 'queue' | 'price'): void {
    if (qty <= 0) return;
    r.filled += qty;
    if (Number.isNaN(r.firstFill)) {
      r.firstFill = ts;
      r.cause = cause;
    }
    if (r.filled >= this.opts.qty - 1e-9) {
      r.fullFill = ts;
      r.done = true;
      if (r.model === this.exact) this.exact.leave(r.s as never);
    }
  }

  /** The price moved through the order (a trade beyond it, or the other side's quote at it): every model fills it whole. */
  private fillAll(o: SimOrder, ts: number): void {
    for (const r of o.runs) if (!r.done) this.record(r, this.opts.qty - r.filled, ts, 'price');
  }

  private retire(ts: number): void {
    for (let i = this.active.length - 1; i >= 0; i--) {
      const o = this.active[i]!;
      if (o.expiry < ts || o.runs.every((r) => r.done)) {
        for (const r of o.runs) if (r.model === this.exact && !r.done) this.exact.leave(r.s as never);
        this.active.splice(i, 1);
      }
    }
  }

  private place(d: DepthEvent, side: Side): void {
    const n = side === BID ? d.nBids : d.nAsks;
    if (n === 0) return;
    const price = side === BID ? d.bidPx[0]! : d.askPx[0]!;
    const size = side === BID ? d.bidSz[0]! : d.askSz[0]!;
    const { qty, horizonS, conflateS } = this.opts;
    const o: SimOrder = {
      side, price, key: priceKey(price), t0: d.ts, expiry: d.ts + horizonS * NS, level: size,
      unknownAtJoin: 0, aheadAtJoin: size, outOfView: false, exactBelow: 0, runs: [],
    };
    for (const spec of this.specs) {
      const model = spec.name === 'exact' ? this.exact : this.l2.get(spec.name)!;
      const s = model.join(size, qty, d.ts, price, side);
      if (model === this.exact) o.unknownAtJoin = this.exact.unknownOf(s);
      o.runs.push({
        spec, model, s, heardLevel: size, heardSlot: Math.floor(d.ts / (conflateS * NS)),
        filled: 0, firstFill: NaN, fullFill: NaN, cause: '', done: false,
      });
    }
    this.orders.push(o);
    this.active.push(o);
  }
}

/**
 * The level's size at a price in a depth image: 0 when the price lies inside the shown levels but
 * holds nothing (or the side shows fewer levels than the file has), NaN when it lies beyond the last
 * shown level (unknown, not empty).
 */
function levelAt(d: DepthEvent, side: Side, key: number, price: number): number {
  const n = side === BID ? d.nBids : d.nAsks;
  const px = side === BID ? d.bidPx : d.askPx;
  const sz = side === BID ? d.bidSz : d.askSz;
  for (let i = 0; i < n; i++) if (priceKey(px[i]!) === key) return sz[i]!;
  if (n < d.depthLimit) return 0;
  const last = px[n - 1]!;
  return side === BID ? (price > last ? 0 : NaN) : price < last ? 0 : NaN;
}

export interface Comparison {
  spec: ModelSpec;
  /** Orders compared (those whose price stayed within the file's levels). */
  n: number;
  filled: number;
  /** Same filled / not-filled outcome as exact within the horizon. */
  agree: number;
  /** The model fills, exact does not. */
  falseFills: number;
  /** Exact fills, the model does not. */
  misses: number;
  fullAgree: number;
  /** First-fill time minus exact's, seconds, ascending, over the orders both filled. */
  dtAll: number[];
  /** The same over those of them where at least one of the two filled through the queue; see compare(). */
  dt: number[];
  /** Same outcome as exact over every placed order, those whose price left the file's levels included. */
  agreeAllPlaced: number;
  placed: number;
}

/**
 * One model against the exact run of the same orders. Fill = a first fill within the horizon; Δt =
 * the model's first-fill time minus exact's, over the orders both filled where at least one of the
 * two filled through the queue (when both fill because the price moved through the order, Δt is 0
 * by construction: that rule is the same for every model).
 */
export function compare(v: QueueValidation, label: string): Comparison {
  const idx = v.specs.findIndex((m) => m.label === label);
  if (idx < 0) throw new Error(`queue validation: no model "${label}" (have ${v.specs.map((m) => m.label).join(', ')})`);
  const ex = v.specs.findIndex((m) => m.name === 'exact');
  const c: Comparison = {
    spec: v.specs[idx]!, n: 0, filled: 0, agree: 0, falseFills: 0, misses: 0, fullAgree: 0, dtAll: [], dt: [], agreeAllPlaced: 0, placed: 0,
  };
  for (const o of v.orders) {
    c.placed++;
    if (Number.isNaN(o.runs[idx]!.firstFill) === Number.isNaN(o.runs[ex]!.firstFill)) c.agreeAllPlaced++;
    if (o.outOfView) continue;
    c.n++;
    const r = o.runs[idx]!;
    const x = o.runs[ex]!;
    const rf = !Number.isNaN(r.firstFill);
    const xf = !Number.isNaN(x.firstFill);
    if (rf) c.filled++;
    if (rf === xf) c.agree++;
    else if (rf) c.falseFills++;
    else c.misses++;
    if (Number.isNaN(r.fullFill) === Number.isNaN(x.fullFill)) c.fullAgree++;
    if (rf && xf) {
      const d = (r.firstFill - x.firstFill) / NS;
      c.dtAll.push(d);
      if (!(r.cause === 'price' && x.cause === 'price')) c.dt.push(d);
    }
  }
  c.dt.sort((a, b) => a - b);
  c.dtAll.sort((a, b) => a - b);
  return c;
}

export interface ExactSummary {
  placed: number;
  outOfView: number;
  compared: number;
  queueFills: number;
  priceFills: number;
  unfilled: number;
  /** Share of the visible quantity ahead at the joins that no order message introduced. */
  unknownShare: number;
  /** Depth updates, on compared orders, showing the level below the exact model's quantity ahead. */
  belowInView: number;
}

export function exactSummary(v: QueueValidation): ExactSummary {
  const ex = v.specs.findIndex((m) => m.name === 'exact');
  const s: ExactSummary = { placed: v.orders.length, outOfView: 0, compared: 0, queueFills: 0, priceFills: 0, unfilled: 0, unknownShare: 0, belowInView: 0 };
  let unknown = 0;
  let ahead = 0;
  for (const o of v.orders) {
    if (o.outOfView) {
      s.outOfView++;
      continue;
    }
    s.compared++;
    const x = o.runs[ex]!;
    if (x.cause === 'queue') s.queueFills++;
    else if (x.cause === 'price') s.priceFills++;
    else s.unfilled++;
    unknown += o.unknownAtJoin;
    ahead += o.aheadAtJoin;
    s.belowInView += o.exactBelow;
  }
  s.unknownShare = ahead > 0 ? unknown / ahead : 0;
  return s;
}
