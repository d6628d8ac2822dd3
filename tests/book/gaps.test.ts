/**
 * What a book out of sync does with the events it cannot use (issue 12): every row-making diff is
 * either a row or counted (withheld, dropped before sync, stale), at once, and what it holds for a
 * resync is bounded.
 */
import { describe, expect, it } from 'vitest';
import { type BookBuilder, OUT_OF_SYNC_BUFFER } from '../../src/book/builder.ts';
import { DepthEvent, TradeEvent } from '../../src/model/events.ts';
import { BadInputPolicy } from '../../src/core/errors.ts';
import type { BookRow } from '../../src/model/row.ts';
import { bookBuilder } from '../../src/pipeline/book.ts';

/** Binance USD-M rule: a snapshot's lastUpdateId, then diffs chained by pu. */
function snap(lid: number, bid = 99, ask = 101, sym = 'S'): DepthEvent {
  const e = new DepthEvent();
  e.symbol = sym;
  e.kind = 'snapshot';
  e.makesRow = false;
  e.seqRule = 'binance-futures';
  e.lastSeq = lid;
  e.pushBid(bid, 1);
  e.pushAsk(ask, 1);
  return e;
}

function diff(u: number, pu = u - 1, U = u, sym = 'S'): DepthEvent {
  const e = new DepthEvent();
  e.symbol = sym;
  e.kind = 'delta';
  e.seqRule = 'binance-futures';
  e.firstSeq = U;
  e.lastSeq = u;
  e.prevSeq = pu;
  e.ts = u;
  e.line = u;
  e.pushBid(99, 1 + (u % 7));
  return e;
}

function builder(maxOutOfSync?: number) {
  const rows: number[] = [];
  const b = bookBuilder({
    levels: 2, sourceName: 'synthetic', policy: BadInputPolicy.parse('sequence-gap,crossed-book'), maxOutOfSync,
    sink: { onRow: (r: BookRow) => rows.push(r.seq) },
  });
  return { b, rows };
}

/** Every row-making diff is a row or in exactly one count. */
function accounted(b: BookBuilder): number {
  const t = b.totals();
  return t.rows + t.rowsWithheld + t.diffsDropped + t.diffsStale;
}

