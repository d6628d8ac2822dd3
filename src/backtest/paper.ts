/**
 * Paper trading: the strategy object of a backtest, unchanged, on the server's live pipeline in this
 * process, fed by the serving sources (replays of files or recordings at their speed, live venue
 * connectors), with simulated fills on the live book. The engine is the backtest's (engine.ts): the
 * live events drive its clock by their own exchange times exactly as a file does, so a replay of a
 * recording gives the fills a backtest of the same recording gives (tests/backtest/paper.test.ts).
 *
 * What only a live feed needs: when the market is quiet, no event comes to move the clock, yet a
 * response or a delayed book is due. A timer moves the clock to the wall time less `clockGraceMs`,
 * the time an event may still arrive late and out of order (an event older than that which comes
 * later is handled after what the timer let happen).
 */
import { BadInputPolicy } from '../core/errors.ts';
import { TimeBase } from '../model/time.ts';
import { LivePipeline } from '../pipeline/live.ts';
import type { AlertProducerFactory, RowPredictor } from '../pipeline/plugins.ts';
import { isReplay, type ServerConfig } from '../server/config.ts';
import { MetricsRegistry } from '../server/metrics.ts';
import { ReplayPlayer, openReplaySource } from '../server/replay.ts';
import { replayName } from '../server/server.ts';
import { autoVpinBuckets } from '../pipeline/vpin.ts';
import { venue } from '../venues/registry.ts';
import type { LiveConnector } from '../venues/venue.ts';
import type { SourceHandle } from '../pipeline/source.ts';
import { BacktestEngine, type EngineOptions } from './engine.ts';
import type { BacktestResult } from './run.ts';
import type { Strategy } from './strategy.ts';

export interface PaperOptions extends EngineOptions {
  predictor?: RowPredictor & { close?(): Promise<void> };
  alerts?: AlertProducerFactory[];
  /** How late a live event may come; Infinity: the clock moves only with events (replays in tests). Default 250 ms. */
  clockGraceMs?: number;
}

export class PaperSession {
  readonly engine: BacktestEngine;
  readonly pipeline: LivePipeline;
  readonly tb: TimeBase;
  readonly replays: ReplayPlayer[] = [];
  readonly connectors: LiveConnector[] = [];
  private readonly handles: SourceHandle[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly t0 = performance.now();
  private stopped = false;

  constructor(private readonly cfg: ServerConfig, strategy: Strategy, private readonly opts: PaperOptions) {
    this.tb = TimeBase.ofEpochMs(Date.now());
    this.engine = new BacktestEngine(strategy, opts, cfg.depth.rowLevels);
    this.pipeline = new LivePipeline({ depth: cfg.depth, timeBase: this.tb, features: cfg.features }, this.engine.output, new MetricsRegistry(),
      { predictor: opts.predictor, alerts: [this.engine.producer, ...(opts.alerts ?? [])] });
  }

  /** Starts every configured source (replays play once: a paper session over a file ends with it). */
  async start(): Promise<void> {
    for (const s of this.cfg.sources) {
      if (isReplay(s)) {
        const h = this.pipeline.addSource(replayName(s.spec), 'replay');
        const p = new ReplayPlayer(s.spec, { speed: s.speed, loop: false, quotesAndOrders: true }, h, this.tb);
        if (this.cfg.features.vpinBucket === 'auto') await autoVpinBuckets(await openReplaySource(s.spec, BadInputPolicy.parse('all')), this.pipeline.vpinBySymbol);
        this.replays.push(p);
        this.handles.push(h);
      } else {
        const live = venue(s.kind)?.live;
        if (!live) throw new Error(`paper: source kind "${s.kind}" is neither a replay nor a live venue`);
        const h = this.pipeline.addSource(live.sourceName(s), s.kind);
        this.connectors.push(live.connect(s, this.pipeline.timeBase, h));
        this.handles.push(h);
      }
    }
    for (const p of this.replays) p.start();
    for (const c of this.connectors) await c.start();
    const grace = this.opts.clockGraceMs ?? 250;
    if (Number.isFinite(grace)) {
      this.timer = setInterval(() => this.engine.advance(this.tb.fromEpochMs(Date.now() - grace)), 20);
      this.timer.unref();
    }
  }

  /** Whether every source has ended (replays that played through; live feeds never do). */
  get ended(): boolean {
    return this.connectors.length === 0 && this.handles.every((h) => h.state === 'finished' || h.state === 'error' || h.state === 'stopped');
  }

  /** Resolves when every replay has played through (polling their state: a replay has no end event). */
  async untilEnded(signal?: AbortSignal): Promise<void> {
    while (!this.ended && !signal?.aborted) await new Promise((r) => setTimeout(r, 50));
  }

  /** Stops the sources; what is in flight lands, the strategy's onEnd runs. */
  async stop(): Promise<BacktestResult> {
    if (!this.stopped) {
      this.stopped = true;
      clearInterval(this.timer);
      await Promise.all([...this.replays.map((p) => p.stop()), ...this.connectors.map((c) => c.stop())]);
      this.pipeline.flush();
      this.engine.finish();
      await this.opts.predictor?.close?.();
    }
    const first = this.cfg.sources[0];
    return {
      record: this.engine.record,
      engine: this.engine,
      seconds: (performance.now() - this.t0) / 1000,
      symbols: this.pipeline.symbols(),
      spec: first ? (isReplay(first) ? first.spec : first.kind) : 'none',
      kind: first ? (isReplay(first) ? (/^[a-z]+/.exec(first.spec)?.[0] ?? 'replay') : first.kind) : 'none',
      baseMs: this.tb.baseMs,
    };
  }
}
