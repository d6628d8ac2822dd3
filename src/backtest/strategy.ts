/**
 * The strategy API: one object runs unchanged in a backtest (`flowcast backtest`) and against the
 * live feed with simulated fills (`flowcast paper`). A strategy only sees what a trading process
 * would see, when it would see it: market data after the feed latency, its own order updates and
 * fills after the response latency. It acts through the context; nothing it does reaches the
 * simulated exchange before the order-entry latency has passed.
 *
 * Times are ns since the run's TimeBase (src/model/time.ts), like every event. Prices are in the
 * instrument's currency, quantities in the source's size unit (LOBSTER shares, Binance base asset).
 *
 * A strategy file (`--strategy FILE`) is an ES module whose default export is a StrategyFactory.
 */
import type { AlertEvent, Prediction } from '../pipeline/plugins.ts';

export type OrderSide = 'buy' | 'sell';
export type OrderKind = 'limit' | 'market';
/**
 * GTC rests until filled or cancelled. IOC fills what it can on arrival, the rest is cancelled.
 * POST_ONLY is rejected on arrival if it would take liquidity (it would cross the book).
 */
export type TimeInForce = 'GTC' | 'IOC' | 'POST_ONLY';

export interface OrderRequest {
  symbol: string;
  side: OrderSide;
  kind: OrderKind;
  qty: number;
  /** Limit price; ignored (and may be omitted) for a market order. */
  price?: number;
  /** Default GTC for limit orders; market orders are always IOC. */
  tif?: TimeInForce;
  /** Free text carried into fills and reports (e.g. which leg of a strategy placed it). */
  tag?: string;
}

/**
 * pending: sent, not yet at the exchange. open: resting. The rest are final. A modify is a
 * cancel-replace at the exchange (the order loses its queue place) unless it only reduces the
 * quantity at the same price, which keeps the place (the common venue rule).
 */
export type OrderStatus = 'pending' | 'open' | 'filled' | 'cancelled' | 'rejected';

export interface Order {
  readonly id: number;
  readonly symbol: string;
  readonly side: OrderSide;
  readonly kind: OrderKind;
  readonly tif: TimeInForce;
  /** Current limit price (NaN for market orders). */
  price: number;
  /** Current total quantity (after any modify). */
  qty: number;
  filled: number;
  status: OrderStatus;
  /** Why it was rejected or cancelled by the exchange ('post-only would cross', 'no liquidity', ...). */
  reason?: string;
  tag?: string;
  /** Strategy time the order was sent. */
  sentAt: number;
}

export type Liquidity = 'maker' | 'taker';

export interface Fill {
  orderId: number;
  symbol: string;
  side: OrderSide;
  price: number;
  qty: number;
  /** Fee in the quote currency, positive = paid (a maker rebate is negative). */
  fee: number;
  liquidity: Liquidity;
  /** Exchange time of the fill. */
  ts: number;
  /** Time the strategy learns of it (ts + response latency). */
  seenAt: number;
  tag?: string;
}

/** The book as the strategy sees it (after the feed latency), best level first. */
export interface BookView {
  readonly symbol: string;
  readonly ts: number;
  readonly bidPx: ArrayLike<number>;
  readonly bidSz: ArrayLike<number>;
  readonly askPx: ArrayLike<number>;
  readonly askSz: ArrayLike<number>;
  /** Levels filled on each side. */
  readonly nBids: number;
  readonly nAsks: number;
}

export interface TradeView {
  readonly symbol: string;
  readonly ts: number;
  readonly price: number;
  readonly size: number;
  /** Aggressor: +1 buyer, -1 seller, 0 unknown. */
  readonly sign: -1 | 0 | 1;
}

/** A features row (FEATURE_COLUMNS) as the strategy sees it: `get('ofi_1')`. */
export interface FeaturesView {
  readonly symbol: string;
  readonly ts: number;
  get(column: string): number;
}

export interface StrategyContext {
  /** Strategy time: the time of the event being delivered. */
  now(): number;
  /** The last book the strategy has seen for a symbol (undefined before its first). */
  book(symbol: string): BookView | undefined;
  /** Signed position (buys positive) from the fills seen so far. */
  position(symbol: string): number;
  /** Cash from the fills seen so far, fees included (starts at 0). */
  cash(): number;
  /** Sends an order; returns its id at once (status 'pending' until the exchange answers). */
  place(req: OrderRequest): number;
  cancel(orderId: number): void;
  /** Changes price and/or quantity (see OrderStatus for the queue rule). */
  modify(orderId: number, change: { price?: number; qty?: number }): void;
  /** The strategy's orders that are not final, as it last heard of them. */
  openOrders(symbol?: string): readonly Order[];
  order(orderId: number): Order | undefined;
  /** Structured, quiet-by-default log line carried into the report. */
  log(message: string, fields?: Record<string, unknown>): void;
}

export interface Strategy {
  readonly name: string;
  onStart?(ctx: StrategyContext): void;
  onBook?(ctx: StrategyContext, book: BookView): void;
  onTrade?(ctx: StrategyContext, trade: TradeView): void;
  onFeatures?(ctx: StrategyContext, row: FeaturesView): void;
  onPrediction?(ctx: StrategyContext, p: Prediction): void;
  onAlert?(ctx: StrategyContext, a: AlertEvent): void;
  /** An order changed status (open, rejected, cancelled, filled), as the response arrives. */
  onOrder?(ctx: StrategyContext, order: Order): void;
  onFill?(ctx: StrategyContext, fill: Fill): void;
  /** The data ended (backtest) or the session stops (paper). */
  onEnd?(ctx: StrategyContext): void;
}

/** What a strategy module exports by default: parameters (from `--param k=v` / JSON) in, a strategy out. */
export type StrategyFactory = (params: Record<string, string | number | boolean>) => Strategy;
