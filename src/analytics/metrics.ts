/**
 * Metrics in the Prometheus text exposition format (version 0.0.4): what the analytics know, as
 * gauges and counters a scraper can take. The engine lists its samples; the server serves
 * `renderPrometheus(engine.metrics())` on /metrics next to its own.
 */
import { escapeHelp, escapeLabel, formatValue } from '../core/prometheus.ts';
export interface MetricSample {
  name: string;
  help: string;
  type: 'gauge' | 'counter';
  labels: Record<string, string>;
  value: number;
}

/** The text format: one HELP and TYPE per metric name, then its samples; NaN as `NaN`. */
export function renderPrometheus(samples: readonly MetricSample[]): string {
  const byName = new Map<string, MetricSample[]>();
  for (const s of samples) {
    let a = byName.get(s.name);
    if (!a) byName.set(s.name, (a = []));
    a.push(s);
  }
  const out: string[] = [];
  for (const [name, list] of byName) {
    out.push(`# HELP ${name} ${escapeHelp(list[0]!.help)}`);
    out.push(`# TYPE ${name} ${list[0]!.type}`);
    for (const s of list) {
      const labels = Object.entries(s.labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',');
      out.push(`${name}${labels ? `{${labels}}` : ''} ${formatValue(s.value)}`);
    }
  }
  return out.join('\n') + '\n';
}
