/**
 * The contract every market-data source implements: stream normalised events, in source order,
 * into a sink. Sources do I/O and parsing only; books and features live downstream.
 */
import type { MarketSink } from '../model/events.ts';
import type { TimeBaseRef } from '../model/time.ts';
import type { BadInputPolicy } from '../core/errors.ts';

export interface SourceStats {
  /** Lines read, per file. */
  lines: Record<string, number>;
  depthEvents: number;
  trades: number;
  quotes: number;
  orders: number;
  /** Records recognised but not used (e.g. unknown stream types), by kind. */
  ignored: Record<string, number>;
}

export interface MarketSource {
  /** The venue it reads (its id in src/venues/registry.ts), or `recording`. */
  readonly kind: string;
  /** The spec string it was opened from. */
  readonly spec: string;
  readonly files: readonly string[];
  readonly timeBase: TimeBaseRef;
  /** On-disk bytes of all inputs and how many have been read (progress and ETA). */
  readonly totalBytes: number;
  bytesRead(): number;
  /**
   * Streams every event into the sink. `pause`, when given, is awaited every CHUNK_LINES lines: the
   * consumer's backpressure point (writers flushing, progress, a server yielding to its sockets).
   */
  run(sink: MarketSink, pause?: () => Promise<void> | void): Promise<SourceStats>;
}

/** Lines between two `pause` calls of a running source. */
export const CHUNK_LINES = 8192;

export interface SourceOptions {
  policy?: BadInputPolicy;
  /** A time base shared with other sources of the run; a fresh one is fixed by the first timestamp otherwise. */
  timeBase?: TimeBaseRef;
}

export function emptyStats(): SourceStats {
  return { lines: {}, depthEvents: 0, trades: 0, quotes: 0, orders: 0, ignored: {} };
}

export function countIgnored(stats: SourceStats, what: string): void {
  stats.ignored[what] = (stats.ignored[what] ?? 0) + 1;
}
