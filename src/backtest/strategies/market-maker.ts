/**
 * market-maker: one post-only quote per side around a fair price that leans with the microprice
 * and the order-flow imbalance, widened when VPIN says the flow is toxic, skewed to unwind
 * inventory, and cut (then withdrawn) on the side that could take the position past its limit.
 * The quote rule is computeQuotes (quotes.ts); this file keeps the orders in step with it.
 *
 * An order changes only when its desired price or size changes, and by modify (one order per side
 * for its whole life, so at most one order per side can fill before we hear of it: the limit holds
 * at the exchange, not only in our view). Nothing is sent for a side while a request for it is in
 * flight: the exchange answers every modify and cancel of an open order, and an order that ended
 * first answers with its final state.
 */
import type { BookView, FeaturesView, Fill, Order, OrderSide, Strategy, StrategyContext, StrategyFactory } from '../strategy.ts';
import { FEATURE_COLUMNS } from '../../features/columns.ts';
import { Grid, ParamReader, StrategyParamError, type Params } from './params.ts';
import { AbsEwma, computeQuotes, type QuoteParams, type Quotes } from './quotes.ts';

export interface MarketMakerStats {
  requotes: number;
  placed: number;
  cancels: number;
  rejects: number;
  /** Largest |position| seen (strategy view). */
  maxAbsPosition: number;
  /** Quote updates where a side was withheld by the inventory limit. */
  limitedSides: number;
}

export interface MarketMaker extends Strategy {
  readonly params: QuoteParams & { ofiColumn: string; requoteTicks: number; symbol?: string };
  readonly stats: MarketMakerStats;
  /** The last quotes computed (undefined before the first book). */
  lastQuotes(): Quotes | undefined;
}

export const marketMaker: StrategyFactory = (params: Params): MarketMaker => createMarketMaker(params);

