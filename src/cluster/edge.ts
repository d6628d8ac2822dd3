/**
 * The edge role: a uWebSockets.js feed server (today's /feed: src/server/feed.ts and the Broker)
 * whose frames come from the result streams instead of a pipeline. Every edge publishes a frame
 * with the seq of its stream entry, so all edges say the same seq for the same frame and a client
 * can move to another edge and resume: `{"op":"subscribe","topics":[...],"from":{"<topic>":<seq>}}`
 * sends the retained frames from that seq on, or a `gap` frame naming the seqs that are gone, then
 * the usual `subscribed`, last value and live frames (docs/cluster.md, docs/protocol.md).
 *
 * A topic's stream is read while the edge has subscribers for it (XREAD BLOCK over those streams);
 * gap notices in a stream reach its subscribers as `gap` frames, in stream order.
 */
import type { TemplatedApp, us_listen_socket, WebSocket } from 'uWebSockets.js';
import { Broker, type FeedConn, type Topic } from '../server/broker.ts';
import { feedBehavior, mountFeed } from '../server/feed.ts';
import { mountHttp } from '../server/http.ts';
import { MetricsRegistry } from '../server/metrics.ts';
import { Security } from '../server/security.ts';
import { requireNativeUws } from '../server/uws.ts';
import type { ServerConfig } from '../server/config.ts';
import { CloseCode, PROTOCOL_VERSION, validateRequest, type DataFrame, type GapFrame } from '../protocol/frames.ts';
import { decodeMessage, packr } from '../protocol/codec.ts';
import { matchTopic } from '../protocol/topics.ts';
import { backoffMs } from '../core/backoff.ts';
import { ClusterKeys, parseEntryId } from './keys.ts';
import type { GapNotice } from './output.ts';
import { sleep, type RedisLink } from './redis.ts';
import type { Unstamped } from '../server/broker.ts';

type Entry = [Buffer, Buffer[]];

export interface EdgeOptions {
  prefix?: string;
  blockMs?: number;
  /** Frames one resume may replay per topic (the rest: a `gap` with reason retention). */
  maxReplay?: number;
  server: string;
  /** Extra /healthz sections (the process's other roles). */
  health?: () => Record<string, unknown>;
  /** false: no /feed and no stream reading, only /healthz and /metrics (a process without the edge role). */
  feed?: boolean;
  /** More endpoints on the same app (the ingest role's /ingest). */
  mount?: (app: TemplatedApp, security: Security, metrics: MetricsRegistry) => void;
  /** Overall status besides the edge's own ('degraded' when a role says so). */
  status?: () => 'ok' | 'degraded';
}

interface Tracked {
  topic: Topic;
  /** The last stream id read (frames and notices). */
  lastId: string;
}

export class ClusterEdge {
  readonly keys: ClusterKeys;
  readonly broker: Broker;
  readonly metrics = new MetricsRegistry();
  private readonly tracked = new Map<string, Tracked>();
  private readonly tracking = new Map<string, Promise<Tracked>>();
  /** Subscriptions being prepared, by topic. */
  private readonly pending = new Map<string, number>();
  private readonly blockMs: number;
  private readonly maxReplay: number;
  private stopped = false;
  private loopDone: Promise<void> | undefined;
  /** The reader's reconnects already checked for a Redis that came back empty. */
  private seenReconnects = 0;
  private listen: us_listen_socket | undefined;
  private lastError: string | null = null;
  readonly counts = { frames: 0, notices: 0, replayed: 0, resumes: 0, retentionGaps: 0, restarts: 0 };
  port = 0;
  private readonly app: TemplatedApp;

  constructor(private readonly cfg: ServerConfig, private readonly cmd: RedisLink, private readonly reader: RedisLink, private readonly opts: EdgeOptions) {
    this.keys = new ClusterKeys(opts.prefix);
    this.blockMs = opts.blockMs ?? 100;
    this.maxReplay = opts.maxReplay ?? 100_000;
    const uWS = requireNativeUws();
    this.app = uWS.App();
    this.broker = new Broker(this.app, cfg.feed, cfg.limits, this.metrics);
  }

