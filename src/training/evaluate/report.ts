/**
 * The evaluation report: markdown (tables with confidence intervals, confusion matrices, the
 * differences against the baselines) and a self-contained HTML page with inline SVG charts
 * (macro-F1 and AUC with intervals, ROC curves, confusion heat maps). No scripts, no CDN.
 */
import type { EvaluationResult, EvaluationSet, SystemResult } from './evaluate.ts';
import type { Interval } from './bootstrap.ts';
import { CLASS_NAMES } from '../labels.ts';
import { calibrationHtml, calibrationMarkdown } from '../calibration-report.ts';
import { importanceHtml, importanceMarkdown } from '../importance-report.ts';

const f3 = (v: number): string => (Number.isFinite(v) ? v.toFixed(3) : 'n/a');
const ci = (x: Interval): string => `${f3(x.estimate)} [${f3(x.lo)}, ${f3(x.hi)}]`;
const signed = (x: Interval): string => {
  const s = (v: number) => (Number.isFinite(v) ? (v >= 0 ? '+' : '') + v.toFixed(3) : 'n/a');
  return `${s(x.estimate)} [${s(x.lo)}, ${s(x.hi)}]`;
};

function verdict(d: Interval): string {
  if (d.lo > 0) return 'better';
  if (d.hi < 0) return 'worse';
  return 'no clear difference';
}

export function reportMarkdown(r: EvaluationResult, command?: string): string {
  const L: string[] = [];
  const pct = Math.round(r.bootstrap.level * 100);
  L.push('# Model evaluation', '');
  L.push(`Generated ${r.created}${command ? ` by \`${command}\`` : ''}.`, '');
  L.push('Models:', '');
  for (const m of r.models) {
    const mf = m.manifest;
    L.push(`- **${m.name}** (${mf.kind}, version ${mf.version}): ${mf.input.columns.length} columns x ${mf.input.window} rows -> ${mf.output.classes.join('/')} over ${mf.output.horizon ?? '?'} rows (alpha ${mf.output.alpha ?? '?'})${mf.description ? `. ${mf.description}` : ''}${mf.output.temperature ? `. Serves its stored temperature T = ${mf.output.temperature.T.toFixed(3)} (output.temperature, fitted on ${mf.output.temperature.fittedOn}): every number below is of the probabilities it serves, softmax(ln p / T)` : ''}`);
  }
  const b = r.baselineTraining;
  L.push('', `Baselines are fitted on the train split of ${b.data} (${b.symbol}, rows ${b.rows[0]}..${b.rows[1] - 1}, ${b.samples} samples, classes down/flat/up ${b.classCounts.join('/')}):`);
  L.push('the majority class (predicting the training class frequencies), a multinomial logistic regression on the OFI columns of the latest row (ofi_1..ofi_5, ofi_h10/h25/h50; signed log, z-scored on train, class-weighted), and on the models\' own inputs:', '');
  for (const x of r.sameInputBaselines ?? []) L.push(`- **${x.name}**: ${x.detail}.`);
  if (r.sameInputBaselines?.length) L.push('', 'A model that does not beat the baselines on its own inputs (interval of the difference above 0) gains nothing measurable from its architecture or its window.', '');
  L.push(`Intervals are ${pct}% percentile intervals from a circular block bootstrap (${r.bootstrap.replicates} replicates, blocks of ${r.bootstrap.block} consecutive samples, because neighbouring samples share most of their window and their label horizon). Differences are paired (the same resampled rows for both systems): an interval above 0 means the model is better on that metric with that confidence.`, '');
  for (const s of r.sets) L.push(...setMarkdown(s, r.bootstrap.level));
  if (r.notes.length) L.push('## Notes', '', ...r.notes.map((n) => `- ${n}`), '');
  return L.join('\n');
}

/** Whether the data overlaps each model's training data, by content or by symbol and time, and what was done. */
export function overlapLines(s: EvaluationSet): string[] {
  const hit = (s.overlap ?? []).filter((o) => o.match !== 'none');
  if (!hit.length) return [`Training data: no overlap with any model's (compared by input checksums, symbol and time span: ${(s.overlap ?? []).map((o) => `${o.model}: ${o.detail}`).join('; ')}).`];
  const done = s.includesTraining ? '**scored anyway (--include-training-rows): these metrics include training rows**' : 'left out';
  return hit.map((o) => `- Training data of **${o.model}** (matched by ${o.match === 'content' ? 'content' : 'symbol and time'}): ${o.detail}; ${o.rows} rows ${done}.`);
}

