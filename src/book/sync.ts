/**
 * Venue sequencing rules for depth streams: which diff may follow a snapshot, and which may follow
 * the previous diff. Binance's procedures ("How to manage a local order book correctly"):
 *  - USD-M futures: drop diffs with u < lastUpdateId; the first applied has U <= lastUpdateId <= u;
 *    afterwards each diff's pu equals the previous diff's u.
 *  - Spot: drop diffs with u <= lastUpdateId; the first applied has U <= lastUpdateId + 1 <= u;
 *    afterwards each diff's U equals the previous u + 1 (an overlap U <= prev u + 1 <= u is accepted).
 */
import type { DepthEvent, SequenceRule } from '../sources/events.ts';

export type SeqVerdict = 'apply' | 'stale' | 'gap';

/** The first diff after a snapshot whose lastUpdateId is `lid`. */
export function firstAfterSnapshot(rule: SequenceRule, lid: number, e: DepthEvent): SeqVerdict {
  switch (rule) {
    case 'none':
      return 'apply';
    case 'binance-futures':
      if (e.lastSeq < lid) return 'stale';
      return e.firstSeq <= lid ? 'apply' : 'gap';
    case 'binance-spot':
      if (e.lastSeq <= lid) return 'stale';
      return e.firstSeq <= lid + 1 ? 'apply' : 'gap';
  }
}

/** A diff following an applied diff whose last update id was `last`. */
export function nextAfter(rule: SequenceRule, last: number, e: DepthEvent): SeqVerdict {
  switch (rule) {
    case 'none':
      return 'apply';
    case 'binance-futures':
      if (e.prevSeq === last) return 'apply';
      return e.lastSeq <= last ? 'stale' : 'gap';
    case 'binance-spot':
      if (e.lastSeq <= last) return 'stale';
      return e.firstSeq <= last + 1 ? 'apply' : 'gap';
  }
}

/** Human text of what was expected, for gap errors. */
export function expectation(rule: SequenceRule, last: number, e: DepthEvent, afterSnapshot: boolean): string {
  if (rule === 'binance-futures') {
    return afterSnapshot
      ? `expected the first diff after the snapshot to have U <= ${last} <= u, got U=${e.firstSeq} u=${e.lastSeq}`
      : `expected pu=${last} (the previous diff's u), got pu=${e.prevSeq} (U=${e.firstSeq} u=${e.lastSeq})`;
  }
  if (rule === 'binance-spot') {
    return afterSnapshot
      ? `expected the first diff after the snapshot to have U <= ${last + 1} <= u, got U=${e.firstSeq} u=${e.lastSeq}`
      : `expected U=${last + 1} (the previous diff's u + 1), got U=${e.firstSeq} (u=${e.lastSeq})`;
  }
  return 'unexpected sequence';
}
