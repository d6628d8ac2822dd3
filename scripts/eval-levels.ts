/**
 * The raw-levels model beside the feature models on the GOOG test split (src/training/levels/evaluate.ts),
 * written as its section of models/EVALUATION.md:
 *
 *   npx tsx scripts/eval-levels.ts [--model models/goog-levels-transformer] [--against models/goog-transformer,models/goog-gbdt]
 *       [--data SPEC] [--report models/EVALUATION.md] [--replicates 300]
 */
import { parseArgs } from 'node:util';
import { GOOG } from '../src/sources/samples.ts';
import { DEFAULT_EVALUATE } from '../src/training/evaluate/evaluate.ts';
import { evaluateLevels, levelsSection, writeSection } from '../src/training/levels/evaluate.ts';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'models/goog-levels-transformer' },
    against: { type: 'string', default: 'models/goog-transformer,models/goog-gbdt' },
    data: { type: 'string', default: GOOG },
    report: { type: 'string', default: 'models/EVALUATION.md' },
    replicates: { type: 'string', default: String(DEFAULT_EVALUATE.replicates) },
  },
  strict: true,
});
const o = {
  levelsModel: values.model!,
  featureModels: values.against!.split(',').filter(Boolean),
  data: values.data!,
  block: DEFAULT_EVALUATE.block,
  replicates: Number(values.replicates),
  level: DEFAULT_EVALUATE.level,
  seed: DEFAULT_EVALUATE.seed,
  onLog: (l: string) => process.stderr.write(`${l}\n`),
};
const r = await evaluateLevels(o);
const section = levelsSection(r, o, ['npx tsx scripts/eval-levels.ts', ...process.argv.slice(2)].join(' '));
writeSection(values.report!, section);
process.stdout.write(section);
