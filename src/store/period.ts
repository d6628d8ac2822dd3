/**
 * What one period of a recording holds, and which of its rows are duplicates.
 *
 * A period can be written by more than one run: a run that was killed and the one that restarted
 * after it, two runs stopped and started within the hour, the same capture recorded twice. Its
 * content is the period file (`<period>.parquet`, itself the merge of earlier runs) and the
 * segments in `<period>.parts/`, grouped by the run that wrote them (`flowcast.recording.run` in
 * each segment's metadata). These are the period's *sources*; nothing any of them holds is
 * dropped except an event an earlier source already holds.
 *
 * Duplicates are recognised by content, never by file name: an event's key is every column of
 * every one of its rows except `event` (a run's own numbering) and `ts_local_ns` (when this
 * process received it), so the same exchange event (same symbol, kind, exchange time, sequence
 * numbers or trade id, levels) is the same key whichever run recorded it. Within one source
 * nothing is dropped (two identical messages of a source without sequence numbers are two
 * events); across sources the period keeps, of each key, as many events as the source holding
 * the most of them: an event of a later source is dropped while its key has been seen fewer times
 * in that source than in the sources before it. Merging is therefore idempotent: merging segments
 * into a period file that already holds them (a crash between a merge's rename and the removal of
 * its segments) adds nothing.
 */
import { readFileSync } from 'node:fs';
import { createHash, type Hash } from 'node:crypto';
import { join } from 'node:path';
import { tableFromIPC, type Data, type Table } from 'apache-arrow';
import * as pq from 'parquet-wasm';

export const PARTS_SUFFIX = '.parts';
export const RUN_KEY = 'flowcast.recording.run';

export function partsDir(dir: string, period: string): string {
  return join(dir, period + PARTS_SUFFIX);
}

export type Col = { values: ArrayLike<number | bigint>; valid: (i: number) => boolean; dict?: string[] };

