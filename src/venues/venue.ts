/**
 * What a venue is to flowcast: its name in source specs, the sequence rules its depth streams
 * follow, how its capture files are read and, where it has one, its live connector. Each venue is
 * one folder beside this file and one line of registry.ts; nothing outside them names a venue.
 */
import type { SeqRule } from '../model/sequence.ts';
import type { MarketSink } from '../model/events.ts';
import type { MarketSource, SourceOptions } from '../sources/source.ts';
import type { BookBuilder, BookBuilderOptions, SyncStatus } from '../book/builder.ts';
import type { TimeBaseRef } from '../model/time.ts';

export interface Venue {
  /** Its prefix in source specs (`binance:FILE`), the kind its sources report, its key in live source configs. */
  readonly id: string;
  /** The spec forms it reads, as help and error texts list them (`binance:FILE`). */
  readonly specForms: readonly string[];
  /** The rules its depth events name (DepthEvent.seqRule); none for a venue without sequence numbers. */
  readonly sequences: readonly SeqRule[];
  /** Opens capture files (`files`: the spec's comma-separated list, never empty). */
  openCapture?(spec: string, files: string[], opts: SourceOptions): Promise<MarketSource>;
  /** Its live feed, where it has one: the server's and the recorder's sources. */
  readonly live?: LiveVenue;
  /** Where its captures carry ground truth for rebuilt books: `flowcast verify-book`'s check. */
  readonly verifyBook?: BookCheck;
}

export interface BookCheck {
  /** What the capture carries, as the command's refusal for other sources names it (`bookTicker`). */
  readonly groundTruth: string;
  /** Rebuilds the books of `src` (opened from this venue's capture) and compares; a summary goes to `out`. */
  run(src: MarketSource, o: BookCheckOptions): Promise<BookCheckResult>;
}

export interface BookCheckOptions {
  spec: string;
  /** Makes the book builder the check rebuilds with (the pipeline's bookBuilder, which knows every venue's rules). */
  books(opts: Omit<BookBuilderOptions, 'rules'>): BookBuilder;
  /** The --levels flag (at least 1), `dflt` when not given; a venue that takes none never asks. */
  levels(dflt: number): number;
  out(line: string): void;
  /** Refuses the command line (the CLI's usage error). */
  usage(msg: string): never;
}

export interface BookCheckResult {
  rows: number;
  checks: number;
  mismatches: number;
}

/** A live source's entry in the server's config: `kind` is its venue's id, the rest the venue's own settings. */
export interface LiveSourceConfig {
  kind: string;
  symbols: string[];
  readonly [setting: string]: unknown;
}

type Json = Record<string, unknown>;

/** The server config's checks, reporting a bad setting at its path in the file or environment. */
export interface ConfigReader {
  fail(path: string, msg: string): never;
  str(o: Json, key: string, path: string): string | undefined;
  strings(o: Json, key: string, path: string): string[] | undefined;
  known(o: Json, keys: string[], path: string): void;
}

export interface LiveVenue {
  /** Its object in the config's `sources`, as the error for an unknown one lists them. */
  readonly configForm: string;
  /** Reads that object (`path`: its place in the file, for errors through `r`). */
  parseConfig(o: Json, path: string, r: ConfigReader): LiveSourceConfig;
  /** The value its CLI flag takes (`--binance usdm:BTCUSDT,ETHUSDT`), as the flag's error states it. */
  readonly flagForm: string;
  /** That value read; undefined when it is not of flagForm. */
  parseFlag(v: string): LiveSourceConfig | undefined;
  /** The source's name in /healthz, metrics and recordings (`binance-usdm:BTCUSDT`). */
  sourceName(c: LiveSourceConfig): string;
  /** How a start-up line lists it (`binance usdm BTCUSDT`). */
  describe(c: LiveSourceConfig): string;
  connect(c: LiveSourceConfig, timeBase: TimeBaseRef, target: ConnectorTarget): LiveConnector;
}

/** Where a connector delivers events, and how it learns each symbol's sync state (a SourceHandle). */
export interface ConnectorTarget extends MarketSink {
  /**
   * Set by the connector: told each time a symbol's book changes sync status (first when the symbol
   * is first seen), inside the event's delivery; how the connector knows when to fetch a snapshot.
   */
  onSyncStatus: ((symbol: string, status: SyncStatus) => void) | undefined;
  /** A fresh book session (every new connection starts one). */
  newSession(): void;
  state: string;
  detail: string;
}

export interface ConnectorStats {
  connects: number;
  disconnects: number;
  messages: number;
  snapshots: number;
  snapshotFailures: number;
  resyncRequests: number;
  /** Messages that could not be processed (logged, skipped). */
  badMessages: number;
}

export interface LiveConnector {
  readonly name: string;
  readonly stats: ConnectorStats;
  start(): Promise<void>;
  stop(): Promise<void>;
}
