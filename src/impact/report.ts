/**
 * The impact report: the analyzer's kept state turned into one summary object (the `--json` last
 * line) and the human table printed from that same object, so the two cannot disagree. Pure.
 */
import type { ImpactAnalyzer, ImpactSample, MatchedOrder } from './analyzer.ts';
import { errorSummary, quantileSorted, sortedCopy, type ErrorSummary } from './stats.ts';

export interface Spread3 {
  median: number;
  p10: number;
  p90: number;
}

export interface SideSeries {
  /** Cost against the mid in price (the instrument's currency per unit). */
  costMid: Spread3;
  costMidBps: Spread3;
  costTouchBps: Spread3;
  midMoveBps: Spread3;
  /** Share of samples where the visible levels held less than Q (those samples' cost is left out). */
  exhausted: number;
}

export interface PairSummary extends ErrorSummary {
  estimate: string;
  realised: string;
}

export interface SizeSummary {
  q: number;
  band: [number, number];
  series: { samples: number; everyMs: number; buy: SideSeries; sell: SideSeries; kyleBps: Spread3 };
  matched: {
    orders: number;
    buys: number;
    withHidden: number;
    /** Hidden size / size over the matched orders. */
    hiddenVolumeShare: number;
    walkExhausted: number;
    /** Orders whose book walk went past the touch (took more than one level). */
    walkedPastTouch: number;
    pairs: PairSummary[];
    /** Book-walk cost against the prints' VWAP, split by whether any print hit hidden liquidity. */
    byHidden: { visibleOnly: ErrorSummary; withHidden: ErrorSummary };
    /** Book-walk mid move against the mid after, split the same way. */
    moveByHidden: { visibleOnly: ErrorSummary; withHidden: ErrorSummary };
  };
}

export interface SymbolSummary {
  symbol: string;
  rows: number;
  prints: number;
  orders: number;
  noBook: number;
  unsigned: number;
  horizonPastEnd: number;
  orderSize: { p10: number; p25: number; p50: number; p75: number; p90: number; p99: number };
  sizes: SizeSummary[];
}

export interface ImpactSummary {
  command: 'impact';
  source: string;
  seconds: number;
  options: {
    sizes: number[];
    band: [number, number];
    horizonsMs: number[];
    barMs: number;
    barWindow: number;
    everyMs: number;
    levels: number;
    tolerance: number;
  };
  symbols: SymbolSummary[];
}

function spread3(values: number[]): Spread3 {
  const s = sortedCopy(values.filter(Number.isFinite));
  return { median: quantileSorted(s, 0.5), p10: quantileSorted(s, 0.1), p90: quantileSorted(s, 0.9) };
}

function sideSeries(samples: ImpactSample[], side: 'buy' | 'sell'): SideSeries {
  const ok = samples.filter((s) => !s[side].walk.exhausted);
  return {
    costMid: spread3(ok.map((s) => s[side].costMid)),
    costMidBps: spread3(ok.map((s) => s[side].costMidBps)),
    costTouchBps: spread3(ok.map((s) => s[side].costTouchBps)),
    midMoveBps: spread3(ok.map((s) => s[side].midMoveBps)),
    exhausted: samples.length > 0 ? (samples.length - ok.length) / samples.length : NaN,
  };
}

