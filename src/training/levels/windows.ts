/**
 * The raw-levels training input pipeline: the tensors a server computes, fed to TensorFlow.js.
 *
 *   source -> BookBuilder -> SnapshotRings (one ring per symbol, grown to hold the whole run)
 *          -> SnapshotBatch { windows: B, rows: T, history: 0, levels: L }: batch.add(ring, last)
 *             per sample, `book` [B, T, L, 4] in window units (ticks from the window's reference,
 *             lots; src/snapshots/batch.ts)
 *          -> per-channel normalisation (InputTransform, the serving code; signed log of sizes,
 *             z-score) -> tf.tensor [B, T, L * 4] (the same memory as [B, T, L, 4]).
 *
 * The ONNX model takes the raw `book` windows and does the normalisation and the reshape in its
 * graph, so a served request is exactly the window SnapshotBatch.add assembles. Sample rows are
 * stream indices of the symbol's ring, which equal the row indices of the symbol's feature rows
 * (one features row per book row: checked against the feature data's times by `alignRows`), so the
 * labels and chronological splits are the feature Dataset's, the ones goog-transformer trains on.
 */
import type { Tensor4D } from '@tensorflow/tfjs';
import { openSource } from '../../sources/spec.ts';
import { bookBuilder } from '../../pipeline/book.ts';
import { SnapshotRings, type SnapshotRing } from '../../snapshots/ring.ts';
import { SnapshotBatch } from '../../snapshots/batch.ts';
import { InputTransform } from '../../inference/normalize.ts';
import { FEATURE_SPEC_VERSION } from '../../features/columns.ts';
import { BOOK_CHANNELS, MANIFEST_SCHEMA, type BookInput, type ModelManifest, type Normalization } from '../../inference/manifest.ts';
import type { Dataset, Split } from '../dataset.ts';
import type { Tf } from '../tf-backend.ts';

/** Channels per level (bid px, bid size, ask px, ask size). */
export const C = BOOK_CHANNELS.length;

/**
 * Replays a source spec through the BookBuilder into SnapshotRings that keep every row (training
 * cuts windows anywhere in the day). `levels` per side are kept.
 */
export async function readBookRings(spec: string, o: { levels: number; symbols?: string[] }): Promise<SnapshotRings> {
  const rings = new SnapshotRings(1 << 16, o.levels);
  const source = await openSource(spec);
  const builder = bookBuilder({
    levels: o.levels,
    symbols: o.symbols?.length ? new Set(o.symbols) : undefined,
    sourceName: source.spec,
    sink: {
      onRow(row) {
        const r = rings.get(row.symbol);
        // A ring keeps `capacity` rows; training wants them all, so it doubles before it would evict.
        if (r && r.count >= r.capacity) r.grow(r.capacity * 2);
        rings.onRow(row);
      },
    },
  });
  await source.run(builder);
  builder.finish();
  return rings;
}

/**
 * Checks that the ring's rows are the feature data's rows of the symbol, one for one (same count,
 * same times relative to the first row): sample row i of the Dataset is then stream index i.
 */
export function alignRows(ring: SnapshotRing, ds: Dataset): void {
  if (ring.count !== ds.n) throw new Error(`${ring.symbol}: the book replay made ${ring.count} rows but the feature data has ${ds.n}; the raw-levels windows would not line up with the labels`);
  if (ring.size !== ring.count) throw new Error(`${ring.symbol}: the ring holds ${ring.size} of ${ring.count} rows`);
  const t0 = ring.ts[0]!;
  for (let i = 0; i < ring.count; i++) {
    const d = ring.ts[i]! - t0 - ds.ts[i]!;
    // Feature times are ns relative to the first row; the ring's are ns since the time base (both float64, whole ns).
    if (Math.abs(d) > 1) throw new Error(`${ring.symbol}: book row ${i} is at ${ring.ts[i]! - t0} ns, the feature row at ${ds.ts[i]} ns`);
  }
}

