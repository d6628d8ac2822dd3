/**
 * `DIR/_dataset.json`: what a dataset directory holds and how each partition was made. It is the
 * record resumption trusts: a partition counts as built only once its Parquet file has been renamed
 * into place and its entry written here (the file replaced whole by a rename, never edited in place).
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readFileSync, renameSync, statSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { InputError, InputErrorCode } from '../core/errors.ts';

export const DATASET_FILE = '_dataset.json';
export const DATASET_FORMAT = 'flowcast-dataset';
export const DATASET_FORMAT_VERSION = 1;
/** The one data file of a partition, under its hive directory. */
export const PART_FILE = 'part-0.parquet';

/** Every parameter that changes a partition's rows. */
export interface DatasetParams {
  specVersion: number;
  levels: number;
  vpinBuckets: number;
  barMs: number;
  barWindow: number;
  settleMs: number;
  horizons: number[];
  alpha: number;
  /** A fixed bucket volume, or `auto` sized from `vpinWarmup`. */
  vpinBucket: number | 'auto';
  /** `Nm` (the first N minutes of trades) or `prev-day`; null with a fixed bucket. */
  vpinWarmup: string | null;
  carry: boolean;
  skipBad: string | null;
}

export interface InputFile {
  path: string;
  bytes: number;
  mtimeMs: number;
  sha256: string;
}

export interface PartitionRecord {
  venue: string;
  symbol: string;
  date: string;
  spec: string;
  /** Relative to the dataset directory. */
  file: string;
  rows: number;
  bytes: number;
  /** The VPIN bucket volume used (null: no trades to size it from, VPIN undefined all day). */
  vpinBucket: number | null;
  /** Where that volume came from: `fixed`, `first Nm of <date>` or `day <date>`. */
  vpinBucketFrom: string;
  /** Epoch ns (as text) until which rows lie inside the minutes warm-up that sized their bucket. */
  warmupEndNs: string | null;
  /** Every file the rows depend on (its own; the previous day's with prev-day; the earlier days' with --carry). */
  inputs: InputFile[];
  /** With --carry: the partition whose end state this one continued from. */
  carriedFrom: string | null;
  paramsHash: string;
  seconds: number;
  builtAt: string;
}

export interface DatasetRecord {
  format: typeof DATASET_FORMAT;
  formatVersion: number;
  flowcastVersion: string;
  params: DatasetParams;
  paramsHash: string;
  partitions: Record<string, PartitionRecord>;
  /** prev-day warm-up: days read only to size the next day's bucket (no partition), with their volume. */
  warmupDays: Record<string, { spec: string; tradedVolume: number }>;
  updatedAt: string;
}

export function paramsHash(p: DatasetParams): string {
  const keys = Object.keys(p).sort();
  return createHash('sha256').update(JSON.stringify(p, keys)).digest('hex').slice(0, 16);
}

export function emptyRecord(params: DatasetParams, version: string): DatasetRecord {
  return {
    format: DATASET_FORMAT,
    formatVersion: DATASET_FORMAT_VERSION,
    flowcastVersion: version,
    params,
    paramsHash: paramsHash(params),
    partitions: {},
    warmupDays: {},
    updatedAt: new Date().toISOString(),
  };
}

/** The record of `dir`, or undefined where there is none yet. */
export function readRecord(dir: string): DatasetRecord | undefined {
  const path = join(dir, DATASET_FILE);
  if (!existsSync(path)) return undefined;
  let r: DatasetRecord;
  try {
    r = JSON.parse(readFileSync(path, 'utf8')) as DatasetRecord;
  } catch (e) {
    throw new InputError(InputErrorCode.Format, path, undefined, `not readable as JSON: ${(e as Error).message}`);
  }
  if (r.format !== DATASET_FORMAT) throw new InputError(InputErrorCode.Format, path, undefined, `not a flowcast dataset record (format "${String(r.format)}")`);
  if (r.formatVersion > DATASET_FORMAT_VERSION) {
    throw new InputError(InputErrorCode.Format, path, undefined, `dataset format ${r.formatVersion} is newer than this flowcast reads (${DATASET_FORMAT_VERSION})`);
  }
  return r;
}

/** Replaces the record whole: written beside it, then renamed over it (a kill leaves the old or the new). */
export function writeRecord(dir: string, r: DatasetRecord): void {
  r.updatedAt = new Date().toISOString();
  // Keys in order, so that two builds of the same dataset write the same record but for times.
  r.partitions = Object.fromEntries(Object.entries(r.partitions).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  const path = join(dir, DATASET_FILE);
  const tmp = join(dir, `.${DATASET_FILE}.${process.pid}.tmp`);
  try {
    writeFileSync(tmp, JSON.stringify(r, null, 1) + '\n');
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

export async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** A file's size, mtime and checksum; the checksum is taken from `known` when size and mtime still match it. */
export async function describeFile(path: string, known?: InputFile): Promise<InputFile> {
  const st = statSync(path);
  if (known && known.path === path && known.bytes === st.size && known.mtimeMs === st.mtimeMs) return known;
  return { path, bytes: st.size, mtimeMs: st.mtimeMs, sha256: await sha256File(path) };
}

/** Whether `files` still hold what `recorded` says (by checksum where size or mtime moved). */
export async function sameInputs(files: readonly string[], recorded: readonly InputFile[]): Promise<boolean> {
  if (files.length !== recorded.length) return false;
  for (let i = 0; i < files.length; i++) {
    const r = recorded[i]!;
    if (r.path !== files[i]) return false;
    if (!existsSync(r.path)) return false;
    const now = await describeFile(r.path, r);
    if (now.sha256 !== r.sha256) return false;
  }
  return true;
}