function horizonLabel(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

export function summarize(a: ImpactAnalyzer, source: string, seconds: number, tolerance = 0.1): ImpactSummary {
  const o = a.opts;
  const symbols: SymbolSummary[] = a.symbols().map((sym) => {
    const c = a.counts(sym)!;
    const gs = sortedCopy(a.groupSizes(sym));
    const sizes = o.sizes.map((q, k): SizeSummary => {
      const m: MatchedOrder[] = a.matched[k]!.filter((x) => x.symbol === sym);
      const samples = a.series[k]!.filter((x) => x.symbol === sym);
      const pair = (estimate: string, realised: string, est: (x: MatchedOrder) => number, real: (x: MatchedOrder) => number): PairSummary => ({
        estimate,
        realised,
        ...errorSummary(m.map(est), m.map(real), tolerance),
      });
      const pairs: PairSummary[] = [pair('walk cost', 'prints VWAP', (x) => x.walkCostBps, (x) => x.realCostBps)];
      pairs.push(pair('walk mid move', 'mid after', (x) => x.walkMidMoveBps, (x) => x.realMoveBps));
      o.horizonsMs.forEach((h, j) => pairs.push(pair('walk mid move', `mid +${horizonLabel(h)}`, (x) => x.walkMidMoveBps, (x) => x.realHorizonBps[j]!)));
      pairs.push(pair('kyle lambda*q', 'mid after', (x) => x.kyleBps, (x) => x.realMoveBps));
      o.horizonsMs.forEach((h, j) => pairs.push(pair('kyle lambda*q', `mid +${horizonLabel(h)}`, (x) => x.kyleBps, (x) => x.realHorizonBps[j]!)));
      const vis = m.filter((x) => x.hiddenSize === 0);
      const hid = m.filter((x) => x.hiddenSize > 0);
      let size = 0;
      let hiddenSize = 0;
      for (const x of m) {
        size += x.size;
        hiddenSize += x.hiddenSize;
      }
      return {
        q,
        band: [o.bandLo * q, o.bandHi * q],
        series: { samples: samples.length, everyMs: o.everyMs, buy: sideSeries(samples, 'buy'), sell: sideSeries(samples, 'sell'), kyleBps: spread3(samples.map((s) => s.kyleBps)) },
        matched: {
          orders: m.length,
          buys: m.filter((x) => x.sign > 0).length,
          withHidden: hid.length,
          hiddenVolumeShare: size > 0 ? hiddenSize / size : NaN,
          walkExhausted: m.filter((x) => x.walkExhausted).length,
          walkedPastTouch: m.filter((x) => x.walkLevels > 1).length,
          pairs,
          byHidden: {
            visibleOnly: errorSummary(vis.map((x) => x.walkCostBps), vis.map((x) => x.realCostBps), tolerance),
            withHidden: errorSummary(hid.map((x) => x.walkCostBps), hid.map((x) => x.realCostBps), tolerance),
          },
          moveByHidden: {
            visibleOnly: errorSummary(vis.map((x) => x.walkMidMoveBps), vis.map((x) => x.realMoveBps), tolerance),
            withHidden: errorSummary(hid.map((x) => x.walkMidMoveBps), hid.map((x) => x.realMoveBps), tolerance),
          },
        },
      };
    });
    return {
      symbol: sym,
      rows: c.rows,
      prints: c.prints,
      orders: c.groups,
      noBook: c.noBook,
      unsigned: c.unsigned,
      horizonPastEnd: c.horizonPastEnd,
      orderSize: {
        p10: quantileSorted(gs, 0.1), p25: quantileSorted(gs, 0.25), p50: quantileSorted(gs, 0.5),
        p75: quantileSorted(gs, 0.75), p90: quantileSorted(gs, 0.9), p99: quantileSorted(gs, 0.99),
      },
      sizes,
    };
  });
  return {
    command: 'impact',
    source,
    seconds,
    options: {
      sizes: o.sizes, band: [o.bandLo, o.bandHi], horizonsMs: o.horizonsMs, barMs: o.barMs, barWindow: o.barWindow,
      everyMs: o.everyMs, levels: o.levels, tolerance,
    },
    symbols,
  };
}

/** JSON with NaN as null (JSON has no NaN), numbers as computed. */
export function summaryJson(s: ImpactSummary): string {
  return JSON.stringify(s, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v));
}

/**
 * Two decimals, but two significant digits below 0.1: BTC costs are thousandths of a bp and would
 * all print as 0.00. Rounding noise (-1e-13) prints as 0.
 */
function num(x: number): string {
  if (!Number.isFinite(x)) return '-';
  const a = Math.abs(x);
  if (a < 1e-9) return '0.00';
  return a >= 0.1 ? x.toFixed(2) : x.toPrecision(2);
}
const pct = (x: number): string => (Number.isFinite(x) ? `${(x * 100).toFixed(1)}%` : '-');
const int = (x: number): string => x.toLocaleString('en-US');
const s3 = (s: Spread3): string => (Number.isFinite(s.median) ? `${num(s.median)} [${num(s.p10)}, ${num(s.p90)}]` : '-');

function table(head: string[], rows: string[][]): string {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]): string => r.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  ').trimEnd();
  return [line(head), ...rows.map(line)].join('\n');
}