  async start(): Promise<void> {
    await this.cmd.untilReady();
    const started = Date.now();
    const security = new Security(this.cfg);
    const inner = feedBehavior(this.cfg, this.broker, security, this.metrics, { server: this.opts.server, started });
    const innerMessage = inner.message!;
    const behavior = {
      ...inner,
      message: (ws: WebSocket<FeedConn>, message: ArrayBuffer, isBinary: boolean): void => {
        // Subscriptions first start reading their streams (and replay, with `from`); uWS's buffer is gone after this call.
        let req: ReturnType<typeof validateRequest> | undefined;
        try {
          if (message.byteLength <= this.cfg.limits.maxPayloadBytes) req = validateRequest(decodeMessage(message, isBinary), this.cfg.limits.maxSubscriptions);
        } catch {
          req = undefined;
        }
        if (!req || req.op !== 'subscribe') {
          innerMessage(ws, message, isBinary);
          return;
        }
        const copy = message.slice(0);
        const c = ws.getUserData();
        const topics = req.topics;
        // Held until the subscription is made: the reader must not let these streams go in between.
        for (const t of topics) this.pending.set(t, (this.pending.get(t) ?? 0) + 1);
        const done = (): void => {
          for (const t of topics) {
            const n = this.pending.get(t)! - 1;
            if (n === 0) this.pending.delete(t);
            else this.pending.set(t, n);
          }
        };
        void this.prepare(c, req.topics, req.from).then((replay) => {
          done();
          if (c.closing || !c.ws) return;
          // In one turn: the replay up to what the broker has published, then the subscription's last value and live frames.
          replay();
          void innerMessage(ws, copy, isBinary);
        }, (e: Error) => {
          done();
          if (c.closing || !c.ws) return;
          this.broker.sendFrame(c, { t: 'error', code: 'internal', message: `cannot read the cluster's result streams: ${e.message}`, id: req.id });
        });
      },
    };
    const feed = this.opts.feed ?? true;
    if (feed) mountFeed(this.app, behavior);
    this.opts.mount?.(this.app, security, this.metrics);
    mountHttp(this.app, {
      security, metrics: this.metrics, maxBodyBytes: this.cfg.limits.maxHttpBodyBytes,
      health: async () => ({
        status: this.cmd.ready() && this.reader.ready() && (this.opts.status?.() ?? 'ok') === 'ok' ? 'ok' : 'degraded',
        protocol: PROTOCOL_VERSION,
        server: { host: this.cfg.host, port: this.port, node: process.version },
        ...(feed ? { feed: this.broker.stats() } : {}),
        cluster: { ...(feed ? { edge: this.health() } : {}), ...(this.opts.health?.() ?? {}) },
      }),
      models: () => [],
      topics: (canRead) => ({ topics: this.broker.liveTopics().filter((t) => canRead(t.name)).map((t) => ({ topic: t.name, seq: t.seq, subscribers: t.subscribers })), symbols: [], models: [] }),
      predict: undefined,
    });
    const uWS = requireNativeUws();
    this.listen = await new Promise<us_listen_socket>((resolve, reject) => {
      this.app.listen(this.cfg.host, this.cfg.port, (ls) => (ls ? resolve(ls) : reject(new Error(`edge: cannot listen on ${this.cfg.host}:${this.cfg.port}`))));
    });
    this.port = uWS.us_socket_local_port(this.listen as never);
    if (feed) {
      this.broker.start();
      this.loopDone = this.loop();
    }
  }

