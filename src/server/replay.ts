/**
 * Replays a recorded source into the live pipeline at `speed` times real time, looping, so the
 * feed looks like a live market: the embedded demo of `flowcast serve`.
 *
 * Streaming, in bounded memory: the source is parsed in chunks into a queue of pooled event objects
 * (no allocation per event once warm), and a timer releases each event when its time comes.
 *
 * Re-stamping: an event's exchange time t maps to the wall clock as anchor + (t - t0) / speed,
 * made non-decreasing, and the event is stamped with that wall time; each loop starts one second
 * (of market time) after the previous one ends. So times on the feed are present-day, always increase across loops,
 * and a `--speed 10` replay shows ten seconds of market per second of clock. Each loop starts a new
 * book session, so Binance captures re-sync from their REST snapshot exactly as on the first pass.
 */
import { DepthEvent, OrderEvent, QuoteEvent, TradeEvent, type MarketSink } from '../model/events.ts';

import { openSource } from '../sources/spec.ts';
import { BadInputPolicy } from '../core/errors.ts';
import { NS_PER_MS, type TimeBase } from '../model/time.ts';
import { autoVpinBuckets } from '../pipeline/vpin.ts';
import { logger } from '../core/log.ts';
import { openRecording, RECORDING_PREFIX, type ReplayableSource } from '../store/replay-recording.ts';
import type { SourceHandle } from '../pipeline/source.ts';

const log = logger('replay');

/** Queue length below which the parser is let run again. */
const LOW_WATER = 4096;
/** Events released per timer turn before yielding to sockets. */
const BURST = 4096;
/** Market time between two loops (divided by the speed on the wall clock). */
const LOOP_GAP_MS = 1000;

class StopReplay extends Error {}

/** openSource, plus `recording:DIR` for what `flowcast record` wrote. */
export async function openReplaySource(spec: string, policy: BadInputPolicy): Promise<ReplayableSource> {
  if (spec.startsWith(RECORDING_PREFIX)) return openRecording(spec, { policy });
  return openSource(spec, { policy });
}

type Queued =
  | { k: 'depth'; e: DepthEvent; due: number }
  | { k: 'trade'; e: TradeEvent; due: number }
  | { k: 'quote'; e: QuoteEvent; due: number }
  | { k: 'order'; e: OrderEvent; due: number };

export interface ReplayOptions {
  speed: number;
  loop: boolean;
  /** Also replay quotes and order-level messages (only alert producers use them). */
  quotesAndOrders?: boolean;
}

export class ReplayPlayer implements MarketSink {
  private readonly queue: Queued[] = [];
  private head = 0;
  private readonly depthPool: DepthEvent[] = [];
  private readonly tradePool: TradeEvent[] = [];
  private readonly quotePool: QuoteEvent[] = [];
  private readonly orderPool: OrderEvent[] = [];
  /** Present only when quotes and orders are wanted: sources skip what a sink does not take. */
  onQuote?: (e: QuoteEvent) => void;
  onOrder?: (e: OrderEvent) => void;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private wake: (() => void) | undefined;
  private t0 = NaN;
  private anchor = 0;
  private lastDue = 0;
  private done: Promise<void> | undefined;
  /** performance.now() when pause() held the replay; NaN while it plays. */
  private pausedAt = NaN;
  loops = 0;
  failedEvents = 0;

  constructor(
    readonly spec: string,
    private readonly opts: ReplayOptions,
    private readonly handle: SourceHandle,
    private readonly tb: TimeBase,
  ) {
    if (opts.quotesAndOrders) {
      this.onQuote = (e) => {
        const q = Object.assign(this.quotePool.pop() ?? new QuoteEvent(), e);
        this.enqueue({ k: 'quote', e: q, due: this.dueOf(e.ts) });
      };
      this.onOrder = (e) => {
        const o = Object.assign(this.orderPool.pop() ?? new OrderEvent(), e);
        this.enqueue({ k: 'order', e: o, due: this.dueOf(e.ts) });
      };
    }
  }

  /** Sets each symbol's VPIN bucket from its traded volume over one pass, unless configured. */
  async sizeVpin(into: Record<string, number>): Promise<void> {
    await autoVpinBuckets(await openReplaySource(this.spec, BadInputPolicy.parse('all')), into);
  }

  start(): void {
    this.done = this.run();
  }

  /**
   * Holds every event until resume(); the source keeps parsing into the queue (bounded as always).
   * The replay's clock stops with it, so it resumes where it was, at speed, rather than in a burst:
   * a test subscribes before the first row this way, whatever the machine's load.
   */
  pause(): void {
    if (this.pausedAt === this.pausedAt) return;
    this.pausedAt = performance.now();
    clearTimeout(this.timer);
  }

  resume(): void {
    if (this.pausedAt !== this.pausedAt) return;
    const held = performance.now() - this.pausedAt;
    this.pausedAt = NaN;
    for (let i = this.head; i < this.queue.length; i++) this.queue[i]!.due += held;
    this.anchor += held;
    this.lastDue += held;
    this.schedule();
  }

