/**
 * What data a model was trained on, by content rather than by how its path was spelled, and which
 * rows of other data overlap it (issue 17).
 *
 * At training the manifest records `training.inputs`: the sha256 and size of every input file (the
 * source spec's files, or the features file and what it records of its own inputs), the symbol,
 * and the rows and epoch-ns time span of each split. Evaluation compares data against it:
 *
 * - content: an input file with the same sha256 (whatever its path, relative or absolute, or a
 *   features Parquet recording the same source files) and the same symbol with the same row count
 *   is the training data itself: the model's own chronological split by row applies, so only the
 *   test split is scored, exactly the rows training held out;
 * - time: otherwise, every row of the model's training symbol whose exchange time falls within the
 *   span of its train and validation rows overlaps it (a features CSV of the same day, a
 *   recompressed copy, a longer capture holding that day), and so do the `horizon` rows before
 *   that span, whose labels read mids inside it.
 *
 * Rows of another symbol, or outside the span, do not overlap.
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { dirname, join, basename } from 'node:path';
import { isSourceSpec, type FeatureData } from './features-file.ts';

export interface FileDigest {
  /** As given (relative paths stay relative: the digest, not the path, identifies the file). */
  path: string;
  bytes: number;
  sha256: string;
}

export interface DataInputs {
  /** `source`: a source spec computed into features; `features`: a `flowcast features` file. */
  kind: 'source' | 'features';
  spec: string;
  files: FileDigest[];
  /** A features file's own record of its inputs, with the digests of those files where they are readable. */
  recorded?: { source?: string; files: FileDigest[]; unreadable: string[] };
}

export interface SplitSpan {
  /** [from, to) among the symbol's rows. */
  rows: [number, number];
  /** Epoch ns of the first and the last row (decimal strings: exact int64); null for an empty split. */
  ns: [string, string] | null;
}

export interface TrainingInputs {
  data: DataInputs;
  symbol: string;
  /** Rows of the symbol in the data. */
  rows: number;
  splits: { train: SplitSpan; val: SplitSpan; test: SplitSpan };
  /** The rows the model saw in training or model selection: the train and validation splits. */
  seen: SplitSpan;
  /**
   * Segmented training data (several inputs, symbols or days): each segment's footprint, its rows
   * and spans among its own rows (a segment's rows are in time order, so each split is a range of
   * them). The fields above then describe the whole: every input, the symbols comma-joined, and
   * the spans over all segments (rows counted on the union's time axis).
   */
  segments?: SegmentInputs[];
}

export interface SegmentInputs extends TrainingInputs {
  /** The input as given (`--data`), and the dataset partition where the segment is one. */
  input: string;
  partition?: string;
  /** UTC date of its first row (a partition: its date). */
  date: string;
  /** Samples (windows with a label, purged) the segment gave each split. */
  samples: { train: number; val: number; test: number };
}

/** sha256 and size of a file, streamed. */
export async function fileDigest(path: string): Promise<FileDigest> {
  const h = createHash('sha256');
  let bytes = 0;
  await new Promise<void>((resolve, reject) => {
    createReadStream(path)
      .on('data', (b) => {
        h.update(b as Buffer);
        bytes += (b as Buffer).length;
      })
      .on('end', resolve)
      .on('error', (e) => reject(new Error(`${path}: cannot read it to checksum the data: ${e.message}`)));
  });
  return { path, bytes, sha256: h.digest('hex') };
}

/** The files of a source spec (`lobster:MSG,OB` -> [MSG, OB]). */
export function specFiles(spec: string): string[] {
  const colon = spec.indexOf(':');
  return spec.slice(colon + 1).split(',').map((f) => f.trim()).filter(Boolean);
}

/**
 * The inputs of feature data, by content. For a features file, the source it records (Parquet
 * metadata) is looked for as written and beside the file; files not found are listed, not fatal.
 */
export async function describeInputs(pathOrSpec: string, data: Pick<FeatureData, 'recorded' | 'dataset'>): Promise<DataInputs> {
  if (isSourceSpec(pathOrSpec)) return { kind: 'source', spec: pathOrSpec, files: await Promise.all(specFiles(pathOrSpec).map(fileDigest)) };
  // A dataset: the partition files read, and the inputs its record checksummed when it built them.
  if (data.dataset) {
    return {
      kind: 'features',
      spec: pathOrSpec,
      files: await Promise.all(data.dataset.parts.map(fileDigest)),
      recorded: { ...(data.recorded?.source ? { source: data.recorded.source } : {}), files: data.dataset.inputs, unreadable: [] },
    };
  }
  const out: DataInputs = { kind: 'features', spec: pathOrSpec, files: [await fileDigest(pathOrSpec)] };
  const src = data.recorded?.source;
  if (src) {
    const rec: NonNullable<DataInputs['recorded']> = { source: src, files: [], unreadable: [] };
    if (isSourceSpec(src)) {
      for (const f of specFiles(src)) {
        const found = [f, join(dirname(pathOrSpec), f), join(dirname(pathOrSpec), basename(f))].find((p) => existsSync(p));
        if (found && (await stat(found)).isFile()) rec.files.push({ ...(await fileDigest(found)), path: f });
        else rec.unreadable.push(f);
      }
    }
    out.recorded = rec;
  }
  return out;
}

