/**
 * Execution of one parent order (side, quantity, start, end) by TWAP, VWAP or POV, or at once
 * (`immediate`, the benchmark: one market order at arrival).
 *
 * The schedule (schedule.ts) says how much should be done by now. Child orders chase it:
 *  - passive: when behind the schedule and the microprice leans our way (for a buy, below the mid:
 *    the bid queue is the thinner one, so the price is likelier to tick down to us than away), a
 *    post-only limit for the missing quantity at the touch of our own side, moved with that touch;
 *    while it leans against us no new passive child is placed (it would wait in a queue the price
 *    is leaving) and the urgency rule below bounds how far that can put us behind;
 *  - urgent: behind the schedule by more than `urgency` of the parent quantity, or inside the
 *    `finishWindow` before the end, the passive children are pulled and the missing quantity (near
 *    the end: all that is left) crosses the spread as a market order, walking the book.
 * Nothing is ever sent that could, if everything open filled, execute more than the parent.
 *
 * The result is judged by implementation shortfall against the arrival mid (shortfall.ts), beside
 * the shortfall of immediate execution on the book seen at arrival.
 */
import type { BookView, Fill, Order, OrderSide, Strategy, StrategyContext, StrategyFactory, TradeView } from '../strategy.ts';
import { Grid, ParamReader, StrategyParamError, micropriceOf, midOf, parseTimeSpec, resolveTime, type Params, type TimeSpec } from './params.ts';
import { povTarget, scheduleTarget, twapSchedule, vwapSchedule, type SliceSchedule } from './schedule.ts';
import { immediateShortfall, implementationShortfall, type Shortfall, type BookWalk } from './shortfall.ts';
import { readVolumeCurve, type VolumeCurve } from './volume-curve.ts';

export type ExecutionAlgo = 'twap' | 'vwap' | 'pov' | 'immediate';

/** A child order as the step function sees it. */
export interface Child {
  id: number;
  passive: boolean;
  price: number;
  /** Quantity still open (as last heard). */
  remaining: number;
  /** A request for it (place, modify, cancel) is unanswered. */
  inflight: boolean;
}

export interface StepInput {
  side: OrderSide;
  now: number;
  end: number;
  parentQty: number;
  /** Executed so far (fills seen). */
  filled: number;
  /** Cumulative quantity the schedule wants done by now. */
  target: number;
  children: readonly Child[];
  bidPx: number;
  bidSz: number;
  askPx: number;
  askSz: number;
  lot: number;
}

export interface StepParams {
  /** Behind the schedule by more than this fraction of the parent: cross. */
  urgency: number;
  /** Within this many ns of the end: cross all that is left. */
  finishWindow: number;
  /** Least microprice lean our way, in half-spreads (-1..1), for a passive child to be placed. */
  minFavour: number;
}

export type Action =
  | { k: 'cross'; qty: number }
  | { k: 'passive'; qty: number; price: number }
  | { k: 'reprice'; id: number; price: number }
  | { k: 'cancel'; id: number };

/**
 * How far the microprice leans our way, in half-spreads: +1 when it sits at the far touch of a
 * price about to come to us (a buy: microprice at the bid, the bid queue all but empty), -1 at the
 * other.
 */
export function favour(side: OrderSide, bidPx: number, bidSz: number, askPx: number, askSz: number): number {
  const half = (askPx - bidPx) / 2;
  if (!(half > 0)) return 0;
  const mid = (askPx + bidPx) / 2;
  const micro = bidSz + askSz > 0 ? (bidPx * askSz + askPx * bidSz) / (bidSz + askSz) : mid;
  return side === 'buy' ? (mid - micro) / half : (micro - mid) / half;
}

/** What to send now. Pure: the strategy applies the actions, the tests check them by hand. */
export function executionStep(s: StepInput, p: StepParams): Action[] {
  const out: Action[] = [];
  const eps = s.lot > 0 ? s.lot / 2 : 1e-12;
  const left = s.parentQty - s.filled;
  const passive = s.children.filter((c) => c.passive);
  let live = 0, liveTakers = 0;
  for (const c of s.children) {
    live += c.remaining;
    if (!c.passive) liveTakers += c.remaining;
  }
  if (left < eps) {
    for (const c of passive) if (!c.inflight) out.push({ k: 'cancel', id: c.id });
    return out;
  }
  const nearEnd = s.now >= s.end - p.finishWindow;
  const behind = s.target - s.filled;
  if (nearEnd || behind > p.urgency * s.parentQty + eps) {
    const want = (nearEnd ? s.parentQty : s.target) - s.filled;
    for (const c of passive) if (!c.inflight) out.push({ k: 'cancel', id: c.id });
    // Passive children count until their cancels are confirmed: either may still fill.
    const cross = roundLot(Math.min(want - liveTakers, s.parentQty - s.filled - live), s.lot);
    if (cross >= eps) out.push({ k: 'cross', qty: cross });
    return out;
  }
  const touch = s.side === 'buy' ? s.bidPx : s.askPx;
  for (const c of passive) if (!c.inflight && c.price !== touch) out.push({ k: 'reprice', id: c.id, price: touch });
  const deficit = roundLot(Math.min(s.target - s.filled - live, s.parentQty - s.filled - live), s.lot);
  if (deficit >= eps && favour(s.side, s.bidPx, s.bidSz, s.askPx, s.askSz) >= p.minFavour) out.push({ k: 'passive', qty: deficit, price: touch });
  return out;
}

