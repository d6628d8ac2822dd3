/**
 * The venues flowcast knows, one line each. Source specs, sequence rules (the book builder's and
 * the recorder's) and live connectors are looked up here, so adding a venue is its folder and its
 * line below (docs/sources.md, "Adding a venue").
 */
import type { Venue } from './venue.ts';
import { NO_SEQUENCE, UNSEQUENCED, type SeqRule } from '../model/sequence.ts';
import { lobster } from './lobster/index.ts';
import { binance } from './binance/index.ts';
import { tardis } from './tardis/index.ts';
import { ingest } from './ingest/index.ts';

/** In the order help texts list their spec forms. */
export const VENUES: readonly Venue[] = [
  lobster,
  binance,
  tardis,
  ingest,
];

const byId = new Map<string, Venue>();
const rules = new Map<string, SeqRule>([[NO_SEQUENCE, UNSEQUENCED]]);
for (const v of VENUES) {
  if (byId.has(v.id)) throw new Error(`venue "${v.id}" is registered twice`);
  byId.set(v.id, v);
  for (const r of v.sequences) {
    const known = rules.get(r.id);
    // Venues may share a rule (ingest reuses Binance spot's), never two rules one id: events and recordings name rules by id.
    if (known && known !== r) throw new Error(`sequence rule "${r.id}" of venue "${v.id}" is another rule's id`);
    rules.set(r.id, r);
  }
}

export function venue(id: string): Venue | undefined {
  return byId.get(id);
}

/** Every rule id, "none" first: the recorder's dictionary of DepthEvent.seqRule. */
export const SEQUENCE_RULE_IDS: readonly string[] = [...rules.keys()];

export function sequenceRule(id: string): SeqRule {
  const r = rules.get(id);
  if (!r) throw new Error(`unknown sequence rule "${id}" (registered: ${SEQUENCE_RULE_IDS.join(', ')})`);
  return r;
}
