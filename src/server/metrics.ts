/**
 * A small Prometheus registry (text exposition format 0.0.4): counters, gauges (set or computed at
 * scrape time) and histograms with fixed buckets. Label children are created once and cached, so
 * the hot path is an array index and an add.
 */
import { escapeHelp, escapeLabel, formatValue } from '../core/prometheus.ts';
import { Histogram } from '../core/histogram.ts';

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
  /** `a="x",b="y"` for these label values (empty without labels). */
  protected labelPairs(values: Labels): string {
    return this.labelNames.map((n, i) => `${n}="${escapeLabel(values[i] ?? '')}"`).join(',');
  }
  protected labelText(values: Labels): string {
    const pairs = this.labelPairs(values);
    return pairs ? `{${pairs}}` : '';
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

/** A histogram family: one `Histogram` (src/core/histogram.ts) per label set. */
export class HistogramMetric extends Metric {
  private readonly children = new Map<string, { labels: Labels; h: Histogram }>();

  constructor(name: string, help: string, private readonly buckets: readonly number[], labelNames: Labels = []) {
    super(name, help, labelNames, 'histogram');
  }

  labels(...values: string[]): Histogram {
    const key = values.join('\u0000');
    let ch = this.children.get(key);
    if (!ch) {
      ch = { labels: values, h: new Histogram(this.buckets) };
      this.children.set(key, ch);
    }
    return ch.h;
  }

  render(out: string[]): void {
    this.header(out);
    for (const { labels, h } of this.children.values()) h.render(out, this.name, this.labelPairs(labels));
  }
}

/** Anything that renders Prometheus text (other modules plug their metrics in here). */
export interface MetricsSource {
  renderMetrics(out: string[]): void;
}

/**
 * A series' `symbol` label, unescaped: undefined when it has none, null when its labels do not
 * parse (such a line is dropped: it might hide a symbol).
 */
function symbolLabel(line: string): string | undefined | null {
  let i = line.indexOf('{');
  const space = line.indexOf(' ');
  if (i < 0 || (space >= 0 && space < i)) return undefined;
  i++;
  while (line[i] !== '}') {
    const eq = line.indexOf('="', i);
    if (eq < 0) return null;
    const name = line.slice(i, eq);
    let v = '';
    let j = eq + 2;
    for (; j < line.length && line[j] !== '"'; j++) {
      if (line[j] === '\\') {
        j++;
        v += line[j] === 'n' ? '\n' : (line[j] ?? '');
      } else v += line[j];
    }
    if (j >= line.length) return null;
    if (name === 'symbol') return v;
    i = line[j + 1] === ',' ? j + 2 : j + 1;
    if (i >= line.length) return null;
  }
  return undefined;
}

/**
 * Drops the series labelled with a symbol that `show` refuses, and the HELP and TYPE lines of
 * metrics left without series.
 */
function keepSymbols(lines: readonly string[], show: (symbol: string) => boolean, out: string[]): void {
  let header: string[] = [];
  let headerOf = '';
  for (const block of lines) for (const line of block.split('\n')) {
    if (line === '') continue;
    if (line.startsWith('# ')) {
      const name = line.split(' ', 3)[2] ?? '';
      if (name !== headerOf) {
        header = [];
        headerOf = name;
      }
      header.push(line);
      continue;
    }
    const sym = symbolLabel(line);
    if (sym === null || (sym !== undefined && !show(sym))) continue;
    if (header.length > 0) {
      out.push(...header);
      header = [];
    }
    out.push(line);
  }
}

export class MetricsRegistry {
  private readonly metrics = new Map<string, Metric>();
  private readonly sources: MetricsSource[] = [];
  /** Sources whose per-symbol series are market data (the analytics' spreads, depth, VPIN, ...). */
  private readonly marketSources: MetricsSource[] = [];

  /** The counter of that name, created on first use (endpoints share some, e.g. refused upgrades). */
  counter(name: string, help: string, labelNames: Labels = []): Counter {
    const m = this.metrics.get(name);
    if (m instanceof Counter && m.labelNames.join() === labelNames.join()) return m;
    return this.add(new Counter(name, help, labelNames));
  }

  gauge(name: string, help: string, labelNames: Labels, collect: () => Iterable<[Labels, number]>): Gauge {
    return this.add(new Gauge(name, help, labelNames, collect));
  }

  histogram(name: string, help: string, buckets: readonly number[], labelNames: Labels = []): HistogramMetric {
    return this.add(new HistogramMetric(name, help, buckets, labelNames));
  }

  /** `marketData`: its series labelled with a symbol are market data, rendered only where render's `showSymbol` allows. */
  addSource(s: MetricsSource, marketData = false): void {
    (marketData ? this.marketSources : this.sources).push(s);
  }

  /**
   * The exposition text. `showSymbol` decides which symbols' market-data series are included (the
   * HTTP route asks the caller's key; in-process callers see everything).
   */
  render(showSymbol: (symbol: string) => boolean = () => true): string {
    const out: string[] = [];
    for (const m of this.metrics.values()) m.render(out);
    for (const s of this.sources) s.renderMetrics(out);
    const market: string[] = [];
    for (const s of this.marketSources) s.renderMetrics(market);
    keepSymbols(market, showSymbol, out);
    return out.join('\n') + '\n';
  }

  private add<M extends Metric>(m: M): M {
    if (this.metrics.has(m.name)) throw new Error(`metric ${m.name} registered twice`);
    this.metrics.set(m.name, m);
    return m;
  }
}