/** A manifest stub of an NTLC input, for InputTransform (what the served graph does, in JavaScript). */
export function levelsManifest(T: number, book: BookInput, normalization: Normalization | null): ModelManifest {
  return {
    schema: MANIFEST_SCHEMA,
    name: 'levels',
    version: '0',
    kind: 'other',
    onnx: { file: 'model.onnx' },
    input: { name: 'levels', columns: [...BOOK_CHANNELS], window: T, layout: 'NTLC', book, featureSpecVersion: FEATURE_SPEC_VERSION },
    normalization: normalization ? { ...normalization, inGraph: false } : null,
    output: { name: 'y', kind: 'probabilities', classes: ['a', 'b'] },
  };
}

/**
 * Windows of one symbol's ring as training batches: `raw` assembles them in a SnapshotBatch (the
 * server's code and units), `gatherZ` normalises them for the model (TrainingWindows, what
 * trainTransformer reads), `tfDataset` is the same as a tf.data pipeline of [B, T, L, 4] tensors.
 */
export class LevelsWindows {
  readonly T: number;
  readonly L: number;
  /** Features per token row: L * 4. */
  readonly F: number;
  readonly batch: SnapshotBatch;
  readonly splits: { train: Split; val: Split; test: Split };
  private transform: InputTransform | undefined;
  normalization: Normalization | null = null;

  constructor(readonly ring: SnapshotRing, readonly ds: Dataset, levels: number, batchSize = 256) {
    this.T = ds.T;
    this.L = levels;
    this.F = levels * C;
    this.splits = ds.splits;
    this.batch = new SnapshotBatch({ windows: batchSize, rows: this.T, history: 0, levels });
  }

  /** Floats per window: T * L * 4. */
  get size(): number {
    return this.T * this.F;
  }

  /** The book input description (manifest input.book) of these windows. */
  bookInput(): BookInput {
    return {
      levels: this.L,
      channels: [...BOOK_CHANNELS],
      prices: 'ticks-from-window-reference',
      sizes: 'lots',
      scales: { [this.ring.symbol]: { price: 10 ** this.ring.priceDecimals, size: 10 ** this.ring.sizeDecimals } },
      history: 0,
    };
  }

  /**
   * Assembles the windows ending at `rows` (at most the batch's B) in the SnapshotBatch and returns
   * its `book` tensor, [rows.length, T, L, 4] (a view: valid until the next call).
   */
  raw(rows: ArrayLike<number>): Float32Array {
    const b = this.batch.clear();
    if (rows.length > b.B) throw new RangeError(`${rows.length} windows do not fit a batch of ${b.B}`);
    for (let j = 0; j < rows.length; j++) {
      const i = rows[j]!;
      if (i < this.T - 1) throw new RangeError(`row ${i} has no full window of ${this.T} rows`);
      b.add(this.ring, i);
    }
    return b.book.subarray(0, rows.length * this.size);
  }

  /** Raw windows for any number of rows, packed [rows.length, T, L, 4]. */
  gatherRaw(rows: ArrayLike<number>, out?: Float32Array): Float32Array {
    const size = this.size;
    const buf = out ?? new Float32Array(rows.length * size);
    const B = this.batch.B;
    for (let s = 0; s < rows.length; s += B) {
      const part = Array.prototype.slice.call(rows, s, Math.min(rows.length, s + B)) as number[];
      buf.set(this.raw(part), s * size);
    }
    return buf;
  }

