/**
 * Alerts: what the analytics tell a risk manager, as events. An alert names the symbol, the time of
 * the event that triggered it, what was detected, how bad it is, and the numbers that triggered it
 * (the evidence), so a reader can check the call without rerunning anything. The server publishes
 * the JSON form on `alerts.<SYMBOL>` and `alerts.*`; batch runs write it as JSON lines.
 */
import type { TimeBase } from '../model/time.ts';

export const ALERT_KINDS = [
  'liquidity-evaporation',
  'quote-stuffing',
  'spoofing',
  'hidden-liquidity',
  'iceberg',
  'whale-trade',
  'whale-order',
  'wash-trade',
  'toxic-flow',
  'latency-jitter',
  'latency-offset-shift',
  'trading-halt',
] as const;
export type AlertKind = (typeof ALERT_KINDS)[number];

/** info: worth a look; warning: act if it persists; critical: act now. */
export const SEVERITIES = ['info', 'warning', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];

/** Numbers (NaN and infinities serialise as null), strings, flags, and short lists of them. */
export type EvidenceValue = number | string | boolean | null | readonly number[] | readonly string[];
export type Evidence = Record<string, EvidenceValue>;

export interface Alert {
  symbol: string;
  /** Exchange time of the triggering event, ns since the run's TimeBase. */
  ts: number;
  kind: AlertKind;
  severity: Severity;
  /** One line for humans: what, where, how much. */
  message: string;
  evidence: Evidence;
}

export type AlertSink = (alert: Alert) => void;

/** The wire and file form of an alert (JSON). */
export interface AlertJson {
  type: 'alert';
  symbol: string;
  kind: AlertKind;
  severity: Severity;
  /** Epoch nanoseconds, UTC, as a decimal string (exact; int64 does not fit a JSON number). */
  ts_ns: string;
  /** Epoch milliseconds, UTC (a JSON number; sub-ms digits are approximate). */
  ts_ms: number;
  /** ISO-8601 UTC, millisecond precision. */
  time: string;
  message: string;
  evidence: Evidence;
}

export function alertToJson(a: Alert, tb: TimeBase): AlertJson {
  const ts = Math.round(a.ts);
  return {
    type: 'alert',
    symbol: a.symbol,
    kind: a.kind,
    severity: a.severity,
    ts_ns: tb.toEpochNs(ts).toString(),
    ts_ms: tb.toEpochMs(ts),
    time: tb.toIso(ts),
    message: a.message,
    evidence: a.evidence,
  };
}

/** One JSON line (NaN and infinities in the evidence become null). */
export function alertToJsonLine(a: Alert, tb: TimeBase): string {
  return JSON.stringify(alertToJson(a, tb), finite);
}

function finite(_k: string, v: unknown): unknown {
  return typeof v === 'number' && !Number.isFinite(v) ? null : v;
}

/**
 * Checks a parsed JSON value is an alert (clients and tests); throws naming the first field that is
 * not what the schema says.
 */
export function parseAlertJson(v: unknown): AlertJson {
  const o = v as Record<string, unknown>;
  const fail = (what: string): never => {
    throw new Error(`not an alert: ${what}`);
  };
  if (o === null || typeof o !== 'object') fail('expected an object');
  if (o['type'] !== 'alert') fail(`type is ${JSON.stringify(o['type'])}, expected "alert"`);
  if (typeof o['symbol'] !== 'string') fail('symbol is not a string');
  if (!(ALERT_KINDS as readonly string[]).includes(o['kind'] as string)) fail(`unknown kind ${JSON.stringify(o['kind'])}`);
  if (!(SEVERITIES as readonly string[]).includes(o['severity'] as string)) fail(`unknown severity ${JSON.stringify(o['severity'])}`);
  if (typeof o['ts_ns'] !== 'string' || !/^-?\d+$/.test(o['ts_ns'])) fail('ts_ns is not a decimal integer string');
  if (typeof o['ts_ms'] !== 'number') fail('ts_ms is not a number');
  if (typeof o['message'] !== 'string') fail('message is not a string');
  if (o['evidence'] === null || typeof o['evidence'] !== 'object' || Array.isArray(o['evidence'])) fail('evidence is not an object');
  return o as unknown as AlertJson;
}

/** Counts of alerts by kind and severity (summaries, metrics). */
export class AlertCounts {
  private readonly counts = new Map<string, number>();
  total = 0;

  add(a: Pick<Alert, 'symbol' | 'kind' | 'severity'>): void {
    const k = `${a.symbol}\u0000${a.kind}\u0000${a.severity}`;
    this.counts.set(k, (this.counts.get(k) ?? 0) + 1);
    this.total++;
  }

  /** Rows of (symbol, kind, severity, count), sorted. */
  rows(): { symbol: string; kind: AlertKind; severity: Severity; count: number }[] {
    return [...this.counts.entries()]
      .map(([k, count]) => {
        const [symbol, kind, severity] = k.split('\u0000') as [string, AlertKind, Severity];
        return { symbol, kind, severity, count };
      })
      .sort((a, b) => a.symbol.localeCompare(b.symbol) || a.kind.localeCompare(b.kind) || a.severity.localeCompare(b.severity));
  }

  byKind(): Partial<Record<AlertKind, number>> {
    const out: Partial<Record<AlertKind, number>> = {};
    for (const r of this.rows()) out[r.kind] = (out[r.kind] ?? 0) + r.count;
    return out;
  }
}

/** Formats a number for alert messages: 4 significant digits, grouped thousands. */
export function fmt(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  const a = Math.abs(x);
  if (a >= 1000) return Math.round(x).toLocaleString('en-US');
  return Number(x.toPrecision(4)).toString();
}
