/**
 * A dynamic batcher in the style of Triton's: requests (one sample each, from any symbol) queue
 * per model; a batch leaves when `maxBatchSize` requests wait, or when the oldest has waited
 * `maxQueueDelayUs`, or at once when the previous batch finishes and the oldest is already past
 * its delay. `preferredBatchSizes` trims a batch to the largest preferred size that fits.
 * The queue is bounded (`maxQueueSize`): beyond it a request is refused at once (QueueFullError)
 * instead of growing latency without limit.
 *
 * Each request's raw window is normalised straight into its slot of a reused batch tensor, and
 * its result is a view of the batch output (no per-request copy). Delays under 1 ms wait on
 * setImmediate turns (src/core/wake.ts; other I/O keeps running).
 */
import type { InputTransform } from './normalize.ts';
import type { ModelMetrics } from './metrics.ts';
import { Wake } from '../core/wake.ts';

export interface BatcherSettings {
  maxBatchSize: number;
  /** How long the oldest request may wait for others to join its batch, µs. */
  maxQueueDelayUs: number;
  /** Batch sizes to prefer when fewer than maxBatchSize wait (e.g. sizes a GPU kernel likes). */
  preferredBatchSizes: number[];
  maxQueueSize: number;
  /** Batches running at once; 0 = by runner (1 inline, whose run holds the thread; 2 in a worker). */
  maxInflight: number;
}

export const DEFAULT_BATCHER: BatcherSettings = {
  maxBatchSize: 64,
  maxQueueDelayUs: 500,
  preferredBatchSizes: [],
  maxQueueSize: 16_384,
  maxInflight: 0,
};

export function batcherSettings(o: Partial<BatcherSettings> = {}): BatcherSettings {
  const s = { ...DEFAULT_BATCHER, ...o };
  const int = (v: number, name: string, min: number): void => {
    if (!Number.isInteger(v) || v < min) throw new RangeError(`batcher: ${name} must be an integer >= ${min}, got ${v}`);
  };
  int(s.maxBatchSize, 'maxBatchSize', 1);
  if (!(s.maxQueueDelayUs >= 0 && Number.isFinite(s.maxQueueDelayUs))) throw new RangeError(`batcher: maxQueueDelayUs must be >= 0, got ${s.maxQueueDelayUs}`);
  int(s.maxQueueSize, 'maxQueueSize', 1);
  int(s.maxInflight, 'maxInflight', 0);
  for (const p of s.preferredBatchSizes) {
    if (!Number.isInteger(p) || p < 1 || p > s.maxBatchSize) throw new RangeError(`batcher: preferred batch size ${p} must be an integer in 1..${s.maxBatchSize}`);
  }
  s.preferredBatchSizes = [...new Set(s.preferredBatchSizes)].sort((a, b) => a - b);
  return s;
}

/** Runs n packed samples; returns n x outputWidth floats. */
export interface BatchRunner {
  run(input: Float32Array, n: number): Promise<Float32Array>;
  /**
   * A buffer of at least `floats` to assemble the next batch in, which run() then takes over (a
   * worker runner transfers it to its thread instead of copying the batch); absent, the batcher
   * reuses its own buffers.
   */
  batchBuffer?(floats: number): Float32Array;
}

export class QueueFullError extends Error {
  constructor(model: string, size: number) {
    super(`model ${model}: ${size} requests already queued (maxQueueSize); retry later`);
    this.name = 'QueueFullError';
  }
}

interface Pending {
  raw: ArrayLike<number>;
  /** Samples in `raw` (packed): 1 for submit(), up to maxBatchSize for a group from submitMany(), which runs alone. */
  n: number;
  t0: number;
  resolve: (p: Float32Array) => void;
  reject: (e: Error) => void;
}

export class DynamicBatcher {
  private queue: Pending[] = [];
  private head = 0;
  private inflight = 0;
  private readonly free: Float32Array[] = [];
  private readonly wake = new Wake(() => this.schedule());
  private draining: (() => void)[] = [];
  private readonly maxInflight: number;

