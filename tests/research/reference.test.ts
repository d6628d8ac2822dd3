/**
 * The statistics against values computed independently. statsmodels is not installed on this
 * machine (`python3 -c "import statsmodels"` fails), so the references are: scipy 1.17.1 for the
 * distribution functions, and for the tests plain numpy 2.4.6 least squares (np.linalg.lstsq) of
 * each test's defining regression on a fixed series, written out from the formulas in
 * docs/research.md (the script is in its "Reference values" section). The series is deterministic
 * (no RNG to reproduce): e_s = ((7919 s + 13) mod 101)/50.5 - 1, s = 0..79; rw = cumsum(e);
 * ar_t = 0.5 ar_{t-1} + e_t. The MacKinnon tables are checked against each other: the 1994
 * p-value surface at the 2010 asymptotic critical values must give 1%, 5%, 10%.
 */
import { describe, expect, it } from 'vitest';
import { betaI, chi2Sf, fSf, normCdf, normInv, tInv, tTwoSided } from '../../src/research/dist.ts';
import { adf, kpss, mackinnonCrit, mackinnonP } from '../../src/research/unitroot.ts';
import { granger } from '../../src/research/granger.ts';
import { varianceRatio } from '../../src/research/variance-ratio.ts';
import { acf } from '../../src/research/acf.ts';
import { ols } from '../../src/research/ols.ts';

const n = 80;
const e = Float64Array.from({ length: n }, (_, s) => ((s * 7919 + 13) % 101) / 50.5 - 1);
const rw = new Float64Array(n);
const ar = new Float64Array(n);
for (let t = 0; t < n; t++) {
  rw[t] = (t ? rw[t - 1]! : 0) + e[t]!;
  ar[t] = (t ? 0.5 * ar[t - 1]! : 0) + e[t]!;
}

const rel = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(b), 1e-300);

describe('distribution functions vs scipy 1.17.1', () => {
  it('normal CDF and quantile', () => {
    expect(rel(normCdf(-1.7), 0.04456546275854304)).toBeLessThan(1e-12);
    expect(rel(normCdf(-8.5), 9.47953482220325e-18)).toBeLessThan(1e-10);
    expect(rel(normInv(0.975), 1.959963984540054)).toBeLessThan(1e-12);
    expect(rel(normInv(1e-6), -4.753424308822899)).toBeLessThan(1e-12);
  });
  it('chi-square, F and t tails, t quantile', () => {
    expect(rel(chi2Sf(12.3, 5), 0.03090046463546092)).toBeLessThan(1e-11);
    expect(rel(chi2Sf(250, 200), 0.009379131668826098)).toBeLessThan(1e-10);
    expect(rel(fSf(2.7, 3, 40), 0.05843992837876611)).toBeLessThan(1e-11);
    expect(rel(fSf(0.4, 10, 1000), 0.946986809869584)).toBeLessThan(1e-11);
    expect(rel(tTwoSided(2.1, 7), 0.07387119621292265)).toBeLessThan(1e-11);
    expect(rel(tInv(0.975, 18), 2.1009220402410382)).toBeLessThan(1e-10);
    expect(betaI(0.3, 2, 2)).toBeCloseTo(3 * 0.09 - 2 * 0.027, 14); // I_x(2,2) = 3x² - 2x³
  });
});

describe('MacKinnon tables', () => {
  it('the 1994 p-value surface gives 1%, 5%, 10% at the 2010 asymptotic critical values', () => {
    for (const trend of ['c', 'ct'] as const) {
      const cv = mackinnonCrit(trend, 1e12);
      expect(mackinnonP(cv['1%'], trend)).toBeCloseTo(0.01, 3);
      expect(mackinnonP(cv['5%'], trend)).toBeCloseTo(0.05, 3);
      expect(mackinnonP(cv['10%'], trend)).toBeCloseTo(0.1, 2);
    }
    // Finite-sample values lie further out than the asymptotic ones (MacKinnon 2010, Table 2, T = 100: -3.4977 at 1%, 'c').
    expect(mackinnonCrit('c', 100)['1%']).toBeCloseTo(-3.43035 - 6.5393e-2 - 16.786e-4 - 79.433e-6, 10);
    expect(mackinnonP(3, 'c')).toBe(1);
    expect(mackinnonP(-20, 'c')).toBe(0);
  });
});

