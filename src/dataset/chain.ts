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
  /** Its rows' sink, made once the columns and the time base are known. */
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

/** Routes each output row to the sink of the day it belongs to (rows arrive in time order). */
class SplitSink {
  private day = 0;
  private scratch: FeatureBlock | undefined;

  constructor(private readonly sinks: FeatureBlockSink[], private readonly starts: number[]) {}

  write(block: FeatureBlock, symbols: readonly string[]): void {
    let i = 0;
    while (i < block.n) {
      while (this.day + 1 < this.starts.length && block.ts[i]! >= this.starts[this.day + 1]!) this.day++;
      const next = this.day + 1 < this.starts.length ? this.starts[this.day + 1]! : Infinity;
      let j = i;
      while (j < block.n && block.ts[j]! < next) j++;
      if (i === 0 && j === block.n) {
        this.sinks[this.day]!.write(block, symbols);
        return;
      }
      this.sinks[this.day]!.write(this.slice(block, i, j), symbols);
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
    await this.sinks[this.day]!.drain();
  }
}

export async function runChain(days: readonly ChainDay[], o: ChainOptions): Promise<ChainResult> {
  const fo = featureOptions({ ...o, vpinBucketBySymbol: undefined });
  const timeBase = new TimeBaseRef();
  const columns = outputColumns(fo.horizons);
  const sinks = days.map((d) => d.sink(columns, timeBase));
  // starts[k]: the time of day k's first event; day 0 takes everything before day 1.
  const starts: number[] = [-Infinity];
  const split = new SplitSink(sinks, starts);
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
    await Promise.all(sinks.map((s) => s.close().catch(() => undefined)));
    throw e;
  }
  const outputs: { rows: number; bytes: number }[] = [];
  for (const s of sinks) outputs.push(await s.close());
  return { outputs, vpinBucket: engine.vpinBuckets()[o.symbol] };
}