/** Column `name` of record batch `batch`: its values, validity and (dictionary columns) dictionary. */
export function column(table: Table, name: string, batch: number): Col {
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

export function boolColumn(table: Table, name: string, batch: number): (i: number) => boolean {
  const vec = table.getChild(name);
  if (!vec) throw new Error(`missing column ${name}`);
  const d = vec.data[batch] as Data;
  const bits = d.values as Uint8Array;
  const off = d.offset;
  return (i) => ((bits[(i + off) >> 3]! >> ((i + off) & 7)) & 1) === 1;
}

/** A file's row groups one at a time (parquet-wasm's memory never shrinks, so a period file is never decoded whole). */
export async function* rowGroups(path: string, columns?: string[]): AsyncGenerator<pq.Table> {
  const bytes = readFileSync(path);
  const file = await pq.ParquetFile.fromFile(new Blob([bytes]));
  const n = file.metadata().numRowGroups();
  file.free();
  for (let g = 0; g < n; g++) yield pq.readParquet(bytes, { rowGroups: [g], columns });
}

/** One writer of a period: its period file, or the segments one run committed. */
export interface PeriodSource {
  files: string[];
}

/** The run that wrote a segment ('' for segments written before runs were named). */
export function segmentRun(path: string): string {
  const schema = pq.readSchema(readFileSync(path));
  const run = schema.metadata().get(RUN_KEY) ?? '';
  schema.free();
  return run;
}

/** The period's sources, oldest first: its period file, then its segments grouped by run in commit order. */
export function periodSources(periodFile: string | undefined, segments: readonly string[]): PeriodSource[] {
  const out: PeriodSource[] = periodFile ? [{ files: [periodFile] }] : [];
  let run: string | undefined;
  for (const s of segments) {
    const r = segmentRun(s);
    if (r !== run || out.length === 0) out.push({ files: [] });
    run = r;
    out[out.length - 1]!.files.push(s);
  }
  return out;
}

/** Row ranges [from, to) of each file to leave out, in order; files without any are absent. */
export type DroppedRows = Map<string, [number, number][]>;

export interface Duplicates {
  drop: DroppedRows;
  rows: number;
}

/**
 * The rows of later sources that repeat events of earlier ones (see the module comment). Only events
 * whose exchange time falls in another source's time range can be duplicates, so only those are
 * keyed: a run that restarted after another keys nothing and costs one read of `ts_ns`.
 */
export async function duplicateRows(sources: readonly PeriodSource[]): Promise<Duplicates> {
  const drop: DroppedRows = new Map();
  const ranges: [bigint, bigint][] = [];
  for (const s of sources) {
    let lo: bigint | undefined, hi: bigint | undefined;
    for (const f of s.files) {
      for await (const g of rowGroups(f, ['ts_ns'])) {
        const t = tableFromIPC(g.intoIPCStream());
        for (let b = 0; b < t.batches.length; b++) {
          const ts = column(t, 'ts_ns', b).values as BigInt64Array;
          for (let i = 0; i < ts.length && i < t.batches[b]!.numRows; i++) {
            const v = ts[i]!;
            if (lo === undefined || v < lo) lo = v;
            if (hi === undefined || v > hi) hi = v;
          }
        }
      }
    }
    ranges.push(lo === undefined ? [1n, 0n] : [lo, hi!]);
  }
  let dropped = 0;
  const seen = new Map<string, number>();
  for (let si = 0; si < sources.length; si++) {
    const others = ranges.filter((r, j) => j !== si && r[0] <= r[1]);
    const inOthers = (ts: bigint): boolean => others.some(([lo, hi]) => ts >= lo && ts <= hi);
    const mine = new Map<string, number>();
    for (const file of sources[si]!.files) {
      const cut: [number, number][] = [];
      // The open event: its number, first row (in the file) and, if it can be a duplicate, its content hash.
      let ev: bigint | number | undefined;
      let start = 0;
      let hash: Hash | undefined;
      const finish = (end: number): void => {
        if (!hash) return;
        const key = hash.digest('base64');
        hash = undefined;
        const n = (mine.get(key) ?? 0) + 1;
        mine.set(key, n);
        if (n > (seen.get(key) ?? 0)) return;
        const last = cut[cut.length - 1];
        if (last && last[1] === start) last[1] = end;
        else cut.push([start, end]);
        dropped += end - start;
      };
      let row = 0;
      for await (const g of rowGroups(file)) {
        const t = tableFromIPC(g.intoIPCStream());
        for (let b = 0; b < t.batches.length; b++) {
          const n = t.batches[b]!.numRows;
          const c = contentColumns(t, b);
          for (let i = 0; i < n; i++, row++) {
            const e = c.event.values[i]!;
            if (e !== ev) {
              finish(row);
              ev = e;
              start = row;
              if (inOthers(c.ts.values[i] as bigint)) hash = createHash('sha256');
            }
            hash?.update(rowText(c, i));
          }
        }
      }
      finish(row);
      ev = undefined;
      if (cut.length) drop.set(file, cut);
    }
    for (const [k, n] of mine) if (n > (seen.get(k) ?? 0)) seen.set(k, n);
  }
  return { drop, rows: dropped };
}

/** The columns an event's key is made of: all but `event` and `ts_local_ns` (see the module comment). */
const KEY_COLUMNS = ['symbol', 'kind', 'ts_ns', 'side', 'price', 'size', 'first_seq', 'last_seq', 'prev_seq', 'seq_rule', 'sizes', 'depth_limit', 'trade_id'];
const KEY_BOOLS = ['makes_row', 'hidden'];

function contentColumns(t: Table, b: number) {
  return {
    event: column(t, 'event', b),
    ts: column(t, 'ts_ns', b),
    cols: KEY_COLUMNS.map((c) => column(t, c, b)),
    bools: KEY_BOOLS.map((c) => boolColumn(t, c, b)),
  };
}

/** A row's content as text: null as empty, dictionary columns as their strings, numbers in round-trip form. */
function rowText(c: ReturnType<typeof contentColumns>, i: number): string {
  let s = '';
  for (const col of c.cols) {
    if (col.valid(i)) s += col.dict ? col.dict[col.values[i] as number]! : String(col.values[i]);
    s += '\x1f';
  }
  for (const bit of c.bools) s += bit(i) ? '1\x1f' : '0\x1f';
  return s + '\n';
}

/** The highest event number in these files (-1 if none): a run continuing a period numbers its events after it. */
export function maxEvent(files: readonly string[]): bigint {
  let max = -1n;
  for (const f of files) {
    const t = tableFromIPC(pq.readParquet(readFileSync(f), { columns: ['event'] }).intoIPCStream());
    for (let b = 0; b < t.batches.length; b++) {
      const ev = column(t, 'event', b).values as BigInt64Array;
      const n = t.batches[b]!.numRows;
      for (let i = 0; i < n; i++) if (ev[i]! > max) max = ev[i]!;
    }
  }
  return max;
}
