/**
 * TensorFlow.js backend for training, fastest first: @tensorflow/tfjs-node-gpu (CUDA), then
 * @tensorflow/tfjs-node (native CPU), both loaded dynamically because they are not installed by
 * default (their install downloads libtensorflow; see Dockerfile.cuda), then the WebAssembly
 * backend (SIMD; gradients for every op the transformer uses), then the pure-JS cpu backend.
 * Measured here (2 cores, no GPU): one training step of the shipped transformer takes ~9x less
 * time on wasm than on cpu. The choice and the reasons for skipping the others are returned and logged.
 */
import { logger } from '../core/log.ts';

const log = logger('training');

export type Tf = typeof import('@tensorflow/tfjs');

export type TfBackendName = 'tensorflow-gpu' | 'tensorflow' | 'wasm' | 'cpu';

export interface TfBackend {
  tf: Tf;
  name: TfBackendName;
  /** Why this backend, and why not the faster ones. */
  reasons: string[];
}

let cached: Promise<TfBackend> | undefined;

/** Loads the best backend available (once per process); `prefer` forces one (and fails if it cannot load). */
export function loadTf(prefer?: TfBackendName): Promise<TfBackend> {
  if (!prefer && cached) return cached;
  const p = pick(prefer);
  if (!prefer) cached = p;
  return p;
}

async function pick(prefer?: TfBackendName): Promise<TfBackend> {
  const reasons: string[] = [];
  const order: TfBackendName[] = prefer ? [prefer] : ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'];
  for (const name of order) {
    try {
      const b = await tryBackend(name);
      reasons.push(`${name}: loaded`);
      const fields = { backend: name, reasons };
      if (name === 'wasm' || name === 'cpu') log.info(`tfjs backend ${name} (no native TensorFlow installed)`, fields);
      else log.info(`tfjs backend ${name}`, fields);
      return { tf: b, name, reasons };
    } catch (e) {
      reasons.push(`${name}: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  throw new Error(`no TensorFlow.js backend could be loaded (${reasons.join('; ')})`);
}

async function tryBackend(name: TfBackendName): Promise<Tf> {
  if (name === 'tensorflow-gpu' || name === 'tensorflow') {
    const pkg = name === 'tensorflow-gpu' ? '@tensorflow/tfjs-node-gpu' : '@tensorflow/tfjs-node';
    let mod: Tf;
    try {
      mod = (await import(/* @vite-ignore */ pkg)) as Tf;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new Error(code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND' ? `${pkg} is not installed` : (e as Error).message);
    }
    await mod.setBackend('tensorflow');
    await mod.ready();
    return mod;
  }
  const tf = await import('@tensorflow/tfjs');
  if (name === 'wasm') {
    await import('@tensorflow/tfjs-backend-wasm');
    if (!(await tf.setBackend('wasm'))) throw new Error('the wasm backend failed to initialise');
  } else if (!(await tf.setBackend('cpu'))) throw new Error('the cpu backend failed to initialise');
  await tf.ready();
  return tf;
}
