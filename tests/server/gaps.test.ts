/**
 * Nothing lost, nothing let in (issue 12): what a server's books do with gaps, crossed books and
 * repeated sequence numbers is counted where a user looks (/healthz) and told to the producer,
 * and what an out-of-sync book holds is bounded.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { IngestClient } from '../../src/client/ingest-client.ts';
import type { IngestMessage } from '../../src/protocol/frames.ts';
import { OUT_OF_SYNC_BUFFER } from '../../src/book/builder.ts';
import { openSource } from '../../src/sources/spec.ts';
import { BadInputPolicy } from '../../src/core/errors.ts';
import type { RunningServer } from '../../src/server/server.ts';
import { replayName } from '../../src/server/server.ts';
import { USDM_FILE, scratchDir } from '../helpers.ts';
import { WRITE_KEY, ingestUrl, testServer, until } from './helpers.ts';
import { bookBuilder } from '../../src/pipeline/book.ts';

const dir = scratchDir('server-gaps');

interface SourceHealth {
  name: string;
  state: string;
  sync: Record<string, string>;
  rows: number;
  gaps: number;
  rowsWithheld: number;
  diffsDropped: number;
  diffsStale: number;
  crossedMessages: number;
  repairedLevels: number;
  held: number;
  badInput: Record<string, number>;
  refused: Record<string, number>;
}

async function health(s: RunningServer, name: (n: string) => boolean): Promise<SourceHealth> {
  const h = (await (await fetch(`http://127.0.0.1:${s.port}/healthz`)).json()) as { sources: SourceHealth[] };
  const src = h.sources.find((x) => name(x.name));
  if (!src) throw new Error(`no source in /healthz matches (${h.sources.map((x) => x.name).join(', ')})`);
  return src;
}

let server: RunningServer;
beforeAll(async () => {
  server = await testServer((c) => {
    c.features.vpinBucket = 5;
  });
});
afterAll(() => server.close());

/** A producer connection and its source's /healthz entry. */
async function producer(): Promise<{ p: IngestClient; health: () => Promise<SourceHealth> }> {
  const before = new Set(server.pipeline.sourceList().map((s) => s.name));
  const p = await IngestClient.connect({ url: ingestUrl(server), key: WRITE_KEY });
  await p.flush();
  const name = server.pipeline.sourceList().find((s) => !before.has(s.name))!.name;
  return { p, health: () => health(server, (n) => n === name) };
}

const now = Date.now();
const snap = (sym: string, seq: number | undefined, bids: [number, number][], asks: [number, number][]): IngestMessage =>
  ({ t: 'snapshot', sym, ts: now, ...(seq === undefined ? {} : { seq }), bids, asks });
const delta = (sym: string, seq: number | undefined, bids: [number, number][], asks: [number, number][] = []): IngestMessage =>
  ({ t: 'delta', sym, ts: now, ...(seq === undefined ? {} : { seq }), bids, asks });

