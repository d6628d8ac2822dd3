/**
 * The compute role's PipelineOutput: what the live pipeline hands on becomes result records, kept
 * per shard until that shard's next commit (compute.ts) writes them and acknowledges the input
 * entries that made them, in one Lua call. Frames are stored without `topic` and `seq`: the topic is
 * the stream, the seq its entry id, both given by Redis at the commit (so two writers can never give
 * one seq two contents).
 *
 * Book frames are conflated as LiveFeed does it (the newest state per symbol, at most one per
 * `bookIntervalMs`): taken at each commit, and by the idle flush for a trailing edge.
 */
import type { BookRow } from '../model/row.ts';
import type { TimeBase } from '../model/time.ts';
import type { PipelineOutput, RowResult } from '../pipeline/live.ts';
import type { AlertEvent, Prediction } from '../pipeline/plugins.ts';
import type { AlertFrame, BookFrame, FeaturesFrame, PredFrame } from '../protocol/frames.ts';
import { packr } from '../protocol/codec.ts';
import { TOPICS } from '../protocol/topics.ts';

/** One record for a result stream: a frame (`f`, takes the topic's next seq) or a gap notice (`g`, after the topic's last seq). */
export interface OutRecord {
  kind: 'f' | 'g';
  topic: string;
  payload: Buffer | string;
}

/** What a gap notice says (JSON in the stream; the edge turns it into a `gap` frame). */
export interface GapNotice {
  reason: 'takeover' | 'handover' | 'ingest-lost';
  /** Epoch ms when it was written. */
  at: number;
  shard: number;
  /** The consumer that owned the shard before (takeover, handover). */
  from?: string;
  /** Input events never written by ingest (ingest-lost). */
  lost?: number;
  message: string;
}

class BookState {
  readonly bid: Float64Array;
  readonly ask: Float64Array;
  nb = 0;
  na = 0;
  ts = 0;
  dirty = false;
  lastMs = -Infinity;
  constructor(levels: number) {
    this.bid = new Float64Array(levels * 2);
    this.ask = new Float64Array(levels * 2);
  }
}

export interface OutputTarget {
  /** The outbox of the shard that owns a symbol; undefined when this process does not own it (now). */
  outbox(symbol: string): OutRecord[] | undefined;
}

export class ClusterOutput implements PipelineOutput {
  private readonly books = new Map<string, BookState>();
  /** Prediction topics seen per symbol (a takeover notice goes to them too). */
  readonly predTopics = new Map<string, Set<string>>();
  readonly counts = { frames: 0, orphaned: 0 };

  constructor(
    private readonly target: OutputTarget,
    private readonly tb: TimeBase,
    private readonly bookLevels: number,
    private readonly bookIntervalMs: number,
  ) {}

  private put(symbol: string, topic: string, frame: object): void {
    const box = this.target.outbox(symbol);
    if (!box) {
      // A late prediction for a shard this process gave up: its next owner recomputes the row.
      this.counts.orphaned++;
      return;
    }
    box.push({ kind: 'f', topic, payload: packr.pack(frame) });
    this.counts.frames++;
  }

  row(r: RowResult): void {
    this.book(r.sym, r.book);
    const f: Omit<FeaturesFrame, 'topic' | 'seq'> = { t: 'features', ts: this.tb.toEpochMs(r.ts), sym: r.sym, row: r.row, v: Array.from(r.values) };
    this.put(r.sym, TOPICS.features.name(r.sym), f);
  }

  private book(sym: string, row: BookRow): void {
    let b = this.books.get(sym);
    if (!b) this.books.set(sym, (b = new BookState(this.bookLevels)));
    const n = row.usableLevels < this.bookLevels ? row.usableLevels : this.bookLevels;
    let nb = 0;
    let na = 0;
    for (let i = 0; i < n; i++) {
      const bp = row.bidPx[i]!;
      if (bp === bp) {
        b.bid[2 * nb] = bp;
        b.bid[2 * nb++ + 1] = row.bidSz[i]!;
      }
      const ap = row.askPx[i]!;
      if (ap === ap) {
        b.ask[2 * na] = ap;
        b.ask[2 * na++ + 1] = row.askSz[i]!;
      }
    }
    b.nb = nb;
    b.na = na;
    b.ts = row.ts;
    b.dirty = true;
  }

  /** Book frames of the symbols whose state changed and whose interval has passed, into their outboxes. */
  flushBooks(symbols: Iterable<string>, now: number): void {
    for (const sym of symbols) {
      const b = this.books.get(sym);
      if (!b || !b.dirty || now - b.lastMs < this.bookIntervalMs) continue;
      b.dirty = false;
      b.lastMs = now;
      const bids: [number, number][] = new Array(b.nb);
      const asks: [number, number][] = new Array(b.na);
      for (let i = 0; i < b.nb; i++) bids[i] = [b.bid[2 * i]!, b.bid[2 * i + 1]!];
      for (let i = 0; i < b.na; i++) asks[i] = [b.ask[2 * i]!, b.ask[2 * i + 1]!];
      const f: Omit<BookFrame, 'topic' | 'seq'> = { t: 'book', ts: this.tb.toEpochMs(b.ts), sym, bids, asks };
      this.put(sym, TOPICS.book.name(sym), f);
    }
  }

  /** A symbol's book state goes (its shard left this process, or its book must resync): no stale frame after. */
  forget(sym: string): void {
    this.books.delete(sym);
  }

  prediction(p: Prediction): void {
    const topic = TOPICS.pred.name(p.model, p.symbol);
    let s = this.predTopics.get(p.symbol);
    if (!s) this.predTopics.set(p.symbol, (s = new Set()));
    s.add(topic);
    const f: Omit<PredFrame, 'topic' | 'seq'> = {
      t: 'pred', ts: this.tb.toEpochMs(p.ts), sym: p.symbol, model: p.model, classes: p.classes,
      probs: Array.from(p.probs), row: p.row, latencyUs: Math.round((performance.now() - p.enteredAt) * 1000),
    };
    this.put(p.symbol, topic, f);
  }

  alert(a: AlertEvent): void {
    const f: Omit<AlertFrame, 'topic' | 'seq'> = {
      t: 'alert', ts: this.tb.toEpochMs(a.ts), sym: a.symbol, kind: a.kind, severity: a.severity,
      ...(a.message ? { message: a.message } : {}), evidence: a.evidence,
    };
    this.put(a.symbol, TOPICS.alerts.name(a.symbol), f);
    this.put(a.symbol, TOPICS.allAlerts.name(), f);
  }

  /** The topics a symbol's results go to (where a gap notice about it goes). */
  topicsOf(sym: string): string[] {
    return [TOPICS.book.name(sym), TOPICS.features.name(sym), TOPICS.alerts.name(sym), ...(this.predTopics.get(sym) ?? [])];
  }
}
