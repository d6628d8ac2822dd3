/**
 * The raw-levels model beside the feature models, on the same test rows, with the evaluation
 * tools of src/training/evaluate (computeMetrics, the circular block bootstrap, paired intervals).
 * `flowcast evaluate` feeds models feature windows only, so it cannot score an NTLC model; this
 * scores every model as served (ServedModel.load, ONNX Runtime): the feature models on their
 * feature windows (predictRows), the raw-levels model on SnapshotBatch windows of the same rows.
 * The result is a Markdown section kept in models/EVALUATION.md between two markers.
 */
import { basename, resolve } from 'node:path';
import { readFileSync, writeFileSync } from 'node:fs';
import { loadServed, predictRows } from '../evaluate/evaluate.ts';
import { AucOrder, argmax, computeMetrics, sampleLoss, type Metrics } from '../evaluate/metrics.ts';
import { blockBootstrap, type Interval } from '../evaluate/bootstrap.ts';
import { loadFeatures } from '../features-file.ts';
import { buildDataset, DEFAULT_LABEL, type SplitFractions } from '../dataset.ts';
import { CLASS_NAMES } from '../labels.ts';
import type { ServedModel } from '../../inference/model.ts';
import { alignRows, LevelsWindows, readBookRings } from './windows.ts';

export const SECTION_BEGIN = '<!-- raw-levels evaluation: begin (scripts/eval-levels.ts writes this section) -->';
export const SECTION_END = '<!-- raw-levels evaluation: end -->';

export interface LevelsEvalOptions {
  levelsModel: string;
  featureModels: string[];
  data: string;
  block: number;
  replicates: number;
  level: number;
  seed: number;
  onLog?: (line: string) => void;
}

interface System { name: string; p: ArrayLike<number>; metrics: Metrics; ci: { macroF1: Interval; accuracy: Interval; macroAuc: Interval } }

export interface LevelsEvalResult {
  data: string;
  symbol: string;
  rows: [number, number];
  samples: number;
  classCounts: number[];
  systems: System[];
  /** Raw-levels model minus each other system, paired. */
  diffs: { vs: string; macroF1: Interval; macroAuc: Interval }[];
  notes: string[];
}

/** Probabilities of an NTLC model for sample rows: SnapshotBatch windows, as served. */
export async function predictLevels(m: ServedModel, w: LevelsWindows, rows: Int32Array): Promise<Float32Array> {
  const C = m.manifest.output.classes.length;
  const size = m.transform.size;
  if (size !== w.size) throw new Error(`${m.name}: takes ${size} values per window, the windows have ${w.size}`);
  const out = new Float32Array(rows.length * C);
  const B = w.batch.B;
  const buf = new Float32Array(B * size);
  for (let s = 0; s < rows.length; s += B) {
    const part = Array.from(rows.subarray(s, Math.min(rows.length, s + B)));
    const raw = w.raw(part);
    for (let j = 0; j < part.length; j++) m.transform.write(raw.subarray(j * size, (j + 1) * size), buf, j * size);
    out.set(await m.run(buf.subarray(0, part.length * size), part.length), s * C);
  }
  return out;
}

