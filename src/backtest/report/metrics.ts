/**
 * A run's report metrics, as pure functions of its fills, orders and equity series (exchange time),
 * so each is checked on hand-worked series (tests/backtest/report-metrics.test.ts).
 *
 * Conventions:
 *  - PnL is in the quote currency. Realised PnL is by average cost (a fill that reduces a position
 *    realises (price - average cost) x quantity); unrealised marks what is left to the last mid;
 *    total = realised + unrealised - fees = the equity curve's last value (cash + position x mid).
 *  - Sharpe: the equity curve sampled at each minute of exchange time (the first point, then the
 *    last value in each minute [k, k+1) since), its per-minute changes, mean / standard deviation (n - 1) x sqrt(minutes per
 *    year of the venue's session): 252 days x 390 minutes = 98,280 for US equities (LOBSTER),
 *    365 x 1,440 = 525,600 for crypto venues that trade around the clock. PnL changes, not returns on
 *    capital: a backtest has no capital base, and the ratio is the same for any fixed one.
 *  - Max drawdown: the largest fall of the equity curve from its running peak, in currency.
 *  - Round trip: from flat to flat in one symbol (a fill through zero closes one trip and opens the
 *    next with the rest); its PnL is its cash change, fees included; win when > 0.
 *  - Slippage: signed so that a cost is positive: side x (fill price - reference) / reference, in bps,
 *    quantity-weighted; the reference is the mid when the order was sent (arrival) or the mid at the fill.
 */
export interface MetricFill {
  symbol: string;
  side: 'buy' | 'sell';
  price: number;
  qty: number;
  fee: number;
  liquidity: 'maker' | 'taker';
  ts: number;
  arrivalMid: number;
  mid: number;
}

export interface MetricOrder {
  qty: number;
  filled: number;
  status: string;
}

export interface MetricPoint {
  ts: number;
  equity: number;
}

/** Positions on a 1e-9 grid: fractional lots (0.001 BTC) do not add up exactly in binary, and flat must read 0. */
function lots(q: number): number {
  return Math.round(q * 1e9) / 1e9;
}

export const MINUTES_PER_YEAR = { equities: 252 * 390, crypto: 365 * 1440 } as const;
export type Session = keyof typeof MINUTES_PER_YEAR;

/** Which session a source kind trades in (LOBSTER: NASDAQ; everything else here: crypto, around the clock). */
export function sessionOf(kind: string): Session {
  return kind === 'lobster' ? 'equities' : 'crypto';
}

export interface PnlMetrics {
  total: number;
  realised: number;
  unrealised: number;
  fees: number;
  /** Final position per symbol. */
  position: Record<string, number>;
  maxAbsPosition: number;
}

/** Realised (average cost), unrealised (at `lastMid`), fees. */
export function pnl(fills: readonly MetricFill[], lastMid: Record<string, number>): PnlMetrics {
  const pos = new Map<string, { q: number; avg: number }>();
  let realised = 0;
  let fees = 0;
  let maxAbs = 0;
  for (const f of fills) {
    fees += f.fee;
    const p = pos.get(f.symbol) ?? { q: 0, avg: 0 };
    const d = f.side === 'buy' ? f.qty : -f.qty;
    if (p.q === 0 || Math.sign(p.q) === Math.sign(d)) {
      p.avg = (p.avg * Math.abs(p.q) + f.price * Math.abs(d)) / (Math.abs(p.q) + Math.abs(d));
      p.q = lots(p.q + d);
    } else {
      const closing = Math.min(Math.abs(d), Math.abs(p.q));
      realised += closing * (f.price - p.avg) * Math.sign(p.q);
      const left = lots(Math.abs(d) - closing);
      p.q = lots(p.q + d);
      if (left > 0) p.avg = f.price;
      else if (p.q === 0) p.avg = 0;
    }
    pos.set(f.symbol, p);
    maxAbs = Math.max(maxAbs, Math.abs(p.q));
  }
  let unrealised = 0;
  const position: Record<string, number> = {};
  for (const [s, p] of pos) {
    position[s] = p.q;
    if (p.q !== 0) unrealised += p.q * ((lastMid[s] ?? NaN) - p.avg);
  }
  return { total: realised + unrealised - fees, realised, unrealised, fees, position, maxAbsPosition: maxAbs };
}

/** The first point's equity, then the last value in each exchange-time minute [k, k+1) up to the last point's. */
export function minuteEquity(points: readonly MetricPoint[]): number[] {
  if (points.length === 0) return [];
  const M = 60e9;
  const out: number[] = [points[0]!.equity];
  let edge = (Math.floor(points[0]!.ts / M) + 1) * M;
  let last = points[0]!.equity;
  for (const p of points) {
    while (p.ts >= edge) {
      out.push(last);
      edge += M;
    }
    last = p.equity;
  }
  out.push(last);
  return out;
}

export interface SharpeMetrics {
  /** Null when fewer than two minute changes, or none varies. */
  sharpe: number | null;
  minutes: number;
  perMinuteMean: number;
  perMinuteStd: number;
  annualisation: string;
}

export function sharpe(points: readonly MetricPoint[], session: Session): SharpeMetrics {
  const eq = minuteEquity(points);
  const r: number[] = [];
  for (let i = 1; i < eq.length; i++) r.push(eq[i]! - eq[i - 1]!);
  const n = r.length;
  const mean = n ? r.reduce((a, b) => a + b, 0) / n : NaN;
  const std = n > 1 ? Math.sqrt(r.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1)) : NaN;
  const per = MINUTES_PER_YEAR[session];
  return {
    sharpe: n > 1 && std > 0 ? (mean / std) * Math.sqrt(per) : null,
    minutes: n,
    perMinuteMean: mean,
    perMinuteStd: std,
    annualisation: `per-minute equity changes, mean/std x sqrt(${per.toLocaleString('en-US')} minutes a year: ${session === 'equities' ? '252 days x 390 minutes' : '365 days x 1,440 minutes'})`,
  };
}

