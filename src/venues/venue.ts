/**
 * What a venue is to flowcast: its name in source specs, the sequence rules its depth streams
 * follow, how its capture files are read and, where it has one, its live connector. Each venue is
 * one folder beside this file and one line of registry.ts; nothing outside them names a venue.
 */
import type { SeqRule } from '../model/sequence.ts';
import type { MarketSource, SourceOptions } from '../sources/source.ts';

export interface Venue {
  /** Its prefix in source specs (`binance:FILE`), and the kind its sources report. */
  readonly id: string;
  /** The spec forms it reads, as help and error texts list them (`binance:FILE`). */
  readonly specForms: readonly string[];
  /** The rules its depth events name (DepthEvent.seqRule); none for a venue without sequence numbers. */
  readonly sequences: readonly SeqRule[];
  /** Opens capture files (`files`: the spec's comma-separated list, never empty). */
  openCapture?(spec: string, files: string[], opts: SourceOptions): Promise<MarketSource>;
}
