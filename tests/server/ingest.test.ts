import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FeedClient } from '../../src/client/feed-client.ts';
import { IngestClient } from '../../src/client/ingest-client.ts';
import type { IngestMessage } from '../../src/protocol/frames.ts';
import { openSource } from '../../src/sources/spec.ts';
import { FeatureEngine } from '../../src/features/engine.ts';
import { featureOptions } from '../../src/features/options.ts';
import { DepthEvent, TradeEvent } from '../../src/model/events.ts';
import { TimeBase, TimeBaseRef } from '../../src/model/time.ts';
import { FEATURE_COLUMNS } from '../../src/features/columns.ts';
import type { FeaturesFrame } from '../../src/protocol/frames.ts';
import type { RunningServer } from '../../src/server/server.ts';
import { WRITE_KEY, feedUrl, ingestUrl, testServer, until } from './helpers.ts';
import { bookBuilder } from '../../src/pipeline/book.ts';

const CAPTURE = 'binance:data/binance/binance-usdm_btcusdt_20240808.jsonl.gz';
const DAY = 86_400_000;

/**
 * A producer's view of the Binance capture: the REST snapshot, then the diffs that continue it
 * (Binance's sync rule), and the trades, with times moved by whole days to the present (the server
 * accepts times within ~100 days of its own clock; whole days keep every 1 s bar boundary).
 */
async function producerStream(maxEvents: number): Promise<IngestMessage[]> {
  const src = await openSource(CAPTURE);
  const out: IngestMessage[] = [];
  let lid = NaN;
  let synced = false;
  let shift = NaN;
  const ms = (ts: number): number => {
    const epoch = src.timeBase.get().toEpochMs(ts);
    if (shift !== shift) shift = Math.round((Date.now() - epoch) / DAY) * DAY;
    return epoch + shift;
  };
  const levels = (px: Float64Array, sz: Float64Array, n: number): [number, number][] => Array.from({ length: n }, (_, i) => [px[i]!, sz[i]!]);
  // Diffs that arrive before the snapshot wait for it, as Binance's procedure says.
  let pending: { U: number; u: number; m: IngestMessage }[] = [];
  const diff = (U: number, u: number, m: IngestMessage): void => {
    if (u < lid) return;
    if (!synced && !(U <= lid)) return;
    synced = true;
    out.push(m);
  };
  await src.run({
    onDepth(e) {
      if (out.length >= maxEvents) return;
      const m: IngestMessage = { t: e.kind, sym: 'BTCUSDT', ts: ms(e.ts), bids: levels(e.bidPx, e.bidSz, e.nBids), asks: levels(e.askPx, e.askSz, e.nAsks) };
      if (e.kind === 'snapshot') {
        lid = e.lastSeq;
        out.push(m);
        for (const p of pending) diff(p.U, p.u, p.m);
        pending = [];
      } else if (lid !== lid) pending.push({ U: e.firstSeq, u: e.lastSeq, m });
      else diff(e.firstSeq, e.lastSeq, m);
    },
    onTrade(t) {
      if (out.length >= maxEvents || lid !== lid) return;
      out.push({ t: 'trade', sym: 'BTCUSDT', ts: ms(t.ts), px: t.price, sz: t.size, side: t.sign > 0 ? 'buy' : 'sell', id: t.id });
    },
  });
  return out;
}

/** The same messages through the foundation in-process: BookBuilder -> FeatureEngine, as the reference. */
function reference(msgs: IngestMessage[]): { ts: number; v: number[] }[] {
  const tb = TimeBase.ofEpochMs(Date.now());
  const out: { ts: number; v: number[] }[] = [];
  const engine = new FeatureEngine(
    featureOptions({ levels: 10, vpinBucket: 5, horizons: [], settleMs: 0, blockRows: 1 }),
    new TimeBaseRef(tb),
    (b) => {
      for (let i = 0; i < b.n; i++) out.push({ ts: tb.toEpochMs(b.ts[i]!), v: FEATURE_COLUMNS.map((_, c) => b.values[c]![i]!) });
    },
  );
  const builder = bookBuilder({ levels: 10, sink: engine });
  const d = new DepthEvent();
  const t = new TradeEvent();
  for (const m of msgs) {
    if (m.t === 'trade') {
      Object.assign(t, { symbol: m.sym, ts: Math.round(tb.fromEpochMs(m.ts!)), price: m.px, size: m.sz, sign: m.side === 'buy' ? 1 : -1 });
      builder.onTrade(t);
      continue;
    }
    d.reset();
    Object.assign(d, { symbol: m.sym, kind: m.t, ts: Math.round(tb.fromEpochMs(m.ts!)), seqRule: 'none', makesRow: true, sizes: 'absolute' });
    for (const [p, s] of m.bids as [number, number][]) d.pushBid(p, s);
    for (const [p, s] of m.asks as [number, number][]) d.pushAsk(p, s);
    builder.onDepth(d);
  }
  return out;
}

let server: RunningServer;
beforeAll(async () => {
  server = await testServer((c) => {
    c.features.vpinBucket = 5;
    c.feed.bookIntervalMs = 0;
  });
});
afterAll(() => server.close());

