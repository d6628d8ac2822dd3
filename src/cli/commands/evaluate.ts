import { readFileSync, writeFileSync } from 'node:fs';
import type { Command } from '../command.ts';
import { UsageError } from '../command.ts';
import { numberFlag, parseFlags } from '../args.ts';
import { outputFile } from '../output.ts';

const usage = `flowcast evaluate MODEL [MODEL ...] --data FEATURES [--data FEATURES ...] [flags]

Scores models exactly as served (manifest normalisation, ONNX Runtime) on labelled feature data and
reports macro-F1, per-class precision and recall, one-vs-rest ROC AUC and confusion matrices next
to baselines fitted on the model's training rows: the majority class, a logistic regression on the
OFI columns, and a logistic regression and gradient-boosted trees on the models' own inputs. Intervals come from a circular block bootstrap (samples overlap in time);
differences against the baselines are paired.

Data is compared with each model's training data by content, never by how its path is written:
the input files' sha256 (for a features file, also the source files it records), the symbol and the
time span of the training rows, all kept in the manifest at training. On the training data itself
only the model's chronological test split is scored; on other data every row is scored except those
inside a model's training span (a features file of the same day, a copy of the files), which are
left out and counted in the report. Source specs are computed with each model's own feature
parameters (levels, VPIN bucket per symbol, bars); a features file computed otherwise is noted.

  MODEL                a model directory (models/goog-transformer) or a name under --models
  --data FILE|SPEC     features (.csv, .csv.gz, .parquet from \`flowcast features\`), a source spec, or a
                       dataset directory (\`flowcast dataset build\`); repeat for several data sets
  --where COND         the rows of the dataset directories among --data, a SQL condition DuckDB
                       evaluates (partition keys venue, symbol, date), e.g. "symbol='AMZN'". A model
                       trained with --where has its baselines fitted on the same filtered rows
  --train-data F|SPEC  training data for the baselines (default: the manifest's training.data)
  --models DIR         where model names are looked up (default models)
  --report FILE.md     write the markdown report there and an HTML page with SVG charts next to it
                       (FILE.html); default: print the markdown only
  --baselines LIST     same-input baselines to fit beside the models, on the latest row of their
                       input columns: logreg, gbdt (XGBoost/LightGBM where installed), or none
                       (default logreg,gbdt); the majority class and the OFI regression always run
  --include-training-rows  score the overlapping rows too; the report flags the metrics as
                       including training rows (not a held-out evaluation)
  --calibration-bins B reliability and ECE bins (default 10); 0 leaves the calibration section out
                       (Brier with paired intervals against the training class frequencies, ECE,
                       reliability diagrams, temperature fitted on each model's validation split)
  --importance WHERE   permutation importance (and TreeSHAP for tree models) on the data sets that
                       are the models' test split (test, default), on every data set (all), or none
  --importance-repeats R  shuffles per column (default 5)
  --shap-rows N        rows TreeSHAP explains per data set, evenly spaced (default 5000)
  --block N            bootstrap block length in samples (default 500)
  --replicates B       bootstrap replicates (default 300)
  --level L            interval level (default 0.95)

Example:
  flowcast evaluate goog-transformer goog-gbdt --data goog.csv --data amzn.csv --report models/EVALUATION.md
`;

function baselinesFlag(v: string | undefined): { logreg: boolean; gbdt: boolean } {
  if (v === undefined) return { logreg: true, gbdt: true };
  const list = v.split(',').map((x) => x.trim()).filter(Boolean);
  const bad = list.filter((x) => !['logreg', 'gbdt', 'none'].includes(x));
  if (bad.length || (list.includes('none') && list.length > 1)) throw new UsageError(`--baselines: expected logreg, gbdt (comma-separated) or none, got "${v}"`);
  return { logreg: list.includes('logreg'), gbdt: list.includes('gbdt') };
}

