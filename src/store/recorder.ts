/**
 * The recorder: writes the normalised event stream (depth snapshots and deltas with their sequence
 * numbers, trades) to Parquet, one file per time period, so it can be replayed through the same
 * book builder and sync rules later (`flowcast serve --replay recording:DIR`) or queried with SQL.
 *
 * Durability: rows collect in memory (the open row group) and are committed as a complete Parquet
 * file, a segment, every `rowGroupMs` or `rowGroupRows` rows: written to a temporary name, fsync'd
 * and renamed into `<period>.parts/`. A crash therefore loses at most the open row group. When the
 * period ends, its segments are merged with the period's file, if an earlier run wrote one, into
 * `<period>.parquet` (temporary name, then rename) and the segments removed; events the period
 * already holds are recognised by content and dropped once (./period.ts). `Recorder.recover(dir)`
 * (run by `flowcast record` at start) merges any period a crash left as segments. Readers accept
 * both forms.
 *
 * Layout, one row per level change or trade (docs/server.md, "Recordings"):
 *   ts_ns int64 (exchange time, epoch ns) | ts_local_ns int64? (receive time) | symbol | event int64
 *   (rows of one event share it) | kind: snapshot, delta, trade | side int8? (levels: 0 bid, 1 ask;
 *   trades: aggressor sign) | price, size float64? | first_seq, last_seq, prev_seq int64? (Binance
 *   U, u, pu; a snapshot's lastUpdateId is last_seq) | seq_rule | sizes: absolute, relative |
 *   depth_limit int32? (null: unlimited) | makes_row bool | trade_id int64? | hidden bool
 * A depth event without levels is one row with null side, price and size.
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, rmSync, writeSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import {
  Table as ArrowTable, RecordBatch as ArrowRecordBatch, Schema, Field, Struct, Float64, Int64, Int32, Int8, Bool, Utf8, Dictionary,
  makeData, vectorFromArray, tableToIPC, tableFromIPC,
} from 'apache-arrow';
import * as pq from 'parquet-wasm';
import { floatWithNulls, streamParquetToFd } from './parquet-wasm.ts';
import { PARTS_SUFFIX, RUN_KEY, duplicateRows, maxEvent, partsDir, periodSources, rowGroups, type DroppedRows } from './period.ts';
import { writeAllSync } from './files.ts';
import type { DepthEvent, MarketSink, TradeEvent } from '../model/events.ts';
import { compactUtcStamp, type TimeBaseRef } from '../model/time.ts';
import { logger } from '../core/log.ts';
import { SEQUENCE_RULE_IDS } from '../venues/registry.ts';

const log = logger('recorder');

export const RECORDING_VERSION = 1;
export const KINDS = ['snapshot', 'delta', 'trade'] as const;
/** DepthEvent.seqRule's dictionary: the registered rules' ids, 'none' first. */
export const SEQ_RULES = SEQUENCE_RULE_IDS;
export const SIZES = ['absolute', 'relative'] as const;
const KIND_SNAPSHOT = 0, KIND_DELTA = 1, KIND_TRADE = 2;

export interface RecorderOptions {
  dir: string;
  timeBase: TimeBaseRef;
  /** Period of one file, ms (aligned to the UTC epoch: 3,600,000 gives hourly files on the hour). */
  rotateMs?: number;
  /** Longest time rows wait in memory before they are committed. */
  rowGroupMs?: number;
  rowGroupRows?: number;
  /** File name prefix. */
  prefix?: string;
  /** fsync each committed segment (power-loss safety, not only process crashes). */
  fsync?: boolean;
  /** Written into each file's metadata. */
  source?: string;
  /** Clock (epoch ms) used for rotation and row-group age; tests pass their own. */
  now?: () => number;
}

/** Growable columns of the open row group. */
class Rows {
  n = 0;
  cap: number;
  tsNs: BigInt64Array;
  tsLocalNs: BigInt64Array;
  tsLocalValid: Uint8Array;
  symbol: Int32Array;
  event: BigInt64Array;
  kind: Int32Array;
  side: Int8Array;
  sideValid: Uint8Array;
  price: Float64Array;
  size: Float64Array;
  firstSeq: Float64Array;
  lastSeq: Float64Array;
  prevSeq: Float64Array;
  seqRule: Int32Array;
  sizes: Int32Array;
  depthLimit: Float64Array;
  makesRow: Uint8Array;
  tradeId: Float64Array;
  hidden: Uint8Array;

