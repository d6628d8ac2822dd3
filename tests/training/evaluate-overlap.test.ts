/**
 * Issue 17, item 1: `evaluate` recognises a model's training data by content (input checksums,
 * symbol, time span in the manifest), never by how the data's path is spelled. The audit's case:
 * the shipped goog-gbdt evaluated on its own GOOG day written `lobster:./data/...`, with absolute
 * paths, and as `flowcast features` Parquet and CSV files of that day. Before, every one of them
 * was scored whole (147,866 samples, training rows included, no warning); now each scores the
 * model's held-out rows only and the report says why.
 */
import { join, resolve } from 'node:path';
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { flowcast } from '../cli/run-cli.ts';
import { GOOG, GOOG_MSG, GOOG_OB, tempDir } from '../helpers.ts';
import { evaluate } from '../../src/training/evaluate/evaluate.ts';
import { reportMarkdown } from '../../src/training/evaluate/report.ts';
import { trainingOverlap, type DataInputs, type TrainingInputs } from '../../src/training/provenance.ts';

const t = tempDir('eval-overlap');
afterAll(() => t.cleanup());

const TEST_SAMPLES = 22138; // models/goog-gbdt/manifest.json: metrics.test.samples

describe('evaluate compares data with the training data by content', () => {
  it('scores only the held-out rows of goog-gbdt\'s GOOG day, however the data is written', async () => {
    const pq = join(t.dir, 'goog.parquet');
    const csv = join(t.dir, 'goog.csv');
    for (const out of [pq, csv]) {
      const r = await flowcast(['features', '--source', GOOG, '--out', out, '--horizons', '50', '--quiet']);
      expect(r.code, r.stderr).toBe(0);
    }
    const dotted = `lobster:./${GOOG_MSG},./${GOOG_OB}`;
    const absolute = `lobster:${resolve(GOOG_MSG)},${resolve(GOOG_OB)}`;
    const r = await evaluate({ models: ['models/goog-gbdt'], data: [GOOG, dotted, absolute, pq, csv], block: 500, replicates: 10, level: 0.95, seed: 7, sameInputBaselines: { logreg: false, gbdt: false } });
    expect(r.sets.map((s) => s.data)).toEqual([GOOG, dotted, absolute, pq, csv]);
    const [canonical, ...others] = r.sets;
    for (const s of [canonical!, ...others.slice(0, 3)]) {
      // The same files (or a Parquet recording them): the model's own test split, to the row.
      expect(s.samples, s.data).toBe(TEST_SAMPLES);
      expect(s.overlap[0]).toMatchObject({ model: 'goog-gbdt', match: 'content', rows: 125728 });
    }
    // The spellings of the source are computed with the model's V: the same scores. The Parquet was
    // computed with V auto over the whole day (1,400, not the model's 760): the same rows, another vpin.
    for (const s of others.slice(0, 2)) expect(s.systems[0]!.metrics.macroF1).toBe(canonical!.systems[0]!.metrics.macroF1);
    // The CSV records nothing of its inputs: its rows are matched by symbol and exchange time.
    const c = others[3]!;
    expect(c.overlap[0]!.match).toBe('time');
    expect(c.overlap[0]!.rows).toBeGreaterThanOrEqual(125728);
    expect(c.samples).toBeLessThanOrEqual(TEST_SAMPLES);
    expect(c.samples).toBeGreaterThan(TEST_SAMPLES - 50);
    const md = reportMarkdown(r);
    expect(md).toMatch(/Training data of \*\*goog-gbdt\*\* \(matched by content\): the same input files .*125728 rows left out\./);
    expect(md).toMatch(/Training data of \*\*goog-gbdt\*\* \(matched by symbol and time\): \d+ GOOG rows inside its training span 2012-06-21 13:30:00\.015\d* UTC/);
    // The Parquet records V as "auto", not its value: the report says the model's vpin may differ.
    expect(r.notes.join('\n')).toContain(`${pq} GOOG: computed with GOOG VPIN bucket not recorded, goog-gbdt was trained with 760`);
  }, 480_000);

  it('--include-training-rows scores them and the report flags it', async () => {
    const out = join(t.dir, 'EVAL.md');
    const dotted = `lobster:./${GOOG_MSG},./${GOOG_OB}`;
    const r = await flowcast(['evaluate', 'goog-gbdt', '--data', dotted, '--include-training-rows', '--baselines', 'none', '--replicates', '10', '--report', out]);
    expect(r.code, r.stderr).toBe(0);
    const md = readFileSync(out, 'utf8');
    expect(md).toMatch(/ALL rows \(147916\), INCLUDING 125728 rows of the models' training data \(--include-training-rows\): not a held-out evaluation; 147866 samples/);
    expect(md).toMatch(/scored anyway \(--include-training-rows\): these metrics include training rows/);
  }, 300_000);
});

describe('trainingOverlap', () => {
  const ns = (x: number) => String(1_000_000_000_000n + BigInt(x));
  const train: TrainingInputs = {
    data: { kind: 'source', spec: 'lobster:a,b', files: [{ path: 'a', bytes: 1, sha256: 'aa' }, { path: 'b', bytes: 1, sha256: 'bb' }] },
    symbol: 'X',
    rows: 10,
    splits: { train: { rows: [0, 6], ns: [ns(100), ns(600)] }, val: { rows: [6, 8], ns: [ns(700), ns(800)] }, test: { rows: [8, 10], ns: [ns(900), ns(1000)] } },
    seen: { rows: [0, 8], ns: [ns(100), ns(800)] },
  };
  const data = { startNs: 1_000_000_000_000n, source: 'x' };
  const other: DataInputs = { kind: 'features', spec: 'x.csv', files: [{ path: 'x.csv', bytes: 1, sha256: 'cc' }] };

  it('matches rows by symbol and time span, and leaves out the horizon rows labelled from inside it', () => {
    // A capture starting earlier: rows at 0, 50, ..., 1150; the span [100, 800] holds rows 2..16.
    const ts = Float64Array.from({ length: 24 }, (_, i) => i * 50);
    const o = trainingOverlap(train, other, data, 'X', ts, 1);
    expect(o.match).toBe('time');
    expect(Array.from(o.mask).flatMap((v, i) => (v ? [i] : []))).toEqual([1, ...Array.from({ length: 15 }, (_, k) => k + 2)]);
    expect(o.count).toBe(16);
    expect(trainingOverlap(train, other, data, 'Y', ts, 1)).toMatchObject({ match: 'none', count: 0 });
    const after = Float64Array.from({ length: 5 }, (_, i) => 850 + i * 10);
    expect(trainingOverlap(train, other, data, 'X', after, 3)).toMatchObject({ match: 'none', count: 0 });
  });

  it('takes the same files with the same rows as the training data itself (its own split), and other rows of them by time', () => {
    const same: DataInputs = { kind: 'source', spec: 'lobster:/abs/a,/abs/b', files: [{ path: '/abs/a', bytes: 1, sha256: 'aa' }, { path: '/abs/b', bytes: 1, sha256: 'bb' }] };
    const ts = Float64Array.from([100, 200, 300, 400, 500, 600, 700, 800, 800, 1000]);
    const o = trainingOverlap(train, same, data, 'X', ts, 2);
    expect(o.match).toBe('content');
    expect(Array.from(o.mask)).toEqual([1, 1, 1, 1, 1, 1, 1, 1, 0, 0]);
    // Fewer rows (another build of the same files): by time, so the row at 800 after the split is left out too.
    const o2 = trainingOverlap(train, same, data, 'X', ts.subarray(0, 9), 2);
    expect(o2.match).toBe('time');
    expect(o2.count).toBe(9);
  });
});