const command: Command = {
  name: 'evaluate',
  summary: 'evaluate models against baselines (macro-F1, precision/recall, ROC AUC, confusion) with block-bootstrap CIs',
  usage,
  async run(argv) {
    const { values, positionals } = parseFlags(argv, {
      data: { type: 'string', multiple: true }, 'train-data': { type: 'string' }, models: { type: 'string' },
      report: { type: 'string' }, 'include-training-rows': { type: 'boolean' }, baselines: { type: 'string' }, block: { type: 'string' }, replicates: { type: 'string' }, level: { type: 'string' },
      'calibration-bins': { type: 'string' }, importance: { type: 'string' }, 'importance-repeats': { type: 'string' }, 'shap-rows': { type: 'string' },
      where: { type: 'string' },
    }, true);
    const importanceOn = values.importance ?? 'test';
    if (importanceOn !== 'test' && importanceOn !== 'all' && importanceOn !== 'none') throw new UsageError(`--importance: expected test, all or none, got "${importanceOn}"`);
    const bins = numberFlag(values['calibration-bins'], 'calibration-bins', 10, { min: 0, integer: true });
    if (positionals.length === 0) throw new UsageError('name at least one MODEL');
    if (!values.data?.length) throw new UsageError('--data is required');
    if (values.report && !values.report.endsWith('.md')) throw new UsageError(`--report must end in .md, got "${values.report}"`);
    const { existsSync } = await import('node:fs');
    const { join } = await import('node:path');
    const dirs = positionals.map((m) => (existsSync(join(m, 'manifest.json')) ? m : join(values.models ?? 'models', m)));
    for (const d of dirs) if (!existsSync(d)) throw new UsageError(`no model directory ${d}`);
    const { evaluate, DEFAULT_EVALUATE, filteredSource } = await import('../../training/evaluate/evaluate.ts');
    let data = values.data;
    if (values.where !== undefined) {
      const { isDatasetDir } = await import('../../dataset/reader.ts');
      if (!data.some(isDatasetDir)) throw new UsageError('--where needs a dataset directory (flowcast dataset build) among --data');
      const where = values.where;
      data = data.map((d) => (isDatasetDir(d) ? filteredSource(d, where) : d));
    }
    const { reportMarkdown, reportHtml, keepMarkedSections } = await import('../../training/evaluate/report.ts');
    const level = numberFlag(values.level, 'level', DEFAULT_EVALUATE.level, { min: 0 });
    if (!(level > 0 && level < 1)) throw new UsageError(`--level must be in (0, 1), got ${level}`);
    // Refused now rather than after the evaluation; written whole or not at all.
    const reportOut = values.report ? outputFile('report', values.report) : undefined;
    const htmlOut = values.report ? outputFile('report', values.report.replace(/\.md$/, '.html')) : undefined;
    const t0 = performance.now();
    const r = await evaluate({
      models: dirs,
      data,
      trainData: values['train-data'],
      block: numberFlag(values.block, 'block', DEFAULT_EVALUATE.block, { min: 1, integer: true }),
      replicates: numberFlag(values.replicates, 'replicates', DEFAULT_EVALUATE.replicates, { min: 10, integer: true }),
      level,
      seed: DEFAULT_EVALUATE.seed,
      includeTrainingRows: values['include-training-rows'] === true,
      sameInputBaselines: baselinesFlag(values.baselines),
      calibration: bins > 0 ? { bins } : false,
      importance: { on: importanceOn, repeats: numberFlag(values['importance-repeats'], 'importance-repeats', 5, { min: 1, integer: true }), shapRows: numberFlag(values['shap-rows'], 'shap-rows', 5000, { min: 1, integer: true }) },
      onLog: (l) => process.stderr.write(l + '\n'),
    });
    let md = reportMarkdown(r, `flowcast evaluate ${argv.join(' ')}`);
    // Sections other scripts keep in the report file between their markers survive the rewrite.
    if (reportOut && existsSync(reportOut.path)) md = keepMarkedSections(readFileSync(reportOut.path, 'utf8'), md);
    if (reportOut && htmlOut) {
      try {
        writeFileSync(reportOut.tmp, md);
        writeFileSync(htmlOut.tmp, reportHtml(r, md));
      } catch (e) {
        reportOut.discard();
        htmlOut.discard();
        throw e;
      }
      reportOut.commit();
      htmlOut.commit();
      process.stderr.write(`evaluate: wrote ${reportOut.path} and ${htmlOut.path} in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
    }
    process.stdout.write(md + '\n');
    return 0;
  },
};
export default command;
