import { describe, expect, it } from 'vitest';
import { scratchDir } from '../helpers.ts';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { alertToJson, alertToJsonLine, parseAlertJson, type Alert } from '../../src/analytics/alerts.ts';
import { renderPrometheus } from '../../src/analytics/metrics.ts';
import { analyticsOptions, applyParams, DEFAULT_ANALYTICS_OPTIONS } from '../../src/analytics/options.ts';
import { MEASURE_COLUMNS } from '../../src/analytics/measures/columns.ts';
import { runAnalytics } from '../../src/pipeline/analytics.ts';
import { lobsterTimeBase } from '../../src/venues/lobster/capture.ts';
import command from '../../src/cli/commands/analytics.ts';
import { UsageError } from '../../src/cli/command.ts';

const USDM = 'binance:data/binance/binance-usdm_btcusdt_20240808.jsonl.gz';

describe('alert JSON', () => {
  it('carries the exact epoch nanoseconds as a string, and NaN evidence as null', () => {
    const tb = lobsterTimeBase('2012-06-21');
    // 09:30:00.113246707 New York = 13:30:00.113246707 UTC.
    const ts = (13 * 3600 + 30 * 60) * 1e9 + 113_246_707;
    const a: Alert = { symbol: 'GOOG', ts, kind: 'hidden-liquidity', severity: 'info', message: 'm', evidence: { x: NaN, y: 1.5, s: 'bid', l: [1, 2] } };
    const j = alertToJson(a, tb);
    expect(j.ts_ns).toBe('1340285400113246707');
    expect(j.time).toBe('2012-06-21T13:30:00.113Z');
    expect(Math.abs(j.ts_ms - 1340285400113.2467)).toBeLessThan(1e-3);
    const back = parseAlertJson(JSON.parse(alertToJsonLine(a, tb)));
    expect(back.evidence).toEqual({ x: null, y: 1.5, s: 'bid', l: [1, 2] });
    expect(() => parseAlertJson({ ...j, kind: 'nope' })).toThrow(/unknown kind/);
    expect(() => parseAlertJson({ ...j, ts_ns: 12 })).toThrow(/ts_ns/);
  });
});

describe('options', () => {
  it('--param settings are checked by group, name and value', () => {
    const o = analyticsOptions(applyParams({}, ['liquidity.bps=25', 'whale.quantile=0.999']));
    expect(o.liquidity.bps).toBe(25);
    expect(o.whale.quantile).toBe(0.999);
    expect(o.stuffing.rateMultiple).toBe(DEFAULT_ANALYTICS_OPTIONS.stuffing.rateMultiple);
    expect(() => applyParams({}, ['liquidity.nope=1'])).toThrow(/unknown parameter "nope" in liquidity/);
    expect(() => applyParams({}, ['bogus.bps=1'])).toThrow(/unknown group "bogus"/);
    expect(() => applyParams({}, ['liquidity.bps=abc'])).toThrow(/not a number/);
    expect(() => analyticsOptions(applyParams({}, ['liquidity.dropFrac=1.5']))).toThrow(/liquidity.dropFrac must be in \[0, 1\]/);
    expect(() => analyticsOptions(applyParams({}, ['stuffing.windowMs=150']))).toThrow(/multiple of 100/);
  });
});

describe('metrics', () => {
  it('renders the Prometheus text format from a real run: one HELP/TYPE per name, escaped labels', async () => {
    const res = await runAnalytics(USDM, { vpinBucket: 5 }, {});
    const samples = res.engine.metrics();
    const text = renderPrometheus(samples);
    const lines = text.trim().split('\n');
    for (const name of new Set(samples.map((s) => s.name))) {
      expect(lines.filter((l) => l === `# TYPE ${name} ${samples.find((s) => s.name === name)!.type}`)).toHaveLength(1);
    }
    const off = lines.find((l) => l.startsWith('flowcast_latency_offset_ms{symbol="BTCUSDT",stream="depth"}'));
    expect(Number(off!.split(' ')[1])).toBeLessThan(-1240);
    expect(lines.some((l) => /^flowcast_analytics_alerts_total\{symbol="BTCUSDT",kind="[a-z-]+",severity="(info|warning|critical)"\} \d+$/.test(l))).toBe(true);
    expect(lines.find((l) => l.startsWith('flowcast_analytics_vpin{symbol="BTCUSDT"}'))).toMatch(/ 0\.\d+$/);
    expect(renderPrometheus([{ name: 'm', help: 'h', type: 'gauge', labels: { a: 'x"y\\z\n' }, value: NaN }])).toBe(
      '# HELP m h\n# TYPE m gauge\nm{a="x\\"y\\\\z\\n"} NaN\n');
  }, 60_000);
});

describe('flowcast analytics', () => {
  const dir = scratchDir('analytics');

  it('writes alerts as JSON lines and measure snapshots as CSV', async () => {
    const out = join(dir, 'alerts.jsonl');
    const m = join(dir, 'm.csv');
    const write = process.stdout.write;
    let printed = '';
    process.stdout.write = ((s: string) => { printed += s; return true; }) as typeof process.stdout.write;
    const errWrite = process.stderr.write;
    process.stderr.write = (() => true) as typeof process.stderr.write;
    try {
      expect(await command.run(['--source', USDM, '--out', out, '--measures', m, '--every-ms', '30000', '--vpin-bucket', '5'])).toBe(0);
    } finally {
      process.stdout.write = write;
      process.stderr.write = errWrite;
    }
    const alerts = readFileSync(out, 'utf8').trim().split('\n').map((l) => parseAlertJson(JSON.parse(l)));
    expect(alerts.length).toBeGreaterThan(10);
    expect(alerts.every((a) => a.symbol === 'BTCUSDT' && a.ts_ns.startsWith('17231'))).toBe(true);
    const csv = readFileSync(m, 'utf8').trim().split('\n');
    expect(csv[0]).toBe(['ts_ns', 'symbol', ...MEASURE_COLUMNS].join(','));
    // 30 s snapshots over ~345 s, plus the final one.
    expect(csv.length - 1).toBeGreaterThanOrEqual(11);
    const rows = csv.slice(1).map((l) => l.split(','));
    expect(rows.every((r) => r.length === MEASURE_COLUMNS.length + 2)).toBe(true);
    const tsCol = rows.slice(0, -1).map((r) => BigInt(r[0]!));
    for (let i = 1; i < tsCol.length; i++) expect(tsCol[i]! - tsCol[i - 1]!).toBe(30_000_000_000n);
    expect(printed).toContain('latency_offset_ms');
    expect(printed).toMatch(/BTCUSDT +depth +\d+ +-12\d\d/);
  }, 60_000);

  it('rejects bad flags with a usage error', async () => {
    await expect(command.run(['--out', 'x'])).rejects.toThrow(UsageError);
    await expect(command.run(['--source', USDM, '--param', 'liquidity.bps=-1'])).rejects.toThrow(/liquidity.bps must be a positive number/);
    await expect(command.run(['--source', USDM, '--every-ms', 'soon'])).rejects.toThrow(/--every-ms: expected a number/);
  });
});
