/**
 * The kernel thread of OffloadedDenseStream (offload.ts): unpacks the rows it is sent into a
 * DenseStream on its own backend, and sends back each block of kernel columns as it is computed.
 */
import { parentPort } from 'node:worker_threads';
import { BookRow } from '../model/row.ts';
import { DenseStream } from './stream.ts';
import { selectComputeBackend } from './select.ts';
import { BackendUnavailable, errorLine, type DenseBackend } from './backend.ts';
import { DENSE_COLUMNS, FeatureBlock } from '../features/columns.ts';
import { ROW_HEADER, type FromWorker, type OffloadStats, type ToWorker } from './offload.ts';

const port = parentPort!;
let stream: DenseStream | undefined;
let backend: DenseBackend | undefined;
let row: BookRow | undefined;
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
      row = new BookRow(LT);
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

/** Feeds a chunk's packed rows (offload.ts onRow's layout) to the stream; a plain function of its own, which V8 optimises (a loop inside the async handler ran ~2x slower). */
function unpack(b: Float64Array, rows: number, used: number): void {
  const r = row!;
  let o = 0;
  for (let i = 0; i < rows; i++) {
    const id = b[o++]!;
    r.symbolId = id;
    r.symbol = symbols[id]!;
    r.ts = b[o++]!;
    r.depthLimit = b[o++]!;
    const nt = b[o++]!;
    for (let l = 0; l < LT; l++) {
      r.bidPx[l] = b[o++]!;
      r.bidSz[l] = b[o++]!;
      r.askPx[l] = b[o++]!;
      r.askSz[l] = b[o++]!;
    }
    if (r.tradePx.length < nt) {
      r.tradePx = new Float64Array(nt * 2);
      r.tradeSz = new Float64Array(nt * 2);
      r.tradeSign = new Int8Array(nt * 2);
      r.tradeTs = new Float64Array(nt * 2);
    }
    r.nTrades = nt;
    for (let t = 0; t < nt; t++) {
      r.tradePx[t] = b[o++]!;
      r.tradeSz[t] = b[o++]!;
      r.tradeSign[t] = b[o++]!;
    }
    stream!.onRow(r);
  }
  if (o !== used) throw new Error(`src/compute/offload-worker.ts: a chunk of ${rows} rows unpacked to ${o} values, ${used} were sent`);
}