  /**
   * Starts reading the topics' streams (their last value published) and fetches what `from` asks;
   * returns what sends the replay, to be called in the same turn as the subscription itself (no
   * frame published in between can fall between the replay and the live frames).
   */
  private async prepare(c: FeedConn, topics: string[], from: Record<string, number> | undefined): Promise<() => void> {
    const readable = topics.filter((t) => c.principal.canRead(t));
    await Promise.all(readable.map((t) => this.track(t)));
    if (!from) return () => undefined;
    const asks = Object.entries(from).filter(([name]) => readable.includes(name));
    const fetched = await Promise.all(asks.map(([name, first]) => this.fetchReplay(name, first)));
    // No await from here to the subscription: the reader publishes only after an await of its own.
    return () => {
      asks.forEach(([name, first], i) => {
        this.counts.resumes++;
        // The subscribe that follows sends the broker's current seq as the last value: replay below it.
        const upTo = this.tracked.get(name)!.topic.seq - 1;
        if (first > upTo) return;
        let lastSent = first - 1;
        for (const [idb, f] of fetched[i]!) {
          const { seq, sub } = parseEntryId(idb.toString());
          if (seq > upTo) break;
          if (sub === 0) {
            // Trimming only ever removes a stream's head, but it may have overtaken a fetch that took several reads.
            if (seq > lastSent + 1) this.retentionGap(c, name, lastSent + 1, seq - 1);
            const frame = packr.unpack(f[1]!) as Record<string, unknown>;
            frame['topic'] = name;
            frame['seq'] = seq;
            this.broker.sendFrame(c, frame as unknown as DataFrame);
            this.counts.replayed++;
            lastSent = seq;
          } else if (seq >= first) this.broker.sendFrame(c, this.gapFrame(name, seq, JSON.parse(f[1]!.toString()) as GapNotice));
        }
        // Past maxReplay frames (or trimmed away) the rest is said to be gone, not left silent.
        if (lastSent < upTo) this.retentionGap(c, name, lastSent + 1, upTo);
      });
    };
  }

  /**
   * The topic's stream from seq `first` up to at least what this edge has published by the time
   * the last read returns. One read is not enough: while it is in flight the reader may publish
   * newer frames, which the subscription's last value would then skip over (found under load: a
   * resuming client missed two seqs). So it reads on from where it stopped until it has caught up
   * with the broker's seq, the stream ends, or maxReplay frames are in hand.
   */
  private async fetchReplay(name: string, first: number): Promise<Entry[]> {
    const key = this.keys.output(name);
    const out: Entry[] = [];
    let start = `${first}-0`;
    for (;;) {
      const got = (await this.cmd.redis.xrangeBuffer(key, start, '+', 'COUNT', this.maxReplay - out.length)) as Entry[];
      for (const e of got) out.push(e);
      const lastSeq = out.length ? parseEntryId(out[out.length - 1]![0].toString()).seq : first - 1;
      if (got.length === 0 || out.length >= this.maxReplay || lastSeq >= this.tracked.get(name)!.topic.seq - 1) return out;
      start = `(${out[out.length - 1]![0].toString()}`;
    }
  }

  private retentionGap(c: FeedConn, topic: string, a: number, b: number): void {
    this.counts.retentionGaps++;
    this.broker.sendFrame(c, {
      t: 'gap', topic, reason: 'retention', after: a - 1, missing: [a, b],
      message: `${topic}: seqs ${a}..${b} are no longer kept (retention) and will not come`,
    });
  }

  private gapFrame(topic: string, after: number, n: GapNotice): GapFrame {
    return { t: 'gap', topic, reason: n.reason, after, message: n.message };
  }

  private track(name: string): Promise<Tracked> {
    const have = this.tracked.get(name);
    if (have) return Promise.resolve(have);
    let p = this.tracking.get(name);
    if (!p) {
      p = (async () => {
        if (!matchTopic(name)) throw new Error(`not a topic: ${name}`);
        const topic = this.broker.topic(name);
        const last = (await this.cmd.redis.xrevrangeBuffer(this.keys.output(name), '+', '-', 'COUNT', 50)) as Entry[];
        // The newest frame is the last value; notices after it are not replayed to newcomers.
        const fr = last.find(([id]) => parseEntryId(id.toString()).sub === 0);
        if (fr) this.publish(topic, parseEntryId(fr[0].toString()).seq, fr[1][1]!);
        const t: Tracked = { topic, lastId: last.length ? last[0]![0].toString() : '0-0' };
        this.tracked.set(name, t);
        return t;
      })().finally(() => this.tracking.delete(name));
      this.tracking.set(name, p);
    }
    return p;
  }

