/**
 * Pub/sub for the feed: topics with per-topic sequence numbers and a last-value cache, fan-out
 * through uWS's native publish, heartbeats, and backpressure that never lets one client slow
 * another.
 *
 * Fan-out: a connection subscribes at the uWS level to `m:<topic>` or `j:<topic>` (its encoding),
 * so a publish is one native call however many subscribers there are; a frame is encoded once per
 * encoding in use.
 *
 * Backpressure: a sweep reads each connection's unsent bytes. Past `maxBufferBytes` the connection
 * is detached from the native fan-out and served from a per-connection queue: for book and features
 * topics only the newest frame is kept (older ones are counted as dropped), predictions, alerts and
 * control frames queue in order. Once its socket drains below half the limit it is sent a `dropped`
 * notice with the counts, then the queue, and is attached again. Too many slow episodes within a
 * window, a queue of undroppable frames over the limit, or staying slow past `slowTimeoutMs` close
 * the connection with code 4008 and the reason. uWS's own limit (4x ours) closes rather than drops,
 * so no frame is ever lost without the client being told.
 *
 * Unsent bytes are only those uWS holds: a client that stops reading first fills the kernel's
 * socket buffers (megabytes on a fast link) and may never push uWS past the limit. So each
 * connection is also pinged (a WebSocket ping, queued behind everything sent before it; clients
 * answer by themselves), and one whose ping goes unanswered for `slowTimeoutMs` is closed with
 * 4008 too, before uWS's idle timeout would cut it without a close frame.
 */
import type { TemplatedApp, WebSocket } from 'uWebSockets.js';
import { CloseCode, type DataFrame, type ServerFrame } from '../protocol/frames.ts';
import { TOPIC_KINDS, matchTopic, type ParsedTopic, type TopicKind, type TopicSpec } from '../protocol/topics.ts';
import { encode, encodeJson, encodeMsgpack, packr, type Format } from '../protocol/codec.ts';
import type { Principal } from './security.ts';
import { TokenBucket } from './security.ts';
import type { FeedConfig, LimitsConfig } from './config.ts';
import type { CounterChild, MetricsRegistry } from './metrics.ts';
import { logger } from '../core/log.ts';

const log = logger('feed');

type Payload = Uint8Array | string;

/** A data frame before the broker stamps its topic and sequence number. */
export type Unstamped<F> = F extends unknown ? Omit<F, 'topic' | 'seq'> & { topic?: string; seq?: number } : never;

export class Topic {
  seq = 0;
  /**
   * The last frame, msgpack-encoded; its JSON form is made from it when a JSON subscriber first
   * needs it. Publishers reuse one frame object per topic (no allocation per row), so the msgpack
   * is the only copy of what went out; decoding it again costs a late JSON subscriber once, not
   * every publish.
   */
  lastMsgpack: Uint8Array | undefined;
  lastJson: string | undefined;
  /** Subscribers attached to the native fan-out, by encoding. */
  nMsgpack = 0;
  nJson = 0;
  /** Subscribers currently detached (slow), served from their queues. */
  readonly slow = new Set<FeedConn>();
  subscribers = 0;
  /**
   * For state topics (book, features) whose producer skips frames nobody receives: publishes the
   * current state so a new subscriber gets it as the last value.
   */
  refresh: (() => void) | undefined;
  /** Set by a producer that skipped a frame while the topic had no subscribers. */
  stale = false;
  /** A producer keeps this object and publishes to it later: it must outlive its subscribers. */
  held = false;
  readonly conflatable: boolean;
  readonly mName: string;
  readonly jName: string;

  constructor(readonly name: string, readonly spec: TopicSpec<TopicKind>, readonly parsed: ParsedTopic) {
    this.conflatable = spec.delivery === 'state';
    this.mName = `m:${name}`;
    this.jName = `j:${name}`;
  }

  get kind(): TopicKind {
    return this.parsed.kind;
  }

  lastAs(format: Format): Payload | undefined {
    if (!this.lastMsgpack) return undefined;
    if (format === 'msgpack') return this.lastMsgpack;
    return (this.lastJson ??= encodeJson(packr.unpack(this.lastMsgpack) as object));
  }
}

class SlowState {
  readonly latest = new Map<Topic, Payload>();
  readonly dropped = new Map<Topic, number>();
  readonly queue: Payload[] = [];
  queuedBytes = 0;
  constructor(readonly since: number) {}
}

