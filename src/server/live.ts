/**
 * The live feed's end of the pipeline (src/pipeline/live.ts): what the pipeline hands on becomes
 * frames on the broker. Book frames are throttled per symbol (bookIntervalMs, with a trailing edge);
 * book and features topics nobody subscribes to only keep their state, published as the last value
 * when a subscriber comes (Topic.refresh); predictions and alerts go out as they come.
 */
import type { BookRow } from '../model/row.ts';
import type { TimeBase } from '../model/time.ts';
import { Broker, type Topic } from './broker.ts';
import type { BookFrame, FeaturesFrame, PredFrame, AlertFrame } from '../protocol/frames.ts';
import { TOPICS } from '../protocol/topics.ts';
import type { CounterChild, HistogramMetric, MetricsRegistry } from './metrics.ts';
import { LATENCY_BUCKETS_S, type Histogram } from '../core/histogram.ts';
import type { FeedConfig } from './config.ts';
import { FEATURE_COLUMNS } from '../features/columns.ts';
import type { PipelineOutput, RowResult } from '../pipeline/live.ts';
import type { AlertEvent, Prediction } from '../pipeline/plugins.ts';

/** Per-symbol feed state. */
class SymbolFeed {
  lastBookMs = -Infinity;
  bookDirty = false;
  bookTs = 0;
  nb = 0;
  na = 0;
  readonly bid: Float64Array;
  readonly ask: Float64Array;
  readonly bookTopic: Topic;
  readonly featuresTopic: Topic;
  readonly alertsTopic: Topic;
  readonly predTopics = new Map<string, Topic>();
  /** The last features row (the pipeline's array for the symbol; published on subscribe when frames were skipped). */
  lastValues: Float64Array | undefined;
  lastTs = 0;
  lastRow = 0;

  constructor(readonly name: string, levels: number, broker: Broker) {
    this.bid = new Float64Array(levels * 2);
    this.ask = new Float64Array(levels * 2);
    this.bookTopic = broker.held(TOPICS.book.name(name));
    this.featuresTopic = broker.held(TOPICS.features.name(name));
    // Held: an alert may come long after a subscriber came and went, and must reach the next one.
    this.alertsTopic = broker.held(TOPICS.alerts.name(name));
  }
}

export class LiveFeed implements PipelineOutput {
  private readonly feeds = new Map<string, SymbolFeed>();
  private bookTimer: NodeJS.Timeout | undefined;
  private readonly featuresFrame: FeaturesFrame;
  private readonly featureLatency: Histogram;
  private readonly predLatency: HistogramMetric;
  /** Each model's child of predLatency (the label lookup once per model, not per frame). */
  private readonly predLatencyByModel = new Map<string, Histogram>();
  private readonly alertsOut: CounterChild;

  constructor(
    private readonly cfg: FeedConfig,
    private readonly broker: Broker,
    metrics: MetricsRegistry,
    private readonly tb: TimeBase,
  ) {
    this.featuresFrame = { t: 'features', topic: '', seq: 0, ts: 0, sym: '', row: 0, v: new Array<number>(FEATURE_COLUMNS.length).fill(0) };
    this.alertsOut = metrics.counter('flowcast_alerts_total', 'Alerts published').labels();
    this.featureLatency = metrics.histogram('flowcast_features_latency_seconds',
      'From a book event entering the server to its features frame being published', LATENCY_BUCKETS_S).labels();
    this.predLatency = metrics.histogram('flowcast_prediction_latency_seconds',
      'From a book event entering the server to its prediction frame being published (inference and batching included), by model', LATENCY_BUCKETS_S, ['model']);
  }

  start(): void {
    const iv = this.cfg.bookIntervalMs;
    if (iv > 0) {
      this.bookTimer = setInterval(() => this.flushBooks(), iv);
      this.bookTimer.unref();
    }
  }

  stop(): void {
    clearInterval(this.bookTimer);
  }

  /** A row: its book (throttled) and its features, each to its topic. */
  row(r: RowResult): void {
    const f = this.feedOf(r.sym);
    this.book(f, r.book);
    this.features(f, r);
  }

  private feedOf(sym: string): SymbolFeed {
    let f = this.feeds.get(sym);
    if (!f) {
      const nf = (f = new SymbolFeed(sym, this.cfg.bookLevels, this.broker));
      nf.bookTopic.refresh = () => this.publishBook(nf, performance.now());
      nf.featuresTopic.refresh = () => this.publishFeatures(nf);
      this.feeds.set(sym, f);
    }
    return f;
  }

  // ---- book frames ----

