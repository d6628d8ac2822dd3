/**
 * taker: trades a model's predictions (any model in models/, through onPrediction). A prediction
 * whose up-class probability is above `buyThreshold` is a buy signal, one whose down-class
 * probability is above `sellThreshold` a sell signal (the larger wins when both are), anything else
 * says flat. A signal adds `size` towards ±maxPosition (reversing a position closes it in the same
 * order); flat closes the position. With a holding period, a position is kept at least that long
 * after the fill that opened or grew it: flat and reversing signals wait.
 *
 * One order at a time: the next is sent once the previous is final, so a burst of predictions
 * cannot send the position past its limit before the fills come back.
 */
import type { Fill, Order, Strategy, StrategyContext, StrategyFactory } from '../strategy.ts';
import type { Prediction } from '../../pipeline/plugins.ts';
import { Grid, ParamReader, StrategyParamError, onLot, onTick, type Params } from './params.ts';

export interface TakerParams {
  buyClass: string;
  sellClass: string;
  buyThreshold: number;
  sellThreshold: number;
  size: number;
  maxPosition: number;
  /** Minimum time (ns) a position is held after it was opened or grown. */
  hold: number;
}

/** +1 buy, -1 sell, 0 flat, from one prediction's class probabilities. */
export function takerSignal(probs: ArrayLike<number>, classes: readonly string[], p: Pick<TakerParams, 'buyClass' | 'sellClass' | 'buyThreshold' | 'sellThreshold'>): -1 | 0 | 1 {
  const iu = classes.indexOf(p.buyClass), id = classes.indexOf(p.sellClass);
  if (iu < 0 || id < 0) throw new RangeError(`taker: the model's classes (${classes.join('/')}) lack ${iu < 0 ? p.buyClass : p.sellClass} (set buyClass / sellClass)`);
  const pu = probs[iu]!, pd = probs[id]!;
  const buy = pu > p.buyThreshold, sell = pd > p.sellThreshold;
  if (buy && sell) return pu >= pd ? 1 : -1;
  return buy ? 1 : sell ? -1 : 0;
}

/**
 * The signed quantity to trade now, given the signal and the position (0: nothing). `heldFor` is
 * the time since the fill that opened or last grew the position.
 */
export function takerOrderQty(signal: -1 | 0 | 1, position: number, heldFor: number, p: Pick<TakerParams, 'size' | 'maxPosition' | 'hold'>): number {
  const free = heldFor >= p.hold;
  if (signal === 0) return position !== 0 && free ? -position : 0;
  const s = signal;
  // Against the position: close it (once the hold is over) and open `size` the other way.
  if (position * s < 0) return free ? -position + s * Math.min(p.size, p.maxPosition) : 0;
  const room = p.maxPosition - Math.abs(position);
  return room > 0 ? s * Math.min(p.size, room) : 0;
}

export interface TakerStats {
  predictions: number;
  signals: { buy: number; sell: number; flat: number };
  orders: number;
  /** Predictions of other models than the one traded (ignored). */
  otherModel: number;
}

export interface Taker extends Strategy {
  readonly params: TakerParams & { model?: string; orderType: 'market' | 'ioc' };
  readonly stats: TakerStats;
}

export const taker: StrategyFactory = (params: Params): Taker => createTaker(params);

