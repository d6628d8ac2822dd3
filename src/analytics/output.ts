/**
 * Batch outputs of the analytics: alerts as JSON lines, measure snapshots as CSV, and the summary
 * tables `flowcast analytics` prints. I/O only; the engine knows nothing of files.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import type { TimeBaseRef } from '../model/time.ts';
import { alertToJsonLine, type Alert } from './alerts.ts';
import { MEASURE_COLUMNS } from './measures/columns.ts';
import type { AnalyticsEngine } from './engine.ts';

/** Buffered line writer to a file or stdout ("-"), flushing in chunks. */
class LineWriter {
  private readonly out: WriteStream | NodeJS.WriteStream;
  private buf: string[] = [];
  private bytes = 0;
  lines = 0;

  constructor(path: string) {
    this.out = path === '-' ? process.stdout : createWriteStream(path);
  }

  line(s: string): void {
    this.buf.push(s);
    this.bytes += s.length;
    this.lines++;
    if (this.bytes > 1 << 16) this.flush();
  }

  flush(): void {
    if (this.buf.length === 0) return;
    this.out.write(this.buf.join('\n') + '\n');
    this.buf = [];
    this.bytes = 0;
  }

  close(): Promise<void> {
    this.flush();
    if (this.out === process.stdout) return Promise.resolve();
    return new Promise((resolve, reject) => {
      (this.out as WriteStream).once('error', reject);
      (this.out as WriteStream).end(() => resolve());
    });
  }
}

export class AlertWriter {
  private readonly w: LineWriter;

  constructor(path: string, private readonly timeBase: Pick<TimeBaseRef, 'get'>) {
    this.w = new LineWriter(path);
  }

  write(a: Alert): void {
    this.w.line(alertToJsonLine(a, this.timeBase.get()));
  }

  get count(): number {
    return this.w.lines;
  }

  close(): Promise<void> {
    return this.w.close();
  }
}

/** CSV: ts_ns (epoch ns), symbol, then MEASURE_COLUMNS; NaN as an empty field; round-trip floats. */
export class MeasuresCsvWriter {
  private readonly w: LineWriter;

  constructor(path: string, private readonly timeBase: Pick<TimeBaseRef, 'get'>) {
    this.w = new LineWriter(path);
    this.w.line(['ts_ns', 'symbol', ...MEASURE_COLUMNS].join(','));
  }

  write(symbol: string, ts: number, v: Float64Array): void {
    let s = `${this.timeBase.get().toEpochNs(Math.round(ts))},${symbol}`;
    for (let i = 0; i < v.length; i++) {
      const x = v[i]!;
      s += Number.isFinite(x) ? `,${x}` : ',';
    }
    this.w.line(s);
  }

  close(): Promise<void> {
    return this.w.close();
  }
}

/** Per symbol: the last snapshot and the mean of each measure over the snapshots (NaN skipped). */
export class MeasureSummary {
  private readonly sums = new Map<string, { n: Float64Array; sum: Float64Array; last: Float64Array }>();

  add(symbol: string, v: Float64Array): void {
    let s = this.sums.get(symbol);
    if (!s) {
      const k = MEASURE_COLUMNS.length;
      s = { n: new Float64Array(k), sum: new Float64Array(k), last: new Float64Array(k) };
      this.sums.set(symbol, s);
    }
    s.last.set(v);
    for (let i = 0; i < v.length; i++) {
      const x = v[i]!;
      if (Number.isFinite(x)) {
        s.sum[i] += x;
        s.n[i]++;
      }
    }
  }

  mean(symbol: string): Float64Array | undefined {
    const s = this.sums.get(symbol);
    return s && s.sum.map((x, i) => (s.n[i]! > 0 ? x / s.n[i]! : NaN));
  }

  last(symbol: string): Float64Array | undefined {
    return this.sums.get(symbol)?.last;
  }
}

/**
 * Plain-text tables: per symbol the mean of each measure over the snapshots and its last value
 * (trades, volume and alerts are per snapshot interval), alerts by kind and severity, feed latency.
 */
export function summaryTables(e: AnalyticsEngine, summary: MeasureSummary): string {
  const syms = e.symbols();
  const out: string[] = [];
  const head = ['measure', ...syms.flatMap((s) => [`${s} mean`, `${s} last`])];
  const means = syms.map((s) => summary.mean(s));
  const lasts = syms.map((s) => summary.last(s) ?? e.measures(s)!);
  out.push(table(head, MEASURE_COLUMNS.map((c, i) => [c, ...syms.flatMap((_s, k) => [fmtCell(means[k]?.[i] ?? NaN), fmtCell(lasts[k]![i]!)])])));
  const counts = e.alertCounts.rows();
  if (counts.length) {
    out.push(table(['symbol', 'alert', 'severity', 'count'], counts.map((r) => [r.symbol, r.kind, r.severity, String(r.count)])));
  } else {
    out.push('no alerts');
  }
  const lat = e.latencyStats();
  if (lat.length) {
    out.push(table(['symbol', 'stream', 'samples', 'offset ms', 'floor ms', 'jitter ms', 'MAD ms'],
      lat.map((l) => [l.symbol, l.stream, String(l.samples), fmtCell(l.offsetMs), fmtCell(l.floorMs), fmtCell(l.jitterMs), fmtCell(l.madMs)])));
  }
  return out.join('\n\n');
}

function fmtCell(x: number): string {
  if (!Number.isFinite(x)) return '-';
  const a = Math.abs(x);
  if (a !== 0 && (a < 1e-3 || a >= 1e7)) return x.toExponential(3);
  return String(Number(x.toPrecision(6)));
}

function table(header: string[], rows: string[][]): string {
  const w = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  ');
  return [line(header), w.map((n) => '-'.repeat(n)).join('  '), ...rows.map(line)].join('\n');
}
