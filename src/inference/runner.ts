/**
 * Where a model's ONNX Runtime session runs.
 *
 * - `worker` (the default for serving): the session lives in its own worker thread. A batch is
 *   handed over by transferring its buffer, so the event loop never blocks on inference (a batch of
 *   1,024 transformer windows takes ~60 ms here) and the next batch is assembled while the current
 *   one runs. A worker that dies is restarted on the next batch, from the model bytes kept here.
 * - `inline`: the session runs on the calling thread (onnxruntime-node runs synchronously inside a
 *   setImmediate); simplest, for batch jobs and tools.
 *
 * Both pick the execution provider the same way (providers.ts) and expose the graph's input and
 * output metadata for the manifest checks.
 */
import { Worker } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import { logger } from '../core/log.ts';
import type { BatchRunner } from './batcher.ts';
import { createSession, type ProviderAttempt, type ProviderName, type SessionSettings } from './providers.ts';

const log = logger('inference');

export type RunnerMode = 'worker' | 'inline';
/**
 * What a repository asks for: a mode, or `auto`: inline when a full batch takes at most
 * AUTO_INLINE_MAX_MS on the calling thread (a thread hop would cost more than it saves), else a worker.
 */
export type RunnerChoice = RunnerMode | 'auto';
/** A full batch this fast runs inline under `auto` (the trees: ~0.3 ms for 64; the transformer: ~3 ms). */
export const AUTO_INLINE_MAX_MS = 0.5;

export interface ValueMeta {
  name: string;
  isTensor: boolean;
  type?: string;
  shape?: (number | string)[];
}

export interface ModelRunner extends BatchRunner {
  readonly mode: RunnerMode;
  readonly provider: ProviderName;
  readonly attempts: ProviderAttempt[];
  readonly inputs: ValueMeta[];
  readonly outputs: ValueMeta[];
  /** Sets the feed/fetch names and per-sample dims used by run(). */
  bind(inputName: string, outputName: string, sampleDims: number[]): void;
  release(): Promise<void>;
}

export async function createRunner(mode: RunnerMode, bytes: Uint8Array, settings: SessionSettings, label: string): Promise<ModelRunner> {
  return mode === 'worker' ? WorkerRunner.create(bytes, settings, label) : InlineRunner.create(bytes, settings, label);
}

export class InlineRunner implements ModelRunner {
  readonly mode = 'inline' as const;
  private feed = '';
  private fetch = '';
  private dims: number[] = [];

  private constructor(readonly session: ort.InferenceSession, readonly provider: ProviderName, readonly attempts: ProviderAttempt[]) {}

  static async create(bytes: Uint8Array, settings: SessionSettings, label: string): Promise<InlineRunner> {
    const c = await createSession(settings, label, (opts) => ort.InferenceSession.create(bytes, opts));
    return new InlineRunner(c.session, c.provider, c.attempts);
  }

  get inputs(): ValueMeta[] {
    return this.session.inputMetadata.map((m) => ({ ...m, shape: m.isTensor ? [...m.shape] : undefined }) as ValueMeta);
  }

  get outputs(): ValueMeta[] {
    return this.session.outputMetadata.map((m) => ({ ...m, shape: m.isTensor ? [...m.shape] : undefined }) as ValueMeta);
  }

  bind(inputName: string, outputName: string, sampleDims: number[]): void {
    this.feed = inputName;
    this.fetch = outputName;
    this.dims = sampleDims;
  }

  async run(input: Float32Array, n: number): Promise<Float32Array> {
    const out = await this.session.run({ [this.feed]: new ort.Tensor('float32', input, [n, ...this.dims]) }, [this.fetch]);
    return out[this.fetch]!.data as Float32Array;
  }

  release(): Promise<void> {
    return this.session.release();
  }
}

interface WorkerReply {
  type: 'ready' | 'result' | 'error' | 'released';
  id?: number;
  message?: string;
  output?: Float32Array;
  /** The run's input buffer, handed back for the next batch. */
  input?: ArrayBuffer;
  inputs?: ValueMeta[];
  outputs?: ValueMeta[];
}

export class WorkerRunner implements ModelRunner {
  readonly mode = 'worker' as const;
  private worker!: Worker;
  private readonly pending = new Map<number, { resolve: (o: Float32Array) => void; reject: (e: Error) => void }>();
  private nextId = 1;
  private feed = '';
  private fetch = '';
  private dims: number[] = [];
  private dead: Error | undefined;
  private restarting: Promise<void> | undefined;
  private released = false;
  /**
   * Input buffers the worker handed back. Batches travel in these instead of a fresh copy each:
   * every new ArrayBuffer is external memory to V8, and a stream of them (thousands of batches a
   * second) drives full garbage collections that stall the event loop for milliseconds.
   */
  private spare: Float32Array[] = [];
  /** Buffers handed out by batchBuffer(): a batch in one of these is transferred as it is, not copied. */
  private readonly lent = new WeakSet<ArrayBufferLike>();
  inputs: ValueMeta[] = [];
  outputs: ValueMeta[] = [];
  provider: ProviderName = 'cpu';
  attempts: ProviderAttempt[] = [];