/** Every content digest of some data: its own files and those a features file records. */
function digests(d: DataInputs): Map<string, string> {
  const m = new Map<string, string>();
  for (const f of [...d.files, ...(d.recorded?.files ?? [])]) m.set(f.sha256, f.path);
  return m;
}

/** Epoch ns of a row of the data (exact: startNs is int64, ts an exact ns offset). */
export function rowEpochNs(data: Pick<FeatureData, 'startNs'>, ts: number): bigint {
  return data.startNs + BigInt(ts);
}

function span(data: Pick<FeatureData, 'startNs'>, ts: Float64Array, from: number, to: number): SplitSpan {
  return { rows: [from, to], ns: to > from ? [String(rowEpochNs(data, ts[from]!)), String(rowEpochNs(data, ts[to - 1]!))] : null };
}

/**
 * The training footprint of a dataset: `ts` are its symbol rows' times (Dataset.ts), split at
 * row indices a (train | val) and b (val | test).
 */
export function trainingInputs(data: DataInputs, fd: Pick<FeatureData, 'startNs'>, symbol: string, ts: Float64Array, a: number, b: number): TrainingInputs {
  const n = ts.length;
  return {
    data,
    symbol,
    rows: n,
    splits: { train: span(fd, ts, 0, a), val: span(fd, ts, a, b), test: span(fd, ts, b, n) },
    seen: span(fd, ts, 0, b),
  };
}

/**
 * The training footprint of segmented data: each segment's rows split by the dataset's cut times,
 * with its own inputs by content (`segmentInputs`, as data.segments), and the whole.
 */
export function segmentedTrainingInputs(all: DataInputs, segmentInputs: DataInputs[], ds: import('./dataset.ts').Dataset): TrainingInputs {
  const segs = ds.segments!, cuts = ds.cuts!;
  const data = ds.data;
  const segIndex = new Map(data.segments!.map((s, j) => [s, j]));
  // Samples per segment and split in one pass over each split (the segments are row ranges in order).
  const perSeg = (rows: Int32Array): Int32Array => {
    const c = new Int32Array(segs.length);
    let j = 0;
    for (const r of rows) {
      while (r >= segs[j]!.to) j++;
      c[j]!++;
    }
    return c;
  };
  const sTrain = perSeg(ds.splits.train.rows), sVal = perSeg(ds.splits.val.rows), sTest = perSeg(ds.splits.test.rows);
  const segments: SegmentInputs[] = segs.map((g, k) => {
    const ts = ds.ts.subarray(g.from, g.to);
    let a = 0, b = 0;
    while (a < ts.length && ts[a]! < cuts.val) a++;
    b = a;
    while (b < ts.length && ts[b]! < cuts.test) b++;
    const s = g.segment;
    return {
      input: s.spec,
      ...(s.partition ? { partition: s.partition } : {}),
      date: s.date,
      ...trainingInputs(segmentInputs[segIndex.get(s)!]!, data, s.symbol, ts, a, b),
      samples: { train: sTrain[k]!, val: sVal[k]!, test: sTest[k]! },
    };
  });
  const whole = (f: (x: SegmentInputs) => SplitSpan): SplitSpan => {
    const spans = segments.map(f);
    const ns = spans.filter((x) => x.ns).map((x) => x.ns!);
    const big = (v: string[], pick: (a: bigint, b: bigint) => boolean): string => v.reduce((m, x) => (pick(BigInt(x), BigInt(m)) ? x : m));
    return {
      rows: [spans.reduce((t, x) => t + x.rows[0], 0), spans.reduce((t, x) => t + x.rows[1], 0)],
      ns: ns.length ? [big(ns.map((x) => x[0]), (p, q) => p < q), big(ns.map((x) => x[1]), (p, q) => p > q)] : null,
    };
  };
  return {
    data: all,
    symbol: ds.symbol,
    rows: ds.n,
    splits: { train: whole((x) => x.splits.train), val: whole((x) => x.splits.val), test: whole((x) => x.splits.test) },
    seen: whole((x) => x.seen),
    segments,
  };
}

/** Reads `training.inputs` back from a manifest's training block (undefined when it has none). */
export function manifestInputs(training: Record<string, unknown> | undefined): TrainingInputs | undefined {
  const v = training?.['inputs'] as TrainingInputs | undefined;
  if (!v || typeof v !== 'object' || !v.data || !Array.isArray(v.data.files) || typeof v.symbol !== 'string' || !v.seen) return undefined;
  return v;
}

