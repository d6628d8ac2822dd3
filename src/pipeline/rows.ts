/**
 * The row stage of the live pipeline: the rows of every source's book builder meet here. A symbol
 * belongs to the first source that makes a row for it (until that source stops); its rows go on in
 * flow order: to the alert producers, the dense kernels and the feature engine, whose features row
 * the results stage hands to the output together with the book row it leaves there. Another source's
 * rows of the symbol are counted and dropped.
 */
import type { LiveDense } from '../compute/live-dense.ts';
import type { BookRow, RowSink } from '../model/row.ts';
import { logger } from '../core/log.ts';
import type { SourceHandle } from './source.ts';
import type { AlertProducer } from './plugins.ts';
import type { ResultsStage } from './results.ts';

const log = logger('live');

export class RowStage {
  /** Each symbol's owner, in the order the symbols first made a row. */
  private readonly owners = new Map<string, SourceHandle>();
  private readonly warnedOwner = new Set<string>();

  constructor(
    private readonly taps: readonly AlertProducer[],
    private readonly dense: LiveDense | undefined,
    private readonly engine: RowSink,
    private readonly results: ResultsStage,
    private readonly rowsOut: { inc(): void },
    private readonly rowsRejected: { inc(): void },
  ) {}

  /** The source that owns a symbol (the first to produce a row for it). */
  ownerOf(symbol: string): SourceHandle | undefined {
    return this.owners.get(symbol);
  }

  symbols(): string[] {
    return [...this.owners.keys()];
  }

  onRow(h: SourceHandle, row: BookRow): void {
    const owner = this.owners.get(row.symbol);
    if (!owner) {
      this.owners.set(row.symbol, h);
      h.symbols.add(row.symbol);
      log.info('new symbol', { symbol: row.symbol, source: h.name });
    } else if (owner !== h && owner.state === 'stopped') {
      // The previous source is gone (a producer reconnected): the symbol passes to the new one.
      this.owners.set(row.symbol, h);
      h.symbols.add(row.symbol);
    } else if (owner !== h) {
      this.rowsRejected.inc();
      if (!this.warnedOwner.has(`${h.name}/${row.symbol}`)) {
        this.warnedOwner.add(`${h.name}/${row.symbol}`);
        log.warn('symbol already fed by another source: rows ignored', { symbol: row.symbol, source: h.name, owner: owner.name });
      }
      return;
    }
    this.rowsOut.inc();
    for (let i = 0; i < this.taps.length; i++) this.taps[i]!.onRow?.(row);
    this.dense?.onRow(row);
    // Left with the results stage, which sends it on with the features row the engine makes of it
    // (before engine.onRow returns), so the output gets each row once.
    this.results.book = row;
    this.engine.onRow(row);
    this.results.book = undefined;
  }
}
