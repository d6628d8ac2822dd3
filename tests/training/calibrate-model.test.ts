/**
 * `flowcast models calibrate` (issue 17 item 6): on a copy of the shipped goog-gbdt, the stored T is
 * the minimum-NLL temperature of its graph's probabilities on its own validation split (fitted here
 * again from the rows the manifest names), TreeSHAP's check takes the served T into account
 * (softmax of the attributions / T = the served probabilities), the manifest keeps every other field, the replaced and
 * the new version are kept, a server-style load serves it, a second fit replaces rather than
 * compounds it, --clear restores the first version's content, and data that is not the model's
 * training data is refused with the reason.
 */
import { cpSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AMZN, GOOG, scratchDir } from '../helpers.ts';
import { calibrateModel } from '../../src/training/calibrate-model.ts';
import { fitTemperature } from '../../src/training/calibration.ts';
import { loadFeatures } from '../../src/training/features-file.ts';
import { buildDataset } from '../../src/training/dataset.ts';
import { loadServed, predictRows } from '../../src/training/evaluate/evaluate.ts';
import { shapForServed } from '../../src/training/importance-eval.ts';
import { listVersions, contentHash, readModelFiles } from '../../src/inference/versions.ts';
import type { ModelManifest } from '../../src/inference/manifest.ts';

const root = scratchDir('calibrate');
const dir = join(root, 'goog-gbdt');
cpSync('models/goog-gbdt', dir, { recursive: true });
const manifest = (): ModelManifest => JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as ModelManifest;

describe('flowcast models calibrate', () => {
  it('stores the validation split\'s temperature as a kept version, served; refits replace it; --clear undoes it', async () => {
    const original = manifest();
    const originalHash = contentHash(readModelFiles(dir));
    const V = original.input.features!.vpinBucket!['GOOG']!;
    const val = (original.training as { inputs: { splits: { val: { rows: [number, number] } } } }).inputs.splits.val.rows;

    const r = await calibrateModel({ dir, command: 'test' });
    expect(r.written).toBe(true);
    const t = manifest().output.temperature!;
    // The same fit, from the rows the manifest calls its validation split, with its V.
    const data = await loadFeatures(GOOG, { horizons: [50], alpha: 0.00002, vpinBucket: { GOOG: V }, symbols: ['GOOG'] });
    const ds = buildDataset(data, { columns: original.input.columns, window: 1, horizon: 50, alpha: 0.00002, split: { train: 0.7, val: 0.15 }, symbol: 'GOOG', normalization: null });
    expect([ds.splits.val.from, ds.splits.val.to]).toEqual(val);
    const m0 = await loadServed(dir);
    let p: Float32Array;
    try {
      expect(m0.temperature).toBe(t.T);
      p = await predictRows(m0, ds, ds.splits.val.rows, 512, { raw: true });
      // TreeSHAP's check divides the margins by the served T: softmax(m / T) = the served probabilities.
      const rows = ds.splits.test.rows.subarray(0, 300);
      const sh = shapForServed(m0, ds, rows, await predictRows(m0, ds, rows), ds, ds.splits.train.rows.subarray(0, 20_000), 'test', 300)!;
      expect(sh.maxProbDiff).toBeLessThan(1e-6);
      const unscaled = shapForServed(m0, ds, rows, await predictRows(m0, ds, rows, 512, { raw: true }), ds, ds.splits.train.rows.subarray(0, 20_000), 'test', 300)!;
      expect(unscaled.maxProbDiff).toBeGreaterThan(1e-3);
    } finally {
      await m0.retire();
    }
    const fit = fitTemperature(ds.labelsOf(ds.splits.val.rows), p, ds.splits.val.rows.length, 3);
    expect(t).toMatchObject({ T: fit.T, samples: ds.splits.val.rows.length, nllBefore: fit.nllBefore, nllAfter: fit.nllAfter, command: 'test' });
    expect(t.nllAfter).toBeLessThan(t.nllBefore!);
    expect(t.fittedOn).toContain(`GOOG rows ${val[0]}..${val[1] - 1}`);
    // Nothing else in the manifest changed.
    const { temperature: _, ...out } = manifest().output;
    expect({ ...manifest(), output: out }).toEqual(original);
    const kept = listVersions(root, 'goog-gbdt');
    expect(kept.map((v) => [v.id, v.record?.source])).toEqual([['v1', 'replaced'], ['v2', 'install']]);
    expect(kept[0]!.record!.hash).toBe(originalHash);

    // A second fit is on the graph's probabilities again: the same T, not T squared.
    await calibrateModel({ dir, command: 'test' });
    expect(manifest().output.temperature!.T).toBe(t.T);

    const cleared = await calibrateModel({ dir, clear: true, command: 'test' });
    expect(cleared.before?.T).toBe(t.T);
    expect(cleared.installed!.id).toBe('v1');
    expect(contentHash(readModelFiles(dir))).toBe(originalHash);
  }, 180_000);

  it('refuses data that is not the model\'s training data, and a dry run writes nothing', async () => {
    const before = contentHash(readModelFiles(dir));
    await expect(calibrateModel({ dir, data: AMZN, command: 'test' })).rejects.toThrow(`${AMZN} holds no GOOG rows (symbols: AMZN): not goog-gbdt's training data; a temperature is fitted on the model's own validation split only`);
    const dry = await calibrateModel({ dir, dryRun: true, command: 'test' });
    expect(dry.written).toBe(false);
    expect(dry.after!.T).toBeGreaterThan(0);
    expect(contentHash(readModelFiles(dir))).toBe(before);
  }, 180_000);
});