  constructor(
    readonly model: string,
    private readonly runner: BatchRunner,
    private readonly transform: InputTransform,
    private readonly outputWidth: number,
    readonly settings: BatcherSettings,
    private readonly metrics: ModelMetrics,
  ) {
    this.maxInflight = settings.maxInflight || 1;
  }

  get queued(): number {
    return this.queue.length - this.head;
  }

  get running(): number {
    return this.inflight;
  }

  /** One sample: `window` holds T x F raw values (row-major, oldest row first). */
  submit(window: ArrayLike<number>, symbol: string): Promise<Float32Array> {
    const m = this.metrics;
    if (window.length !== this.transform.size) {
      m.errors++;
      return Promise.reject(new RangeError(`model ${this.model}: the window for ${symbol} has ${window.length} values, expected ${this.transform.size}`));
    }
    if (this.queued >= this.settings.maxQueueSize) {
      m.rejected++;
      return Promise.reject(new QueueFullError(this.model, this.queued));
    }
    m.requests++;
    return new Promise<Float32Array>((resolve, reject) => {
      this.queue.push({ raw: window, n: 1, t0: performance.now(), resolve, reject });
      m.queueDepth = this.queued;
      this.schedule();
    });
  }

  /**
   * Samples that already form a batch (the live pipeline's micro-batch: one window per symbol,
   * packed, `n` x size raw values): they run together, without waiting for others and without
   * being merged with other requests: one run per maxBatchSize samples. Resolves with n x
   * outputWidth floats, in order.
   */
  submitMany(windows: Float32Array, n: number, what: string): Promise<Float32Array> {
    const m = this.metrics;
    const size = this.transform.size;
    if (!(n >= 1) || windows.length < n * size) {
      m.errors += Math.max(n, 1);
      return Promise.reject(new RangeError(`model ${this.model}: ${what}: ${windows.length} values for ${n} windows of ${size}`));
    }
    if (this.queued >= this.settings.maxQueueSize) {
      m.rejected += n;
      return Promise.reject(new QueueFullError(this.model, this.queued));
    }
    m.requests += n;
    const max = this.settings.maxBatchSize;
    const parts: Promise<Float32Array>[] = [];
    const t0 = performance.now();
    for (let i = 0; i < n; i += max) {
      const k = Math.min(max, n - i);
      parts.push(new Promise<Float32Array>((resolve, reject) => {
        this.queue.push({ raw: windows.subarray(i * size, (i + k) * size), n: k, t0, resolve, reject });
      }));
    }
    m.queueDepth = this.queued;
    // The batch is formed: singles ahead of it go now rather than holding it for their delay.
    this.schedule(true);
    if (parts.length === 1) return parts[0]!;
    return Promise.all(parts).then((outs) => {
      const all = new Float32Array(n * this.outputWidth);
      let at = 0;
      for (const o of outs) {
        all.set(o, at);
        at += o.length;
      }
      return all;
    });
  }