  private publish(t: Topic, seq: number, payload: Buffer): void {
    if (seq <= t.seq) return;
    if (seq > t.seq + 1 && t.seq > 0) {
      // The stream was trimmed past what this edge had read: said, not skipped silently.
      this.counts.retentionGaps++;
      const g: GapFrame = { t: 'gap', topic: t.name, reason: 'retention', after: t.seq, missing: [t.seq + 1, seq - 1], message: `${t.name}: seqs ${t.seq + 1}..${seq - 1} were trimmed before this edge read them` };
      this.toSubscribers(t.name, g);
    }
    const frame = packr.unpack(payload) as Unstamped<DataFrame>;
    // The broker stamps seq + 1: the stream's seq, the same on every edge.
    t.seq = seq - 1;
    this.broker.publish(t, frame);
    this.counts.frames++;
  }

  private toSubscribers(topic: string, frame: GapFrame): void {
    for (const c of this.broker.conns) if (this.broker.isSubscribed(c, topic)) this.broker.sendFrame(c, frame);
  }

  private async loop(): Promise<void> {
    let attempt = 0;
    while (!this.stopped) {
      // Streams nobody here reads any more are let go (a later subscribe tracks them again from their newest frame).
      for (const [name, tr] of this.tracked) if (tr.topic.subscribers === 0 && !this.pending.has(name)) this.tracked.delete(name);
      const list = [...this.tracked.values()];
      if (list.length === 0) {
        await sleep(this.blockMs);
        continue;
      }
      try {
        const reconnects = this.reader.health().reconnects;
        if (reconnects !== this.seenReconnects) {
          await this.checkRestart(list);
          this.seenReconnects = reconnects;
        }
        const reply = (await this.reader.redis.callBuffer('XREAD', 'COUNT', 1000, 'BLOCK', this.blockMs, 'STREAMS',
          ...list.map((t) => this.keys.output(t.topic.name)), ...list.map((t) => t.lastId))) as [Buffer, Entry[]][] | null;
        attempt = 0;
        this.lastError = null;
        if (!reply) continue;
        const plen = this.keys.output('').length;
        for (const [k, entries] of reply) {
          const tr = this.tracked.get(k.toString().slice(plen));
          if (!tr) continue;
          for (const [idb, f] of entries) {
            const id = idb.toString();
            tr.lastId = id;
            const { seq, sub } = parseEntryId(id);
            if (sub === 0) this.publish(tr.topic, seq, f[1]!);
            else {
              this.counts.notices++;
              this.toSubscribers(tr.topic.name, this.gapFrame(tr.topic.name, seq, JSON.parse(f[1]!.toString()) as GapNotice));
            }
          }
        }
      } catch (e) {
        this.lastError = (e as Error).message;
        if (!this.stopped) await sleep(backoffMs(Math.min(attempt++, 6), 20, 1000));
      }
    }
  }

  /**
   * After a reconnect: a stream whose newest seq is below what this edge published was lost with
   * Redis's data (a restart without persistence). Its subscribers are told, and the topic follows
   * the new stream from seq 1.
   */
  private async checkRestart(list: Tracked[]): Promise<void> {
    for (const tr of list) {
      const last = (await this.cmd.redis.xrevrange(this.keys.output(tr.topic.name), '+', '-', 'COUNT', 1)) as [string, string[]][];
      const lastSeq = last.length ? parseEntryId(last[0]![0]).seq : 0;
      if (lastSeq >= tr.topic.seq) continue;
      this.counts.restarts++;
      this.toSubscribers(tr.topic.name, {
        t: 'gap', topic: tr.topic.name, reason: 'restart', after: tr.topic.seq,
        message: `${tr.topic.name}: the cluster's Redis came back without its data; seqs start again from 1`,
      });
      tr.topic.seq = 0;
      tr.lastId = '0-0';
    }
  }

  health(): Record<string, unknown> {
    return {
      state: !this.cmd.ready() || !this.reader.ready() ? 'redis-down' : this.lastError ? 'degraded' : 'ok',
      lastError: this.lastError,
      topicsRead: this.tracked.size,
      ...this.counts,
    };
  }

  async close(): Promise<void> {
    this.stopped = true;
    if (this.listen) requireNativeUws().us_listen_socket_close(this.listen);
    await this.loopDone;
    this.broker.stop();
    for (const c of [...this.broker.conns]) if (c.ws && !c.closing) c.ws.end(CloseCode.GoingAway, 'edge shutting down');
  }
}
