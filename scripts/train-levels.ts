/**
 * Trains and ships the raw-levels model (src/training/levels): a transformer over SnapshotBatch
 * windows [N, T, L, 4] of book levels, on the labels and splits goog-transformer trains on.
 *
 *   npx tsx scripts/train-levels.ts [--data SPEC] [--name NAME] [--models DIR] [--levels L]
 *       [--window T] [--epochs N] [--samples-per-epoch N] [--val-samples N] [--seed N]
 *
 * Defaults: the GOOG LOBSTER day, models/goog-levels-transformer, 10 levels, 100 rows, at most 8 epochs
 * of 8,192 windows (patience 3): a few minutes on tfjs-wasm on a shared 2-core machine (kept small on purpose).
 */
import { parseArgs } from 'node:util';
import { GOOG } from '../src/sources/samples.ts';
import { DEFAULT_LEVELS_TRAIN, trainLevels } from '../src/training/levels/train.ts';

const { values } = parseArgs({
  options: {
    data: { type: 'string', default: GOOG },
    name: { type: 'string', default: 'goog-levels-transformer' },
    models: { type: 'string', default: 'models' },
    levels: { type: 'string', default: String(DEFAULT_LEVELS_TRAIN.levels) },
    window: { type: 'string', default: String(DEFAULT_LEVELS_TRAIN.window) },
    epochs: { type: 'string', default: String(DEFAULT_LEVELS_TRAIN.train.epochs) },
    'samples-per-epoch': { type: 'string', default: String(DEFAULT_LEVELS_TRAIN.train.samplesPerEpoch) },
    'val-samples': { type: 'string', default: String(DEFAULT_LEVELS_TRAIN.train.valSamples) },
    seed: { type: 'string', default: String(DEFAULT_LEVELS_TRAIN.train.seed) },
  },
  strict: true,
});
const int = (k: keyof typeof values): number => {
  const v = Number(values[k]);
  if (!Number.isInteger(v) || v < 1) throw new Error(`--${k} must be a positive integer, got ${values[k]}`);
  return v;
};
const command = ['npx tsx scripts/train-levels.ts', ...process.argv.slice(2)].join(' ');
const r = await trainLevels({
  ...DEFAULT_LEVELS_TRAIN,
  data: values.data!,
  name: values.name!,
  modelsDir: values.models!,
  levels: int('levels'),
  window: int('window'),
  train: { ...DEFAULT_LEVELS_TRAIN.train, epochs: int('epochs'), samplesPerEpoch: int('samples-per-epoch'), valSamples: int('val-samples'), seed: int('seed') },
  command,
  onLog: (l) => process.stderr.write(`${l}\n`),
});
process.stdout.write(`${JSON.stringify({ dir: r.dir, parity: r.parity, metrics: r.metrics })}\n`);
