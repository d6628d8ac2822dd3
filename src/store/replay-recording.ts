/**
 * Reads what the recorder wrote back into events: `recording:DIR` (every period file and leftover
 * segment in the directory, in time order) or `recording:FILE.parquet`. A MarketSource like the file
 * sources, so the server replays recordings through the same book builder and sync rules.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { tableFromIPC, type Data, type Table } from 'apache-arrow';
import * as pq from 'parquet-wasm';
import { DepthEvent, TradeEvent, type MarketSink, type SequenceRule } from '../sources/events.ts';
import { emptyStats, type MarketSource, type SourceOptions, type SourceStats } from '../sources/source.ts';
import { BadInputPolicy, InputError, InputErrorCode } from '../core/errors.ts';
import { TimeBaseRef } from '../core/time.ts';
import { PARTS_SUFFIX, segmentFiles } from './recorder.ts';

export const RECORDING_PREFIX = 'recording:';

/** The files of a recording, oldest first: period files, and segments of periods not compacted. */
export function recordingFiles(path: string): string[] {
  if (!existsSync(path)) throw new InputError(InputErrorCode.Missing, path, undefined, 'no such recording (a directory written by flowcast record, or one of its .parquet files)');
  if (!statSync(path).isDirectory()) return [path];
  const entries = readdirSync(path).sort();
  const periods = new Set<string>();
  for (const e of entries) {
    if (e.endsWith('.parquet') && !e.startsWith('.')) periods.add(e.slice(0, -'.parquet'.length));
    else if (e.endsWith(PARTS_SUFFIX)) periods.add(e.slice(0, -PARTS_SUFFIX.length));
  }
  const files: string[] = [];
  for (const p of [...periods].sort()) {
    const whole = join(path, `${p}.parquet`);
    // A period file supersedes its segments (a crash between compaction and cleanup leaves both).
    if (existsSync(whole)) files.push(whole);
    else files.push(...segmentFiles(join(path, p + PARTS_SUFFIX)));
  }
  return files;
}

export async function openRecording(spec: string, opts: SourceOptions = {}): Promise<RecordingSource> {
  const path = spec.startsWith(RECORDING_PREFIX) ? spec.slice(RECORDING_PREFIX.length) : spec;
  return new RecordingSource(spec, recordingFiles(path), opts);
}

type Col = { values: ArrayLike<number | bigint>; valid: (i: number) => boolean; dict?: string[] };

function column(table: Table, name: string, batch: number): Col {
  const vec = table.getChild(name);
  if (!vec) throw new Error(`missing column ${name}`);
  const d = vec.data[batch] as Data;
  const bm = d.nullBitmap;
  const off = d.offset;
  const valid = bm && d.nullCount > 0 ? (i: number) => ((bm[(i + off) >> 3]! >> ((i + off) & 7)) & 1) === 1 : () => true;
  const dictionary = (d as { dictionary?: { toArray(): unknown } }).dictionary;
  const dict = dictionary ? [...(dictionary.toArray() as Iterable<string>)] : undefined;
  const values = d.values as unknown as { subarray(a: number): ArrayLike<number | bigint> } & ArrayLike<number | bigint>;
  return { values: off ? values.subarray(off) : values, valid, dict };
}

function boolColumn(table: Table, name: string, batch: number): (i: number) => boolean {
  const vec = table.getChild(name);
  if (!vec) throw new Error(`missing column ${name}`);
  const d = vec.data[batch] as Data;
  const bits = d.values as Uint8Array;
  const off = d.offset;
  return (i) => ((bits[(i + off) >> 3]! >> ((i + off) & 7)) & 1) === 1;
}

/** What the replay needs of a source (file sources and recordings both provide it). */
export type ReplayableSource = Pick<MarketSource, 'spec' | 'timeBase' | 'run'>;

export class RecordingSource implements ReplayableSource {
  readonly kind = 'recording' as const;
  readonly timeBase: TimeBaseRef;
  private readonly policy: BadInputPolicy;
  private read = 0;
  readonly totalBytes: number;

  constructor(readonly spec: string, readonly files: readonly string[], opts: SourceOptions) {
    this.timeBase = opts.timeBase ?? new TimeBaseRef();
    this.policy = opts.policy ?? new BadInputPolicy();
    this.totalBytes = files.reduce((s, f) => s + statSync(f).size, 0);
  }

  bytesRead(): number {
    return this.read;
  }