  /** Events parsed and not yet released. */
  get queued(): number {
    return this.queue.length - this.head;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.wake?.();
    await this.done;
  }

  private async run(): Promise<void> {
    const h = this.handle;
    try {
      for (;;) {
        // The handle's policy: a line the parser skips is counted in /healthz badInput (each loop).
        const src = await openReplaySource(this.spec, h.policy);
        if (this.loops > 0) h.newSession();
        this.t0 = NaN;
        h.state = 'running';
        h.detail = `replay ${this.opts.speed}x, loop ${this.loops + 1}`;
        await src.run(this, () => this.waitBelow(LOW_WATER));
        await this.waitBelow(0);
        this.loops++;
        if (!this.opts.loop || this.stopped) break;
        this.anchor = this.lastDue + LOOP_GAP_MS / this.opts.speed;
      }
      h.state = this.stopped ? 'stopped' : 'finished';
    } catch (e) {
      if (e instanceof StopReplay) {
        h.state = 'stopped';
        return;
      }
      h.state = 'error';
      h.detail = (e as Error).message;
      log.error('replay failed', { spec: this.spec, error: e as Error });
    }
  }

  onDepth(e: DepthEvent): void {
    const d = this.depthPool.pop() ?? new DepthEvent();
    d.copyFrom(e);
    this.enqueue({ k: 'depth', e: d, due: this.dueOf(e.ts) });
  }

  onTrade(e: TradeEvent): void {
    const t = this.tradePool.pop() ?? new TradeEvent();
    t.copyFrom(e);
    this.enqueue({ k: 'trade', e: t, due: this.dueOf(e.ts) });
  }

  private dueOf(ts: number): number {
    if (this.t0 !== this.t0) {
      this.t0 = ts;
      // Paused before the first event: anchored at the pause, which resume() shifts to its own time.
      if (this.loops === 0) this.anchor = this.pausedAt === this.pausedAt ? this.pausedAt : performance.now();
    }
    const due = this.anchor + (ts - this.t0) / NS_PER_MS / this.opts.speed;
    this.lastDue = due > this.lastDue ? due : this.lastDue;
    return this.lastDue;
  }

  private enqueue(q: Queued): void {
    this.queue.push(q);
    if (this.queue.length - this.head === 1) this.schedule();
  }

  private schedule(): void {
    if (this.stopped || this.pausedAt === this.pausedAt || this.head >= this.queue.length) return;
    clearTimeout(this.timer);
    const delay = this.queue[this.head]!.due - performance.now();
    this.timer = delay > 0 ? setTimeout(() => this.pump(), Math.max(1, Math.floor(delay))) : setTimeout(() => this.pump(), 0);
  }

  /** Releases every event that is due (up to a burst), re-stamped onto the wall clock. */
  private pump(): void {
    if (this.stopped || this.pausedAt === this.pausedAt) return;
    const now = performance.now();
    const origin = performance.timeOrigin;
    const h = this.handle;
    let n = 0;
    while (this.head < this.queue.length && n < BURST) {
      const q = this.queue[this.head]!;
      if (q.due > now) break;
      this.head++;
      n++;
      const ts = Math.round(this.tb.fromEpochMs(origin + q.due));
      try {
        const e = q.e;
        if (q.k !== 'order') q.e.tsLocal = q.e.tsLocal === q.e.tsLocal ? ts : NaN;
        e.ts = ts;
        // Back to its pool first: the handle may throw, and the object is free once delivered.
        switch (q.k) {
          case 'depth': this.depthPool.push(q.e); h.onDepth(q.e); break;
          case 'trade': this.tradePool.push(q.e); h.onTrade(q.e); break;
          case 'quote': this.quotePool.push(q.e); h.onQuote(q.e); break;
          case 'order': this.orderPool.push(q.e); h.onOrder(q.e); break;
        }
      } catch (e) {
        // One event must not stop the replay (nor the server): log, count, go on.
        this.failedEvents++;
        if (this.failedEvents <= 10) log.error('replayed event failed', { spec: this.spec, error: e as Error });
      }
    }
    if (this.head === this.queue.length) {
      this.queue.length = 0;
      this.head = 0;
    } else if (this.head > 65_536) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
    if (this.wake && this.queue.length - this.head <= this.wakeBelow) {
      const w = this.wake;
      this.wake = undefined;
      w();
    }
    this.schedule();
  }

  private wakeBelow = 0;

  private waitBelow(n: number): Promise<void> {
    if (this.stopped) return Promise.reject(new StopReplay());
    if (this.queue.length - this.head <= n) return Promise.resolve();
    this.wakeBelow = n;
    return new Promise<void>((resolve, reject) => {
      this.wake = () => (this.stopped ? reject(new StopReplay()) : resolve());
    });
  }
}
