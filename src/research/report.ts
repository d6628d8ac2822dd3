/**
 * The `flowcast research` battery on sampled series, and its table. Pure: the command loads the
 * data and prints; everything here is numbers in, numbers and text out. Readings are at the 5% level.
 */
import { acf, ccf, type AcfResult, type CcfResult } from './acf.ts';
import { adf, kpss, type AdfResult, type KpssResult } from './unitroot.ts';
import { granger, type GrangerResult } from './granger.ts';
import { hurst, type HurstResult } from './hurst.ts';
import { varianceRatio, type VarianceRatioResult } from './variance-ratio.ts';
import { hyLeadLag, type HyLeadLagResult } from './leadlag.ts';
import { formatEvery, type Sampled } from './series.ts';

export interface BatteryOptions {
  acfLags: number;
  /** Granger lag: fixed, or chosen by AIC up to maxLag. */
  granger: number | { maxLag: number };
  vrQ: number[];
  /** Hurst bootstrap replications. */
  bootstrap: number;
  seed: number;
}

export interface SeriesReport {
  label: string;
  source: string;
  sampling: string;
  n: number;
  emptyIntervals?: number;
  acf: { returns: AcfResult; ofi: AcfResult };
  adf: { logMid: AdfResult; returns: AdfResult; ofi: AdfResult };
  kpss: { logMid: KpssResult; returns: KpssResult; ofi: KpssResult };
  granger: { ofiToReturns: GrangerResult; returnsToOfi: GrangerResult };
  hurst: { returns: HurstResult; returnsRs: HurstResult; ofi: HurstResult; ofiRs: HurstResult };
  varianceRatio: VarianceRatioResult[];
}

export function runBattery(label: string, source: string, s: Sampled, o: BatteryOptions): SeriesReport {
  // Each statistic's error names the series and the test (e.g. a constant OFI column makes a regression singular).
  const A = <T>(what: string, f: () => T): T => {
    try {
      return f();
    } catch (e) {
      throw new Error(`${label} (${source}), ${what}: ${(e as Error).message}`);
    }
  };
  return {
    label, source, sampling: formatEvery(s.clock), n: s.ret.length,
    ...(s.emptyIntervals !== undefined ? { emptyIntervals: s.emptyIntervals } : {}),
    acf: { returns: A('ACF of returns', () => acf(s.ret, o.acfLags)), ofi: A('ACF of OFI', () => acf(s.ofi, o.acfLags)) },
    adf: {
      logMid: A('ADF of log mid', () => adf(s.logMid)),
      returns: A('ADF of returns', () => adf(s.ret)),
      ofi: A('ADF of OFI', () => adf(s.ofi)),
    },
    kpss: {
      logMid: A('KPSS of log mid', () => kpss(s.logMid)),
      returns: A('KPSS of returns', () => kpss(s.ret)),
      ofi: A('KPSS of OFI', () => kpss(s.ofi)),
    },
    granger: {
      ofiToReturns: A('Granger OFI -> returns', () => granger(s.ret, s.ofi, o.granger)),
      returnsToOfi: A('Granger returns -> OFI', () => granger(s.ofi, s.ret, o.granger)),
    },
    hurst: {
      returns: A('Hurst (DFA) of returns', () => hurst(s.ret, { bootstrap: o.bootstrap, seed: o.seed })),
      returnsRs: A('Hurst (R/S) of returns', () => hurst(s.ret, { method: 'rs', bootstrap: o.bootstrap, seed: o.seed })),
      ofi: A('Hurst (DFA) of OFI', () => hurst(s.ofi, { bootstrap: o.bootstrap, seed: o.seed })),
      ofiRs: A('Hurst (R/S) of OFI', () => hurst(s.ofi, { method: 'rs', bootstrap: o.bootstrap, seed: o.seed })),
    },
    varianceRatio: o.vrQ.map((q) => A(`variance ratio q=${q}`, () => varianceRatio(s.ret, q))),
  };
}