export async function evaluateLevels(o: LevelsEvalOptions): Promise<LevelsEvalResult> {
  const log = o.onLog ?? (() => undefined);
  const lv = await loadServed(o.levelsModel);
  const feats = await Promise.all(o.featureModels.map((d) => loadServed(d)));
  try {
    const lm = lv.manifest;
    if (lm.input.layout !== 'NTLC') throw new Error(`${o.levelsModel}: input.layout is ${lm.input.layout}, not NTLC (raw levels)`);
    const tr = (lm.training ?? {}) as { symbol?: string; split?: SplitFractions };
    const symbol = tr.symbol ?? Object.keys(lm.input.book!.scales)[0]!;
    const split = tr.split ?? { train: 0.7, val: 0.15 };
    const horizon = lm.output.horizon ?? DEFAULT_LABEL.horizon;
    const alpha = lm.output.alpha ?? DEFAULT_LABEL.alpha;
    const notes: string[] = [];
    const t = (lm.training ?? {}) as { history?: unknown[]; bestEpoch?: number; seconds?: number; library?: string; optimizer?: { samplesPerEpoch?: number; seed?: number } };
    if (t.history) notes.push(`Training: ${t.history.length} epochs of ${t.optimizer?.samplesPerEpoch ?? '?'} windows (early stop; parameters of epoch ${t.bestEpoch ?? '?'}, the lowest validation loss), ${t.seconds ?? '?'} s on ${t.library ?? '?'} on a shared 2-core machine; one seed (${t.optimizer?.seed ?? '?'}): transformer runs here vary by about ±0.02 macro-F1 with the seed.`);
    // The feature models are scored on features computed with their own parameters (all the same here: checked).
    const params = feats.map((f) => JSON.stringify(f.manifest.input.features ?? null));
    if (new Set(params).size > 1) throw new Error(`the feature models were trained with different feature parameters (${params.join(' / ')}); evaluate them separately`);
    const p = feats[0]?.manifest.input.features;
    const data = await loadFeatures(o.data, {
      horizons: [horizon], alpha, symbols: [symbol],
      ...(p ? { levels: p.levels, vpinBuckets: p.vpinBuckets, barMs: p.barMs, barWindow: p.barWindow, vpinBucket: p.vpinBucket?.[symbol] ?? 'auto' } : {}),
    });
    const ref = buildDataset(data, { columns: ['mid'], window: lm.input.window, horizon, alpha, split, symbol });
    const rows = ref.splits.test.rows;
    const y = ref.labelsOf(rows);
    const n = rows.length;
    log(`${symbol}: ${n} test samples (rows ${ref.splits.test.from}..${ref.splits.test.to - 1})`);
    const ring = (await readBookRings(o.data, { levels: lm.input.book!.levels, symbols: [symbol] })).get(symbol)!;
    alignRows(ring, ref);
    const sc = lm.input.book!.scales[symbol];
    if (sc && (sc.price !== 10 ** ring.priceDecimals || sc.size !== 10 ** ring.sizeDecimals)) throw new Error(`${symbol}: the data's ticks and lots (${10 ** ring.priceDecimals}, ${10 ** ring.sizeDecimals}) are not the model's (${sc.price}, ${sc.size})`);
    const w = new LevelsWindows(ring, ref, lm.input.book!.levels);

    const probs: { name: string; p: ArrayLike<number> }[] = [];
    probs.push({ name: lv.name, p: await predictLevels(lv, w, rows) });
    for (const f of feats) {
      const ds = buildDataset(data, { columns: f.manifest.input.columns, window: f.manifest.input.window, horizon, alpha, split, symbol, normalization: f.manifest.normalization });
      const fr = ds.splits.test.rows;
      if (fr.length !== n || fr.some((r, i) => r !== rows[i])) throw new Error(`${f.name}: its test rows differ from the raw-levels model's`);
      probs.push({ name: f.name, p: await predictRows(f, ds, rows) });
    }
    const counts = ref.classCounts(ref.splits.train.rows);
    const total = counts.reduce((a, b) => a + b, 0);
    const freq = counts.map((c) => c / total);
    const maj = new Float64Array(n * 3);
    for (let i = 0; i < n; i++) maj.set(freq, i * 3);
    probs.push({ name: 'majority class', p: maj });

    const orders = probs.map((s) => new AucOrder(s.p, n, 3));
    const preds = probs.map((s) => argmax(s.p, n, 3));
    const losses = probs.map((s) => sampleLoss(y, s.p, n, 3));
    const stat = (wts: Float64Array): number[] => {
      const ms = probs.map((s, i) => computeMetrics(y, s.p, n, 3, { weights: wts, order: orders[i], pred: preds[i], loss: losses[i] }));
      const out: number[] = [];
      for (const m of ms) out.push(m.macroF1, m.accuracy, m.macroAuc);
      for (let i = 1; i < ms.length; i++) out.push(ms[0]!.macroF1 - ms[i]!.macroF1, ms[0]!.macroAuc - ms[i]!.macroAuc);
      return out;
    };
    const ci = blockBootstrap(n, stat, { block: o.block, replicates: o.replicates, level: o.level, seed: o.seed });
    const systems: System[] = probs.map((s, i) => ({
      name: s.name,
      p: s.p,
      metrics: computeMetrics(y, s.p, n, 3, { order: orders[i], pred: preds[i], loss: losses[i] }),
      ci: { macroF1: ci[i * 3]!, accuracy: ci[i * 3 + 1]!, macroAuc: ci[i * 3 + 2]! },
    }));
    const base = probs.length * 3;
    const diffs = probs.slice(1).map((s, j) => ({ vs: s.name, macroF1: ci[base + j * 2]!, macroAuc: ci[base + j * 2 + 1]! }));
    return { data: o.data, symbol, rows: [ref.splits.test.from, ref.splits.test.to - 1], samples: n, classCounts: [0, 1, 2].map((k) => y.filter((v) => v === k).length), systems, diffs, notes };
  } finally {
    await lv.retire().catch(() => undefined);
    for (const f of feats) await f.retire().catch(() => undefined);
  }
}