/** Per-connection state (uWS user data: uWS.js copies its fields to the socket, so no methods). */
export class FeedConn {
  ws: WebSocket<FeedConn> | undefined;
  readonly subs = new Set<Topic>();
  slow: SlowState | undefined;
  readonly overflowTimes: number[] = [];
  readonly bucket: TokenBucket;
  violations = 0;
  /** Set once the connection is closing: nothing more is sent. */
  closing = false;
  /** Frames sent directly and through queues (for tests and stats). */
  droppedTotal = 0;
  /** When the unanswered ping was sent (performance.now() ms), 0 when none is out. */
  pingSentAt = 0;
  /** When the last ping was answered (or the connection opened). */
  pongAt = performance.now();
  /** Payload of the ping out: a pong that echoes an older one (or uWS's own empty ping) is not its answer. */
  pingPayload = '';
  pings = 0;

  constructor(readonly id: number, readonly principal: Principal, readonly ip: string, readonly format: Format, limits: LimitsConfig) {
    this.bucket = new TokenBucket(limits.requestsPerSecond, limits.requestBurst);
  }
}

export interface BrokerStats {
  connections: number;
  slowConnections: number;
  topics: number;
}

export class Broker {
  private readonly topics = new Map<string, Topic>();
  readonly conns = new Set<FeedConn>();
  private nextId = 1;
  /** Bytes sent or published since the last sweep: see publish(). */
  private sinceSweep = 0;
  private sweepTimer: NodeJS.Timeout | undefined;
  private hbTimer: NodeJS.Timeout | undefined;
  private readonly published: Record<TopicKind, CounterChild>;
  private readonly deliveries: Record<TopicKind, CounterChild>;
  private readonly droppedFrames: Record<TopicKind, CounterChild>;
  private readonly slowEpisodes: CounterChild;
  private readonly disconnects: (reason: string) => CounterChild;
  private readonly bytesOut: CounterChild;
  /** Extra hello fields (symbols, models), provided by the server. */
  helloInfo: () => { symbols: string[]; models: string[] } = () => ({ symbols: [], models: [] });

  constructor(
    private readonly app: TemplatedApp,
    private readonly feed: FeedConfig,
    private readonly limits: LimitsConfig,
    metrics: MetricsRegistry,
    private readonly sweepMs = 10,
  ) {
    const kinds = TOPIC_KINDS;
    const pub = metrics.counter('flowcast_feed_frames_published_total', 'Frames published, by topic kind', ['kind']);
    const del = metrics.counter('flowcast_feed_deliveries_total', 'Frames handed to subscriber sockets, by topic kind', ['kind']);
    const drop = metrics.counter('flowcast_feed_dropped_frames_total', 'Frames not delivered to slow subscribers (superseded book/features states), by topic kind', ['kind']);
    this.published = Object.fromEntries(kinds.map((k) => [k, pub.labels(k)])) as Record<TopicKind, CounterChild>;
    this.deliveries = Object.fromEntries(kinds.map((k) => [k, del.labels(k)])) as Record<TopicKind, CounterChild>;
    this.droppedFrames = Object.fromEntries(kinds.map((k) => [k, drop.labels(k)])) as Record<TopicKind, CounterChild>;
    this.slowEpisodes = metrics.counter('flowcast_feed_slow_episodes_total', 'Times a connection went over its buffer limit').labels();
    const disc = metrics.counter('flowcast_feed_disconnects_total', 'Connections closed by the server, by reason', ['reason']);
    this.disconnects = (r) => disc.labels(r);
    this.bytesOut = metrics.counter('flowcast_feed_published_bytes_total', 'Encoded bytes published (once per encoding in use, before fan-out)').labels();
    metrics.gauge('flowcast_feed_connections', 'Open feed connections', ['state'], () => {
      let slow = 0;
      for (const c of this.conns) if (c.slow) slow++;
      return [[['fast'], this.conns.size - slow], [['slow'], slow]];
    });
    metrics.gauge('flowcast_feed_subscribers', 'Subscriptions, by topic kind', ['kind'], () => {
      const n = Object.fromEntries(kinds.map((k) => [k, 0])) as Record<TopicKind, number>;
      for (const t of this.topics.values()) n[t.kind] += t.subscribers;
      return Object.entries(n).map(([k, v]) => [[k], v]);
    });
  }