function roundLot(q: number, lot: number): number {
  if (!(lot > 0)) return q;
  return Math.floor(q / lot + 1e-9) * lot;
}

export interface ExecutionSummary {
  algo: ExecutionAlgo;
  side: OrderSide;
  parentQty: number;
  start: number;
  end: number;
  /** Arrival mid (the first book at or after the start); NaN if the data ended before. */
  arrival: number;
  /** Mid of the last book seen. */
  endMid: number;
  executed: number;
  /** Executed as maker (passive children) and as taker (crossing). */
  passiveQty: number;
  takerQty: number;
  children: number;
  /** Market volume seen from the start (trades), the POV denominator. */
  marketVolume: number;
  /** When the whole parent was done (strategy time), NaN if never. */
  doneAt: number;
  shortfall: Shortfall | undefined;
  /** Immediate execution on the arrival book, with the same taker fee. */
  immediate: (Shortfall & { walk: BookWalk }) | undefined;
  schedule?: { slices: number; note?: string };
}

export interface ExecutionStrategy extends Strategy {
  summary(): ExecutionSummary;
  readonly fills: readonly Fill[];
}

export interface ExecutionOptions {
  /** A curve object (programmatic use); otherwise VWAP reads the `curve` parameter's file. */
  curve?: VolumeCurve;
}