const f3 = (v: number) => v.toFixed(3);
const iv = (i: Interval) => `${f3(i.estimate)} [${f3(i.lo)}, ${f3(i.hi)}]`;
const sd = (v: number) => `${v >= 0 ? '+' : ''}${v.toFixed(3)}`;
const div = (i: Interval) => `${sd(i.estimate)} [${sd(i.lo)}, ${sd(i.hi)}]`;

export function levelsSection(r: LevelsEvalResult, o: LevelsEvalOptions, command: string, created = new Date().toISOString()): string {
  const lv = r.systems[0]!;
  const pct = r.classCounts.map((c) => `${((c / r.samples) * 100).toFixed(1)}%`).join(' / ');
  const lines = [
    SECTION_BEGIN,
    '## Raw book levels: goog-levels-transformer (issue 14)',
    '',
    `Generated ${created} by \`${command}\` (\`flowcast evaluate\` feeds models feature windows only, so this section comes from src/training/levels/evaluate.ts with the same tools: computeMetrics, the circular block bootstrap, paired differences; \`flowcast evaluate --report\` keeps this section, between its markers, when it rewrites the file).`,
    '',
    `**${basename(resolve(o.levelsModel))}** reads the raw book, nothing computed: the last 100 rows x 10 levels x (bid px, bid size, ask px, ask size) as SnapshotBatch holds them (prices in ticks from the window's reference mid, sizes in lots; sizes signed-log, then z-score per channel, inside the ONNX graph), the goog-transformer architecture with each row's 40 values as its token row. Same labels (label_50, alpha 0.00002), same chronological splits, same test rows as the feature models, scored as served (ONNX Runtime).`,
    '',
    `${r.symbol}, test split (rows ${r.rows[0]}..${r.rows[1]}); ${r.samples} samples; class counts down/flat/up ${r.classCounts.join(' / ')} (${pct}). Intervals: 95% percentile, ${o.replicates} replicates, blocks of ${o.block} samples.`,
    '',
    '| system | input | macro-F1 | accuracy | macro ROC AUC (one-vs-rest) | log loss |',
    '|---|---|---|---|---|---|',
    ...r.systems.map((s, i) => `| ${i === 0 ? `**${s.name}**` : s.name} | ${i === 0 ? 'raw levels [100, 10, 4]' : s.name === 'majority class' ? 'train class frequencies' : 'feature columns'} | ${iv(s.ci.macroF1)} | ${iv(s.ci.accuracy)} | ${iv(s.ci.macroAuc)} | ${f3(s.metrics.logLoss)} |`),
    '',
    `Paired differences (${lv.name} minus the other system, the same resampled rows):`,
    '',
    '| vs | Δ macro-F1 | Δ macro AUC | verdict (macro-F1) |',
    '|---|---|---|---|',
    ...r.diffs.map((d) => `| ${d.vs} | ${div(d.macroF1)} | ${div(d.macroAuc)} | ${d.macroF1.lo > 0 ? 'better' : d.macroF1.hi < 0 ? 'worse' : 'not distinguishable'} |`),
    '',
    `Per class (${lv.name}):`,
    '',
    '| class | precision | recall | F1 | ROC AUC | support |',
    '|---|---|---|---|---|---|',
    ...lv.metrics.perClass.map((c, k) => `| ${CLASS_NAMES[k]} | ${f3(c.precision)} | ${f3(c.recall)} | ${f3(c.f1)} | ${f3(c.auc)} | ${c.support} |`),
    '',
    `Confusion (${lv.name}; rows: true class, columns: predicted):`,
    '',
    '| true \\ predicted | down | flat | up |',
    '|---|---|---|---|',
    ...lv.metrics.confusion.map((row, k) => `| ${CLASS_NAMES[k]} | ${row.join(' | ')} |`),
    '',
    ...r.notes,
    SECTION_END,
  ];
  return lines.join('\n') + '\n';
}

/** Puts the section into the report: replaces the previous one, or appends it. */
export function writeSection(file: string, section: string): void {
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    // a new report
  }
  const a = text.indexOf(SECTION_BEGIN), b = text.indexOf(SECTION_END);
  const next = a >= 0 && b > a ? text.slice(0, a) + section + text.slice(b + SECTION_END.length + 1) : `${text.replace(/\n*$/, '\n\n')}${section}`;
  writeFileSync(file, next);
}
