/**
 * Venue sequencing rules for depth streams: which diff may follow a snapshot, and which may follow
 * the previous diff. Each venue that numbers its diffs brings its rules (src/venues/<venue>/);
 * the book builder asks the rule an event names and knows no venue. A rule's id is what
 * DepthEvent.seqRule and recordings carry, so an id, once recorded, never changes.
 */

export type SeqVerdict = 'apply' | 'stale' | 'gap';

/** The sequence numbers a rule reads (DepthEvent's: first, last and previous update id). */
export interface SeqNumbers {
  firstSeq: number;
  lastSeq: number;
  prevSeq: number;
}

export interface SeqRule {
  readonly id: string;
  /** The first diff after a snapshot whose last update id is `lid`. */
  firstAfterSnapshot(lid: number, e: SeqNumbers): SeqVerdict;
  /** A diff following an applied diff whose last update id was `last`. */
  nextAfter(last: number, e: SeqNumbers): SeqVerdict;
  /** Human text of what was expected, for gap errors. */
  expectation(last: number, e: SeqNumbers, afterSnapshot: boolean): string;
  /**
   * Whether a snapshot whose last update id is `snapshot` is older than a synced book at `last`,
   * and is to be ignored (a REST answer the stream has overtaken, a capture's snapshot after its
   * diffs). Absent: every snapshot resets the book (a producer resyncing its own stream).
   */
  snapshotIsStale?(last: number, snapshot: number): boolean;
}

/** The id of a stream without sequence numbers: every diff applies, a snapshot alone resyncs. */
export const NO_SEQUENCE = 'none';

export const UNSEQUENCED: SeqRule = {
  id: NO_SEQUENCE,
  firstAfterSnapshot: () => 'apply',
  nextAfter: () => 'apply',
  expectation: () => 'unexpected sequence',
};
