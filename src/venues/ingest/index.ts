/**
 * Producers pushing their own books over /ingest (docs/protocol.md, "Ingest"). Their messages are
 * parsed in src/server/ingest.ts, where they arrive: each frame is read straight off the uWS socket
 * into the connection's source, and the parsing shares that file's error frames and rate limits.
 */
import type { Venue } from '../venue.ts';
import { BINANCE_SPOT } from '../binance/sequence.ts';

/**
 * A producer that sends `seq` gets gap detection: each delta must carry the previous seq + 1, and
 * the first after a snapshot the snapshot's seq + 1: the Binance spot rule with U = u = seq, and
 * recorded under its id.
 */
export const INGEST_SEQUENCE = BINANCE_SPOT;

export const ingest: Venue = {
  id: 'ingest',
  specForms: [],
  sequences: [INGEST_SEQUENCE],
};