export interface Overlap {
  /** How the data was recognised as (part of) the training data; 'none': it was not. */
  match: 'content' | 'time' | 'none';
  /** One line for the report: why. */
  detail: string;
  /** Per row of the evaluated symbol: 1 where the row is in, or its label reads, the model's training data. */
  mask: Uint8Array;
  count: number;
  /** A content match: the first row of the model's test split in this data (rows before it are its training rows). */
  testFrom?: number;
}

const fmtNs = (ns: string): string => {
  const b = BigInt(ns);
  const ms = Number(b / 1_000_000n);
  return new Date(ms).toISOString().replace('T', ' ').replace('Z', '') + String(b % 1_000_000n).padStart(6, '0').slice(0, 3) + ' UTC';
};

/**
 * Which rows of `symbol` in `data` (whose row times are `ts`, offsets from data.startNs) overlap
 * the training data described by `train`. `inputs` describes the evaluated data.
 */
export function trainingOverlap(train: TrainingInputs, inputs: DataInputs, data: Pick<FeatureData, 'startNs' | 'source'>, symbol: string, ts: Float64Array, horizon: number): Overlap {
  const n = ts.length;
  if (train.segments) {
    // Segmented training data: each segment of this symbol as a training footprint of its own.
    const mine = train.segments.filter((s) => s.symbol === symbol);
    const mask = new Uint8Array(n);
    if (!mine.length) return { match: 'none', detail: `${symbol} is not a training symbol (${train.symbol})`, mask, count: 0 };
    const hits = mine.map((s) => ({ s, o: trainingOverlap({ ...s, segments: undefined }, inputs, data, symbol, ts, horizon) })).filter((h) => h.o.match !== 'none');
    if (!hits.length) return { match: 'none', detail: `no ${symbol} row in any of its ${mine.length} ${symbol} training segment${mine.length > 1 ? 's' : ''} (${mine.map((s) => s.date).join(', ')})`, mask, count: 0 };
    for (const h of hits) for (let i = 0; i < n; i++) mask[i] |= h.o.mask[i]!;
    const count = mask.reduce((a, v) => a + v, 0);
    const content = hits.length === 1 && hits[0]!.o.match === 'content';
    return {
      match: content ? 'content' : hits.some((h) => h.o.match === 'time') ? 'time' : 'content',
      detail: hits.map((h) => `segment ${h.s.symbol} ${h.s.date} (${h.s.input}${h.s.partition ? ` ${h.s.partition}` : ''}): ${h.o.detail}`).join('; '),
      mask,
      count,
      ...(content ? { testFrom: hits[0]!.o.testFrom! } : {}),
    };
  }
  const mask = new Uint8Array(n);
  if (symbol !== train.symbol) return { match: 'none', detail: `${symbol} is not the training symbol ${train.symbol}`, mask, count: 0 };
  const theirs = digests(train.data);
  const same = [...digests(inputs)].filter(([h]) => theirs.has(h)).map(([, p]) => p);
  if (same.length && n === train.rows) {
    const b = train.seen.rows[1];
    mask.fill(1, 0, b);
    return { testFrom: b, match: 'content', detail: `the same input files as its training data (sha256 of ${same.map((p) => basename(p)).join(', ')}), ${symbol}, ${n} rows, whose rows 0..${b - 1} are its train and validation splits`, mask, count: b };
  }
  if (!train.seen.ns) return { match: 'none', detail: 'the manifest records no training rows', mask, count: 0 };
  const from = BigInt(train.seen.ns[0]), to = BigInt(train.seen.ns[1]);
  let first = -1, count = 0;
  for (let i = 0; i < n; i++) {
    const t = rowEpochNs(data, ts[i]!);
    if (t >= from && t <= to) {
      mask[i] = 1;
      count++;
      if (first < 0) first = i;
    }
  }
  if (first < 0) return { match: 'none', detail: `no ${symbol} row in its training span ${fmtNs(train.seen.ns[0])} .. ${fmtNs(train.seen.ns[1])}${same.length ? ` (some input files are the same, sha256 of ${same.join(', ')}, but not these rows)` : ''}`, mask, count: 0 };
  // Rows just before the span: their labels read mids inside it.
  for (let i = Math.max(0, first - horizon); i < first; i++) if (!mask[i]) {
    mask[i] = 1;
    count++;
  }
  const how = same.length ? `input files with the same content (sha256 of ${same.map((p) => basename(p)).join(', ')}) and ` : '';
  return { match: 'time', detail: `${how}${count} ${symbol} rows inside its training span ${fmtNs(train.seen.ns[0])} .. ${fmtNs(train.seen.ns[1])} (train and validation splits) or labelled from it`, mask, count };
}
