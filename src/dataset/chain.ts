/**
 * `--carry`: consecutive days of one symbol as one run. The days' sources are read one after the
 * other into one book builder and one feature engine on one time base, so VPIN buckets, bars,
 * rolling windows, labels and the row counter continue across midnight exactly as in a run over the
 * days' files joined into one; the rows are then split into the days' partitions by the day whose
 * input produced them (a row's time against the first event time of each later day).
 *
 * The wiring is the batch path's (src/pipeline/features.ts) with the CPU engine: the dense-column
 * backends of `features --compute` are not offered for datasets.
 */
import { openSource } from '../sources/spec.ts';
import type { MarketSource } from '../sources/source.ts';
import type { DepthEvent, MarketSink, TradeEvent } from '../model/events.ts';
import { TimeBaseRef } from '../model/time.ts';
import { FeatureEngine } from '../features/engine.ts';
import { featureOptions, type FeatureOptions } from '../features/options.ts';
import { FeatureBlock, outputColumns, type FeatureBlockSink } from '../features/columns.ts';
import { BadInputPolicy } from '../core/errors.ts';
import { resolveDepth } from '../model/depth.ts';
import { bookBuilder } from '../pipeline/book.ts';

export interface ChainDay {
  spec: string;
  /** Its rows' sink, made when its first row comes (or at the end, for a day without rows). */
  sink: (columns: readonly string[], timeBase: TimeBaseRef) => FeatureBlockSink;
}

export interface ChainOptions extends Omit<FeatureOptions, 'blockRows' | 'vpinBucketBySymbol'> {
  symbol: string;
  policy: BadInputPolicy;
  onProgress?: (rows: number, bytesRead: number) => void;
}

export interface ChainResult {
  /** Rows and bytes written per day, in the days' order. */
  outputs: { rows: number; bytes: number }[];
  /** The VPIN bucket volume the engine used. */
  vpinBucket: number | undefined;
}

/**
 * Routes each output row to the sink of the day it belongs to (rows arrive in time order). A day's
 * sink is made when its first row comes and closed as soon as a row of a later day does, so at most
 * two days' writers (one closing) hold row-group buffers at a time, however many days are carried.
 */
class SplitSink {
  private day = 0;
  private scratch: FeatureBlock | undefined;
  private readonly open: (FeatureBlockSink | undefined)[];
  private readonly closed: (Promise<{ rows: number; bytes: number }> | undefined)[];

  constructor(private readonly make: (day: number) => FeatureBlockSink, days: number, private readonly starts: number[]) {
    this.open = new Array<FeatureBlockSink | undefined>(days).fill(undefined);
    this.closed = new Array<Promise<{ rows: number; bytes: number }> | undefined>(days).fill(undefined);
  }

  private sink(k: number): FeatureBlockSink {
    return (this.open[k] ??= this.make(k));
  }

  /** Moves on to day `to`, closing the days passed (a day with no rows gets its empty file at the end). */
  private advance(to: number): void {
    for (; this.day < to; this.day++) {
      const s = this.open[this.day];
      if (s) this.closed[this.day] = s.close();
    }
  }

  write(block: FeatureBlock, symbols: readonly string[]): void {
    let i = 0;
    while (i < block.n) {
      let d = this.day;
      while (d + 1 < this.starts.length && block.ts[i]! >= this.starts[d + 1]!) d++;
      this.advance(d);
      const next = this.day + 1 < this.starts.length ? this.starts[this.day + 1]! : Infinity;
      let j = i;
      while (j < block.n && block.ts[j]! < next) j++;
      this.sink(this.day).write(i === 0 && j === block.n ? block : this.slice(block, i, j), symbols);
      i = j;
    }
  }

  private slice(b: FeatureBlock, from: number, to: number): FeatureBlock {
    const s = (this.scratch ??= new FeatureBlock(b.columns, b.capacity));
    s.n = to - from;
    s.ts.set(b.ts.subarray(from, to));
    s.symbolId.set(b.symbolId.subarray(from, to));
    s.row.set(b.row.subarray(from, to));
    for (let c = 0; c < b.values.length; c++) s.values[c]!.set(b.values[c]!.subarray(from, to));
    return s;
  }

  async drain(): Promise<void> {
    await this.open[this.day]?.drain();
  }

  /** Closes every day, in order, and returns what each wrote. */
  async finish(): Promise<{ rows: number; bytes: number }[]> {
    const out: { rows: number; bytes: number }[] = [];
    for (let k = 0; k < this.open.length; k++) out.push(await (this.closed[k] ?? this.sink(k).close()));
    return out;
  }

  /** After a failure: closes what is open, errors ignored (the caller discards the files). */
  async abort(): Promise<void> {
    await Promise.all(this.open.map((s, k) => (this.closed[k] ?? s?.close())?.catch(() => undefined)));
  }
}

export async function runChain(days: readonly ChainDay[], o: ChainOptions): Promise<ChainResult> {
  const fo = featureOptions({ ...o, vpinBucketBySymbol: undefined });
  const timeBase = new TimeBaseRef();
  const columns = outputColumns(fo.horizons);
  // starts[k]: the time of day k's first event; day 0 takes everything before day 1.
  const starts: number[] = [-Infinity];
  const split = new SplitSink((k) => days[k]!.sink(columns, timeBase), days.length, starts);
  const engine = new FeatureEngine(fo, timeBase, (b, s) => split.write(b, s));
  const builder = bookBuilder({
    levels: resolveDepth(fo.levels).rowLevels,
    sink: engine,
    symbols: new Set([o.symbol]),
    policy: o.policy,
    sourceName: days[0]!.spec,
  });
  let bytesBefore = 0;
  let source: MarketSource | undefined;
  try {
    for (let k = 0; k < days.length; k++) {
      source = await openSource(days[k]!.spec, { policy: o.policy, timeBase });
      let first = k > 0;
      const mark = (ts: number): void => {
        if (!first) return;
        first = false;
        if (!(ts >= starts[starts.length - 1]!)) throw new RangeError(`${days[k]!.spec}: starts at ${timeBase.get().toIso(ts)}, before the previous day's input ended: --carry needs the days in time order`);
        starts.push(ts);
      };
      const sink: MarketSink = {
        onDepth(e: DepthEvent) { mark(e.ts); builder.onDepth(e); },
        onTrade(e: TradeEvent) { mark(e.ts); builder.onTrade(e); },
      };
      // A day with no events at all still owns a (then empty) partition.
      const src = source;
      await src.run(sink, async () => {
        o.onProgress?.(engine.stats().rows, bytesBefore + src.bytesRead());
        await split.drain();
      });
      if (first) starts.push(starts[starts.length - 1]!);
      bytesBefore += source.totalBytes;
    }
    builder.finish();
    engine.finish();
  } catch (e) {
    await split.abort();
    throw e;
  }
  return { outputs: await split.finish(), vpinBucket: engine.vpinBuckets()[o.symbol] };
}
