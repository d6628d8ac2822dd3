/** Shared test helpers: real data paths, temporary directories, running the feature pipeline into memory. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { runFeatures, type FeaturesRunOptions } from '../src/pipeline/features.ts';
import { FeatureTable } from '../src/store/memory.ts';
import type { TimeBaseRef } from '../src/model/time.ts';
import { openSource } from '../src/sources/spec.ts';
import { bookBuilder } from '../src/pipeline/book.ts';
import type { SourceHandle } from '../src/pipeline/source.ts';
import type { MarketSink } from '../src/model/events.ts';

export { GOOG_MSG, GOOG_OB, GOOG, AMZN_ZIP, AMZN, USDM_FILE, SPOT_FILE, USDM, SPOT } from '../src/sources/samples.ts';

export async function featuresInMemory(spec: string, opts: FeaturesRunOptions = {}) {
  let table!: FeatureTable;
  let tb!: TimeBaseRef;
  const res = await runFeatures(spec, opts, (columns, timeBase) => {
    tb = timeBase;
    return (table = new FeatureTable(columns));
  });
  return { table, timeBase: tb, res };
}

/** A fresh directory under the OS temp dir (`flowcast-<name>-XXXXXX`) and the function that removes it. */
export function tempDir(name: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `flowcast-${name}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * A fresh temporary directory removed once the tests around the call are done: call it at the top
 * of a test file or describe block (where vitest hooks can be registered).
 */
export function scratchDir(name: string): string {
  const t = tempDir(name);
  afterAll(t.cleanup);
  return t.dir;
}

/**
 * The REST snapshot line (`<local_ns> {"lastUpdateId": ...}`) of the book a Binance capture has right
 * after its diff `diffLine`, rebuilt from `file` (which holds that line). Inserted after the diff, it
 * is the later snapshot a book that lost sync before it resyncs from.
 */
export async function binanceSnapshotAfter(file: string, diffLine: string): Promise<string> {
  const D = JSON.parse(diffLine.slice(diffLine.indexOf(' ') + 1)).data as { u: number; E: number; T: number };
  let bids: [string, string][] = [];
  let asks: [string, string][] = [];
  const b = bookBuilder({
    levels: 1,
    sink: { onRow: () => {} },
    onApplied: (st, e) => {
      if (e.lastSeq !== D.u) return;
      const lb = st.book.bids, la = st.book.asks;
      bids = Array.from({ length: lb.n }, (_, i) => [String(lb.priceAt(i + 1)), String(lb.sizeAtLevel(i + 1))]);
      asks = Array.from({ length: la.n }, (_, i) => [String(la.priceAt(i + 1)), String(la.sizeAtLevel(i + 1))]);
    },
  });
  await (await openSource(`binance:${file}`)).run(b);
  if (bids.length < 100 || asks.length < 100) throw new Error(`the book after u=${D.u} has ${bids.length} bids and ${asks.length} asks: not a full REST snapshot`);
  return `${diffLine.slice(0, diffLine.indexOf(' '))} ${JSON.stringify({ lastUpdateId: D.u, E: D.E, T: D.T, bids, asks })}`;
}

/** A sink that hands every event to `h` once per symbol (renamed, then restored): several books of the same stream, their rows interleaved. */
export function fanOutSymbols(h: SourceHandle, symbols: readonly string[]): MarketSink {
  return {
    onDepth: (e) => {
      const s0 = e.symbol;
      for (const s of symbols) { e.symbol = s; h.onDepth(e); }
      e.symbol = s0;
    },
    onTrade: (e) => {
      const s0 = e.symbol;
      for (const s of symbols) { e.symbol = s; h.onTrade(e); }
      e.symbol = s0;
    },
  };
}
