/**
 * The normalised events (src/model/events.ts) as input stream entries: one msgpack array per event,
 * field `e`. Everything a DepthEvent or TradeEvent carries travels, exchange sequence numbers and
 * the sequence rule included, so a compute process's book builder applies the same rules the
 * single-process server would. Times travel as offsets from the writer's time base (a UTC midnight,
 * sent as epoch ms) and are moved onto the reader's: whole days, so nothing is rounded.
 *
 * Each entry also carries its writer's id and a per-writer count: a batch re-sent after a lost
 * connection (some of it may have been written) is recognised and skipped by the reader.
 */
import { DepthEvent, TradeEvent } from '../model/events.ts';
import type { TimeBase } from '../model/time.ts';
import { packr } from '../protocol/codec.ts';

const V = 1;

export type InputRecord =
  | { k: 'depth'; writer: string; n: number; e: DepthEvent }
  | { k: 'trade'; writer: string; n: number; e: TradeEvent }
  /** `lost` events of the symbol were never written (the writer's buffer was full): its book must resync. */
  | { k: 'lost'; writer: string; n: number; symbol: string; lost: number };

function levels(px: Float64Array, sz: Float64Array, n: number): Float64Array {
  const a = new Float64Array(2 * n);
  for (let i = 0; i < n; i++) {
    a[2 * i] = px[i]!;
    a[2 * i + 1] = sz[i]!;
  }
  return a;
}

export function encodeDepth(e: DepthEvent, tb: TimeBase, writer: string, n: number): Buffer {
  return packr.pack([V, 'd', writer, n, tb.baseMs, e.symbol, e.kind === 'snapshot' ? 1 : 0, e.sizes === 'relative' ? 1 : 0,
    e.ts, e.tsLocal, e.firstSeq, e.lastSeq, e.prevSeq, e.seqRule, e.depthLimit, e.makesRow, e.line,
    levels(e.bidPx, e.bidSz, e.nBids), levels(e.askPx, e.askSz, e.nAsks)]);
}

export function encodeTrade(e: TradeEvent, tb: TimeBase, writer: string, n: number): Buffer {
  return packr.pack([V, 't', writer, n, tb.baseMs, e.symbol, e.ts, e.tsLocal, e.price, e.size, e.sign, e.id, e.hidden, e.line]);
}

export function encodeLost(symbol: string, lost: number, writer: string, n: number): Buffer {
  return packr.pack([V, 'x', writer, n, 0, symbol, lost]);
}

/**
 * Decodes an entry into the given flyweights (reused for the next entry, as a parser's are), with
 * its times moved onto `tb`. Throws naming what is wrong.
 */
export class InputDecoder {
  private readonly depth = new DepthEvent();
  private readonly trade = new TradeEvent();

  constructor(private readonly tb: TimeBase) {}

  decode(buf: Buffer): InputRecord {
    const a = packr.unpack(buf) as unknown[];
    if (!Array.isArray(a) || a[0] !== V) throw new Error(`input entry: not a version ${V} event array`);
    const writer = String(a[2]);
    const n = a[3] as number;
    const shift = ((a[4] as number) - this.tb.baseMs) * 1_000_000;
    switch (a[1]) {
      case 'd': {
        const e = this.depth;
        e.reset();
        e.symbol = a[5] as string;
        e.kind = a[6] === 1 ? 'snapshot' : 'delta';
        e.sizes = a[7] === 1 ? 'relative' : 'absolute';
        e.ts = (a[8] as number) + shift;
        e.tsLocal = (a[9] as number) + shift;
        e.firstSeq = a[10] as number;
        e.lastSeq = a[11] as number;
        e.prevSeq = a[12] as number;
        e.seqRule = a[13] as string;
        e.depthLimit = a[14] as number;
        e.makesRow = a[15] as boolean;
        e.line = a[16] as number;
        const b = a[17] as Float64Array;
        const s = a[18] as Float64Array;
        for (let i = 0; i < b.length; i += 2) e.pushBid(b[i]!, b[i + 1]!);
        for (let i = 0; i < s.length; i += 2) e.pushAsk(s[i]!, s[i + 1]!);
        return { k: 'depth', writer, n, e };
      }
      case 't': {
        const e = this.trade;
        e.symbol = a[5] as string;
        e.ts = (a[6] as number) + shift;
        e.tsLocal = (a[7] as number) + shift;
        e.price = a[8] as number;
        e.size = a[9] as number;
        e.sign = a[10] as -1 | 0 | 1;
        e.id = a[11] as number;
        e.hidden = a[12] as boolean;
        e.line = a[13] as number;
        return { k: 'trade', writer, n, e };
      }
      case 'x':
        return { k: 'lost', writer, n, symbol: a[5] as string, lost: a[6] as number };
      default:
        throw new Error(`input entry: unknown event type ${JSON.stringify(a[1])}`);
    }
  }
}
