/** Real book rows for the snapshot and compute tests: a source replayed through the BookBuilder, rows copied. */
import { openSource } from '../../src/sources/spec.ts';
import { BookRow } from '../../src/model/row.ts';
import { bookBuilder } from '../../src/pipeline/book.ts';

export { GOOG, USDM, SPOT, AMZN_ZIP } from '../helpers.ts';

class Enough extends Error {}

export function cloneRow(r: BookRow): BookRow {
  const c = new BookRow(r.levels);
  c.symbol = r.symbol;
  c.symbolId = r.symbolId;
  c.index = r.index;
  c.ts = r.ts;
  c.tsLocal = r.tsLocal;
  c.depthLimit = r.depthLimit;
  c.bidPx.set(r.bidPx);
  c.bidSz.set(r.bidSz);
  c.askPx.set(r.askPx);
  c.askSz.set(r.askSz);
  c.nTrades = r.nTrades;
  c.tradeTs = r.tradeTs.slice(0, r.nTrades);
  c.tradePx = r.tradePx.slice(0, r.nTrades);
  c.tradeSz = r.tradeSz.slice(0, r.nTrades);
  c.tradeSign = r.tradeSign.slice(0, r.nTrades);
  return c;
}

/** The first `max` rows of a source (10 levels), as copies. */
export async function realRows(spec: string, max = Infinity, levels = 10): Promise<BookRow[]> {
  const rows: BookRow[] = [];
  const src = await openSource(spec);
  const builder = bookBuilder({
    levels,
    sink: {
      onRow(r) {
        if (rows.length >= max) throw new Enough();
        rows.push(cloneRow(r));
      },
    },
  });
  try {
    await src.run(builder);
    builder.finish();
  } catch (e) {
    if (!(e instanceof Enough)) throw e;
  }
  return rows;
}
