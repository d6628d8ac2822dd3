/**
 * `flowcast research` end to end, through the real CLI: a features CSV built so that the answers
 * are known (symbol AAA's OFI drives its next return; BBB's mid is AAA's 3 s late; both updated
 * once a second at their own offsets), and the two bundled Binance captures (spot and USD-M,
 * the same minutes) as two --data inputs of one symbol.
 */
import { describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { flowcast } from '../cli/run-cli.ts';
import { SPOT_FILE, USDM_FILE, scratchDir } from '../helpers.ts';
import { gaussian, mulberry32 } from '../../src/training/random.ts';

const dir = scratchDir('research');

function syntheticCsv(): string {
  const r = mulberry32(99);
  const T = 1500;
  const ofiA = Float64Array.from({ length: T }, () => gaussian(r));
  const logA = new Float64Array(T);
  for (let t = 1; t < T; t++) logA[t] = logA[t - 1]! + 1e-4 * (0.6 * ofiA[t - 1]! + gaussian(r));
  const t0 = 1_700_000_000_000_000_000n; // whole seconds since the epoch, so the 1 s ticks fall between the updates
  const lines = ['ts_ns,symbol,row,mid,ofi_1'];
  let row = 0;
  for (let t = 3; t < T; t++) {
    lines.push(`${t0 + BigInt(t) * 1_000_000_000n + 200_000_000n},AAA,${row++},${100 * Math.exp(logA[t]!)},${ofiA[t]!}`);
    lines.push(`${t0 + BigInt(t) * 1_000_000_000n + 700_000_000n},BBB,${row++},${50 * Math.exp(logA[t - 3]! + 2e-5 * gaussian(r))},${gaussian(r)}`);
  }
  const path = join(dir, 'synthetic.csv');
  writeFileSync(path, lines.join('\n') + '\n');
  return path;
}

describe('flowcast research', () => {
  it('finds the structure built into a features file: OFI -> returns for AAA only, AAA leading BBB by 3 ticks (3.5 s in update time)', async () => {
    const csv = syntheticCsv();
    const res = await flowcast(['research', '--data', csv, '--every', '1s', '--pair', 'AAA', 'BBB', '--bootstrap', '20', '--hy-max', '5s', '--hy-step', '500ms', '--granger-lags', '2', '--json']);
    expect(res.code, res.stderr).toBe(0);
    const lines = res.stdout.trim().split('\n');
    const s = JSON.parse(lines[lines.length - 1]!);
    const [a, b] = s.series;
    expect([a.label, b.label]).toEqual(['AAA', 'BBB']);
    expect(a.sampling).toBe('every 1s');
    expect(a.granger.ofiToReturns.p).toBeLessThan(1e-10);
    expect(a.granger.ofiToReturns.lags).toBe(2);
    expect(b.granger.ofiToReturns.p).toBeGreaterThan(0.01);
    // A price: ADF keeps the unit root, KPSS rejects stationarity; its returns are the other way round.
    expect(a.adf.logMid.p).toBeGreaterThan(0.05);
    expect(a.kpss.logMid.pBound).toBe('<');
    expect(a.adf.returns.p).toBeLessThan(0.01);
    const p = s.pairs[0];
    expect(p.ccf.peakLag).toBe(3);
    expect(p.ccf.significant).toBe(true);
    // On update times the delay is 3.5 s: BBB shows at t + 0.7 s what AAA showed at (t - 3) + 0.2 s.
    // The 1 s clock sees 3 ticks, as both updates of a second fall inside the same tick interval.
    expect(p.hy.thetaHatNs).toBe(3.5e9);
    expect(p.hy.pBonferroni).toBeLessThan(0.001);
    // The tables went to stderr, the JSON alone to stdout.
    expect(lines.length).toBe(1);
    expect(res.stderr).toMatch(/lead-lag AAA vs BBB/);
    expect(res.stderr).toMatch(/Granger F\(2,\d+\), lags fixed\s+OFI -> returns/);
  });

  it('Binance spot vs USD-M, the same minutes: one symbol from two inputs, told apart by input number', async () => {
    const res = await flowcast(['research', '--data', `binance:${SPOT_FILE}`, '--data', `binance:${USDM_FILE}`, '--every', '1s', '--pair', '1', '2', '--bootstrap', '0', '--hy-step', '50ms']);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toMatch(/^1:BTCUSDT .*every 1s/m);
    expect(res.stdout).toMatch(/^2:BTCUSDT /m);
    expect(res.stdout).toMatch(/lead-lag 1:BTCUSDT vs 2:BTCUSDT/);
    expect(res.stdout).toMatch(/Hayashi-Yoshida ρ, θ in ±1s step 50ms/);
  });

  it('usage errors name the flag', async () => {
    const a = await flowcast(['research', '--data', 'x.csv', '--every', 'often']);
    expect(a.code).toBe(2);
    expect(a.stderr).toMatch(/--every: expected "event" or a duration/);
    const b = await flowcast(['research', '--data', 'x.csv', '--pair', 'A']);
    expect(b.code).toBe(2);
    expect(b.stderr).toMatch(/--pair takes two series/);
  });
});