describe('/ingest accounting', () => {
  it('a rejected message leaves a gap in seq: the gap and every delta after it are counted withheld in /healthz', async () => {
    const { p, health } = await producer();
    p.send([snap('GAPA', 1, [[99, 1]], [[101, 1]]), delta('GAPA', 2, [[99, 2]]), delta('GAPA', 3, [[-1, 1]])]);
    for (let s = 4; s <= 10; s++) p.send(delta('GAPA', s, [[99, s]]));
    await p.flush();
    expect(p.errors.map((e) => e.code)).toEqual(['bad-request', 'sequence-gap']);
    expect(p.errors[0]!.message).toBe('message 2 (delta GAPA) bids: level 0 is not a price > 0 with a size >= 0 (got -1, 1) ' +
      '(seq 3 not applied: resend it corrected, or the next GAPA message with a later seq is a sequence gap)');
    expect(p.errors[1]!.message).toBe('message: sequence gap in GAPA: expected seq 3 (the previous + 1), got 4: its rows are withheld until you send a snapshot');
    const h = await health();
    expect(h).toMatchObject({ rows: 1, gaps: 1, rowsWithheld: 7, sync: { GAPA: 'out-of-sync' } });
    expect(h.badInput['sequence-gap']).toBe(1);
    // The refused message itself is counted too, by the code the producer was sent.
    expect(h.refused).toEqual({ 'bad-request': 1 });
    // The next snapshot resyncs; what it continues becomes rows again.
    p.send([snap('GAPA', 20, [[99, 1]], [[101, 1]]), delta('GAPA', 21, [[99, 5]])]);
    await p.flush();
    expect(await health()).toMatchObject({ rows: 2, rowsWithheld: 7, sync: { GAPA: 'synced' } });
    await p.close();
  });

  it('a crossed or locked snapshot gets crossed-book, naming the prices, not a sequence gap', async () => {
    const { p, health } = await producer();
    p.send(snap('CRS', undefined, [[101, 1]], [[100, 1]]));
    p.send(snap('LCK', 5, [[100, 1]], [[100, 2]]));
    await p.flush();
    expect(p.errors).toEqual([
      { t: 'error', code: 'crossed-book', sym: 'CRS', message: 'message: snapshot for CRS is crossed or locked (best bid 101 >= best ask 100): its rows are withheld until you send a snapshot that is not' },
      { t: 'error', code: 'crossed-book', sym: 'LCK', message: 'message: snapshot for LCK is crossed or locked (best bid 100 >= best ask 100): its rows are withheld until you send a snapshot that is not' },
    ]);
    p.send(delta('CRS', undefined, [[99, 1]]));
    await p.flush();
    const h = await health();
    expect(h).toMatchObject({ gaps: 0, rowsWithheld: 2, crossedMessages: 2, sync: { CRS: 'out-of-sync', LCK: 'out-of-sync' } });
    expect(h.badInput['crossed-book']).toBe(2);
    await p.close();
  });

  it('a delta that crosses the book is repaired by the documented policy (newest wins), counted and reported', async () => {
    const { p, health } = await producer();
    p.send(snap('XD', undefined, [[99, 1]], [[100, 1], [101, 1], [102, 1], [104, 1]]));
    p.send(delta('XD', undefined, [[102, 2]]));
    await p.flush();
    expect(p.errors).toEqual([{
      t: 'error', code: 'crossed-book', sym: 'XD',
      message: 'message (delta XD) crossed the book: 3 levels of the other side priced at or through the levels it set were removed as stale (newest wins, docs/book.md); best bid 102, best ask 104: send a snapshot if that is wrong',
    }]);
    const book = server.pipeline.ownerOf('XD')!.builder.book('XD')!;
    expect([book.bestBid(), book.bestAsk()]).toEqual([102, 104]);
    expect(await health()).toMatchObject({ rows: 2, rowsWithheld: 0, crossedMessages: 1, repairedLevels: 3, sync: { XD: 'synced' } });
    await p.close();
  });

  it('repeated and older seq numbers are refused, counted in /healthz', async () => {
    const { p, health } = await producer();
    p.send([snap('OLD', 10, [[99, 1]], [[101, 1]]), delta('OLD', 10, [[99, 2]]), delta('OLD', 11, [[99, 3]]), delta('OLD', 11, [[99, 4]]), delta('OLD', 7, [[99, 5]]), delta('OLD', 12, [[99, 6]])]);
    const ack = await p.flush();
    expect(ack.accepted).toBe(1 + 3); // producer()'s flush, the snapshot, 11 and 12
    expect(p.errors.map((e) => [e.code, e.message])).toEqual([
      ['stale-seq', 'message 1: seq 10 for OLD is not after the snapshot\'s (10): ignored as a repeated or older message'],
      ['stale-seq', 'message 3: seq 11 for OLD is not after the last applied (11): ignored as a repeated or older message'],
      ['stale-seq', 'message 4: seq 7 for OLD is not after the last applied (11): ignored as a repeated or older message'],
    ]);
    expect(await health()).toMatchObject({ rows: 2, rowsWithheld: 0, diffsDropped: 1, diffsStale: 2, sync: { OLD: 'synced' } });
    await p.close();
  });

  it(`an out-of-sync book holds at most ${OUT_OF_SYNC_BUFFER} deltas however many come, and none once its producer is gone`, async () => {
    const { p, health } = await producer();
    p.send([snap('FLOOD', 1, [[99, 1]], [[101, 1]]), delta('FLOOD', 3, [[99, 2]])]);
    await p.flush();
    const n = 3 * OUT_OF_SYNC_BUFFER;
    const h = server.pipeline.sourceList().find((s) => s.builder.status('FLOOD') !== undefined)!;
    let most = 0;
    for (let s = 4; s < 4 + n; s += 1000) {
      p.send(Array.from({ length: 1000 }, (_, k) => delta('FLOOD', s + k, [[99, 1 + k]], [[101 + (k % 50), 1]])));
      await p.flush();
      most = Math.max(most, h.builder.buffered('FLOOD'));
    }
    expect(most).toBe(OUT_OF_SYNC_BUFFER);
    expect(await health()).toMatchObject({ rowsWithheld: n + 1, held: OUT_OF_SYNC_BUFFER });
    await p.close();
    await until(() => h.state === 'stopped', 5000, 'the producer gone');
    expect(h.builder.buffered('FLOOD')).toBe(0);
  });
});

describe('replay accounting', () => {
  it('a replayed capture with a deleted diff and a malformed line: /healthz counts the rows withheld and the bad line', async () => {
    const lines = gunzipSync(readFileSync(USDM_FILE)).toString('utf8').split('\n').filter(Boolean).slice(0, 6000);
    const diffs = lines.map((l, i) => (l.includes('"depthUpdate"') ? i : -1)).filter((i) => i >= 0);
    const cut = diffs[300]!;
    // Malformed (cut short): a line that is not a depth diff, so the deleted diff is the only gap.
    const bad = lines.findIndex((l, i) => i > diffs[200]! && !l.includes('"depthUpdate"'));
    lines[bad] = lines[bad]!.slice(0, 50);
    const file = join(dir, 'gap-replay.jsonl');
    writeFileSync(file, lines.filter((_, i) => i !== cut).join('\n') + '\n');
    const spec = `binance:${file}`;
    // The reference: the same file through a book builder that skips what the server skips.
    const policy = BadInputPolicy.parse('all');
    const ref = bookBuilder({ levels: 10, policy, sink: { onRow: () => {} } });
    await (await openSource(spec, { policy })).run(ref);
    const want = ref.totals();
    expect(want.rowsWithheld).toBeGreaterThan(100);

    const s = await testServer((c) => {
      c.features.vpinBucket = 5;
      c.sources = [{ kind: 'replay', spec, speed: 2000, loop: false }];
    });
    try {
      const handle = s.pipeline.sourceList()[0]!;
      await until(() => handle.state === 'finished', 20_000, 'the replay to finish');
      const h = await health(s, (n) => n === replayName(spec));
      expect(h).toMatchObject({ rows: want.rows, gaps: 1, rowsWithheld: want.rowsWithheld, sync: { BTCUSDT: 'out-of-sync' } });
      expect(h.badInput).toEqual({ 'malformed-line': 1, 'sequence-gap': 1 });
    } finally {
      await s.close();
    }
  });
});
