/**
 * `vpinBucket: auto`: each symbol's VPIN bucket volume from its total traded volume, the same for
 * the batch features and analytics, the server's replays and the benchmarks.
 *
 * The volume needs the whole input before the run: a LOBSTER day's comes from a scan of its
 * message file alone (the fields a trade needs, no orderbook file, no events), a fraction of the
 * second full parse it took before; other sources are run once into a sink that keeps only trades
 * (Binance quote lines are not even decoded then: src/venues/binance/capture.ts).
 */
import type { MarketSink, TradeEvent } from '../model/events.ts';
import { autoBucketVolume } from '../features/vpin.ts';
import { LineReader, findZipEntry, openInput, openZipEntry } from '../sources/input.ts';
import { parseDecimal, parseSecondsToNs, splitFields } from '../sources/bytes.ts';

interface VolumeSource {
  run(sink: MarketSink): Promise<unknown>;
  readonly kind?: string;
  readonly files?: readonly string[];
  /** LOBSTER: the one symbol of the day (from the file names). */
  readonly symbol?: string;
}

/** Total traded volume per symbol over `source` (only `symbols`, when given). */
export async function tradedVolume(source: VolumeSource, symbols?: ReadonlySet<string>): Promise<Map<string, number>> {
  if (scansFiles(source)) {
    if (symbols && !symbols.has(source.symbol)) return new Map();
    const { trades, volume } = await lobsterMessageVolume(source.files);
    return trades ? new Map([[source.symbol, volume]]) : new Map();
  }
  const vol = new Map<string, number>();
  const sink: MarketSink = {
    onDepth() {},
    onTrade(t: TradeEvent) {
      if (symbols && !symbols.has(t.symbol)) return;
      vol.set(t.symbol, (vol.get(t.symbol) ?? 0) + t.size);
    },
  };
  await source.run(sink);
  return vol;
}

/**
 * The executed volume (types 4 and 5) of a LOBSTER message file ([message, orderbook] or [zip]),
 * counting the lines the source turns into trades: six well-formed fields, time not going
 * backwards. It does not read the orderbook file, so with --skip-bad a trade whose orderbook row
 * is malformed still counts here (the run skips it); without --skip-bad such a run stops anyway.
 *
 * With `windowNs`, only the trades in [first trade, first trade + windowNs) count, and the scan
 * stops at the first trade past that window (times never go backwards in a counted line): a
 * warm-up of 30 minutes reads the first 30 minutes of the file, not the day. `firstNs` is the first
 * trade's time, ns after midnight (NaN without trades).
 */
export async function lobsterMessageVolume(files: readonly string[], windowNs = Infinity): Promise<{ trades: number; volume: number; firstNs: number }> {
  let input;
  if (files.length === 1) {
    const zip = files[0]!;
    input = await openZipEntry(zip, await findZipEntry(zip, /_message_\d+\.csv$/, 'LOBSTER message'));
  } else {
    input = await openInput(files[0]!);
  }
  const r = new LineReader(input);
  const f = new Int32Array(2 * 8);
  let vol = 0;
  let trades = 0;
  let last = -Infinity;
  let first = NaN;
  let end = Infinity;
  try {
    scan: while (await r.fill()) {
      while (r.next()) {
        const b = r.buf;
        if (splitFields(b, r.start, r.end, f) !== 6) continue;
        const t = parseSecondsToNs(b, f[0]!, f[1]!);
        const type = parseDecimal(b, f[2]!, f[3]!);
        const size = parseDecimal(b, f[6]!, f[7]!);
        const direction = parseDecimal(b, f[10]!, f[11]!);
        if (Number.isNaN(t) || !(type >= 1 && type <= 7 && Number.isInteger(type)) || Number.isNaN(parseDecimal(b, f[4]!, f[5]!)) ||
          Number.isNaN(size) || Number.isNaN(parseDecimal(b, f[8]!, f[9]!)) || (direction !== 1 && direction !== -1)) continue;
        if (t < last) continue;
        last = t;
        if (type === 4 || type === 5) {
          if (first !== first) {
            first = t;
            end = t + windowNs;
          }
          if (t >= end) break scan;
          vol += size;
          trades++;
        }
      }
    }
  } finally {
    // Closes the file when the scan stops early (and after an error); a no-op at its end.
    await r.close();
  }
  return { trades, volume: vol, firstNs: first };
}

/** Whether tradedVolume reads the source's files itself (never running the source). */
function scansFiles(source: VolumeSource): source is VolumeSource & { files: readonly string[]; symbol: string } {
  return source.kind === 'lobster' && Array.isArray(source.files) && typeof source.symbol === 'string';
}

/**
 * The VPIN buckets for a run of `source`, which is opened for that run and not consumed here: a
 * LOBSTER day's volume comes from its message file; any other source is run once more, a copy
 * opened by `reopen`.
 */
export async function autoVpinBucketsFor(
  source: VolumeSource,
  reopen: () => Promise<VolumeSource>,
  symbols?: ReadonlySet<string>,
): Promise<Record<string, number>> {
  return autoVpinBuckets(scansFiles(source) ? source : await reopen(), {}, symbols);
}

/**
 * Sizes the VPIN bucket of every symbol that traded in `source` (autoBucketVolume of its volume) into
 * `into`, leaving the ones already there (configured) as they are; returns `into`.
 */
export async function autoVpinBuckets(
  source: VolumeSource,
  into: Record<string, number>,
  symbols?: ReadonlySet<string>,
): Promise<Record<string, number>> {
  for (const [sym, v] of await tradedVolume(source, symbols)) {
    const b = autoBucketVolume(v);
    if (b > 0) into[sym] ??= b;
  }
  return into;
}