describe('tests vs numpy least squares on the fixed series', () => {
  it('OLS recovers an exact linear relation and its intercept', () => {
    const x1 = Float64Array.from({ length: 50 }, (_, i) => Math.sin(i));
    const x2 = Float64Array.from({ length: 50 }, (_, i) => 580 + Math.cos(3 * i) * 0.01); // a price level beside a constant
    const y = x1.map((v, i) => 2 + 3 * v - 7 * x2[i]!);
    const f = ols(y, [x1, x2], true);
    expect(f.beta[0]).toBeCloseTo(3, 8);
    expect(f.beta[1]).toBeCloseTo(-7, 6);
    expect(f.intercept).toBeCloseTo(2, 3);
  });
  it('ADF statistic with a fixed lag (c and ct)', () => {
    expect(rel(adf(rw, { maxlag: 2, autolag: 'fixed' }).stat, -1.988373185551409)).toBeLessThan(1e-9);
    expect(rel(adf(ar, { maxlag: 2, autolag: 'fixed' }).stat, -5.172470917172855)).toBeLessThan(1e-9);
    const ct = adf(rw, { maxlag: 1, autolag: 'fixed', trend: 'ct' });
    expect(rel(ct.stat, -2.146855194960989)).toBeLessThan(1e-9);
    expect(ct.nobs).toBe(78);
  });
  it('ADF lag by AIC over 0..ceil(12 (n/100)^{1/4}) on a common sample, then refitted', () => {
    const a = adf(rw);
    expect([a.maxlag, a.usedLag]).toEqual([12, 5]);
    expect(rel(a.stat, -2.7135935747962914)).toBeLessThan(1e-9);
    expect(rel(adf(ar).stat, -2.307214793453705)).toBeLessThan(1e-9);
    const ct = adf(ar, { trend: 'ct' });
    expect(ct.usedLag).toBe(5);
    expect(rel(ct.stat, -2.5400051246419784)).toBeLessThan(1e-9);
  });
  it('KPSS statistic and its Newey-West bandwidth', () => {
    const a = kpss(rw, { nlags: 3 });
    expect(rel(a.stat, 0.21229627038974697)).toBeLessThan(1e-12);
    expect(a.pBound).toBe('>');
    const b = kpss(ar);
    expect(b.lags).toBe(0);
    expect(rel(b.stat, 0.19033819124540877)).toBeLessThan(1e-12);
    const c = kpss(rw, { trend: 'ct' });
    expect(c.lags).toBe(5);
    expect(rel(c.stat, 0.1390579656608036)).toBeLessThan(1e-10);
    // 0.139 lies between the 10% (0.119) and 5% (0.146) values of the trend table: p interpolated.
    expect(c.p).toBeCloseTo(0.1 - (0.05 * (0.1390579656608036 - 0.119)) / (0.146 - 0.119), 12);
  });
  it('Granger F test', () => {
    // A second deterministic series w (period 97), and z built from w's lag: w -> z by construction.
    const w = Float64Array.from({ length: n }, (_, s) => ((s * 4421 + 7) % 97) / 48.5 - 1);
    const z = new Float64Array(n);
    for (let t = 0; t < n; t++) z[t] = (t ? 0.4 * z[t - 1]! + 0.8 * w[t - 1]! : 0) + e[t]!;
    const g = granger(ar, w, 2);
    expect(rel(g.f, 0.26427812549027535)).toBeLessThan(1e-9);
    expect(rel(g.p, 0.7684913541460683)).toBeLessThan(1e-9);
    const h = granger(w, ar, 3);
    expect(rel(h.f, 0.0567592732281457)).toBeLessThan(1e-8);
    expect(rel(h.p, 0.9820870682597242)).toBeLessThan(1e-9);
    const k = granger(z, w, 2);
    expect(rel(k.f, 23.61498360195088)).toBeLessThan(1e-9);
    expect(rel(k.p, 1.232593289376474e-8)).toBeLessThan(1e-7);
    expect([k.df1, k.df2, k.nobs]).toEqual([2, 73, 78]);
    // ar is built from e alone, so e's lags are an exact combination of ar's: the design is refused, not fitted.
    expect(() => granger(ar, e, 2)).toThrow(/collinear/);
  });
  it('variance ratio and both z statistics', () => {
    const v = varianceRatio(e, 2);
    expect(rel(v.vr, 0.5619280527363055)).toBeLessThan(1e-12);
    expect(rel(v.z, -3.9182346124692953)).toBeLessThan(1e-12);
    expect(rel(v.zRobust, -6.251036030431616)).toBeLessThan(1e-12);
    const w = varianceRatio(ar, 4);
    expect(rel(w.vr, 0.98361586061124)).toBeLessThan(1e-12);
    expect(rel(w.zRobust, -0.09320900418858713)).toBeLessThan(1e-10);
  });
  it('ACF and Ljung-Box', () => {
    const a = acf(ar, 5);
    const want = [-0.036955636473085036, 0.033990291517575016, -0.07538247744015768, -0.15409971836485595, 0.6906410825900452];
    want.forEach((w, i) => expect(rel(a.acf[i + 1]!, w)).toBeLessThan(1e-12));
    expect(rel(a.q[4]!, 44.46470894175661)).toBeLessThan(1e-12);
    expect(rel(a.pQ[4]!, 1.863856032445773e-8)).toBeLessThan(1e-9);
  });
});