  private book(f: SymbolFeed, row: BookRow): void {
    const L = this.cfg.bookLevels;
    const n = row.usableLevels < L ? row.usableLevels : L;
    let nb = 0;
    let na = 0;
    for (let i = 0; i < n; i++) {
      const bp = row.bidPx[i]!;
      if (bp === bp) {
        f.bid[2 * nb] = bp;
        f.bid[2 * nb++ + 1] = row.bidSz[i]!;
      }
      const ap = row.askPx[i]!;
      if (ap === ap) {
        f.ask[2 * na] = ap;
        f.ask[2 * na++ + 1] = row.askSz[i]!;
      }
    }
    f.nb = nb;
    f.na = na;
    f.bookTs = row.ts;
    if (f.bookTopic.subscribers === 0) {
      // Nobody to send it to: keep the state; a subscriber gets it as the last value (Topic.refresh).
      f.bookTopic.stale = true;
      f.bookDirty = false;
      return;
    }
    const now = performance.now();
    if (now - f.lastBookMs >= this.cfg.bookIntervalMs) this.publishBook(f, now);
    else f.bookDirty = true;
  }

  /** Trailing edge of the throttle: the newest state of every symbol that changed since its last frame. */
  private flushBooks(): void {
    const now = performance.now();
    for (const f of this.feeds.values()) if (f.bookDirty && now - f.lastBookMs >= this.cfg.bookIntervalMs) this.publishBook(f, now);
  }

  private publishBook(f: SymbolFeed, now: number): void {
    f.lastBookMs = now;
    f.bookDirty = false;
    const bids: [number, number][] = new Array(f.nb);
    const asks: [number, number][] = new Array(f.na);
    for (let i = 0; i < f.nb; i++) bids[i] = [f.bid[2 * i]!, f.bid[2 * i + 1]!];
    for (let i = 0; i < f.na; i++) asks[i] = [f.ask[2 * i]!, f.ask[2 * i + 1]!];
    const frame: BookFrame = { t: 'book', topic: '', seq: 0, ts: this.tb.toEpochMs(f.bookTs), sym: f.name, bids, asks };
    this.broker.publish(f.bookTopic, frame);
  }

  // ---- features, predictions, alerts ----

  private features(f: SymbolFeed, r: RowResult): void {
    f.lastValues = r.values;
    f.lastRow = r.row;
    f.lastTs = r.ts;
    if (f.featuresTopic.subscribers > 0) {
      this.publishFeatures(f);
      this.featureLatency.observe((performance.now() - r.enteredAt) / 1000);
    } else f.featuresTopic.stale = true;
  }

  private publishFeatures(f: SymbolFeed): void {
    const v = f.lastValues;
    if (!v) return;
    const fr = this.featuresFrame;
    fr.ts = this.tb.toEpochMs(f.lastTs);
    fr.sym = f.name;
    fr.row = f.lastRow;
    for (let c = 0; c < v.length; c++) fr.v[c] = v[c]!;
    this.broker.publish(f.featuresTopic, fr);
  }

  prediction(p: Prediction): void {
    const f = this.feeds.get(p.symbol);
    if (!f) return;
    let t = f.predTopics.get(p.model);
    if (!t) {
      t = this.broker.topic(TOPICS.pred.name(p.model, p.symbol));
      f.predTopics.set(p.model, t);
    }
    const latency = performance.now() - p.enteredAt;
    const frame: PredFrame = {
      t: 'pred', topic: '', seq: 0, ts: this.tb.toEpochMs(p.ts), sym: p.symbol, model: p.model, classes: p.classes,
      probs: Array.from(p.probs), row: p.row, latencyUs: Math.round(latency * 1000),
    };
    this.broker.publish(t, frame);
    let h = this.predLatencyByModel.get(p.model);
    if (!h) this.predLatencyByModel.set(p.model, (h = this.predLatency.labels(p.model)));
    h.observe(latency / 1000);
  }

  alert(a: AlertEvent): void {
    const f = this.feeds.get(a.symbol);
    const frame: AlertFrame = {
      t: 'alert', topic: '', seq: 0, ts: this.tb.toEpochMs(a.ts), sym: a.symbol, kind: a.kind, severity: a.severity,
      ...(a.message ? { message: a.message } : {}), evidence: a.evidence,
    };
    this.alertsOut.inc();
    this.broker.publish(f ? f.alertsTopic : this.broker.topic(TOPICS.alerts.name(a.symbol)), frame);
    this.broker.publish(this.broker.topic(TOPICS.allAlerts.name()), frame);
  }
}