export function createExecution(algo: ExecutionAlgo, params: Params, opts: ExecutionOptions = {}): ExecutionStrategy {
  const name = algo;
  const r = new ParamReader(name, params);
  const side = r.oneOf('side', 'buy', ['buy', 'sell'] as const);
  const qty = r.num('qty', NaN);
  if (!(qty > 0)) throw new StrategyParamError(name, 'qty', `the parent quantity is required and must be > 0, got ${params['qty'] ?? 'nothing'}`);
  const startSpec = timeParam(r, name, 'start', '+0s');
  const endSpec = timeParam(r, name, 'end', '+5m');
  const slicesParam = r.optNum('slices', { min: 1 });
  const interval = r.duration('interval', NaN);
  const rate = algo === 'pov' ? r.num('rate', 0.1, { min: 1e-6, max: 1 }) : NaN;
  const curveFile = algo === 'vwap' ? r.str('curve') : undefined;
  const urgency = r.num('urgency', algo === 'immediate' ? 0 : 0.1, { min: 0, max: 1 });
  const finishFrac = r.num('finishWindow', 0.05, { min: 0, max: 1 });
  const minFavour = r.num('minFavour', 0, { min: -1, max: 1 });
  const takerFeeBps = r.num('takerFeeBps', 0);
  const symbolParam = r.str('symbol');
  const grid = new Grid(r.optNum('tick', { min: 0 }), r.optNum('lot', { min: 0 }));
  r.done();
  let curve = opts.curve;
  if (algo === 'vwap' && !curve) {
    if (!curveFile) throw new StrategyParamError(name, 'curve', 'VWAP needs a volume curve: a JSON file from `npx tsx scripts/volume-curve.ts --source SPEC --out FILE`');
    curve = readVolumeCurve(curveFile);
  }

  let symbol = symbolParam;
  let anchor = NaN, start = NaN, end = NaN;
  let arrival = NaN, arrivalBook: BookView | undefined, endMid = NaN;
  let schedule: SliceSchedule | undefined;
  let marketVolume = 0, doneAt = NaN, childCount = 0;
  const children = new Map<number, Child>();
  const fills: Fill[] = [];
  let filled = 0, passiveQty = 0, takerQty = 0;

  function begin(book: BookView): void {
    arrival = midOf(book);
    arrivalBook = copyBook(book);
    if (algo === 'twap' || algo === 'vwap') {
      const iv = interval === interval ? interval : (end - start) / (slicesParam ?? 10);
      schedule = algo === 'twap' ? twapSchedule(qty, start, end, iv, grid.lot) : vwapSchedule(qty, start, end, iv, curve!, grid.lot);
    }
  }

  function target(now: number): number {
    if (algo === 'immediate') return qty;
    if (algo === 'pov') return povTarget(qty, rate, marketVolume, grid.lot);
    return scheduleTarget(schedule!, now);
  }

  function step(ctx: StrategyContext): void {
    if (symbol === undefined || !(ctx.now() >= start)) return;
    const book = ctx.book(symbol);
    if (!book || book.nBids === 0 || book.nAsks === 0) return;
    if (arrival !== arrival) begin(book);
    const actions = executionStep({
      side, now: ctx.now(), end, parentQty: qty, filled, target: target(ctx.now()), children: [...children.values()],
      bidPx: book.bidPx[0]!, bidSz: book.bidSz[0]!, askPx: book.askPx[0]!, askSz: book.askSz[0]!, lot: grid.lot,
    }, { urgency, finishWindow: finishFrac * (end - start), minFavour });
    for (const a of actions) {
      if (a.k === 'cross') {
        const id = ctx.place({ symbol, side, kind: 'market', qty: a.qty, tag: `${name}-cross` });
        children.set(id, { id, passive: false, price: NaN, remaining: a.qty, inflight: true });
        childCount++;
      } else if (a.k === 'passive') {
        const id = ctx.place({ symbol, side, kind: 'limit', tif: 'POST_ONLY', price: a.price, qty: a.qty, tag: `${name}-passive` });
        children.set(id, { id, passive: true, price: a.price, remaining: a.qty, inflight: true });
        childCount++;
      } else if (a.k === 'reprice') {
        ctx.modify(a.id, { price: a.price });
        children.get(a.id)!.inflight = true;
      } else {
        ctx.cancel(a.id);
        children.get(a.id)!.inflight = true;
      }
    }
  }

  return {
    name,
    fills,
    onBook(ctx: StrategyContext, book: BookView) {
      symbol ??= book.symbol;
      if (book.symbol !== symbol) return;
      grid.observe(book);
      endMid = midOf(book);
      if (anchor !== anchor) {
        anchor = ctx.now();
        start = resolveTime(startSpec, anchor);
        // An offset end counts from the start, whatever form the start has; a time of day is on the start's day.
        end = resolveTime(endSpec, start);
        if (!(end > start)) throw new StrategyParamError(name, 'end', `must be after the start (start ${start} ns, end ${end} ns on the run's clock)`);
      }
      step(ctx);
    },
    onTrade(ctx: StrategyContext, t: TradeView) {
      if (t.symbol !== symbol || !(t.ts >= start && t.ts < end)) return;
      marketVolume += t.size;
      // POV's target moves with the volume; the other schedules move with the clock, which books drive.
      if (algo === 'pov') step(ctx);
    },
    onOrder(ctx: StrategyContext, o: Order) {
      const c = children.get(o.id);
      if (!c) return;
      c.inflight = false;
      c.price = o.price;
      c.remaining = o.qty - o.filled;
      if (o.status !== 'open' && o.status !== 'pending') children.delete(o.id);
      step(ctx);
    },
    onFill(ctx: StrategyContext, f: Fill) {
      if (f.symbol !== symbol) return;
      fills.push({ ...f });
      filled += f.qty;
      if (f.liquidity === 'maker') passiveQty += f.qty;
      else takerQty += f.qty;
      const c = children.get(f.orderId);
      if (c) c.remaining -= f.qty;
      if (filled >= qty - (grid.lot > 0 ? grid.lot / 2 : 1e-12) && doneAt !== doneAt) doneAt = ctx.now();
      step(ctx);
    },
    onEnd(ctx: StrategyContext) {
      ctx.log(`${name}: end`, summaryOf() as unknown as Record<string, unknown>);
    },
    summary: summaryOf,
  };

  function summaryOf(): ExecutionSummary {
    const s: ExecutionSummary = {
      algo, side, parentQty: qty, start, end, arrival, endMid, executed: filled, passiveQty, takerQty, children: childCount,
      marketVolume, doneAt,
      shortfall: arrival > 0 ? implementationShortfall(side, arrival, qty, fills, endMid) : undefined,
      immediate: arrivalBook && arrival > 0 ? immediateShortfall(arrivalBook, side, qty, takerFeeBps / 1e4) : undefined,
    };
    if (schedule) s.schedule = schedule.note === undefined ? { slices: schedule.times.length } : { slices: schedule.times.length, note: schedule.note };
    return s;
  }
}

function timeParam(r: ParamReader, name: string, param: string, def: string): TimeSpec {
  const raw = r.str(param, def);
  const t = parseTimeSpec(raw);
  if (!t) throw new StrategyParamError(name, param, `expected HH:MM[:SS] (UTC time of day) or +DURATION (e.g. +5m), got ${JSON.stringify(raw)}`);
  return t;
}

function copyBook(b: BookView): BookView {
  return {
    symbol: b.symbol, ts: b.ts, nBids: b.nBids, nAsks: b.nAsks,
    bidPx: Float64Array.from(b.bidPx), bidSz: Float64Array.from(b.bidSz), askPx: Float64Array.from(b.askPx), askSz: Float64Array.from(b.askSz),
  };
}

export const twap: StrategyFactory = (params) => createExecution('twap', params);
export const vwap: StrategyFactory = (params) => createExecution('vwap', params);
export const pov: StrategyFactory = (params) => createExecution('pov', params);
export const immediate: StrategyFactory = (params) => createExecution('immediate', params);