  constructor(cap: number) {
    this.cap = cap;
    this.tsNs = new BigInt64Array(cap);
    this.tsLocalNs = new BigInt64Array(cap);
    this.tsLocalValid = new Uint8Array(cap);
    this.symbol = new Int32Array(cap);
    this.event = new BigInt64Array(cap);
    this.kind = new Int32Array(cap);
    this.side = new Int8Array(cap);
    this.sideValid = new Uint8Array(cap);
    this.price = new Float64Array(cap);
    this.size = new Float64Array(cap);
    this.firstSeq = new Float64Array(cap);
    this.lastSeq = new Float64Array(cap);
    this.prevSeq = new Float64Array(cap);
    this.seqRule = new Int32Array(cap);
    this.sizes = new Int32Array(cap);
    this.depthLimit = new Float64Array(cap);
    this.makesRow = new Uint8Array(cap);
    this.tradeId = new Float64Array(cap);
    this.hidden = new Uint8Array(cap);
  }

  ensure(extra: number): void {
    if (this.n + extra <= this.cap) return;
    let c = this.cap * 2;
    while (c < this.n + extra) c *= 2;
    for (const k of Object.keys(this) as (keyof Rows)[]) {
      const a = this[k];
      if (ArrayBuffer.isView(a)) {
        const b = new (a.constructor as new (n: number) => typeof a)(c);
        (b as unknown as { set(x: unknown): void }).set(a);
        (this as unknown as Record<string, unknown>)[k] = b;
      }
    }
    this.cap = c;
  }
}

export interface RecorderStats {
  events: number;
  rows: number;
  segments: number;
  files: number;
  bytes: number;
  /** Rows this run committed that the period already held (the same events recorded before), dropped at merge. */
  duplicateRows: number;
}

export class Recorder implements MarketSink {
  private rows: Rows;
  private readonly symbols: string[] = [];
  private readonly symbolIds = new Map<string, number>();
  private eventNo = 0n;
  private period = '';
  private periodStart = 0;
  private groupStart = 0;
  private segmentNo = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly rotateMs: number;
  private readonly rowGroupMs: number;
  private readonly rowGroupRows: number;
  private readonly prefix: string;
  private readonly now: () => number;
  private compacting: Promise<void> = Promise.resolve();
  readonly stats: RecorderStats = { events: 0, rows: 0, segments: 0, files: 0, bytes: 0, duplicateRows: 0 };
  /** Names this run's segments, so a merge tells runs apart (identical events within one run are not duplicates). */
  readonly run = randomUUID();
  private failed: Error | undefined;

  constructor(private readonly opts: RecorderOptions) {
    this.rotateMs = opts.rotateMs ?? 3_600_000;
    this.rowGroupMs = opts.rowGroupMs ?? 10_000;
    this.rowGroupRows = opts.rowGroupRows ?? 131_072;
    this.prefix = opts.prefix ?? 'flowcast';
    this.now = opts.now ?? Date.now;
    this.rows = new Rows(4096);
    mkdirSync(opts.dir, { recursive: true });
  }

  /** Starts the timer that commits row groups by age and rotates files (without it, only size triggers commits). */
  start(): void {
    this.timer = setInterval(() => this.tick(), Math.max(50, Math.min(1000, this.rowGroupMs / 4)));
    this.timer.unref();
  }

  /** Commits by age and rotates by period; called by the timer, and by tests with their own clock. */
  tick(): void {
    const now = this.now();
    if (this.rows.n > 0 && now - this.groupStart >= this.rowGroupMs) this.commit();
    if (this.period && now >= this.periodStart + this.rotateMs) this.rotate();
  }

