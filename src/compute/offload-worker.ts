/**
 * The kernel thread of OffloadedDenseStream (offload.ts): unpacks the rows it is sent into a
 * DenseStream on its own backend, and sends back each block of kernel columns as it is computed.
 */
import { parentPort } from 'node:worker_threads';
import { TRADE_CHANNELS } from '../snapshots/ring.ts';
import { DenseStream } from './stream.ts';
import { selectComputeBackend } from './select.ts';
import { BackendUnavailable, errorLine, type DenseBackend } from './backend.ts';
import { DENSE_COLUMNS, FeatureBlock } from '../features/columns.ts';
import { ROW_HEADER, type FromWorker, type OffloadStats, type ToWorker } from './offload.ts';

const port = parentPort!;
let stream: DenseStream | undefined;
let backend: DenseBackend | undefined;
let LT = 0;
let symbols: string[] = [];
let blocks: FromWorker[] = [];
/** Block arrays the calling thread has handed back (a fresh block per flush, zeroed and collected, was a tenth of this thread's time). */
const spare: Float64Array[] = [];

function post(m: FromWorker, transfer: ArrayBuffer[] = []): void {
  port.postMessage(m, transfer);
}

function stats(): OffloadStats {
  return { ...stream!.stats };
}

function flushOut(): void {
  for (const m of blocks) post(m, m.type === 'rows' ? [m.data.buffer as ArrayBuffer] : []);
  blocks = [];
}

// One message at a time, in order: the start (backend creation) is asynchronous.
let chain: Promise<void> = Promise.resolve();
port.on('message', (m: ToWorker) => {
  // A returned buffer is not work: it is kept at once, out of the queue.
  if (m.type === 'spare') {
    if (spare.length < 8) spare.push(m.data);
    return;
  }
  chain = chain.then(() => handle(m));
});

async function handle(m: ToWorker): Promise<void> {
  try {
    if (m.type === 'start') {
      let be: DenseBackend;
      try {
        const s = await selectComputeBackend(m.spec, { depth: m.depth });
        be = backend = s.backend;
        post({ type: 'ready', info: s.info });
      } catch (e) {
        if (e instanceof BackendUnavailable) return post({ type: 'unavailable', backend: e.backend, reason: e.reason });
        throw e;
      }
      LT = m.depth.tensorLevels;
      // Each block's columns live in one array, which goes to the calling thread as one transfer
      // (no copy) and comes back as a 'spare' once its values are copied out.
      const newBlock = (capacity: number): FeatureBlock => {
        const size = DENSE_COLUMNS.length * capacity;
        let backing = spare.pop();
        while (backing && backing.length < size) backing = spare.pop();
        return new FeatureBlock(DENSE_COLUMNS, capacity, backing ?? new Float64Array(size));
      };
      stream = new DenseStream(be, { depth: m.depth, blockRows: m.blockRows, newBlock }, (block) => {
        blocks.push({ type: 'rows', row0: block.row[0]!, n: block.n, stride: block.capacity, data: block.backing! });
      });
    } else if (m.type === 'chunk') {
      if (m.symbols.length) symbols = m.symbols;
      unpack(m.buffer, m.rows, m.used);
      flushOut();
      post({ type: 'chunkDone', buffer: m.buffer, stats: stats() }, [m.buffer.buffer as ArrayBuffer]);
    } else if (m.type === 'finish') {
      await stream!.finish();
      flushOut();
      post({ type: 'finished', stats: stats() });
      await backend!.dispose();
      port.close();
    }
  } catch (e) {
    post({ type: 'error', message: `the kernel thread: ${errorLine(e)}` });
  }
}

/** Feeds a chunk's packed rows (offload.ts onRow's layout, each as its ring holds it) to the stream; a plain function of its own, which V8 optimises. */
function unpack(b: Float64Array, rows: number, used: number): void {
  const st = stream!;
  const rowLength = ROW_HEADER + 4 * LT + TRADE_CHANNELS.length;
  if (rows * rowLength !== used) throw new Error(`src/compute/offload-worker.ts: a chunk of ${rows} rows has ${used} values, not ${rows * rowLength}`);
  for (let o = 0; o < used; o += rowLength) {
    const id = b[o]!;
    st.onPacked(id, symbols[id]!, b[o + 1]!, b, o + ROW_HEADER);
  }
}