describe('BookBuilder out of sync', () => {
  it('counts a diff withheld as soon as it arrives out of sync, and releases it if a later snapshot makes it a row', () => {
    const { b, rows } = builder();
    b.onDepth(snap(100));
    b.onDepth(diff(101, 99, 100));
    b.onDepth(diff(102));
    b.onDepth(diff(104)); // 103 is missing
    expect(b.status('S')).toBe('out-of-sync');
    expect(b.totals().rowsWithheld).toBe(1);
    for (const u of [105, 106, 107]) b.onDepth(diff(u));
    expect(b.totals().rowsWithheld).toBe(4);
    expect(accounted(b)).toBe(6);
    // A snapshot at 105: the diff at 104 is older and stays withheld; 105..107 continue it and make rows.
    const resync = snap(105);
    resync.line = 1000;
    b.onDepth(resync);
    expect(b.status('S')).toBe('synced');
    expect(rows).toEqual([101, 102, 105, 106, 107]);
    expect(b.totals()).toMatchObject({ rows: 5, rowsWithheld: 1, diffsDropped: 0, diffsStale: 0, gaps: 1, resyncs: 1 });
    expect(b.gaps).toEqual([expect.objectContaining({ kind: 'sequence-gap', line: 104, resyncedAtLine: 1000 })]);
  });

  it('tells its listener each change of sync status, once, in the order they happen (how a connector knows when to fetch a snapshot)', () => {
    const told: string[] = [];
    const b = bookBuilder({
      levels: 2, sourceName: 'synthetic', policy: BadInputPolicy.parse('sequence-gap'),
      sink: { onRow: () => {} }, onStatus: (sym, st) => told.push(`${sym} ${st}`),
    });
    b.onDepth(diff(99)); // before any snapshot: held
    b.onDepth(diff(100));
    b.onDepth(snap(99)); // the held 100 continues it
    b.onDepth(diff(101));
    b.onDepth(diff(103)); // 102 is missing
    b.onDepth(diff(104)); // still out of sync: no news
    b.onDepth(snap(104));
    b.onDepth(diff(105));
    expect(told).toEqual([
      'S awaiting-snapshot',
      'S awaiting-first-diff', 'S synced',
      'S out-of-sync',
      'S awaiting-first-diff', 'S synced',
    ]);
    expect(b.status('S')).toBe('synced');
  });

  it('ignores a snapshot older than the synced book (a REST answer the stream overtook) instead of rolling the book back into a gap', () => {
    const { b, rows } = builder();
    b.onDepth(snap(100));
    b.onDepth(diff(101, 99, 100));
    b.onDepth(diff(102));
    b.onDepth(diff(103));
    b.onDepth(snap(101, 98, 102)); // older than the book at 103
    b.onDepth(snap(103, 98, 102)); // no newer either
    b.onDepth(diff(104));
    expect(b.status('S')).toBe('synced');
    expect(rows).toEqual([101, 102, 103, 104]);
    expect(b.totals()).toMatchObject({ snapshotsStale: 2, gaps: 0, rowsWithheld: 0 });
    expect(b.book('S')!.bestBid()).toBe(99);
    // A newer one still resets the book.
    b.onDepth(snap(110, 97, 103));
    expect(b.status('S')).toBe('awaiting-first-diff');
    expect(b.totals().snapshotsStale).toBe(2);
  });

  it('counts repeated and older diffs as stale', () => {
    const { b, rows } = builder();
    b.onDepth(snap(100));
    b.onDepth(diff(101, 99, 100));
    b.onDepth(diff(101, 99, 100));
    b.onDepth(diff(100, 99, 100));
    b.onDepth(diff(102));
    expect(rows).toEqual([101, 102]);
    expect(b.totals()).toMatchObject({ diffsStale: 2, rowsWithheld: 0 });
    expect(accounted(b)).toBe(4);
  });

  it(`holds at most ${OUT_OF_SYNC_BUFFER} events for a resync however many arrive, and still resyncs from the newest`, () => {
    const { b, rows } = builder();
    b.onDepth(snap(100));
    b.onDepth(diff(101, 99, 100));
    b.onDepth(diff(103)); // gap
    const n = 5 * OUT_OF_SYNC_BUFFER;
    const t = new TradeEvent();
    t.symbol = 'S';
    t.size = 1;
    let most = 0;
    for (let u = 104; u < 104 + n; u++) {
      b.onDepth(diff(u));
      if (u % 3 === 0) b.onTrade(t);
      most = Math.max(most, b.buffered('S'));
    }
    expect(most).toBe(OUT_OF_SYNC_BUFFER);
    expect(b.totals().rowsWithheld).toBe(n + 1);
    const last = 103 + n;
    b.onDepth(snap(last - 3));
    expect(rows).toEqual([101, last - 3, last - 2, last - 1, last]);
    expect(b.buffered('S')).toBe(0);
    expect(accounted(b)).toBe(n + 2);
  });

  it('takes the bound from the options', () => {
    const { b } = builder(10);
    b.onDepth(snap(100));
    b.onDepth(diff(102)); // gap on the first diff
    for (let u = 103; u < 200; u++) b.onDepth(diff(u));
    expect(b.buffered('S')).toBe(10);
    expect(b.totals().rowsWithheld).toBe(98);
  });

  it('at the end of the input, marks a gap never resynced and counts what was still held', () => {
    const { b } = builder();
    b.onDepth(snap(100));
    b.onDepth(diff(101, 99, 100));
    b.onDepth(diff(103));
    b.onDepth(diff(104));
    b.onDepth(diff(7, 6, 7, 'T')); // a symbol that never gets a snapshot
    b.finish();
    expect(b.gaps).toEqual([expect.objectContaining({ kind: 'sequence-gap', line: 103, unresolved: true })]);
    expect(b.gaps[0]!.resyncedAtLine).toBeUndefined();
    expect(b.counters('S')).toMatchObject({ rows: 1, rowsWithheld: 2 });
    expect(b.counters('T')).toMatchObject({ rows: 0, diffsDropped: 1 });
    expect(b.buffered('S')).toBe(0);
  });

  it('names a crossed or locked snapshot as the reason a book is out of sync', () => {
    for (const [bid, ask] of [[102, 101], [101, 101]] as const) {
      const { b } = builder();
      b.onDepth(snap(100, bid, ask));
      expect(b.status('S')).toBe('out-of-sync');
      const loss = b.syncLoss('S')!;
      expect(loss).toMatchObject({ kind: 'crossed-book', line: 0 });
      expect(loss.detail).toBe(`snapshot for S is crossed or locked (best bid ${bid} >= best ask ${ask})`);
      b.onDepth(diff(101, 99, 100));
      expect(b.totals().rowsWithheld).toBe(1);
      b.onDepth(snap(101));
      b.onDepth(diff(102, 101, 102));
      expect(b.status('S')).toBe('synced');
      expect(b.syncLoss('S')).toBeUndefined();
      // The diff held while crossed continues the new snapshot: released as a row.
      expect(b.totals()).toMatchObject({ rows: 2, rowsWithheld: 0, resyncs: 1 });
    }
  });
});