  onDepth(e: DepthEvent): void {
    const tb = this.opts.timeBase.get();
    const n = e.nBids + e.nAsks;
    this.begin(n === 0 ? 1 : n);
    const r = this.rows;
    const ts = tb.toEpochNs(Math.round(e.ts));
    const hasLocal = e.tsLocal === e.tsLocal;
    const tsLocal = hasLocal ? tb.toEpochNs(Math.round(e.tsLocal)) : 0n;
    const sym = this.symbolId(e.symbol);
    const ev = this.eventNo++;
    const kind = e.kind === 'snapshot' ? KIND_SNAPSHOT : KIND_DELTA;
    const rule = SEQ_RULES.indexOf(e.seqRule);
    const sizes = e.sizes === 'absolute' ? 0 : 1;
    // The event's fields on each of its rows, then each level's side, price and size.
    const j0 = r.n;
    const end = (r.n += n === 0 ? 1 : n);
    for (let j = j0; j < end; j++) {
      r.tsNs[j] = ts;
      r.tsLocalNs[j] = tsLocal;
      r.tsLocalValid[j] = hasLocal ? 1 : 0;
      r.symbol[j] = sym;
      r.event[j] = ev;
      r.kind[j] = kind;
      r.sideValid[j] = n === 0 ? 0 : 1;
      r.firstSeq[j] = e.firstSeq;
      r.lastSeq[j] = e.lastSeq;
      r.prevSeq[j] = e.prevSeq;
      r.seqRule[j] = rule;
      r.sizes[j] = sizes;
      r.depthLimit[j] = e.depthLimit;
      r.makesRow[j] = e.makesRow ? 1 : 0;
      r.tradeId[j] = NaN;
      r.hidden[j] = 0;
    }
    let j = j0;
    for (let i = 0; i < e.nBids; i++, j++) {
      r.side[j] = 0;
      r.price[j] = e.bidPx[i]!;
      r.size[j] = e.bidSz[i]!;
    }
    for (let i = 0; i < e.nAsks; i++, j++) {
      r.side[j] = 1;
      r.price[j] = e.askPx[i]!;
      r.size[j] = e.askSz[i]!;
    }
    // An empty event (a snapshot of an empty book) is one row without a side.
    if (n === 0) {
      r.side[j] = 0;
      r.price[j] = NaN;
      r.size[j] = NaN;
    }
    this.end();
  }

  onTrade(e: TradeEvent): void {
    const tb = this.opts.timeBase.get();
    this.begin(1);
    const r = this.rows;
    const j = r.n++;
    r.tsNs[j] = tb.toEpochNs(Math.round(e.ts));
    const hasLocal = e.tsLocal === e.tsLocal;
    r.tsLocalNs[j] = hasLocal ? tb.toEpochNs(Math.round(e.tsLocal)) : 0n;
    r.tsLocalValid[j] = hasLocal ? 1 : 0;
    r.symbol[j] = this.symbolId(e.symbol);
    r.event[j] = this.eventNo++;
    r.kind[j] = KIND_TRADE;
    r.side[j] = e.sign;
    r.sideValid[j] = 1;
    r.price[j] = e.price;
    r.size[j] = e.size;
    r.firstSeq[j] = NaN;
    r.lastSeq[j] = NaN;
    r.prevSeq[j] = NaN;
    r.seqRule[j] = 0;
    r.sizes[j] = -1;
    r.depthLimit[j] = NaN;
    r.makesRow[j] = 0;
    r.tradeId[j] = e.id;
    r.hidden[j] = e.hidden ? 1 : 0;
    this.end();
  }

  /** Commits the open row group and compacts the open period; the recorder can be used no more. */
  async close(): Promise<RecorderStats> {
    clearInterval(this.timer);
    if (this.rows.n > 0) this.commit();
    if (this.period) this.compactLater(this.period);
    await this.compacting;
    if (this.failed) throw this.failed;
    return this.stats;
  }

  private begin(n: number): void {
    if (this.failed) throw this.failed;
    const now = this.now();
    if (!this.period || now >= this.periodStart + this.rotateMs) this.rotate(now);
    if (this.rows.n === 0) this.groupStart = now;
    this.rows.ensure(n);
  }

  private end(): void {
    this.stats.events++;
    if (this.rows.n >= this.rowGroupRows) this.commit();
  }

  private symbolId(s: string): number {
    let id = this.symbolIds.get(s);
    if (id === undefined) {
      id = this.symbols.length;
      this.symbols.push(s);
      this.symbolIds.set(s, id);
    }
    return id;
  }

  private rotate(now = this.now()): void {
    if (this.rows.n > 0) this.commit();
    if (this.period) this.compactLater(this.period);
    this.periodStart = Math.floor(now / this.rotateMs) * this.rotateMs;
    this.period = `${this.prefix}-${compactUtcStamp(this.periodStart)}`;
    const parts = partsDir(this.opts.dir, this.period);
    this.segmentNo = nextSegmentNo(parts);
    // Readers group rows into events by number: in a period other runs wrote to, this run's numbers
    // start after theirs so that no two events of the merged file share one.
    const whole = join(this.opts.dir, `${this.period}.parquet`);
    const earlier = [...(existsSync(whole) ? [whole] : []), ...segmentFiles(parts)];
    if (earlier.length) {
      const max = maxEvent(earlier);
      if (max >= this.eventNo) this.eventNo = max + 1n;
    }
  }