  /**
   * Per-channel statistics over the train split's windows (`sample` of them, evenly spaced, every
   * value of each: the price channels depend on each window's reference, so they are fitted on
   * windows, not rows): sizes signed-log, then z-score; clip, NaN -> 0 as the feature models.
   */
  fitNormalization(sample = 2048, clip = 5): Normalization {
    const rows = spreadRows(this.splits.train.rows, sample);
    const raw = this.gatherRaw(rows);
    const slog = BOOK_CHANNELS.map((c) => c.endsWith('_sz'));
    const s = new Float64Array(C), s2 = new Float64Array(C), n = new Float64Array(C);
    for (let k = 0; k < raw.length; k++) {
      const c = k % C;
      let v = raw[k]!;
      if (slog[c]) v = v < 0 ? -Math.log1p(-v) : Math.log1p(v);
      s[c] += v;
      s2[c] += v * v;
      n[c]++;
    }
    const columns = BOOK_CHANNELS.map((name, c) => {
      const mean = n[c] ? s[c]! / n[c]! : 0;
      const std = n[c]! > 1 ? Math.sqrt(Math.max(0, (s2[c]! - n[c]! * mean * mean) / (n[c]! - 1))) : 0;
      return { name, transform: slog[c] ? ('slog1p' as const) : ('none' as const), mean, std: std > 1e-12 ? std : 1 };
    });
    const r0 = this.splits.train.from, r1 = this.splits.train.to;
    return {
      method: 'zscore',
      fittedOn: `${this.ds.data.source} ${this.ring.symbol} rows ${r0}..${r1 - 1} (train split): ${rows.length} SnapshotBatch windows of ${this.T} rows x ${this.L} levels, per channel`,
      columns,
      clip,
      nanValue: 0,
    };
  }

  /** Sets the normalisation gatherZ applies (fitted by fitNormalization, or a model's manifest's). */
  useNormalization(n: Normalization | null): void {
    this.normalization = n;
    this.transform = new InputTransform(levelsManifest(this.T, this.bookInput(), n));
  }

  /** Normalised windows for sample rows, packed [rows.length, T, L * 4] (TrainingWindows). */
  gatherZ(rows: ArrayLike<number>, out?: Float32Array): Float32Array {
    const t = this.transform;
    if (!t) throw new Error('LevelsWindows: call useNormalization first');
    const size = this.size;
    const buf = out ?? new Float32Array(rows.length * size);
    const B = this.batch.B;
    for (let s = 0; s < rows.length; s += B) {
      const part = Array.prototype.slice.call(rows, s, Math.min(rows.length, s + B)) as number[];
      const raw = this.raw(part);
      for (let j = 0; j < part.length; j++) t.write(raw.subarray(j * size, (j + 1) * size), buf, (s + j) * size);
    }
    return buf;
  }

  labelsOf(rows: ArrayLike<number>): Int32Array {
    return this.ds.labelsOf(rows);
  }

  classCounts(rows: ArrayLike<number>, C = 3): number[] {
    return this.ds.classCounts(rows, C);
  }

  /**
   * The windows as a tf.data pipeline: each element { xs: [B, T, L, 4] raw book windows (the
   * SnapshotBatch's tensor), ys: [B] class indices }, batches of the SnapshotBatch's B in `rows`
   * order (the last one shorter). A CUDA box trains from these with tfjs-node-gpu.
   */
  tfDataset(tf: Tf, rows: ArrayLike<number>): import('@tensorflow/tfjs').data.Dataset<{ xs: Tensor4D; ys: import('@tensorflow/tfjs').Tensor1D }> {
    const B = this.batch.B;
    const self = this;
    const all = Array.from(rows);
    return tf.data.generator(function* () {
      for (let s = 0; s < all.length; s += B) {
        const part = all.slice(s, s + B);
        const raw = self.raw(part);
        // tf.tensor copies: the batch's buffer is reused for the next element.
        yield { xs: tf.tensor4d(raw, [part.length, self.T, self.L, C]), ys: tf.tensor1d(self.labelsOf(part), 'int32') };
      }
    });
  }
}

/** Evenly spaced rows of a split (chronology kept). */
export function spreadRows(rows: Int32Array, max: number): Int32Array {
  if (rows.length <= max) return rows;
  const step = rows.length / max;
  return Int32Array.from({ length: max }, (_, i) => rows[Math.floor(i * step)]!);
}