function setMarkdown(s: EvaluationSet, level: number): string[] {
  const L: string[] = [];
  L.push(`## ${s.symbol}: ${s.data}`, '');
  L.push(`${s.rows}; ${s.samples} samples; label horizon ${s.horizon} rows; class counts down/flat/up ${s.classCounts.join(' / ')} (${s.classCounts.map((c) => ((100 * c) / s.samples).toFixed(1) + '%').join(' / ')}).`, '');
  L.push(...overlapLines(s), '');
  L.push('| system | macro-F1 | accuracy | macro ROC AUC (one-vs-rest) | log loss |', '|---|---|---|---|---|');
  for (const x of s.systems) L.push(`| ${x.kind === 'model' ? `**${x.name}**` : x.name} | ${ci(x.ci.macroF1)} | ${ci(x.ci.accuracy)} | ${ci(x.ci.macroAuc)} | ${f3(x.metrics.logLoss)} |`);
  L.push('');
  L.push('Per class (precision and recall with intervals; AUC one-vs-rest):', '');
  L.push(`| system | class | precision | recall | F1 | ROC AUC | support |`, '|---|---|---|---|---|---|---|');
  for (const x of s.systems) {
    x.metrics.perClass.forEach((c, k) => {
      L.push(`| ${k === 0 ? x.name : ''} | ${CLASS_NAMES[k]} | ${ci(x.ci.precision[k]!)} | ${ci(x.ci.recall[k]!)} | ${f3(c.f1)} | ${f3(c.auc)} | ${c.support} |`);
    });
  }
  L.push('');
  const models = s.systems.filter((x) => x.kind === 'model');
  if (models.length) {
    L.push('Differences against the baselines (model minus baseline, paired):', '');
    L.push('| model | baseline | Δ macro-F1 | Δ macro AUC | verdict (macro-F1) |', '|---|---|---|---|---|');
    for (const m of models) for (const [b, d] of Object.entries(m.vsBaselines)) L.push(`| ${m.name} | ${b} | ${signed(d.macroF1)} | ${signed(d.macroAuc)} | ${verdict(d.macroF1)} |`);
    L.push('');
    const pairs = models.flatMap((m) => Object.entries(m.vsModels ?? {}).map(([other, d]) => [m.name, other, d] as const));
    if (pairs.length) {
      L.push('Differences between the models (first minus second, paired):', '');
      L.push('| model | other model | Δ macro-F1 | Δ macro AUC | verdict (macro-F1) |', '|---|---|---|---|---|');
      for (const [a, b, d] of pairs) L.push(`| ${a} | ${b} | ${signed(d.macroF1)} | ${signed(d.macroAuc)} | ${verdict(d.macroF1)} |`);
      L.push('');
    }
  }
  L.push('Confusion matrices (rows: true class, columns: predicted):', '');
  for (const x of s.systems) {
    L.push(`${x.name}:`, '', `| true \\ predicted | ${CLASS_NAMES.join(' | ')} |`, '|---|---|---|---|');
    x.metrics.confusion.forEach((row, k) => L.push(`| ${CLASS_NAMES[k]} | ${row.map((v) => String(Math.round(v))).join(' | ')} |`));
    L.push('');
  }
  if (s.calibration) L.push(`### Calibration: ${s.symbol}`, '', ...calibrationMarkdown(s.calibration, [...CLASS_NAMES], level));
  if (s.importance?.length) L.push(`### Feature importance: ${s.symbol}`, '', ...importanceMarkdown(s, level));
  return L;
}

/**
 * Sections other tools keep in the same file between their own markers (an HTML comment
 * `<!-- KEY: begin ... -->` or `<!-- KEY:start -->`, up to the next comment naming KEY and "end",
 * as scripts/eval-levels.ts and scripts/lib/doc-section.ts write them), taken from the file's
 * previous text and appended to the new report in their order, so that a rerun of
 * `flowcast evaluate --report` does not delete what it does not write.
 */
export function keepMarkedSections(previous: string, report: string): string {
  const kept: string[] = [];
  const comments = [...previous.matchAll(/<!--([\s\S]*?)-->/g)];
  for (let i = 0; i < comments.length; i++) {
    const text = comments[i]![1]!.trim();
    const m = /^(.+?)\s*:?\s*\b(?:begin|start)\b/i.exec(text) ?? /^(?:begin|start)\b\s*:?\s*(.+)$/i.exec(text);
    if (!m) continue;
    const key = m[1]!.trim();
    const j = comments.findIndex((c, k) => k > i && c[1]!.includes(key) && /\bend\b/i.test(c[1]!.replace(key, '')));
    if (j < 0) continue;
    const from = comments[i]!.index!, to = comments[j]!.index! + comments[j]![0].length;
    if (!report.includes(comments[i]![0])) kept.push(previous.slice(from, to));
    i = j;
  }
  return kept.length ? `${report.replace(/\n*$/, '\n\n')}${kept.join('\n\n')}\n` : report;
}