  private constructor(private readonly bytes: Uint8Array, private readonly settings: SessionSettings, private readonly label: string) {}

  static async create(bytes: Uint8Array, settings: SessionSettings, label: string): Promise<WorkerRunner> {
    const r = new WorkerRunner(bytes, settings, label);
    await r.start();
    return r;
  }

  private async start(): Promise<void> {
    const c = await createSession(this.settings, this.label, async (opts) => {
      const w = new Worker(new URL('./session-worker.mjs', import.meta.url));
      w.unref();
      const copy = this.bytes.slice();
      const reply = await new Promise<WorkerReply>((resolve, reject) => {
        w.once('message', resolve);
        w.once('error', reject);
        w.postMessage({ type: 'init', bytes: copy, options: opts }, [copy.buffer]);
      }).catch(async (e: Error) => {
        await w.terminate();
        throw e;
      });
      if (reply.type !== 'ready') {
        await w.terminate();
        throw new Error(reply.message ?? 'the inference worker failed to start');
      }
      return { worker: w, reply };
    });
    this.worker = c.session.worker;
    this.inputs = c.session.reply.inputs ?? [];
    this.outputs = c.session.reply.outputs ?? [];
    this.provider = c.provider;
    this.attempts = c.attempts;
    this.dead = undefined;
    this.worker.on('message', (m: WorkerReply) => this.onMessage(m));
    this.postBind();
    this.worker.on('error', (e) => this.fail(e));
    this.worker.on('exit', (code) => {
      if (!this.released) this.fail(new Error(`the inference worker of ${this.label} exited (code ${code})`));
    });
  }

  private onMessage(m: WorkerReply): void {
    if (m.input && this.spare.length < 4) this.spare.push(new Float32Array(m.input));
    if (m.id === undefined) return;
    const p = this.pending.get(m.id);
    if (!p) return;
    this.pending.delete(m.id);
    if (m.type === 'result') p.resolve(m.output!);
    else p.reject(new Error(m.message ?? 'inference failed'));
  }

  private fail(e: Error): void {
    if (this.dead) return;
    this.dead = e;
    log.error('inference worker failed; it restarts on the next batch', { model: this.label, error: e.message });
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }

  bind(inputName: string, outputName: string, sampleDims: number[]): void {
    this.feed = inputName;
    this.fetch = outputName;
    this.dims = sampleDims;
    this.postBind();
  }

  /** The names and per-sample dims go to the worker once (and again after a restart), not with every batch. */
  private postBind(): void {
    if (this.feed) this.worker.postMessage({ type: 'bind', feed: this.feed, fetch: this.fetch, dims: this.dims });
  }

  async run(input: Float32Array, n: number): Promise<Float32Array> {
    if (this.released) throw new Error(`${this.label}: the session was released`);
    if (this.dead) {
      this.restarting ??= this.start().finally(() => { this.restarting = undefined; });
      await this.restarting;
    }
    // A batch assembled in a buffer from batchBuffer() travels in it; any other input is copied
    // into one that can be transferred, so the caller keeps (and may reuse) its own.
    let x: Float32Array;
    if (input.byteOffset === 0 && this.lent.delete(input.buffer)) x = new Float32Array(input.buffer);
    else {
      x = this.takeSpare(input.length);
      x.set(input);
    }
    const id = this.nextId++;
    return new Promise<Float32Array>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ type: 'run', id, input: x.buffer, length: input.length, n }, [x.buffer as ArrayBuffer]);
    });
  }

  batchBuffer(floats: number): Float32Array {
    const b = this.takeSpare(floats);
    this.lent.add(b.buffer);
    return b;
  }

  /** A spare buffer of at least `length` floats (capacities are powers of two, so a few serve every batch size). */
  private takeSpare(length: number): Float32Array {
    const i = this.spare.findIndex((b) => b.length >= length);
    if (i >= 0) return this.spare.splice(i, 1)[0]!;
    return new Float32Array(2 ** Math.ceil(Math.log2(Math.max(1, length))));
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    if (!this.dead) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 2000);
        this.worker.on('message', (m: WorkerReply) => {
          if (m.type === 'released') {
            clearTimeout(t);
            resolve();
          }
        });
        this.worker.postMessage({ type: 'release' });
      });
    }
    await this.worker.terminate();
  }
}