export function createTaker(params: Params): Taker {
  const r = new ParamReader('taker', params);
  const size = r.num('size', 1, { min: 0 });
  const tp: TakerParams = {
    buyClass: r.str('buyClass', 'up'),
    sellClass: r.str('sellClass', 'down'),
    buyThreshold: r.num('buyThreshold', r.num('threshold', 0.5, { min: 0, max: 1 }), { min: 0, max: 1 }),
    sellThreshold: r.num('sellThreshold', r.num('threshold', 0.5, { min: 0, max: 1 }), { min: 0, max: 1 }),
    size,
    maxPosition: r.num('maxPosition', size, { min: 0 }),
    hold: r.duration('hold', 0),
  };
  if (!(size > 0)) throw new StrategyParamError('taker', 'size', `must be > 0, got ${size}`);
  const model = r.str('model');
  const orderType = r.oneOf('orderType', 'market', ['market', 'ioc'] as const);
  // For ioc: how many ticks past the far touch the limit may reach.
  const slipTicks = r.num('slipTicks', 0, { min: 0 });
  // Out-of-sample runs: predictions of earlier rows (a model's training rows) are not traded.
  const fromRow = r.num('fromRow', 0, { min: 0, integer: true });
  const symbolParam = r.str('symbol');
  const grid = new Grid(r.optNum('tick', { min: 0 }), r.optNum('lot', { min: 0 }));
  r.done();

  let tradedModel = model;
  let symbol = symbolParam;
  let pending: number | undefined;
  let lastSignal: -1 | 0 | 1 = 0;
  /** Strategy time of the fill that opened or last grew the position. */
  let enteredAt = -Infinity;
  const stats: TakerStats = { predictions: 0, signals: { buy: 0, sell: 0, flat: 0 }, orders: 0, otherModel: 0 };

  function act(ctx: StrategyContext): void {
    if (symbol === undefined || pending !== undefined) return;
    const pos = ctx.position(symbol);
    const raw = takerOrderQty(lastSignal, pos, ctx.now() - enteredAt, tp);
    const q = Math.sign(raw) * onLot(Math.abs(raw), grid.lot);
    if (q === 0) return;
    const side = q > 0 ? 'buy' : 'sell';
    if (orderType === 'market') {
      pending = ctx.place({ symbol, side, kind: 'market', qty: Math.abs(q), tag: 'taker' });
    } else {
      const book = ctx.book(symbol);
      if (!book || book.nBids === 0 || book.nAsks === 0 || !(grid.tick > 0)) return;
      const px = side === 'buy' ? onTick(book.askPx[0]! + slipTicks * grid.tick, grid.tick, 'nearest') : onTick(book.bidPx[0]! - slipTicks * grid.tick, grid.tick, 'nearest');
      pending = ctx.place({ symbol, side, kind: 'limit', tif: 'IOC', price: px, qty: Math.abs(q), tag: 'taker' });
    }
    stats.orders++;
  }

  return {
    name: 'taker',
    params: { ...tp, orderType, ...(model === undefined ? {} : { model }) },
    stats,
    onBook(ctx, book) {
      symbol ??= book.symbol;
      if (book.symbol === symbol) grid.observe(book);
    },
    onPrediction(ctx: StrategyContext, p: Prediction) {
      if ((symbol !== undefined && p.symbol !== symbol) || p.row < fromRow) return;
      if (tradedModel === undefined) {
        tradedModel = p.model;
        ctx.log('taker: trading the first model that predicted (set model= to choose)', { model: p.model });
      }
      if (p.model !== tradedModel) {
        stats.otherModel++;
        return;
      }
      stats.predictions++;
      lastSignal = takerSignal(p.probs, p.classes, tp);
      if (lastSignal > 0) stats.signals.buy++;
      else if (lastSignal < 0) stats.signals.sell++;
      else stats.signals.flat++;
      act(ctx);
    },
    onOrder(ctx: StrategyContext, o: Order) {
      if (o.id === pending && o.status !== 'open' && o.status !== 'pending') {
        pending = undefined;
        // The signal may still stand (a partial fill, a size cap): go on towards it.
        act(ctx);
      }
    },
    onFill(ctx: StrategyContext, f: Fill) {
      if (f.symbol !== symbol) return;
      const pos = ctx.position(symbol);
      const before = pos - (f.side === 'buy' ? f.qty : -f.qty);
      if (Math.abs(pos) > Math.abs(before) || pos * before < 0) enteredAt = ctx.now();
    },
    onEnd(ctx: StrategyContext) {
      ctx.log('taker: end', { ...stats, model: tradedModel, position: symbol === undefined ? 0 : ctx.position(symbol), cash: ctx.cash() });
    },
  };
}
