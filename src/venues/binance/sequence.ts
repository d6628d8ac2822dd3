/**
 * Binance's sequencing rules ("How to manage a local order book correctly"):
 *  - USD-M futures: drop diffs with u < lastUpdateId; the first applied has U <= lastUpdateId <= u;
 *    afterwards each diff's pu equals the previous diff's u.
 *  - Spot: drop diffs with u <= lastUpdateId; the first applied has U <= lastUpdateId + 1 <= u;
 *    afterwards each diff's U equals the previous u + 1 (an overlap U <= prev u + 1 <= u is accepted).
 * A snapshot no newer than a synced book (its lastUpdateId <= the book's last u) is ignored: applying
 * it would roll the book back and make the next diff a gap.
 */
import type { SeqRule } from '../../model/sequence.ts';

export const BINANCE_FUTURES: SeqRule = {
  id: 'binance-futures',
  firstAfterSnapshot(lid, e) {
    if (e.lastSeq < lid) return 'stale';
    return e.firstSeq <= lid ? 'apply' : 'gap';
  },
  nextAfter(last, e) {
    if (e.prevSeq === last) return 'apply';
    return e.lastSeq <= last ? 'stale' : 'gap';
  },
  expectation(last, e, afterSnapshot) {
    return afterSnapshot
      ? `expected the first diff after the snapshot to have U <= ${last} <= u, got U=${e.firstSeq} u=${e.lastSeq}`
      : `expected pu=${last} (the previous diff's u), got pu=${e.prevSeq} (U=${e.firstSeq} u=${e.lastSeq})`;
  },
  snapshotIsStale: (last, snapshot) => snapshot <= last,
};

export const BINANCE_SPOT: SeqRule = {
  id: 'binance-spot',
  firstAfterSnapshot(lid, e) {
    if (e.lastSeq <= lid) return 'stale';
    return e.firstSeq <= lid + 1 ? 'apply' : 'gap';
  },
  nextAfter(last, e) {
    if (e.lastSeq <= last) return 'stale';
    return e.firstSeq <= last + 1 ? 'apply' : 'gap';
  },
  expectation(last, e, afterSnapshot) {
    return afterSnapshot
      ? `expected the first diff after the snapshot to have U <= ${last + 1} <= u, got U=${e.firstSeq} u=${e.lastSeq}`
      : `expected U=${last + 1} (the previous diff's u + 1), got U=${e.firstSeq} (u=${e.lastSeq})`;
  },
  snapshotIsStale: (last, snapshot) => snapshot <= last,
};
