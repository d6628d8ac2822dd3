/**
 * An instrument: the facts about one symbol on one venue that every stage may need and none should
 * guess. Today a depth stream states its sequence rule and depth limit on each DepthEvent (the
 * recorder keeps them per row, so a replay restores them), and tick and lot are learned from the
 * prices and sizes seen (TickLadder's grid, SnapshotBatch's decimals), since no source declares
 * them; this type names the set so that a stage holding per-symbol facts holds them in one shape.
 */
import type { SequenceRule } from './events.ts';

export interface Instrument {
  /** The venue's id in the registry (src/venues/registry.ts), as source specs and configs name it. */
  readonly venue: string;
  readonly symbol: string;
  /** Price increment in the instrument's currency; NaN where the source does not state it. */
  readonly tick: number;
  /** Size increment in the source's size unit; NaN where the source does not state it. */
  readonly lot: number;
  /** The rule its depth diffs follow (DepthEvent.seqRule). */
  readonly seqRule: SequenceRule;
  /** Levels per side the source can show at most (DepthEvent.depthLimit); Infinity for a full-depth feed. */
  readonly depthLimit: number;
}