export interface PairReport {
  a: string;
  b: string;
  /** Cross-correlation of the two return series on the common clock (absent per event: no common clock). */
  ccf?: CcfResult & { sampling: string; stepNs: number };
  /** Hayashi-Yoshida lead-lag on each series' own update times (θ in ns). */
  hy?: HyLeadLagResult & { stepNs: number; maxNs: number };
}

export function runPair(a: { label: string; clock?: Sampled; events: Sampled }, b: { label: string; clock?: Sampled; events: Sampled }, o: { maxLag: number; hyMaxNs: number; hyStepNs: number }): PairReport {
  const out: PairReport = { a: a.label, b: b.label };
  if (a.clock && b.clock) {
    if (a.clock.t[0] !== b.clock.t[0] || a.clock.ret.length !== b.clock.ret.length) throw new Error(`lead-lag ${a.label} / ${b.label}: the clocks do not line up (they must be sampled on one span)`);
    const c = ccf(a.clock.ret, b.clock.ret, o.maxLag);
    out.ccf = { ...c, sampling: formatEvery(a.clock.clock), stepNs: a.clock.clock as number };
  }
  if (o.hyMaxNs > 0) {
    const k = Math.floor(o.hyMaxNs / o.hyStepNs);
    const thetas = Array.from({ length: 2 * k + 1 }, (_, i) => (i - k) * o.hyStepNs);
    const h = hyLeadLag(a.events.t, a.events.logMid, b.events.t, b.events.logMid, thetas);
    out.hy = { ...h, stepNs: o.hyStepNs, maxNs: o.hyMaxNs };
  }
  return out;
}

// ---- text ----

export function fmt(v: number, digits = 4): string {
  if (!Number.isFinite(v)) return String(v);
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-3) return v.toExponential(digits - 2);
  return v.toPrecision(digits).replace(/(\.\d*?)0+$/, '$1').replace(/\.$/, '');
}

export function fmtP(p: number): string {
  if (!(p >= 0)) return String(p);
  return p < 1e-4 ? (p === 0 ? '<1e-300' : p.toExponential(1)) : p.toFixed(4);
}

function ns(v: number): string {
  const a = Math.abs(v);
  if (a === 0) return '0';
  if (a % 1e9 === 0) return `${v / 1e9}s`;
  if (a % 1e6 === 0 || a >= 1e6) return `${fmt(v / 1e6)}ms`;
  return `${fmt(v / 1e3)}us`;
}

function table(rows: string[][]): string {
  const w = rows[0]!.map((_, j) => Math.max(...rows.map((r) => r[j]!.length)));
  return rows.map((r) => r.map((c, j) => (j === r.length - 1 ? c : c.padEnd(w[j]!))).join('  ').trimEnd()).join('\n');
}

const sig = (p: number) => p < 0.05;

