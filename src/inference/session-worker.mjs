// ONNX Runtime session in a worker thread (see runner.ts, WorkerRunner). Plain JavaScript so the
// worker starts without a TypeScript loader. Messages:
//   {type: 'init', bytes, options}           -> {type: 'ready', inputs, outputs} | {type: 'error', message}
//   {type: 'run', id, feed, input, dims, fetch} -> {type: 'result', id, output} | {type: 'error', id, message}
//   {type: 'release'}                          -> {type: 'released'}
// Inputs arrive transferred (no copy); the output buffer is transferred back.
import { parentPort } from 'node:worker_threads';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const ort = require('onnxruntime-node');

/** @type {import('onnxruntime-node').InferenceSession | undefined} */
let session;

function meta(list) {
  return list.map((m) => (m.isTensor ? { name: m.name, isTensor: true, type: m.type, shape: m.shape } : { name: m.name, isTensor: false }));
}

parentPort.on('message', async (m) => {
  if (m.type === 'init') {
    try {
      session = await ort.InferenceSession.create(m.bytes, m.options);
      parentPort.postMessage({ type: 'ready', inputs: meta(session.inputMetadata), outputs: meta(session.outputMetadata) });
    } catch (e) {
      parentPort.postMessage({ type: 'error', message: String(e && e.message ? e.message : e) });
    }
    return;
  }
  if (m.type === 'run') {
    try {
      const out = await session.run({ [m.feed]: new ort.Tensor('float32', m.input, m.dims) }, [m.fetch]);
      const data = out[m.fetch].data;
      parentPort.postMessage({ type: 'result', id: m.id, output: data }, [data.buffer]);
    } catch (e) {
      parentPort.postMessage({ type: 'error', id: m.id, message: String(e && e.message ? e.message : e) });
    }
    return;
  }
  if (m.type === 'release') {
    if (session) await session.release();
    session = undefined;
    parentPort.postMessage({ type: 'released' });
  }
});
