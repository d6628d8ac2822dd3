/**
 * The files of `--out DIR`: fills.csv, orders.csv, equity.csv, summary.json, logs.jsonl (the
 * strategy's ctx.log lines) and report.html (one
 * self-contained page: uPlot's script and styles and the data inlined, so it opens from disk or
 * as a mail attachment with no server and no network).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { EquityPoint, FillRecord, OrderRecord } from '../engine.ts';

const require = createRequire(import.meta.url);

export interface ReportInput {
  fills: readonly FillRecord[];
  /** The strategy's ctx.log lines (exchange-time ns). */
  logs?: readonly { ts: number; message: string; fields?: Record<string, unknown> }[];
  orders: readonly OrderRecord[];
  equity: readonly EquityPoint[];
  /** Epoch ms of exchange time 0. */
  baseMs: number;
  summary: Record<string, unknown>;
  title: string;
}

const num = (v: number): string => (Number.isFinite(v) ? String(v) : '');
const text = (v: string | undefined): string => (v === undefined ? '' : /[",\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);

export function fillsCsv(fills: readonly FillRecord[], baseMs: number): string {
  const lines = ['ts_ns,time,order_id,symbol,side,price,qty,fee,liquidity,seen_at_ns,arrival_mid,mid,tag'];
  for (const f of fills) {
    lines.push([f.ts, iso(baseMs, f.ts), f.orderId, text(f.symbol), f.side, num(f.price), num(f.qty), num(f.fee), f.liquidity, f.seenAt, num(f.arrivalMid), num(f.mid), text(f.tag)].join(','));
  }
  return lines.join('\n') + '\n';
}

export function ordersCsv(orders: readonly OrderRecord[], baseMs: number): string {
  const lines = ['id,symbol,side,kind,tif,price,qty,filled,status,reason,sent_at_ns,sent_time,done_at_ns,arrival_mid,tag'];
  for (const o of orders) {
    lines.push([o.id, text(o.symbol), o.side, o.kind, o.tif, num(o.price), num(o.qty), num(o.filled), o.status, text(o.reason), o.sentAt, iso(baseMs, o.sentAt), num(o.doneAt), num(o.arrivalMid), text(o.tag)].join(','));
  }
  return lines.join('\n') + '\n';
}

export function equityCsv(points: readonly EquityPoint[], baseMs: number): string {
  const lines = ['ts_ns,time,equity,position,mid'];
  for (const p of points) lines.push([p.ts, iso(baseMs, p.ts), num(p.equity), num(p.position), num(p.mid)].join(','));
  return lines.join('\n') + '\n';
}

function iso(baseMs: number, ts: number): string {
  return new Date(Math.floor(baseMs + ts / 1e6)).toISOString();
}

/** At most `max` points, evenly picked (the last kept): a chart has no use for more. */
function thin<T>(a: readonly T[], max: number): T[] {
  if (a.length <= max) return [...a];
  const out: T[] = [];
  const step = a.length / max;
  for (let i = 0; i < max; i++) out.push(a[Math.floor(i * step)]!);
  out.push(a[a.length - 1]!);
  return out;
}

export function reportHtml(r: ReportInput): string {
  const uplotJs = readFileSync(join(dirname(require.resolve('uplot')), 'uPlot.iife.min.js'), 'utf8');
  const uplotCss = readFileSync(join(dirname(require.resolve('uplot')), 'uPlot.min.css'), 'utf8');
  const sec = (ts: number): number => (r.baseMs + ts / 1e6) / 1000;
  const eq = thin(r.equity, 20_000);
  const fills = thin(r.fills, 20_000);
  const data = {
    t: eq.map((p) => sec(p.ts)),
    equity: eq.map((p) => p.equity),
    position: eq.map((p) => p.position),
    mid: eq.map((p) => (Number.isFinite(p.mid) ? p.mid : null)),
    fills: fills.map((f) => [sec(f.ts), f.price, f.side === 'buy' ? 1 : -1, f.qty]),
  };
  // Inline JSON inside <script>: "</" must not close the element.
  const json = JSON.stringify({ data, summary: r.summary }).replace(/</g, '\\u003c');
  const rows = flatten(r.summary).map(([k, v]) => `<tr><td>${esc(k)}</td><td>${esc(v)}</td></tr>`).join('');
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>${esc(r.title)}</title>
<style>${uplotCss}
body{font:14px system-ui,sans-serif;margin:16px;color:#222}h1{font-size:18px}h2{font-size:15px;margin:18px 0 4px}
table{border-collapse:collapse;font-size:12px}td{border-bottom:1px solid #eee;padding:2px 8px}td:first-child{color:#555}</style>
</head><body>
<h1>${esc(r.title)}</h1>
<p>${esc(headline(r.summary))} &middot; times in UTC</p>
<h2>Equity (cash + position marked to mid, fees included)</h2><div id="equity"></div>
<h2>Position</h2><div id="position"></div>
<h2>Fills over price (mid; buys green, sells red)</h2><div id="price"></div>
<h2>Summary</h2><table>${rows}</table>
<script>${uplotJs}</script>
<script>
const R = ${json};
const d = R.data;
const W = Math.min(1100, window.innerWidth - 40);
// Exchange time is shown in UTC, whatever the reader's zone.
const utc = (ts) => uPlot.tzDate(new Date(ts * 1e3), 'Etc/UTC');
const base = { tzDate: utc };
new uPlot({ ...base, width: W, height: 260, series: [{}, { label: 'equity', stroke: '#2a6' }] }, [d.t, d.equity], document.getElementById('equity'));
new uPlot({ ...base, width: W, height: 200, series: [{}, { label: 'position', stroke: '#36c', paths: uPlot.paths.stepped({ align: 1 }) }] }, [d.t, d.position], document.getElementById('position'));
// One x axis for the mid and the fills: the union of their times, nulls where a series has no value.
const xs = d.t.map((t, i) => [t, 0, i]).concat(d.fills.map((f, i) => [f[0], 1, i])).sort((a, b) => a[0] - b[0]);
const X = [], M = [], B = [], S = [];
for (const [t, k, i] of xs) {
  X.push(t);
  M.push(k === 0 ? d.mid[i] : null);
  B.push(k === 1 && d.fills[i][2] > 0 ? d.fills[i][1] : null);
  S.push(k === 1 && d.fills[i][2] < 0 ? d.fills[i][1] : null);
}
const dots = (c) => ({ stroke: c, fill: c, paths: () => null, points: { show: true, size: 5, fill: c } });
new uPlot({ ...base, width: W, height: 300, series: [{}, { label: 'mid', stroke: '#888', spanGaps: true }, { label: 'buy', ...dots('#1a1') }, { label: 'sell', ...dots('#d22') }] },
  [X, M, B, S], document.getElementById('price'));
</script>
</body></html>
`;
}

/** PnL, Sharpe, drawdown, fills in one line (the summary's own numbers). */
function headline(s: Record<string, unknown>): string {
  const n = (v: unknown, d = 2): string => (typeof v === 'number' && Number.isFinite(v) ? v.toFixed(d) : 'n/a');
  const m = s['metrics'] as { fills?: number; fees?: { total?: number } } | undefined;
  return `PnL ${n(s['pnl'])} (fees ${n(m?.fees?.total)}) \u00b7 Sharpe ${n(s['sharpe'])} \u00b7 max drawdown ${n(s['maxDrawdown'])} \u00b7 ${m?.fills ?? 0} fills`;
}

function esc(s: string): string {
  return s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
}

function flatten(o: Record<string, unknown>, prefix = ''): [string, string][] {
  const out: [string, string][] = [];
  for (const [k, v] of Object.entries(o)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (v && typeof v === 'object' && !Array.isArray(v)) out.push(...flatten(v as Record<string, unknown>, key));
    else out.push([key, typeof v === 'number' ? String(Math.round(v * 1e6) / 1e6) : JSON.stringify(v) ?? '']);
  }
  return out;
}

/** Writes every file of the report into `dir` (created if missing). */
export function writeReport(dir: string, r: ReportInput): string[] {
  mkdirSync(dir, { recursive: true });
  const files: [string, string][] = [
    ['fills.csv', fillsCsv(r.fills, r.baseMs)],
    ['orders.csv', ordersCsv(r.orders, r.baseMs)],
    ['equity.csv', equityCsv(r.equity, r.baseMs)],
    ['summary.json', JSON.stringify(r.summary, null, 2) + '\n'],
    ['logs.jsonl', (r.logs ?? []).map((l) => JSON.stringify({ ts_ns: l.ts, time: iso(r.baseMs, l.ts), message: l.message, ...l.fields })).join('\n') + ((r.logs?.length ?? 0) > 0 ? '\n' : '')],
    ['report.html', reportHtml(r)],
  ];
  for (const [name, body] of files) writeFileSync(join(dir, name), body);
  return files.map(([n]) => join(dir, n));
}