  start(): void {
    this.sweepTimer = setInterval(() => this.sweep(), this.sweepMs);
    this.sweepTimer.unref();
    this.hbTimer = setInterval(() => this.heartbeat(), this.feed.heartbeatMs);
    this.hbTimer.unref();
  }

  stop(): void {
    clearInterval(this.sweepTimer);
    clearInterval(this.hbTimer);
  }

  stats(): BrokerStats {
    let slow = 0;
    for (const c of this.conns) if (c.slow) slow++;
    return { connections: this.conns.size, slowConnections: slow, topics: this.topics.size };
  }

  newConn(principal: Principal, ip: string, format: Format): FeedConn {
    return new FeedConn(this.nextId++, principal, ip, format, this.limits);
  }

  /** The topic, created on first use (a topic may be subscribed before anything is published on it). */
  topic(name: string): Topic {
    let t = this.topics.get(name);
    if (!t) {
      const m = matchTopic(name);
      if (!m) throw new Error(`not a topic: ${name}`);
      t = new Topic(name, m.spec, m.parsed);
      this.topics.set(name, t);
    }
    return t;
  }

  /** The topic, kept for a producer that holds on to it (never collected when its subscribers leave). */
  held(name: string): Topic {
    const t = this.topic(name);
    t.held = true;
    return t;
  }

  isSubscribed(c: FeedConn, name: string): boolean {
    const t = this.topics.get(name);
    return t !== undefined && c.subs.has(t);
  }

  /** Topics with data: published at least once, or holding a state not yet sent to anyone. */
  liveTopics(): Topic[] {
    return [...this.topics.values()].filter((t) => t.seq > 0 || t.stale);
  }

  // ---- publishing ----

  /**
   * Publishes a data frame: stamps topic and sequence number, encodes once per encoding in use,
   * hands it to the native fan-out and to detached (slow) subscribers' queues, and keeps it as the
   * topic's last value. The frame object may be reused by the caller once this returns.
   */
  publish(t: Topic, frame: Unstamped<DataFrame>): number {
    frame.topic = t.name;
    const seq = (frame.seq = ++t.seq);
    const mp = encodeMsgpack(frame);
    t.lastMsgpack = mp;
    t.lastJson = undefined;
    this.published[t.kind].inc();
    this.bytesOut.inc(mp.length);
    if (t.nMsgpack > 0) {
      this.app.publish(t.mName, mp, true);
      this.deliveries[t.kind].inc(t.nMsgpack);
    }
    if (t.nJson > 0 || t.slow.size > 0) {
      const js = t.nJson > 0 || anyJson(t.slow) ? (t.lastJson = encodeJson(frame)) : '';
      if (t.nJson > 0) {
        this.app.publish(t.jName, js, false);
        this.deliveries[t.kind].inc(t.nJson);
        this.bytesOut.inc(js.length);
      }
      for (const c of t.slow) this.offerSlow(c, t, c.format === 'msgpack' ? mp : js);
      this.sinceSweep += js.length;
    }
    // No connection can gain more unsent bytes than were published since the last sweep. Sweeping
    // whenever that reaches our limit keeps every connection below uWS's hard limit (4x ours) even
    // when a burst outpaces the timer, so slow clients are always handled here, never cut by uWS.
    this.sinceSweep += mp.length;
    if (this.sinceSweep >= this.feed.maxBufferBytes) this.sweep();
    return seq;
  }

  private heartbeat(): void {
    const f = { t: 'hb', ts: Date.now() };
    this.app.publish('m:$hb', encodeMsgpack(f), true);
    this.app.publish('j:$hb', encodeJson(f), false);
  }

  // ---- connections ----

  onOpen(c: FeedConn, ws: WebSocket<FeedConn>): void {
    c.ws = ws;
    this.conns.add(c);
    ws.subscribe(c.format === 'msgpack' ? 'm:$hb' : 'j:$hb');
  }

  onClose(c: FeedConn): void {
    // uWS has already removed the socket from its topics; only our counts need updating.
    for (const t of c.subs) this.detach(c, t, false);
    c.subs.clear();
    c.slow = undefined;
    c.ws = undefined;
    c.closing = true;
    this.conns.delete(c);
  }

  /** Sends a control frame to one connection, through its queue while it is slow. */
  sendFrame(c: FeedConn, frame: ServerFrame): void {
    this.sendPayload(c, encode(frame, c.format));
  }

