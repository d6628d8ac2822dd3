/**
 * A small Prometheus registry (text exposition format 0.0.4): counters, gauges (set or computed at
 * scrape time) and histograms with fixed buckets. Label children are created once and cached, so
 * the hot path is an array index and an add.
 */
import { escapeHelp, escapeLabel, formatValue } from '../core/prometheus.ts';

type Labels = readonly string[];

abstract class Metric {
  constructor(readonly name: string, readonly help: string, readonly labelNames: Labels, readonly type: string) {
    if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(name)) throw new Error(`bad metric name ${name}`);
  }
  abstract render(out: string[]): void;
  protected header(out: string[]): void {
    out.push(`# HELP ${this.name} ${escapeHelp(this.help)}`);
    out.push(`# TYPE ${this.name} ${this.type}`);
  }
  protected labelText(values: Labels, extra?: string): string {
    const parts = this.labelNames.map((n, i) => `${n}="${escapeLabel(values[i] ?? '')}"`);
    if (extra) parts.push(extra);
    return parts.length ? `{${parts.join(',')}}` : '';
  }
}


export class CounterChild {
  value = 0;
  inc(v = 1): void {
    this.value += v;
  }
}

export class Counter extends Metric {
  private readonly children = new Map<string, { labels: Labels; c: CounterChild }>();
  private readonly root: CounterChild | undefined;

  constructor(name: string, help: string, labelNames: Labels = []) {
    super(name, help, labelNames, 'counter');
    if (labelNames.length === 0) this.root = this.labels();
  }

  labels(...values: string[]): CounterChild {
    const key = values.join('\u0000');
    let ch = this.children.get(key);
    if (!ch) {
      ch = { labels: values, c: new CounterChild() };
      this.children.set(key, ch);
    }
    return ch.c;
  }

  inc(v = 1): void {
    this.root!.value += v;
  }

  get value(): number {
    let s = 0;
    for (const ch of this.children.values()) s += ch.c.value;
    return s;
  }

  render(out: string[]): void {
    this.header(out);
    for (const { labels, c } of this.children.values()) out.push(`${this.name}${this.labelText(labels)} ${formatValue(c.value)}`);
  }
}

/** A gauge whose samples are read at scrape time (connections, subscribers, lag). */
export class Gauge extends Metric {
  constructor(name: string, help: string, labelNames: Labels, private readonly collect: () => Iterable<[Labels, number]>) {
    super(name, help, labelNames, 'gauge');
  }

  render(out: string[]): void {
    this.header(out);
    for (const [labels, v] of this.collect()) out.push(`${this.name}${this.labelText(labels)} ${formatValue(v)}`);
  }
}

export class HistogramChild {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  constructor(private readonly bounds: Float64Array) {
    this.counts = new Float64Array(bounds.length);
  }
  observe(v: number): void {
    const b = this.bounds;
    // Buckets are few and the common values small: a linear scan from the bottom wins.
    let i = 0;
    while (i < b.length && v > b[i]!) i++;
    if (i < b.length) this.counts[i]!++;
    this.sum += v;
    this.count++;
  }
}

export class Histogram extends Metric {
  private readonly bounds: Float64Array;
  private readonly children = new Map<string, { labels: Labels; h: HistogramChild }>();

  constructor(name: string, help: string, buckets: readonly number[], labelNames: Labels = []) {
    super(name, help, labelNames, 'histogram');
    this.bounds = Float64Array.from([...buckets].sort((a, b) => a - b));
  }

  labels(...values: string[]): HistogramChild {
    const key = values.join('\u0000');
    let ch = this.children.get(key);
    if (!ch) {
      ch = { labels: values, h: new HistogramChild(this.bounds) };
      this.children.set(key, ch);
    }
    return ch.h;
  }

  render(out: string[]): void {
    this.header(out);
    for (const { labels, h } of this.children.values()) {
      let cum = 0;
      for (let i = 0; i < this.bounds.length; i++) {
        cum += h.counts[i]!;
        out.push(`${this.name}_bucket${this.labelText(labels, `le="${formatValue(this.bounds[i]!)}"`)} ${cum}`);
      }
      out.push(`${this.name}_bucket${this.labelText(labels, 'le="+Inf"')} ${h.count}`);
      out.push(`${this.name}_sum${this.labelText(labels)} ${formatValue(h.sum)}`);
      out.push(`${this.name}_count${this.labelText(labels)} ${h.count}`);
    }
  }
}

/** Anything that renders Prometheus text (other modules plug their metrics in here). */
export interface MetricsSource {
  renderMetrics(out: string[]): void;
}

export class MetricsRegistry {
  private readonly metrics = new Map<string, Metric>();
  private readonly sources: MetricsSource[] = [];

  /** The counter of that name, created on first use (endpoints share some, e.g. refused upgrades). */
  counter(name: string, help: string, labelNames: Labels = []): Counter {
    const m = this.metrics.get(name);
    if (m instanceof Counter && m.labelNames.join() === labelNames.join()) return m;
    return this.add(new Counter(name, help, labelNames));
  }

  gauge(name: string, help: string, labelNames: Labels, collect: () => Iterable<[Labels, number]>): Gauge {
    return this.add(new Gauge(name, help, labelNames, collect));
  }

  histogram(name: string, help: string, buckets: readonly number[], labelNames: Labels = []): Histogram {
    return this.add(new Histogram(name, help, buckets, labelNames));
  }

  addSource(s: MetricsSource): void {
    this.sources.push(s);
  }

  render(): string {
    const out: string[] = [];
    for (const m of this.metrics.values()) m.render(out);
    for (const s of this.sources) s.renderMetrics(out);
    return out.join('\n') + '\n';
  }

  private add<M extends Metric>(m: M): M {
    if (this.metrics.has(m.name)) throw new Error(`metric ${m.name} registered twice`);
    this.metrics.set(m.name, m);
    return m;
  }
}

/** Latency buckets in seconds, 10 µs .. 1 s (inference and end-to-end latencies). */
export const LATENCY_BUCKETS_S = [1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2, 0.1, 0.25, 0.5, 1];
/** Batch-size buckets (rows per inference batch). */
export const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512];