  /** Writes the open row group as a segment of the current period: temp file, fsync, rename. */
  commit(): void {
    const n = this.rows.n;
    if (n === 0) return;
    const dir = partsDir(this.opts.dir, this.period);
    mkdirSync(dir, { recursive: true });
    const bytes = pq.writeParquet(pq.Table.fromIPCStream(tableToIPC(this.toArrow(), 'stream')), segmentProperties(this.metadata()));
    const name = join(dir, `${String(++this.segmentNo).padStart(6, '0')}.parquet`);
    writeDurably(name, bytes, this.opts.fsync ?? true);
    this.stats.rows += n;
    this.stats.segments++;
    this.stats.bytes += bytes.length;
    this.rows.n = 0;
    log.info('segment committed', { file: name, rows: n, eventsTotal: this.stats.events });
  }

  private metadata(): Record<string, string> {
    return {
      'flowcast.recording.version': String(RECORDING_VERSION),
      'flowcast.recording.source': this.opts.source ?? '',
      [RUN_KEY]: this.run,
    };
  }

  private compactLater(period: string): void {
    const dir = this.opts.dir;
    this.compacting = this.compacting
      .then(() => compactPeriod(dir, period))
      .then((r) => {
        if (r) {
          this.stats.files++;
          this.stats.duplicateRows += r.duplicates;
          log.info('period compacted', { file: r.file, rows: r.rows, duplicates: r.duplicates });
        }
      })
      .catch((e: Error) => {
        this.failed ??= e;
        log.error('compaction failed', { period, error: e });
      });
  }

  private toArrow(): ArrowTable {
    const r = this.rows;
    const n = r.n;
    const dict = (values: readonly string[]) => vectorFromArray([...values], new Utf8());
    const dictType = () => new Dictionary(new Utf8(), new Int32());
    const f64 = (a: Float64Array) => floatWithNulls(a, n);
    const i64 = (a: Float64Array) => nullableInt64(a, n);
    const fields = [
      new Field('ts_ns', new Int64(), false),
      new Field('ts_local_ns', new Int64(), true),
      new Field('symbol', dictType(), false),
      new Field('event', new Int64(), false),
      new Field('kind', dictType(), false),
      new Field('side', new Int8(), true),
      new Field('price', new Float64(), true),
      new Field('size', new Float64(), true),
      new Field('first_seq', new Int64(), true),
      new Field('last_seq', new Int64(), true),
      new Field('prev_seq', new Int64(), true),
      new Field('seq_rule', dictType(), false),
      new Field('sizes', dictType(), true),
      new Field('depth_limit', new Int32(), true),
      new Field('makes_row', new Bool(), false),
      new Field('trade_id', new Int64(), true),
      new Field('hidden', new Bool(), false),
    ];
    const sizesValid = new Uint8Array(n);
    const sizesCodes = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      sizesValid[i] = r.sizes[i]! >= 0 ? 1 : 0;
      sizesCodes[i] = r.sizes[i]! >= 0 ? r.sizes[i]! : 0;
    }
    const limit = new Int32Array(n);
    const limitValid = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      const d = r.depthLimit[i]!;
      limitValid[i] = Number.isFinite(d) ? 1 : 0;
      limit[i] = Number.isFinite(d) ? d : 0;
    }
    const children = [
      makeData({ type: new Int64(), length: n, data: r.tsNs.slice(0, n) }),
      withValidity(makeData({ type: new Int64(), length: n, data: r.tsLocalNs.slice(0, n) }), r.tsLocalValid, n, new Int64()),
      makeData({ type: dictType(), length: n, data: r.symbol.slice(0, n), dictionary: dict(this.symbols) }),
      makeData({ type: new Int64(), length: n, data: r.event.slice(0, n) }),
      makeData({ type: dictType(), length: n, data: r.kind.slice(0, n), dictionary: dict(KINDS) }),
      withValidity(makeData({ type: new Int8(), length: n, data: r.side.slice(0, n) }), r.sideValid, n, new Int8()),
      f64(r.price),
      f64(r.size),
      i64(r.firstSeq),
      i64(r.lastSeq),
      i64(r.prevSeq),
      makeData({ type: dictType(), length: n, data: r.seqRule.slice(0, n), dictionary: dict(SEQ_RULES) }),
      withValidity(makeData({ type: dictType(), length: n, data: sizesCodes, dictionary: dict(SIZES) }), sizesValid, n, dictType()),
      withValidity(makeData({ type: new Int32(), length: n, data: limit }), limitValid, n, new Int32()),
      makeData({ type: new Bool(), length: n, data: packBits(r.makesRow, n) }),
      i64(r.tradeId),
      makeData({ type: new Bool(), length: n, data: packBits(r.hidden, n) }),
    ];
    const schema = new Schema(fields);
    return new ArrowTable(new ArrowRecordBatch(schema, makeData({ type: new Struct(fields), length: n, children })));
  }

  /** Merges leftover segments of periods a crash interrupted into their period files. */
  static async recover(dir: string): Promise<Compacted[]> {
    if (!existsSync(dir)) return [];
    const out: Compacted[] = [];
    for (const d of readdirSync(dir).filter((f) => f.endsWith(PARTS_SUFFIX)).sort()) {
      const r = await compactPeriod(dir, d.slice(0, -PARTS_SUFFIX.length));
      if (r) out.push(r);
    }
    return out;
  }
}