export function createMarketMaker(params: Params): MarketMaker {
  const r = new ParamReader('market-maker', params);
  const size = r.num('size', 1, { min: 0 });
  const qp: QuoteParams = {
    size,
    maxPosition: r.num('maxPosition', 5 * size, { min: 0 }),
    halfSpread: r.num('halfSpread', 1, { min: 0.01 }),
    microWeight: r.num('microWeight', 1),
    ofiSkew: r.num('ofiSkew', 0.5),
    inventorySkew: r.num('inventorySkew', 1),
    vpinWiden: r.num('vpinWiden', 1, { min: 0 }),
  };
  if (!(size > 0)) throw new StrategyParamError('market-maker', 'size', `must be > 0, got ${size}`);
  const ofiColumn = r.str('ofiColumn', 'ofi_h10');
  if (!ofiColumn.startsWith('ofi_') || !(FEATURE_COLUMNS as readonly string[]).includes(ofiColumn)) {
    throw new StrategyParamError('market-maker', 'ofiColumn', `expected one of ${FEATURE_COLUMNS.filter((c) => c.startsWith('ofi_')).join(', ')}, got ${JSON.stringify(ofiColumn)}`);
  }
  // The OFI scale adapts over about this many feature rows.
  const ofiHalfLife = r.num('ofiHalfLife', 500, { min: 1 });
  // Hysteresis: a resting quote within this many ticks of the desired price stays (keeps its queue
  // place) instead of being re-queued at the back for a one-tick wiggle of the microprice.
  const requoteTicks = r.num('requoteTicks', 0, { min: 0 });
  const symbolParam = r.str('symbol');
  const grid = new Grid(r.optNum('tick', { min: 0 }), r.optNum('lot', { min: 0 }));
  r.done();

  let symbol = symbolParam;
  let ofi = 0, vpin = NaN, featuresSeen = false;
  const ofiScale = new AbsEwma(ofiHalfLife);
  const slot: Record<OrderSide, number | undefined> = { buy: undefined, sell: undefined };
  /** Orders with a request (place, modify, cancel) not yet answered. */
  const inflight = new Set<number>();
  let last: Quotes | undefined;
  const stats: MarketMakerStats = { requotes: 0, placed: 0, cancels: 0, rejects: 0, maxAbsPosition: 0, limitedSides: 0 };

  /** Remaining quantity of open orders on a side, other than the side's quote. */
  function other(ctx: StrategyContext, side: OrderSide): number {
    let q = 0;
    for (const o of ctx.openOrders(symbol)) if (o.side === side && o.id !== slot[side]) q += o.qty - o.filled;
    return q;
  }

  function requote(ctx: StrategyContext): void {
    if (symbol === undefined) return;
    const book = ctx.book(symbol);
    if (!book || book.nBids === 0 || book.nAsks === 0 || !(grid.tick > 0)) return;
    const position = ctx.position(symbol);
    const q = computeQuotes({
      bidPx: book.bidPx[0]!, bidSz: book.bidSz[0]!, askPx: book.askPx[0]!, askSz: book.askSz[0]!,
      tick: grid.tick, lot: grid.lot, ofi, ofiScale: ofiScale.value, vpin, position,
      otherBuy: other(ctx, 'buy'), otherSell: other(ctx, 'sell'),
    }, qp);
    last = q;
    if (!q.bid || !q.ask) stats.limitedSides++;
    apply(ctx, 'buy', q.bid);
    apply(ctx, 'sell', q.ask);
  }

  function apply(ctx: StrategyContext, side: OrderSide, want: { price: number; qty: number } | undefined): void {
    const id = slot[side];
    if (id !== undefined && inflight.has(id)) return;
    const o = id === undefined ? undefined : ctx.order(id);
    if (!o || (o.status !== 'open' && o.status !== 'pending')) {
      slot[side] = undefined;
      if (!want) return;
      const nid = ctx.place({ symbol: symbol!, side, kind: 'limit', tif: 'POST_ONLY', price: want.price, qty: want.qty, tag: `mm-${side}` });
      slot[side] = nid;
      inflight.add(nid);
      stats.placed++;
      return;
    }
    if (!want) {
      ctx.cancel(o.id);
      inflight.add(o.id);
      stats.cancels++;
      return;
    }
    const remaining = o.qty - o.filled;
    const price = Math.abs(o.price - want.price) <= requoteTicks * grid.tick + 1e-9 * grid.tick ? o.price : want.price;
    if (o.price === price && Math.abs(remaining - want.qty) < 1e-12) return;
    // qty is the order's total: what it has filled (as far as we know) plus what we want resting.
    const change: { price?: number; qty?: number } = { qty: o.filled + want.qty };
    if (o.price !== price) change.price = price;
    ctx.modify(o.id, change);
    inflight.add(o.id);
    stats.requotes++;
  }

  return {
    name: 'market-maker',
    params: { ...qp, ofiColumn, requoteTicks, ...(symbolParam === undefined ? {} : { symbol: symbolParam }) },
    stats,
    lastQuotes: () => last,
    onBook(ctx: StrategyContext, book: BookView) {
      symbol ??= book.symbol;
      if (book.symbol !== symbol) return;
      grid.observe(book);
      // With features flowing, the row's features follow at once: quote on them, not on the previous row's.
      if (!featuresSeen) requote(ctx);
    },
    onFeatures(ctx: StrategyContext, row: FeaturesView) {
      if (row.symbol !== symbol) return;
      featuresSeen = true;
      const x = row.get(ofiColumn);
      if (Number.isFinite(x)) {
        ofi = x;
        ofiScale.push(x);
      }
      vpin = row.get('vpin');
      requote(ctx);
    },
    onOrder(ctx: StrategyContext, o: Order) {
      if (o.symbol !== symbol) return;
      inflight.delete(o.id);
      if (o.status === 'rejected') stats.rejects++;
      if (o.status !== 'open' && o.status !== 'pending' && slot[o.side] === o.id) slot[o.side] = undefined;
      requote(ctx);
    },
    onFill(ctx: StrategyContext, f: Fill) {
      if (f.symbol !== symbol) return;
      stats.maxAbsPosition = Math.max(stats.maxAbsPosition, Math.abs(ctx.position(symbol)));
      requote(ctx);
    },
    onEnd(ctx: StrategyContext) {
      ctx.log('market-maker: end', { ...stats, position: symbol === undefined ? 0 : ctx.position(symbol), cash: ctx.cash() });
    },
  };
}
