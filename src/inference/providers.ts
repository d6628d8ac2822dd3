/**
 * ONNX Runtime execution providers and session settings. Preference order CUDA, then CPU: CUDA is
 * tried only when its provider library sits next to onnxruntime-node's binding (docs/deploy-cuda.md
 * puts it there), so a CPU-only install never prints ORT's "failed to load" errors. Every decision
 * is recorded with its reason and logged; nothing falls back silently. A machine without CUDA is
 * the normal case, not a warning: the fallback is logged at info unless CUDA was asked for by name
 * (FLOWCAST_EP=cuda) or was there and failed.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { availableParallelism } from 'node:os';
import * as ort from 'onnxruntime-node';
import { logger } from '../core/log.ts';

const log = logger('inference');
/** Fallback decisions already warned about: once per process and reason, then at info level. */
const warned = new Set<string>();

export type ProviderName = 'cuda' | 'cpu';

export interface ProviderAttempt {
  provider: ProviderName;
  ok: boolean;
  reason: string;
}

export interface SessionSettings {
  /** Providers to try, in order (default: FLOWCAST_EP, else cuda then cpu). */
  providers: ProviderName[];
  /**
   * Threads inside one operator (default: FLOWCAST_ORT_THREADS, else all cores but one, which is
   * left to the event loop that batches requests and serves the feed; measured on 2 cores: 1
   * thread is ~3x faster than 2 for these graphs once JavaScript shares the machine).
   */
  intraOpThreads: number;
  /** Let idle ORT worker threads spin (lower latency, burns the cores the event loop needs; default off). */
  spinning: boolean;
  /** Threads across independent operators (1: sequential execution, best for these small graphs). */
  interOpThreads: number;
  graphOptimization: 'disabled' | 'basic' | 'extended' | 'all';
  /** The providers were named (FLOWCAST_EP): one that is missing is then worth a warning. */
  named?: boolean;
}

export function defaultSessionSettings(env: NodeJS.ProcessEnv = process.env): SessionSettings {
  const ep = env.FLOWCAST_EP?.toLowerCase();
  const providers: ProviderName[] = ep === 'cpu' ? ['cpu'] : ep === 'cuda' ? ['cuda', 'cpu'] : ['cuda', 'cpu'];
  const threads = Number(env.FLOWCAST_ORT_THREADS);
  return {
    providers,
    intraOpThreads: Number.isInteger(threads) && threads > 0 ? threads : Math.max(1, availableParallelism() - 1),
    interOpThreads: 1,
    spinning: env.FLOWCAST_ORT_SPIN === '1',
    graphOptimization: 'all',
    named: ep === 'cpu' || ep === 'cuda',
  };
}

/** Directory of onnxruntime-node's native binding (where provider libraries must be). */
export function ortBindingDir(): string {
  const require = createRequire(import.meta.url);
  const pkg = dirname(require.resolve('onnxruntime-node/package.json'));
  return join(pkg, 'bin', 'napi-v6', process.platform, process.arch);
}

/**
 * Whether a provider can be attempted here, and why not: `reason` in full (paths), `summary` in a
 * few words for a person.
 */
export function providerAvailability(p: ProviderName): { available: boolean; reason: string; summary: string } {
  if (p === 'cpu') return { available: true, reason: 'bundled with onnxruntime-node', summary: 'bundled' };
  const supported = ort.listSupportedBackends().some((b) => b.name === 'cuda');
  if (!supported) return { available: false, reason: `onnxruntime-node ${ort.env.versions.node} on ${process.platform}-${process.arch} has no CUDA build`, summary: 'no CUDA build for this platform' };
  const lib = join(ortBindingDir(), 'libonnxruntime_providers_cuda.so');
  if (!existsSync(lib)) {
    return { available: false, reason: `${lib} is not installed (on a CUDA machine: docs/deploy-cuda.md)`, summary: 'not installed' };
  }
  return { available: true, reason: `${lib} present`, summary: 'installed' };
}

export interface CreatedSession<T> {
  session: T;
  provider: ProviderName;
  attempts: ProviderAttempt[];
}

/** ONNX Runtime session options for one provider. */
export function sessionOptions(p: ProviderName, s: SessionSettings): ort.InferenceSession.SessionOptions {
  const spin = s.spinning ? '1' : '0';
  return {
    executionProviders: [p],
    intraOpNumThreads: s.intraOpThreads,
    interOpNumThreads: s.interOpThreads,
    executionMode: 'sequential',
    graphOptimizationLevel: s.graphOptimization,
    logSeverityLevel: 3,
    extra: { session: { intra_op: { allow_spinning: spin }, inter_op: { allow_spinning: spin } } },
  };
}

/**
 * Creates a session on the first provider that works, recording every attempt. `create` builds the
 * session from options (in this thread, or in a worker).
 */
export async function createSession<T>(s: SessionSettings, label: string, create: (opts: ort.InferenceSession.SessionOptions) => Promise<T>): Promise<CreatedSession<T>> {
  const attempts: ProviderAttempt[] = [];
  let lastError: Error | undefined;
  let failed = false;
  for (const p of s.providers) {
    const av = providerAvailability(p);
    if (!av.available) {
      attempts.push({ provider: p, ok: false, reason: av.reason });
      continue;
    }
    try {
      const session = await create(sessionOptions(p, s));
      attempts.push({ provider: p, ok: true, reason: av.reason });
      const skipped = attempts.filter((a) => !a.ok);
      const fields = { model: label, provider: p, intraOpThreads: s.intraOpThreads, skipped: skipped.map((a) => `${a.provider}: ${a.reason}`) };
      const key = `${p}|${fields.skipped.join('|')}`;
      if (skipped.length && (failed || s.named) && !warned.has(key)) {
        warned.add(key);
        log.warn(`execution provider ${p} (preferred ${skipped.map((a) => a.provider).join(', ')} unavailable)`, fields);
      } else log.info(`execution provider ${p}`, fields);
      return { session, provider: p, attempts };
    } catch (e) {
      lastError = e as Error;
      failed = true;
      attempts.push({ provider: p, ok: false, reason: firstLine(lastError.message) });
    }
  }
  const why = attempts.map((a) => `${a.provider}: ${a.reason}`).join('; ');
  throw new Error(`${label}: no execution provider could load the model (${why})`, { cause: lastError });
}

function firstLine(s: string): string {
  const line = s.split('\n')[0] ?? s;
  return line.length > 300 ? line.slice(0, 300) + '…' : line;
}