export { PARTS_SUFFIX, partsDir };

export const LOCK_FILE = '.flowcast-record.lock';

/** Another live process holds the directory's lock. */
export class RecordingLocked extends Error {
  constructor(readonly pid: number, readonly lock: string) {
    super(`process ${pid} is recording into it (${lock})`);
    this.name = 'RecordingLocked';
  }
}

/**
 * Takes the directory's recording lock (`.flowcast-record.lock`, holding the pid) and returns its
 * release. Two processes writing one directory would number their segments alike (a rename would
 * replace a committed one) and merge or remove each other's segments mid-write, so the second is
 * refused. A lock whose process is gone (kill -9, a crash) is taken over.
 */
export function lockRecording(dir: string): () => void {
  const lock = join(dir, LOCK_FILE);
  for (;;) {
    try {
      const fd = openSync(lock, 'wx');
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      return () => rmSync(lock, { force: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    let pid = NaN;
    try {
      pid = Number(readFileSync(lock, 'utf8').trim());
    } catch {
      continue; // released between the two calls
    }
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && processAlive(pid)) throw new RecordingLocked(pid, lock);
    rmSync(lock, { force: true });
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface Compacted {
  file: string;
  /** Rows in the period file now. */
  rows: number;
  /** Rows of the segments left out because the period already held their events. */
  duplicates: number;
}

/** Segment files of a parts directory, in commit order. */
export function segmentFiles(parts: string): string[] {
  if (!existsSync(parts)) return [];
  return readdirSync(parts).filter((f) => /^\d+\.parquet$/.test(f)).sort().map((f) => join(parts, f));
}

function nextSegmentNo(parts: string): number {
  const files = segmentFiles(parts);
  return files.length ? Number(/(\d+)\.parquet$/.exec(files[files.length - 1]!)![1]) : 0;
}

/**
 * Merges a period's segments into `<period>.parquet`: the period file an earlier run left, if any,
 * then each run's segments in commit order, less the events an earlier source already holds
 * (./period.ts). Written under a temporary name and renamed over the period file, then the segments
 * are removed; a crash between the two leaves segments whose events the file holds, which the next
 * merge drops, so nothing is lost or doubled at any point.
 */
export async function compactPeriod(dir: string, period: string): Promise<Compacted | undefined> {
  const parts = partsDir(dir, period);
  const segments = segmentFiles(parts);
  const target = join(dir, `${period}.parquet`);
  if (segments.length === 0) {
    rmSync(parts, { recursive: true, force: true });
    return undefined;
  }
  const sources = periodSources(existsSync(target) ? target : undefined, segments);
  const dup = sources.length > 1 ? await duplicateRows(sources) : { drop: new Map() as DroppedRows, rows: 0 };
  const tmp = join(dir, `.${period}.parquet.tmp`);
  const fd = openSync(tmp, 'w');
  let rows = 0;
  try {
    const batches = keptBatches(sources.flatMap((s) => s.files), dup.drop, (n) => { rows += n; });
    const input = new ReadableStream<pq.RecordBatch>({
      async pull(c) {
        const r = await batches.next();
        if (r.done) c.close();
        else c.enqueue(r.value);
      },
    }, { highWaterMark: 1 });
    const meta = new Map([['flowcast.recording.version', String(RECORDING_VERSION)], ['flowcast.recording.segments', String(segments.length)]]);
    await streamParquetToFd(input, fileProperties(meta), fd);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, target);
  rmSync(parts, { recursive: true, force: true });
  return { file: target, rows, duplicates: dup.rows };
}

/** The files' record batches, one row group at a time, less the dropped row ranges. */
async function* keptBatches(files: readonly string[], drop: DroppedRows, count: (rows: number) => void): AsyncGenerator<pq.RecordBatch> {
  for (const file of files) {
    const cut = drop.get(file);
    let row = 0;
    let k = 0;
    for await (const g of rowGroups(file)) {
      if (!cut) {
        for (const b of g.recordBatches()) {
          count(b.numRows);
          yield b;
        }
        continue;
      }
      const t = tableFromIPC(g.intoIPCStream());
      const end = row + t.numRows;
      let from = row;
      while (from < end) {
        while (k < cut.length && cut[k]![1] <= from) k++;
        const next = k < cut.length ? cut[k]! : undefined;
        if (next && next[0] <= from) {
          from = Math.min(end, next[1]);
          continue;
        }
        const to = next ? Math.min(end, next[0]) : end;
        count(to - from);
        yield* pq.Table.fromIPCStream(tableToIPC(t.slice(from - row, to - row), 'stream')).recordBatches();
        from = to;
      }
      row = end;
    }
  }
}

function writeDurably(path: string, bytes: Uint8Array, fsync: boolean): void {
  const tmp = `${path}.tmp`;
  const fd = openSync(tmp, 'w');
  try {
    writeAllSync(fd, bytes);
    if (fsync) fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

const INT_COLUMNS = ['ts_ns', 'ts_local_ns', 'event', 'first_seq', 'last_seq', 'prev_seq', 'trade_id'];

function baseProperties(meta: Record<string, string> | Map<string, string>, rowGroup: number): pq.WriterProperties {
  let b = new pq.WriterPropertiesBuilder()
    .setCompression(pq.Compression.ZSTD)
    .setMaxRowGroupSize(rowGroup)
    .setCreatedBy('flowcast recorder')
    .setDictionaryEnabled(false)
    .setColumnEncoding('price', pq.Encoding.BYTE_STREAM_SPLIT)
    .setColumnEncoding('size', pq.Encoding.BYTE_STREAM_SPLIT);
  for (const c of INT_COLUMNS) b = b.setColumnEncoding(c, pq.Encoding.DELTA_BINARY_PACKED);
  for (const c of ['symbol', 'kind', 'seq_rule', 'sizes']) b = b.setColumnDictionaryEnabled(c, true);
  const m = meta instanceof Map ? meta : new Map(Object.entries(meta));
  if (m.size) b = b.setKeyValueMetadata(m);
  return b.build();
}

function segmentProperties(meta: Record<string, string>): pq.WriterProperties {
  return baseProperties(meta, 1 << 30);
}

function fileProperties(meta: Map<string, string>): pq.WriterProperties {
  return baseProperties(meta, 128 * 1024);
}

function packBits(a: Uint8Array, n: number): Uint8Array {
  const out = new Uint8Array((n + 7) >> 3);
  for (let i = 0; i < n; i++) if (a[i]) out[i >> 3]! |= 1 << (i & 7);
  return out;
}

function withValidity<T extends import('apache-arrow').DataType>(d: import('apache-arrow').Data<T>, valid: Uint8Array, n: number, type: T): import('apache-arrow').Data<T> {
  let nulls = 0;
  for (let i = 0; i < n; i++) if (!valid[i]) nulls++;
  if (nulls === 0) return d;
  return makeData({ type, length: n, data: d.values, nullBitmap: packBits(valid, n), nullCount: nulls, dictionary: (d as { dictionary?: unknown }).dictionary } as never) as unknown as import('apache-arrow').Data<T>;
}

function nullableInt64(a: Float64Array, n: number) {
  const data = new BigInt64Array(n);
  const valid = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const v = a[i]!;
    if (v === v) {
      data[i] = BigInt(Math.trunc(v));
      valid[i] = 1;
    }
  }
  return withValidity(makeData({ type: new Int64(), length: n, data }), valid, n, new Int64());
}