  private sendPayload(c: FeedConn, p: Payload): void {
    if (c.closing || !c.ws) return;
    if (c.slow) {
      this.queueSlow(c, p);
      return;
    }
    c.ws.send(p, typeof p !== 'string');
    this.sinceSweep += typeof p === 'string' ? p.length : p.byteLength;
    // A burst to one connection (a subscription's last values) outruns the sweep: past our limit
    // the rest takes the slow path at once, before uWS's own limit cuts the connection unannounced.
    if (c.ws.getBufferedAmount() > this.feed.maxBufferBytes) this.enterSlow(c, performance.now());
  }

  /** Subscribes to already validated and authorised topics: ack, last values, then live frames. */
  subscribe(c: FeedConn, names: string[], id?: number | string): void {
    const added: Topic[] = [];
    for (const n of names) {
      const t = this.topic(n);
      if (c.subs.has(t)) continue;
      c.subs.add(t);
      t.subscribers++;
      added.push(t);
    }
    for (const t of added) {
      if (t.stale && t.refresh) {
        t.stale = false;
        t.refresh();
      }
    }
    this.sendFrame(c, { t: 'subscribed', id, topics: names });
    // Attached before the last values go out: a send may turn the connection slow, which moves
    // every subscription it has to the slow path.
    for (const t of added) this.attach(c, t);
    for (const t of added) {
      const last = t.lastAs(c.format);
      if (last !== undefined) {
        if (c.slow) this.offerSlow(c, t, last);
        else this.sendPayload(c, last);
        this.deliveries[t.kind].inc();
      }
    }
  }

  unsubscribe(c: FeedConn, names: string[], id?: number | string): void {
    for (const n of names) {
      const t = this.topics.get(n);
      if (!t || !c.subs.has(t)) continue;
      c.subs.delete(t);
      this.detach(c, t, true);
    }
    this.sendFrame(c, { t: 'unsubscribed', id, topics: names });
  }

  private attach(c: FeedConn, t: Topic): void {
    if (c.slow) {
      t.slow.add(c);
      return;
    }
    c.ws!.subscribe(c.format === 'msgpack' ? t.mName : t.jName);
    if (c.format === 'msgpack') t.nMsgpack++;
    else t.nJson++;
  }

  /** Ends c's subscription to t; `socketOpen`: also take the socket off the uWS topic (uWS has done it on close). */
  private detach(c: FeedConn, t: Topic, socketOpen: boolean): void {
    if (c.slow) {
      t.slow.delete(c);
      c.slow.latest.delete(t);
    } else this.leaveFanout(c, t, socketOpen);
    t.subscribers--;
    this.gc(t);
  }

  /** Takes c off t's native fan-out: the uWS topic (when the socket is open) and our per-encoding count. */
  private leaveFanout(c: FeedConn, t: Topic, socketOpen: boolean): void {
    if (socketOpen) c.ws?.unsubscribe(c.format === 'msgpack' ? t.mName : t.jName);
    if (c.format === 'msgpack') t.nMsgpack--;
    else t.nJson--;
  }

  /** Topics made only by subscriptions go away with their last subscriber (no unbounded growth from bogus names). */
  private gc(t: Topic): void {
    if (t.subscribers === 0 && t.seq === 0 && !t.refresh && !t.held) this.topics.delete(t.name);
  }

  /** Closes a connection with a reason; counted by reason. */
  close(c: FeedConn, code: number, reason: string, metricReason: string): void {
    if (c.closing || !c.ws) return;
    c.closing = true;
    this.disconnects(metricReason).inc();
    log.info('closing feed connection', { conn: c.id, principal: c.principal.id, code, reason });
    c.ws.end(code, reason.slice(0, 120));
  }

  // ---- backpressure ----