  /** Resolves once every request queued so far has its answer (used before retiring a session). */
  drain(): Promise<void> {
    if (this.queued === 0 && this.inflight === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.draining.push(resolve);
      this.schedule(true);
    });
  }

  private schedule(flush = false): void {
    while (this.inflight < this.maxInflight && this.queued > 0) {
      const s = this.settings;
      const oldest = this.queue[this.head]!;
      const waited = (performance.now() - oldest.t0) * 1000;
      if (oldest.n > 1 || this.queued >= s.maxBatchSize || waited >= s.maxQueueDelayUs || flush || this.draining.length) {
        this.dispatch();
        continue;
      }
      this.wake.arm(s.maxQueueDelayUs - waited);
      return;
    }
    if (this.queued === 0 && this.inflight === 0 && this.draining.length) {
      const d = this.draining;
      this.draining = [];
      for (const r of d) r();
    }
  }

  private dispatch(): void {
    if (this.queue[this.head]!.n > 1) return this.dispatchGroup();
    const s = this.settings;
    let k = Math.min(this.queued, s.maxBatchSize);
    // Singles only: a group (submitMany) runs alone.
    for (let j = 1; j < k; j++) {
      if (this.queue[this.head + j]!.n > 1) {
        k = j;
        break;
      }
    }
    if (k < s.maxBatchSize && s.preferredBatchSizes.length) {
      let best = 0;
      for (const p of s.preferredBatchSizes) if (p <= k) best = p;
      if (best > 0) k = best;
    }
    this.wake.cancel();
    const batch = this.queue.slice(this.head, this.head + k);
    this.advance(k);
    this.metrics.queueDepth = this.queued;
    const t1 = performance.now();
    for (const r of batch) this.metrics.queueSeconds.observe((t1 - r.t0) / 1000);
    const w = this.outputWidth;
    this.execute(k, t1, (buf, size) => {
      for (let j = 0; j < k; j++) this.transform.write(batch[j]!.raw, buf, j * size);
    }, {
      resolve: (out, t2) => {
        for (let j = 0; j < k; j++) {
          const r = batch[j]!;
          this.metrics.latencySeconds.observe((t2 - r.t0) / 1000);
          r.resolve(out.subarray(j * w, (j + 1) * w));
        }
      },
      reject: (err) => {
        for (const r of batch) r.reject(err);
      },
    });
  }

  private advance(k: number): void {
    this.head += k;
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
  }

  /** A group from submitMany: its samples are the batch (normalised here, as singles are). */
  private dispatchGroup(): void {
    this.wake.cancel();
    const g = this.queue[this.head]!;
    this.advance(1);
    this.metrics.queueDepth = this.queued;
    const k = g.n;
    const raw = g.raw as Float32Array;
    const t1 = performance.now();
    this.metrics.queueSeconds.observe((t1 - g.t0) / 1000);
    this.execute(k, t1, (buf, size) => {
      for (let j = 0; j < k; j++) this.transform.write(raw.subarray(j * size, (j + 1) * size), buf, j * size);
    }, {
      resolve: (out, t2) => {
        for (let j = 0; j < k; j++) this.metrics.latencySeconds.observe((t2 - g.t0) / 1000);
        g.resolve(out.subarray(0, k * this.outputWidth));
      },
      reject: (err) => g.reject(err),
    });
  }

  /**
   * Runs one batch of k samples: `fill` normalises them into a batch buffer (lent by the runner or
   * pooled), and `settle` gets the k x outputWidth output or the batch's error (a sample that cannot
   * be normalised, a session failure, an output of the wrong size).
   */
  private execute(k: number, t1: number, fill: (buf: Float32Array, size: number) => void,
    settle: { resolve(out: Float32Array, t2: number): void; reject(err: Error): void }): void {
    const m = this.metrics;
    const size = this.transform.size;
    const lent = this.runner.batchBuffer?.(k * size);
    const buf = lent ?? this.free.pop() ?? new Float32Array(this.settings.maxBatchSize * size);
    let failed: Error | undefined;
    try {
      fill(buf, size);
    } catch (e) {
      failed = e as Error;
    }
    m.batches++;
    m.batchSize.observe(k);
    this.inflight++;
    const run = failed ? Promise.reject(failed) : this.runner.run(buf.subarray(0, k * size), k);
    run.then(
      (out) => {
        const t2 = performance.now();
        m.runSeconds.observe((t2 - t1) / 1000);
        if (out.length !== k * this.outputWidth) {
          m.errors += k;
          settle.reject(new Error(`model ${this.model}: the session returned ${out.length} values for ${k} samples x ${this.outputWidth} outputs`));
        } else {
          settle.resolve(out, t2);
        }
      },
      (e: Error) => {
        m.errors += k;
        settle.reject(new Error(`model ${this.model}: batch of ${k} failed: ${e.message}`, { cause: e }));
      },
    ).finally(() => {
      if (!lent) this.free.push(buf);
      this.inflight--;
      this.schedule();
    });
  }
}