export function formatSeries(r: SeriesReport): string {
  const rows: string[][] = [['test', 'series', 'statistic', 'p-value / 95% CI', 'reading (5%)']];
  for (const [name, a] of [['returns', r.acf.returns], ['OFI', r.acf.ofi]] as const) {
    const k = a.acf.length - 1;
    const ci1 = a.ci[1]!;
    rows.push([`ACF(1), Bartlett`, name, fmt(a.acf[1]!), `[${fmt(ci1[0])}, ${fmt(ci1[1])}]`, Math.abs(a.acf[1]!) > 1.96 * a.se[1]! ? 'autocorrelated at lag 1' : 'no lag-1 autocorrelation']);
    rows.push([`ACF(2..${Math.min(5, k)})`, name, a.acf.slice(2, 6).map((v) => fmt(v, 3)).join(' '), `±${fmt(1.96 * a.se[2]!, 2)} at lag 2`, '']);
    rows.push([`Ljung-Box Q(${k})`, name, fmt(a.q[k - 1]!), fmtP(a.pQ[k - 1]!), sig(a.pQ[k - 1]!) ? 'serially correlated' : 'white noise not rejected']);
  }
  for (const [name, d, s] of [['log mid', r.adf.logMid, r.kpss.logMid], ['returns', r.adf.returns, r.kpss.returns], ['OFI', r.adf.ofi, r.kpss.ofi]] as const) {
    // MacKinnon's surface ends at τ = -18.83 ('c'); beyond it the p-value is 0 to the table's precision, not an exact 0.
    rows.push([`ADF (c, AIC lag ${d.usedLag}/${d.maxlag})`, name, fmt(d.stat), `${d.p === 0 ? '<1e-4 (τ past the table)' : fmtP(d.p)} (5% cv ${fmt(d.crit['5%'])})`, sig(d.p) ? 'unit root rejected' : 'unit root not rejected']);
    rows.push([`KPSS (c, NW bandwidth ${s.lags})`, name, fmt(s.stat), `${s.pBound === '=' ? '' : s.pBound}${fmtP(s.p)}`, sig(s.p) ? 'stationarity rejected' : 'stationarity not rejected']);
  }
  for (const [name, g] of [['OFI -> returns', r.granger.ofiToReturns], ['returns -> OFI', r.granger.returnsToOfi]] as const) {
    rows.push([`Granger F(${g.df1},${g.df2}), ${g.lagRule === 'fixed' ? 'lags fixed' : `lags by ${g.lagRule}`}`, name, fmt(g.f), fmtP(g.p), sig(g.p) ? 'Granger-causes' : 'no Granger causality']);
  }
  for (const [name, h] of [['returns', r.hurst.returns], ['returns', r.hurst.returnsRs], ['OFI', r.hurst.ofi], ['OFI', r.hurst.ofiRs]] as const) {
    const ci = h.ci ?? h.regressionCi;
    const what = h.ci ? `bootstrap B=${h.bootstrap}` : 'regression CI';
    rows.push([`Hurst ${h.method === 'dfa' ? 'DFA-1' : 'R/S'} (${what})`, name, fmt(h.h, 3), `[${fmt(ci[0], 3)}, ${fmt(ci[1], 3)}]`, ci[0] > 0.5 ? 'persistent (H > 0.5)' : ci[1] < 0.5 ? 'anti-persistent (H < 0.5)' : 'H = 0.5 not rejected']);
  }
  for (const v of r.varianceRatio) {
    rows.push([`variance ratio q=${v.q} (robust z*)`, 'returns', `${fmt(v.vr)} (z* ${fmt(v.zRobust, 3)})`, fmtP(v.pRobust), sig(v.pRobust) ? (v.vr < 1 ? 'mean-reverting (VR < 1)' : 'trending (VR > 1)') : 'random walk not rejected']);
  }
  const head = `${r.label}  (${r.source}; ${r.sampling}; ${r.n.toLocaleString('en-US')} returns${r.emptyIntervals !== undefined ? `, ${r.emptyIntervals.toLocaleString('en-US')} intervals without an update` : ''})`;
  return `${head}\n${table(rows)}`;
}