  /** Checks every connection's unsent bytes; detaches the slow ones, re-attaches the recovered. */
  sweep(): void {
    this.sinceSweep = 0;
    const limit = this.feed.maxBufferBytes;
    const now = performance.now();
    const timeout = this.feed.slowTimeoutMs;
    const pingEvery = Math.min(1000, timeout / 4);
    for (const c of this.conns) {
      if (c.closing || !c.ws) continue;
      if (c.pingSentAt === 0) {
        if (now - c.pongAt >= pingEvery) {
          c.pingSentAt = now;
          c.ws.ping((c.pingPayload = String(++c.pings)));
        }
      } else if (now - c.pingSentAt > timeout) {
        this.close(c, CloseCode.SlowConsumer, `slow consumer: ping unanswered for ${seconds(now - c.pingSentAt)} s`, 'slow-timeout');
        continue;
      }
      const buffered = c.ws.getBufferedAmount();
      if (c.slow) {
        if (buffered <= limit / 2) this.leaveSlow(c);
        else if (now - c.slow.since > timeout) {
          this.close(c, CloseCode.SlowConsumer, `slow consumer: over ${limit} unsent bytes for ${seconds(now - c.slow.since)} s`, 'slow-timeout');
        }
      } else if (buffered > limit) {
        this.enterSlow(c, now);
      }
    }
  }

  /** A pong: the client has read everything sent before the ping it answers. */
  onPong(c: FeedConn, payload: ArrayBuffer): void {
    if (c.pingSentAt === 0 || Buffer.from(payload).toString('latin1') !== c.pingPayload) return;
    c.pingSentAt = 0;
    c.pongAt = performance.now();
  }

  /** uWS drain event: a slow connection may be ready again. */
  onDrain(c: FeedConn): void {
    if (c.slow && c.ws && !c.closing && c.ws.getBufferedAmount() <= this.feed.maxBufferBytes / 2) this.leaveSlow(c);
  }

  private enterSlow(c: FeedConn, now: number): void {
    this.slowEpisodes.inc();
    const win = this.feed.overflowWindowMs;
    c.overflowTimes.push(now);
    while (c.overflowTimes.length > 0 && now - c.overflowTimes[0]! > win) c.overflowTimes.shift();
    if (c.overflowTimes.length > this.feed.maxOverflows) {
      this.close(c, CloseCode.SlowConsumer, `slow consumer: ${c.overflowTimes.length} buffer overflows in ${Math.round(win / 1000)} s`, 'repeated-overflow');
      return;
    }
    c.slow = new SlowState(now);
    for (const t of c.subs) {
      this.leaveFanout(c, t, true);
      t.slow.add(c);
    }
  }

  private leaveSlow(c: FeedConn): void {
    const s = c.slow!;
    c.slow = undefined;
    const ws = c.ws!;
    ws.cork(() => {
      if (s.dropped.size > 0) {
        const topics: Record<string, number> = {};
        let total = 0;
        for (const [t, n] of s.dropped) {
          topics[t.name] = n;
          total += n;
        }
        // Straight to the socket: sendPayload could turn it slow again halfway through this.
        const p = encode({ t: 'dropped', topics, total, reason: 'slow-consumer' }, c.format);
        ws.send(p, typeof p !== 'string');
      }
      for (const p of s.queue) ws.send(p, typeof p !== 'string');
      for (const [t, p] of s.latest) {
        ws.send(p, typeof p !== 'string');
        this.deliveries[t.kind].inc();
      }
      for (const t of c.subs) {
        t.slow.delete(c);
        this.attach(c, t);
      }
    });
  }

  private offerSlow(c: FeedConn, t: Topic, p: Payload): void {
    const s = c.slow!;
    if (t.conflatable) {
      if (s.latest.has(t)) {
        s.dropped.set(t, (s.dropped.get(t) ?? 0) + 1);
        c.droppedTotal++;
        this.droppedFrames[t.kind].inc();
      }
      s.latest.set(t, p);
      return;
    }
    // Events are never dropped: a later state replaces an earlier one, a later event does not.
    this.deliveries[t.kind].inc();
    this.queueSlow(c, p);
  }

  private queueSlow(c: FeedConn, p: Payload): void {
    const s = c.slow!;
    s.queue.push(p);
    s.queuedBytes += typeof p === 'string' ? p.length : p.byteLength;
    if (s.queuedBytes > this.feed.maxBufferBytes) {
      this.close(c, CloseCode.SlowConsumer, `slow consumer: over ${this.feed.maxBufferBytes} bytes of undelivered predictions, alerts and replies`, 'queue-overflow');
    }
  }
}

/** Seconds for a close reason: tenths below 10 s (short test timeouts), whole seconds above. */
function seconds(ms: number): string {
  return ms < 10_000 ? String(Math.round(ms / 100) / 10) : String(Math.round(ms / 1000));
}

function anyJson(conns: Set<FeedConn>): boolean {
  for (const c of conns) if (c.format === 'json') return true;
  return false;
}