// ---------------- HTML with inline SVG ----------------

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b'];
const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function niceStep(span: number): number {
  const raw = span / 5;
  const p = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 2.5, 5, 10].map((m) => m * p).find((v) => v >= raw) ?? raw;
}

function intervalChart(title: string, systems: SystemResult[], get: (x: SystemResult) => Interval, lo: number, hi: number, ref?: number, colorOf: (x: SystemResult, i: number) => string = (_x, i) => COLORS[i % COLORS.length]!): string {
  const left = Math.max(140, 7 * Math.max(...systems.map((s) => s.name.length)) + 16);
  const W = left + 330, rowH = 26, right = 20, top = 28;
  const H = top + systems.length * rowH + 30;
  const step = niceStep(hi - lo);
  lo = Math.floor(lo / step) * step;
  hi = Math.ceil(hi / step) * step;
  const x = (v: number) => left + ((v - lo) / (hi - lo)) * (W - left - right);
  const parts: string[] = [`<svg width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="${esc(title)}">`, `<text x="${left}" y="16" font-size="13" font-weight="600">${esc(title)}</text>`];
  for (let v = lo; v <= hi + step / 2; v += step) {
    parts.push(`<line x1="${x(v)}" x2="${x(v)}" y1="${top - 4}" y2="${H - 24}" stroke="#ddd"/><text x="${x(v)}" y="${H - 8}" font-size="11" text-anchor="middle">${Math.abs(v) < step / 1e6 ? '0' : v.toFixed(step < 0.1 ? 2 : 1)}</text>`);
  }
  if (ref !== undefined) parts.push(`<line x1="${x(ref)}" x2="${x(ref)}" y1="${top - 4}" y2="${H - 24}" stroke="#888" stroke-dasharray="4 3"/>`);
  systems.forEach((s, i) => {
    const y = top + i * rowH + rowH / 2;
    const it = get(s);
    const c = colorOf(s, i);
    parts.push(`<text x="${left - 8}" y="${y + 4}" font-size="12" text-anchor="end">${esc(s.name)}</text>`);
    if (Number.isFinite(it.lo)) parts.push(`<line x1="${x(it.lo)}" x2="${x(it.hi)}" y1="${y}" y2="${y}" stroke="${c}" stroke-width="2"/><line x1="${x(it.lo)}" x2="${x(it.lo)}" y1="${y - 5}" y2="${y + 5}" stroke="${c}"/><line x1="${x(it.hi)}" x2="${x(it.hi)}" y1="${y - 5}" y2="${y + 5}" stroke="${c}"/>`);
    if (Number.isFinite(it.estimate)) parts.push(`<circle cx="${x(it.estimate)}" cy="${y}" r="4" fill="${c}"><title>${esc(`${s.name}: ${ci(it)}`)}</title></circle>`);
  });
  parts.push('</svg>');
  return parts.join('');
}

function rocChart(s: EvaluationSet, k: number): string {
  const W = 260, H = 260, pad = 34;
  const sx = (v: number) => pad + v * (W - pad - 10);
  const sy = (v: number) => H - pad - v * (H - pad - 10);
  const parts = [`<svg width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="ROC ${CLASS_NAMES[k]}">`,
    `<rect x="${sx(0)}" y="${sy(1)}" width="${sx(1) - sx(0)}" height="${sy(0) - sy(1)}" fill="none" stroke="#999"/>`,
    `<line x1="${sx(0)}" y1="${sy(0)}" x2="${sx(1)}" y2="${sy(1)}" stroke="#bbb" stroke-dasharray="4 3"/>`,
    `<text x="${W / 2}" y="14" font-size="12" text-anchor="middle" font-weight="600">ROC: ${CLASS_NAMES[k]} vs rest</text>`,
    `<text x="${W / 2}" y="${H - 6}" font-size="11" text-anchor="middle">false positive rate</text>`,
    `<text x="10" y="${H / 2}" font-size="11" text-anchor="middle" transform="rotate(-90 10 ${H / 2})">true positive rate</text>`];
  s.systems.forEach((x, i) => {
    if (x.name === 'majority class') return;
    const r = x.roc[k]!;
    const d = r.fpr.map((f, j) => `${j ? 'L' : 'M'}${sx(f).toFixed(1)},${sy(r.tpr[j]!).toFixed(1)}`).join('');
    parts.push(`<path d="${d}" fill="none" stroke="${COLORS[i % COLORS.length]}" stroke-width="1.5"><title>${esc(`${x.name}: AUC ${f3(x.metrics.perClass[k]!.auc)}`)}</title></path>`);
  });
  parts.push('</svg>');
  return parts.join('');
}

