/**
 * Reads what the recorder wrote back into events: `recording:DIR` (every period file and leftover
 * segment in the directory, in time order) or `recording:FILE.parquet`. A MarketSource like the file
 * sources, so the server replays recordings through the same book builder and sync rules.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { tableFromIPC, type Table } from 'apache-arrow';
import * as pq from 'parquet-wasm';
import { DepthEvent, TradeEvent, type MarketSink } from '../model/events.ts';
import { emptyStats, type MarketSource, type SourceOptions, type SourceStats } from '../sources/source.ts';
import { BadInputPolicy, InputError, InputErrorCode } from '../core/errors.ts';
import { TimeBaseRef } from '../model/time.ts';
import { segmentFiles } from './recorder.ts';
import { PARTS_SUFFIX, boolColumn, column, duplicateRows, periodSources, type Col, type DroppedRows } from './period.ts';

export const RECORDING_PREFIX = 'recording:';

/**
 * The files of a recording, oldest first: for each period its file and the segments not yet merged
 * into it (a run in progress, one a crash interrupted), with the rows of those that repeat events
 * the period already holds (a crash between a merge's rename and the removal of its segments, the
 * same events recorded twice): the same sources and the same rule as the merge (./period.ts).
 */
export async function recordingFiles(path: string): Promise<{ files: string[]; drop: DroppedRows }> {
  if (!existsSync(path)) throw new InputError(InputErrorCode.Missing, path, undefined, 'no such recording (a directory written by flowcast record, or one of its .parquet files)');
  if (!statSync(path).isDirectory()) return { files: [path], drop: new Map() };
  const entries = readdirSync(path).sort();
  const periods = new Set<string>();
  for (const e of entries) {
    if (e.endsWith('.parquet') && !e.startsWith('.')) periods.add(e.slice(0, -'.parquet'.length));
    else if (e.endsWith(PARTS_SUFFIX)) periods.add(e.slice(0, -PARTS_SUFFIX.length));
  }
  const files: string[] = [];
  const drop: DroppedRows = new Map();
  for (const p of [...periods].sort()) {
    const whole = join(path, `${p}.parquet`);
    const sources = periodSources(existsSync(whole) ? whole : undefined, segmentFiles(join(path, p + PARTS_SUFFIX)));
    if (sources.length > 1) for (const [f, r] of (await duplicateRows(sources)).drop) drop.set(f, r);
    for (const s of sources) files.push(...s.files);
  }
  return { files, drop };
}

export async function openRecording(spec: string, opts: SourceOptions = {}): Promise<RecordingSource> {
  const path = spec.startsWith(RECORDING_PREFIX) ? spec.slice(RECORDING_PREFIX.length) : spec;
  const { files, drop } = await recordingFiles(path);
  return new RecordingSource(spec, files, opts, drop);
}

/** What the replay needs of a source (file sources and recordings both provide it). */
export type ReplayableSource = Pick<MarketSource, 'spec' | 'timeBase' | 'run'>;

export class RecordingSource implements ReplayableSource {
  readonly kind = 'recording' as const;
  readonly timeBase: TimeBaseRef;
  private readonly policy: BadInputPolicy;
  private read = 0;
  readonly totalBytes: number;

  constructor(readonly spec: string, readonly files: readonly string[], opts: SourceOptions, private readonly drop: DroppedRows = new Map()) {
    this.timeBase = opts.timeBase ?? new TimeBaseRef();
    this.policy = opts.policy ?? new BadInputPolicy();
    this.totalBytes = files.reduce((s, f) => s + statSync(f).size, 0);
  }

  bytesRead(): number {
    return this.read;
  }

  /**
   * Streams the recording's events. Rows of one depth event share an event number and are grouped
   * back into one event, even where a row group or batch boundary falls inside it; an event never
   * spans files. Rows that repeat events the period already holds are skipped.
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
      const cut = this.drop.get(file) ?? [];
      let nextCut = 0;
      let row = 0;
      for (let b = 0; b < tsVec.data.length; row += tsVec.data[b]!.length, b++) {
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
          while (nextCut < cut.length && cut[nextCut]![1] <= row + i) nextCut++;
          if (nextCut < cut.length && cut[nextCut]![0] <= row + i) continue;
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
            depth.seqRule = rule.dict![rule.values[i] as number]!;
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
      flush();
      stats.lines[basename(file)] = table.numRows;
    }
    flush();
    if (stats.depthEvents + stats.trades === 0 && this.files.length > 0) {
      throw new InputError(InputErrorCode.Format, this.spec, undefined, 'the recording holds no events');
    }
    return stats;
  }
}