export function formatPair(p: PairReport): string {
  const out = [`lead-lag ${p.a} vs ${p.b}  (θ > 0 or lag k > 0: ${p.a} leads ${p.b})`];
  const rows: string[][] = [['method', 'peak at', 'correlation', 'significance', 'reading (5%)']];
  if (p.ccf) {
    const c = p.ccf;
    const k0 = c.lags.indexOf(0);
    rows.push([`cross-correlation of returns, ${c.sampling}`, `k = ${c.peakLag} (${ns(c.peakLag * c.stepNs)})`, `${fmt(c.peak)} (k=0: ${fmt(c.ccf[k0]!)})`, `bound ±${fmt(c.bound, 3)}`, !c.significant ? 'no significant cross-correlation' : c.peakLag === 0 ? 'contemporaneous' : c.peakLag > 0 ? `${p.a} leads` : `${p.b} leads`]);
  }
  if (p.hy) {
    const h = p.hy;
    rows.push([`Hayashi-Yoshida ρ, θ in ±${ns(h.maxNs)} step ${ns(h.stepNs)}`, `θ = ${ns(h.thetaHat)}`, `${fmt(h.rho)} (θ=0: ${fmt(h.rho0)})`, `z ${fmt(h.z, 3)}, p ${fmtP(h.p)}, Bonferroni ${fmtP(h.pBonferroni)}`, h.pBonferroni >= 0.05 ? 'no significant lead-lag' : h.thetaHat === 0 ? 'contemporaneous' : h.thetaHat > 0 ? `${p.a} leads by ${ns(h.thetaHat)}` : `${p.b} leads by ${ns(-h.thetaHat)}`]);
  }
  if (p.ccf) {
    const c = p.ccf;
    const sh: string[] = [];
    c.lags.forEach((k, i) => {
      if (Math.abs(k) <= 5) sh.push(`${k}:${fmt(c.ccf[i]!, 3)}`);
    });
    out.push(table(rows), `cross-correlation by lag (k: ρ): ${sh.join('  ')}`);
  } else out.push(table(rows));
  if (p.hy) {
    const pts = p.hy.points;
    const step = Math.max(1, Math.floor(pts.length / 20));
    out.push(`Hayashi-Yoshida ρ(θ): ${pts.filter((_, i) => i % step === 0 || pts[i]!.theta === p.hy!.thetaHat).map((q) => `${ns(q.theta)}:${fmt(q.rho, 3)}`).join('  ')}`);
  }
  return out.join('\n');
}

/** The JSON summary: the reports without the per-scale and per-θ arrays a reader rarely wants in one line. */
export function summary(series: SeriesReport[], pairs: PairReport[], meta: Record<string, unknown>): Record<string, unknown> {
  const h = (x: HurstResult) => ({ method: x.method, h: x.h, ci: x.ci ?? null, ciLevel: x.level ?? null, bootstrap: x.bootstrap ?? 0, regressionCi: x.regressionCi, scales: [x.scales[0], x.scales[x.scales.length - 1]] });
  const a = (x: AcfResult) => ({ acf: x.acf.slice(1), se: x.se.slice(1), ljungBox: { lags: x.q.length, q: x.q[x.q.length - 1], p: x.pQ[x.pQ.length - 1] } });
  return {
    ...meta,
    series: series.map((r) => ({
      label: r.label, source: r.source, sampling: r.sampling, n: r.n, ...(r.emptyIntervals !== undefined ? { emptyIntervals: r.emptyIntervals } : {}),
      acf: { returns: a(r.acf.returns), ofi: a(r.acf.ofi) },
      adf: r.adf, kpss: r.kpss, granger: r.granger,
      hurst: { returns: h(r.hurst.returns), returnsRs: h(r.hurst.returnsRs), ofi: h(r.hurst.ofi), ofiRs: h(r.hurst.ofiRs) },
      varianceRatio: r.varianceRatio,
    })),
    pairs: pairs.map((p) => ({
      a: p.a, b: p.b,
      ...(p.ccf ? { ccf: { sampling: p.ccf.sampling, stepNs: p.ccf.stepNs, n: p.ccf.n, lags: p.ccf.lags, ccf: p.ccf.ccf, bound: p.ccf.bound, peakLag: p.ccf.peakLag, peak: p.ccf.peak, significant: p.ccf.significant } } : {}),
      ...(p.hy ? { hy: { thetaHatNs: p.hy.thetaHat, rho: p.hy.rho, z: p.hy.z, p: p.hy.p, pBonferroni: p.hy.pBonferroni, rho0: p.hy.rho0, nx: p.hy.nx, ny: p.hy.ny, stepNs: p.hy.stepNs, maxNs: p.hy.maxNs, points: p.hy.points.map((q) => [q.theta, q.rho, q.z]) } } : {}),
    })),
  };
}