describe('/ingest', () => {
  it('turns a producer\'s book and trades into the same features the engine computes in-process', async () => {
    const msgs = await producerStream(4000);
    const ref = reference(msgs);
    expect(ref.length).toBeGreaterThan(500);
    const sub = await FeedClient.connect({ url: feedUrl(server) });
    const got: FeaturesFrame[] = [];
    sub.on('features', (f) => got.push(f));
    let books = 0;
    sub.on('book', () => books++);
    await sub.subscribe(['features.BTCUSDT', 'book.BTCUSDT']);
    const p = await IngestClient.connect({ url: ingestUrl(server), key: WRITE_KEY });
    for (let i = 0; i < msgs.length; i += 100) p.send(msgs.slice(i, i + 100));
    const ack = await p.flush();
    expect(ack.accepted).toBe(msgs.length);
    expect(p.errors).toEqual([]);
    await until(() => got.length === ref.length, 5000, 'all feature rows');
    for (let i = 0; i < ref.length; i++) {
      expect(got[i]!.row).toBe(i);
      expect(got[i]!.ts).toBe(ref[i]!.ts);
      expect(got[i]!.v).toEqual(ref[i]!.v);
    }
    expect(books).toBe(ref.length);
    await p.close();
    await sub.close();
  });

  it('reports bad messages by position and applies the rest of the batch', async () => {
    const p = await IngestClient.connect({ url: ingestUrl(server), key: WRITE_KEY });
    const now = Date.now();
    p.send([
      { t: 'delta', sym: 'BADS', ts: now, bids: [[10, 1]] },
      { t: 'snapshot', sym: 'BADS', ts: now, bids: [[10, 1], [9, 2]], asks: [[11, 1]] },
      { t: 'delta', sym: 'BADS', ts: now, bids: [[-1, 1]] },
      { t: 'quote', sym: 'BADS' } as unknown as IngestMessage,
      { t: 'trade', sym: 'BADS', ts: now, px: 10.5, sz: 0 },
      { t: 'trade', sym: 'bad symbol!', ts: now, px: 10.5, sz: 1 },
      { t: 'snapshot', sym: 'BADS', ts: 'yesterday' as unknown as number, bids: [], asks: [] },
      { t: 'delta', sym: 'BADS', ts: now + 1, bids: [10.5, 3], asks: new Float64Array([11, 0, 11.5, 4]) },
      { t: 'trade', sym: 'BADS', ts: now + 2, px: 11.5, sz: 1, side: 'buy' },
    ]);
    p.sendRaw(new Uint8Array([0xc1]));
    const ack = await p.flush();
    expect(ack.accepted).toBe(3);
    expect(p.errors.map((e) => e.code)).toEqual(['no-snapshot', 'bad-request', 'bad-request', 'bad-request', 'bad-request', 'bad-request', 'bad-request']);
    expect(p.errors[0]!.message).toBe('message 0: delta for BADS before any snapshot: send a snapshot first');
    expect(p.errors[1]!.message).toMatch(/^message 2 \(delta BADS\) bids: level 0 is not a price > 0/);
    expect(p.errors[2]!.message).toMatch(/^message 3: unknown message type "quote"/);
    const h = server.pipeline.sourceList().find((s) => s.name.startsWith('ingest:producer'))!;
    expect(h.depthIn).toBe(2);
    expect(h.tradesIn).toBe(1);
    const book = h.builder.book('BADS')!;
    expect([book.bestBid(), book.bestAsk()]).toEqual([10.5, 11.5]);
    await p.close();
  });

  it('detects sequence gaps when the producer sends seq, and resyncs on its next snapshot', async () => {
    const p = await IngestClient.connect({ url: ingestUrl(server), key: WRITE_KEY });
    const sub = await FeedClient.connect({ url: feedUrl(server) });
    const rows: number[] = [];
    sub.on('features', (f) => rows.push(f.v[0] as number));
    await sub.subscribe(['features.SEQ']);
    const now = Date.now();
    const snap = (seq: number, mid: number): IngestMessage => ({ t: 'snapshot', sym: 'SEQ', ts: now, seq, bids: [[mid - 0.5, 1]], asks: [[mid + 0.5, 1]] });
    const delta = (seq: number, px: number): IngestMessage => ({ t: 'delta', sym: 'SEQ', ts: now, seq, bids: [[px, 2]] });
    p.send([snap(100, 50), delta(101, 49.6), delta(102, 49.7), delta(104, 49.8), delta(105, 49.9)]);
    await p.flush();
    expect(p.errors).toHaveLength(1);
    expect(p.errors[0]).toMatchObject({ code: 'sequence-gap', sym: 'SEQ' });
    p.send([snap(200, 60), delta(201, 59.7)]);
    await p.flush();
    await until(() => rows.length === 3, 2000, 'rows');
    // Rows from 101 and 102, none while out of sync, then from 201 on the new snapshot.
    expect(rows).toEqual([50.05, 50.1, 60.1]);
    await sub.close();
    await p.close();
  });

  it('keeps a symbol to the source that feeds it; a reconnecting producer takes it back', async () => {
    const a = await IngestClient.connect({ url: ingestUrl(server), key: WRITE_KEY });
    a.send({ t: 'snapshot', sym: 'OWNED', ts: Date.now(), bids: [[1, 1]], asks: [[2, 1]] });
    await a.flush();
    const b = await IngestClient.connect({ url: ingestUrl(server), key: WRITE_KEY });
    b.send({ t: 'snapshot', sym: 'OWNED', ts: Date.now(), bids: [[1, 1]], asks: [[2, 1]] });
    await b.flush();
    expect(b.errors[0]).toMatchObject({ code: 'symbol-owned', sym: 'OWNED' });
    await a.close();
    await until(() => server.pipeline.ownerOf('OWNED')?.state === 'stopped', 2000, 'a gone');
    b.send({ t: 'snapshot', sym: 'OWNED', ts: Date.now(), bids: [[1, 1]], asks: [[2, 1]] });
    await b.flush();
    expect(b.errors).toHaveLength(1);
    expect(server.pipeline.ownerOf('OWNED')!.name).toMatch(/^ingest:producer#/);
    await b.close();
  });
});
