// ONNX Runtime session in a worker thread (see runner.ts, WorkerRunner). Plain JavaScript so the
// worker starts without a TypeScript loader. Messages:
//   {type: 'init', bytes, options}           -> {type: 'ready', inputs, outputs} | {type: 'error', message}
//   {type: 'bind', feed, fetch, dims}        (the input and output names, the per-sample dims; no reply)
//   {type: 'run', id, input, length, n}       -> {type: 'result', id, output, input} | {type: 'error', id, message, input}
//   {type: 'release'}                          -> {type: 'released'}
// Inputs arrive transferred (an ArrayBuffer of which the first `length` floats are the batch); the
// output and the input buffer are transferred back, the input to carry the next batch.
import { parentPort } from 'node:worker_threads';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const ort = require('onnxruntime-node');

/** @type {import('onnxruntime-node').InferenceSession | undefined} */
let session;
/** Set by 'bind': feed and fetch names, per-sample dims. */
let feed = '';
let fetch = '';
let sampleDims = [];

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
  if (m.type === 'bind') {
    feed = m.feed;
    fetch = m.fetch;
    sampleDims = m.dims;
    return;
  }
  if (m.type === 'run') {
    try {
      const input = new Float32Array(m.input, 0, m.length);
      const out = await session.run({ [feed]: new ort.Tensor('float32', input, [m.n, ...sampleDims]) }, [fetch]);
      const data = out[fetch].data;
      parentPort.postMessage({ type: 'result', id: m.id, output: data, input: m.input }, [data.buffer, m.input]);
    } catch (e) {
      parentPort.postMessage({ type: 'error', id: m.id, message: String(e && e.message ? e.message : e), input: m.input }, [m.input]);
    }
    return;
  }
  if (m.type === 'release') {
    if (session) await session.release();
    session = undefined;
    parentPort.postMessage({ type: 'released' });
  }
});