export function maxDrawdown(points: readonly MetricPoint[]): { maxDrawdown: number; peakTs: number; troughTs: number } {
  let peak = -Infinity;
  let peakTs = NaN;
  let best = 0;
  let at = { peakTs: NaN, troughTs: NaN };
  for (const p of points) {
    if (p.equity > peak) {
      peak = p.equity;
      peakTs = p.ts;
    }
    const dd = peak - p.equity;
    if (dd > best) {
      best = dd;
      at = { peakTs, troughTs: p.ts };
    }
  }
  return { maxDrawdown: best, ...at };
}

export interface RoundTrips {
  trips: number;
  wins: number;
  losses: number;
  winRate: number | null;
  avgWin: number | null;
  avgLoss: number | null;
  /** PnL of each closed trip, in order. */
  pnls: number[];
}

export function roundTrips(fills: readonly MetricFill[]): RoundTrips {
  const st = new Map<string, { q: number; cash: number }>();
  const pnls: number[] = [];
  for (const f of fills) {
    const s = st.get(f.symbol) ?? { q: 0, cash: 0 };
    let d = f.side === 'buy' ? f.qty : -f.qty;
    const feePerUnit = f.fee / f.qty;
    // Closing part first: up to flat.
    if (s.q !== 0 && Math.sign(d) !== Math.sign(s.q)) {
      const closing = Math.min(Math.abs(d), Math.abs(s.q)) * Math.sign(d);
      s.cash -= closing * f.price + Math.abs(closing) * feePerUnit;
      s.q = lots(s.q + closing);
      d = lots(d - closing);
      if (s.q === 0) {
        pnls.push(s.cash);
        s.cash = 0;
      }
    }
    if (d !== 0) {
      s.cash -= d * f.price + Math.abs(d) * feePerUnit;
      s.q = lots(s.q + d);
    }
    st.set(f.symbol, s);
  }
  const wins = pnls.filter((p) => p > 0);
  const losses = pnls.filter((p) => p <= 0);
  const avg = (a: number[]): number | null => (a.length ? a.reduce((x, y) => x + y, 0) / a.length : null);
  return {
    trips: pnls.length, wins: wins.length, losses: losses.length,
    winRate: pnls.length ? wins.length / pnls.length : null, avgWin: avg(wins), avgLoss: avg(losses), pnls,
  };
}

export function fillRatio(orders: readonly MetricOrder[]): { orders: number; qtyRatio: number | null; ordersWithFill: number; filledQty: number; orderedQty: number } {
  let q = 0;
  let f = 0;
  let any = 0;
  let n = 0;
  for (const o of orders) {
    if (o.status === 'rejected') continue;
    n++;
    q += o.qty;
    f += o.filled;
    if (o.filled > 0) any++;
  }
  return { orders: n, qtyRatio: q > 0 ? f / q : null, ordersWithFill: any, filledQty: f, orderedQty: q };
}

export function slippage(fills: readonly MetricFill[]): { vsArrivalBps: number | null; vsMidBps: number | null; vsArrival: number; vsMid: number } {
  let wA = 0;
  let sA = 0;
  let cA = 0;
  let wM = 0;
  let sM = 0;
  let cM = 0;
  for (const f of fills) {
    const sign = f.side === 'buy' ? 1 : -1;
    if (f.arrivalMid > 0) {
      sA += f.qty * (sign * (f.price - f.arrivalMid) / f.arrivalMid) * 1e4;
      wA += f.qty;
      cA += sign * (f.price - f.arrivalMid) * f.qty;
    }
    if (f.mid > 0) {
      sM += f.qty * (sign * (f.price - f.mid) / f.mid) * 1e4;
      wM += f.qty;
      cM += sign * (f.price - f.mid) * f.qty;
    }
  }
  return { vsArrivalBps: wA ? sA / wA : null, vsMidBps: wM ? sM / wM : null, vsArrival: cA, vsMid: cM };
}

export function feeBreakdown(fills: readonly MetricFill[]): { total: number; maker: number; taker: number; makerQty: number; takerQty: number } {
  const r = { total: 0, maker: 0, taker: 0, makerQty: 0, takerQty: 0 };
  for (const f of fills) {
    r.total += f.fee;
    if (f.liquidity === 'maker') {
      r.maker += f.fee;
      r.makerQty += f.qty;
    } else {
      r.taker += f.fee;
      r.takerQty += f.qty;
    }
  }
  return r;
}

export interface Summary {
  pnl: PnlMetrics;
  sharpe: SharpeMetrics;
  drawdown: ReturnType<typeof maxDrawdown>;
  roundTrips: Omit<RoundTrips, 'pnls'>;
  fillRatio: ReturnType<typeof fillRatio>;
  slippage: ReturnType<typeof slippage>;
  fees: ReturnType<typeof feeBreakdown>;
  fills: number;
}

export function summarise(fills: readonly MetricFill[], orders: readonly MetricOrder[], equity: readonly MetricPoint[], lastMid: Record<string, number>, session: Session): Summary {
  const { pnls: _p, ...rt } = roundTrips(fills);
  return {
    pnl: pnl(fills, lastMid),
    sharpe: sharpe(equity, session),
    drawdown: maxDrawdown(equity),
    roundTrips: rt,
    fillRatio: fillRatio(orders),
    slippage: slippage(fills),
    fees: feeBreakdown(fills),
    fills: fills.length,
  };
}