function confusionTable(x: SystemResult): string {
  const max = Math.max(...x.metrics.confusion.flat(), 1);
  const rows = x.metrics.confusion.map((row, k) => `<tr><th>${CLASS_NAMES[k]}</th>${row.map((v) => {
    const a = (0.08 + 0.8 * (v / max)).toFixed(2);
    return `<td style="background: rgba(31,119,180,${a})">${Math.round(v)}</td>`;
  }).join('')}</tr>`).join('');
  return `<table class="cm"><caption>${esc(x.name)}</caption><tr><th>true \\ pred</th>${CLASS_NAMES.map((c) => `<th>${c}</th>`).join('')}</tr>${rows}</table>`;
}

export function reportHtml(r: EvaluationResult, markdown: string): string {
  const body: string[] = [];
  for (const s of r.sets) {
    const all = s.systems;
    const minF1 = Math.min(0.1, ...all.map((x) => x.ci.macroF1.lo).filter(Number.isFinite));
    const maxF1 = Math.max(0.6, ...all.map((x) => x.ci.macroF1.hi).filter(Number.isFinite));
    const maxAuc = Math.max(0.7, ...all.map((x) => x.ci.macroAuc.hi).filter(Number.isFinite));
    body.push(`<section><h2>${esc(s.symbol)}: ${esc(s.data)}</h2><p>${esc(s.rows)}; ${s.samples} samples; classes down/flat/up ${s.classCounts.join(' / ')}.</p>`, ...overlapLines(s).map((l) => `<p>${esc(l.replace(/\*\*/g, '').replace(/^- /, ''))}</p>`));
    body.push('<div class="row">', intervalChart('macro-F1', all, (x) => x.ci.macroF1, minF1, maxF1),
      intervalChart('macro ROC AUC (0.5 = chance)', all, (x) => x.ci.macroAuc, 0.45, maxAuc, 0.5), '</div>');
    const models = all.filter((x) => x.kind === 'model');
    if (models.length) {
      const diffs: SystemResult[] = [];
      const colour = new Map<string, string>();
      for (const m of models) for (const [b, d] of Object.entries(m.vsBaselines)) {
        const name = `${m.name} − ${b}`;
        colour.set(name, COLORS[all.indexOf(m) % COLORS.length]!);
        diffs.push({ ...m, name, ci: { ...m.ci, macroF1: d.macroF1, macroAuc: d.macroAuc } });
      }
      const span = (get: (x: SystemResult) => Interval) => [Math.min(-0.02, ...diffs.map((d) => get(d).lo).filter(Number.isFinite)), Math.max(0.02, ...diffs.map((d) => get(d).hi).filter(Number.isFinite))] as const;
      const [fl, fh] = span((x) => x.ci.macroF1);
      const [al, ah] = span((x) => x.ci.macroAuc);
      body.push('<div class="row">',
        intervalChart('Δ macro-F1 against the baselines (paired)', diffs, (x) => x.ci.macroF1, fl, fh, 0, (x) => colour.get(x.name)!),
        intervalChart('Δ macro AUC against the baselines (paired)', diffs, (x) => x.ci.macroAuc, al, ah, 0, (x) => colour.get(x.name)!), '</div>');
    }
    body.push('<div class="row">', ...[0, 1, 2].map((k) => rocChart(s, k)), '</div>');
    body.push(`<p class="legend">${all.filter((x) => x.name !== 'majority class').map((x, i) => `<span style="color:${COLORS[all.indexOf(x) % COLORS.length]}">■</span> ${esc(x.name)}${i < all.length - 2 ? ' &nbsp; ' : ''}`).join('')}</p>`);
    body.push('<div class="row">', ...all.map(confusionTable), '</div>');
    body.push(calibrationHtml(s.calibration, [...CLASS_NAMES], r.bootstrap.level), importanceHtml(s, r.bootstrap.level), '</section>');
  }
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>flowcast model evaluation</title>
<style>
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px auto; max-width: 1100px; color: #222; }
.row { display: flex; flex-wrap: wrap; gap: 18px; align-items: flex-start; }
table { border-collapse: collapse; margin: 8px 0; }
td, th { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
caption { font-weight: 600; padding: 4px; }
.legend span { font-size: 16px; }
details pre { white-space: pre-wrap; font-size: 12px; background: #f7f7f7; padding: 12px; }
</style></head><body>
<h1>Model evaluation</h1>
<p>Generated ${esc(r.created)}. Intervals: ${Math.round(r.bootstrap.level * 100)}% circular block bootstrap, ${r.bootstrap.replicates} replicates, blocks of ${r.bootstrap.block} samples.</p>
${body.join('\n')}
<details><summary>Full report (markdown)</summary><pre>${esc(markdown)}</pre></details>
</body></html>
`;
}