  /**
   * Streams the recording's events. Rows of one depth event share an event number and are grouped
   * back into one event, even where a row group or batch boundary falls inside it.
   */
  async run(sink: MarketSink, pause?: () => Promise<void> | void): Promise<SourceStats> {
    const stats = emptyStats();
    const depth = new DepthEvent();
    const trade = new TradeEvent();
    let line = 0;
    let open = false;
    let openEv: number | bigint = -1;
    const flush = (): void => {
      if (!open) return;
      open = false;
      stats.depthEvents++;
      sink.onDepth(depth);
    };
    for (const file of this.files) {
      let table: Table;
      try {
        const bytes = readFileSync(file);
        this.read += bytes.length;
        table = tableFromIPC(pq.readParquet(bytes).intoIPCStream());
      } catch (e) {
        this.policy.report(new InputError(InputErrorCode.Format, file, undefined, `not a readable recording file (${(e as Error).message})`));
        continue;
      }
      const tsVec = table.getChild('ts_ns');
      if (!tsVec) {
        this.policy.report(new InputError(InputErrorCode.Format, file, undefined, 'not a flowcast recording (no ts_ns column)'));
        continue;
      }
      for (let b = 0; b < tsVec.data.length; b++) {
        const n = tsVec.data[b]!.length;
        if (n === 0) continue;
        const ts = column(table, 'ts_ns', b);
        const tsl = column(table, 'ts_local_ns', b);
        const sym = column(table, 'symbol', b);
        const ev = column(table, 'event', b);
        const kind = column(table, 'kind', b);
        const side = column(table, 'side', b);
        const px = column(table, 'price', b);
        const sz = column(table, 'size', b);
        const fs = column(table, 'first_seq', b);
        const ls = column(table, 'last_seq', b);
        const ps = column(table, 'prev_seq', b);
        const rule = column(table, 'seq_rule', b);
        const sizes = column(table, 'sizes', b);
        const lim = column(table, 'depth_limit', b);
        const makes = boolColumn(table, 'makes_row', b);
        const tid = column(table, 'trade_id', b);
        const hidden = boolColumn(table, 'hidden', b);
        const tb = this.timeBase.ensureNs(ts.values[0] as bigint);
        const off = (c: Col, i: number): number => tb.fromEpochNs(c.values[i] as bigint);
        const num = (c: Col, i: number): number => (c.valid(i) ? Number(c.values[i]) : NaN);
        for (let i = 0; i < n; i++) {
          const e = ev.values[i]!;
          if (open && e !== openEv) flush();
          const k = kind.dict![kind.values[i] as number]!;
          if (k === 'trade') {
            line++;
            trade.symbol = sym.dict![sym.values[i] as number]!;
            trade.ts = off(ts, i);
            trade.tsLocal = tsl.valid(i) ? off(tsl, i) : NaN;
            trade.price = num(px, i);
            trade.size = num(sz, i);
            trade.sign = Number(side.values[i]) as -1 | 0 | 1;
            trade.id = num(tid, i);
            trade.hidden = hidden(i);
            trade.line = line;
            stats.trades++;
            sink.onTrade(trade);
            continue;
          }
          if (!open) {
            line++;
            open = true;
            openEv = e;
            depth.reset();
            depth.symbol = sym.dict![sym.values[i] as number]!;
            depth.kind = k === 'snapshot' ? 'snapshot' : 'delta';
            depth.sizes = sizes.valid(i) && sizes.dict![sizes.values[i] as number] === 'relative' ? 'relative' : 'absolute';
            depth.ts = off(ts, i);
            depth.tsLocal = tsl.valid(i) ? off(tsl, i) : NaN;
            depth.firstSeq = num(fs, i);
            depth.lastSeq = num(ls, i);
            depth.prevSeq = num(ps, i);
            depth.seqRule = rule.dict![rule.values[i] as number]! as SequenceRule;
            depth.depthLimit = lim.valid(i) ? Number(lim.values[i]) : Infinity;
            depth.makesRow = makes(i);
            depth.line = line;
          }
          if (!side.valid(i)) continue;
          if (Number(side.values[i]) === 0) depth.pushBid(num(px, i), num(sz, i));
          else depth.pushAsk(num(px, i), num(sz, i));
        }
        if (pause) await pause();
      }
      stats.lines[basename(file)] = table.numRows;
    }
    flush();
    if (stats.depthEvents + stats.trades === 0 && this.files.length > 0) {
      throw new InputError(InputErrorCode.Format, this.spec, undefined, 'the recording holds no events');
    }
    return stats;
  }
}