/** The human report (what `flowcast impact` prints without --json). */
export function summaryTable(s: ImpactSummary): string {
  const out: string[] = [];
  const o = s.options;
  for (const y of s.symbols) {
    out.push(
      `${y.symbol}: ${int(y.rows)} rows, ${int(y.prints)} prints in ${int(y.orders)} aggressive orders ` +
      `(prints of one sign at one timestamp; ${int(y.noBook)} prints had no book before them, ${int(y.unsigned)} no aggressor side)`,
    );
    const z = y.orderSize;
    // Interpolated quantiles of decimal sizes carry float noise (0.6565000000000001): six digits say it.
    const sz = (x: number): string => (Number.isFinite(x) ? String(Number(x.toPrecision(6))) : '-');
    out.push(`  order size quantiles: p10 ${sz(z.p10)}  p25 ${sz(z.p25)}  p50 ${sz(z.p50)}  p75 ${sz(z.p75)}  p90 ${sz(z.p90)}  p99 ${sz(z.p99)}`);
    for (const q of y.sizes) {
      out.push('');
      out.push(`  Q = ${q.q}: estimates from the book every ${o.everyMs / 1000} s (${q.series.samples} samples), bps of mid, median [p10, p90]`);
      out.push(indent(table(
        ['side', 'walk cost vs mid (price)', 'walk cost vs mid', 'walk cost vs touch', 'walk mid move', 'Q > visible', 'kyle lambda*Q'],
        (['buy', 'sell'] as const).map((side) => {
          const ss = q.series[side];
          return [side, s3(ss.costMid), s3(ss.costMidBps), s3(ss.costTouchBps), s3(ss.midMoveBps), pct(ss.exhausted), s3(q.series.kyleBps)];
        }),
      ), 4));
      const m = q.matched;
      out.push(
        `  Q = ${q.q}: ${int(m.orders)} orders of size ${q.band[0]}..${q.band[1]} (${int(m.buys)} buys; ${int(m.walkedPastTouch)} would walk past the touch; ` +
        `${int(m.withHidden)} hit hidden liquidity, ${pct(m.hiddenVolumeShare)} of their volume), each estimated at its own size from the book before it; ` +
        `error = estimate - realised, bps`,
      );
      out.push(indent(table(
        ['estimate', 'realised', 'n', 'est med', 'real med', 'err med', 'err p10', 'err p90', '|err| med', `within ${Math.round(o.tolerance * 100)}%`, 'real = 0', 'within, real != 0'],
        m.pairs.map((p) => [p.estimate, p.realised, int(p.n), num(p.estMedian), num(p.realMedian), num(p.errMedian), num(p.errP10), num(p.errP90), num(p.absErrMedian), pct(p.within), pct(p.realisedZero), pct(p.withinNonzero)]),
      ), 4));
      if (m.withHidden > 0) {
        const w = `within ${Math.round(o.tolerance * 100)}%`;
        const line = (what: string, orders: string, e: ErrorSummary): string[] =>
          [what, orders, int(e.n), num(e.estMedian), num(e.realMedian), num(e.errMedian), num(e.errP10), num(e.errP90), pct(e.within), pct(e.realisedZero)];
        out.push('    the book walk by hidden liquidity (orders with no hidden print / with some):');
        out.push(indent(table(
          ['estimate / realised', 'orders', 'n', 'est med', 'real med', 'err med', 'err p10', 'err p90', w, 'real = 0'],
          [
            line('walk cost / prints VWAP', 'no hidden print', m.byHidden.visibleOnly),
            line('', 'some hidden', m.byHidden.withHidden),
            line('walk mid move / mid after', 'no hidden print', m.moveByHidden.visibleOnly),
            line('', 'some hidden', m.moveByHidden.withHidden),
          ],
        ), 6));
      }
    }
    out.push('');
  }
  out.push(
    `kyle lambda: FEATURES.md kyle_lambda, OLS of ${o.barMs} ms bar mid change on bar signed volume over the last ${o.barWindow} bars, ` +
    `as of the row before the order (NaN until ${o.barWindow} bars exist: those orders are left out of its rows)`,
  );
  return out.join('\n');
}

function indent(text: string, n: number): string {
  const pad = ' '.repeat(n);
  return text.split('\n').map((l) => pad + l).join('\n');
}
