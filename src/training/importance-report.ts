/**
 * The feature-importance part of the evaluation report: permutation importance per model (markdown
 * table, and an interval chart in the HTML page) and TreeSHAP summaries for tree models (mean |SHAP|
 * per class, stacked bars in the HTML page).
 */
import type { Interval } from './evaluate/bootstrap.ts';
import type { ImportanceResult } from './importance.ts';
import type { ShapSummary } from './importance-eval.ts';

const f3 = (v: number): string => (Number.isFinite(v) ? v.toFixed(3) : 'n/a');
const f4 = (v: number): string => (Number.isFinite(v) ? v.toFixed(4) : 'n/a');
const s4 = (v: number): string => (Number.isFinite(v) ? (v >= 0 ? '+' : '') + v.toFixed(4) : 'n/a');
const dci = (x: Interval): string => `${s4(x.estimate)} [${s4(x.lo)}, ${s4(x.hi)}]`;
const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

export interface SetImportance {
  importance?: { model: string; result: ImportanceResult }[];
  shap?: ShapSummary[];
}

export function importanceMarkdown(s: SetImportance, level: number): string[] {
  if (!s.importance?.length) return [];
  const pct = Math.round(level * 100);
  const L: string[] = [];
  const r0 = s.importance[0]!.result;
  L.push(`Permutation importance on these ${r0.samples} samples: each input column shuffled across the samples (a window model gets another sample's whole window of that column), ${r0.repeats} shuffles each. Δ macro-F1 = unpermuted minus permuted, Δ log loss = permuted minus unpermuted: positive means the model uses the column. ${pct}% block-bootstrap intervals over samples (the shuffles fixed; paired), ± the standard deviation over the shuffles. A column whose interval covers 0 is not shown to matter.`, '');
  for (const { model, result } of s.importance) {
    L.push(`${model} (unpermuted: macro-F1 ${f3(result.base.macroF1)}, log loss ${f4(result.base.logLoss)}):`, '');
    L.push('| rank | column | Δ macro-F1 | ± shuffles | Δ log loss | ± shuffles |', '|---|---|---|---|---|---|');
    result.features.forEach((f, i) => L.push(`| ${i + 1} | ${f.feature} | ${dci(f.macroF1Drop)} | ${f4(f.sd.macroF1Drop)} | ${dci(f.logLossIncrease)} | ${f4(f.sd.logLossIncrease)} |`));
    L.push('');
  }
  for (const x of s.shap ?? []) {
    L.push(`TreeSHAP of ${x.model} (exact, path-dependent: Lundberg et al. 2018, Algorithm 2, over the ${x.trees} trees read from its model.onnx; the graph keeps no node covers, so they are counted over ${x.covers}). Mean |SHAP| over ${x.samples} of these samples${x.samples < r0.samples ? ' (evenly spaced)' : ''}, in margin units (log-odds before the softmax), per class; expected margins ${x.classes.map((c, k) => `${c} ${x.expected[k]!.toFixed(3)}`).join(', ')}. Check: contributions + expected value = the margin to ${x.maxEfficiencyError.toExponential(1)}, and their softmax = the served probabilities to ${x.maxProbDiff.toExponential(1)}.`, '');
    L.push(`| rank | column | ${x.classes.map((c) => `mean abs SHAP ${c}`).join(' | ')} | sum |`, `|---|---|${x.classes.map(() => '---|').join('')}---|`);
    x.features.forEach((f, i) => L.push(`| ${i + 1} | ${f.feature} | ${f.meanAbs.map(f4).join(' | ')} | ${f4(f.total)} |`));
    L.push('');
  }
  return L;
}

/** Horizontal interval chart of one measure per column (estimate and interval), sorted as given. */
function importanceSvg(title: string, rows: { name: string; it: Interval }[]): string {
  const left = Math.max(110, 7 * Math.max(...rows.map((r) => r.name.length)) + 16);
  const W = left + 300, rowH = 16, top = 26, right = 16;
  const H = top + rows.length * rowH + 26;
  const lo = Math.min(0, ...rows.map((r) => r.it.lo).filter(Number.isFinite));
  const hi = Math.max(1e-4, ...rows.map((r) => r.it.hi).filter(Number.isFinite));
  const x = (v: number) => left + ((v - lo) / (hi - lo)) * (W - left - right);
  const parts = [`<svg width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="${esc(title)}">`, `<text x="${left}" y="15" font-size="12" font-weight="600">${esc(title)}</text>`,
    `<line x1="${x(0)}" x2="${x(0)}" y1="${top - 4}" y2="${H - 20}" stroke="#888" stroke-dasharray="4 3"/>`,
    `<text x="${x(lo)}" y="${H - 6}" font-size="10" text-anchor="start">${lo.toFixed(3)}</text><text x="${x(hi)}" y="${H - 6}" font-size="10" text-anchor="end">${hi.toFixed(3)}</text>`];
  rows.forEach((r, i) => {
    const y = top + i * rowH + rowH / 2;
    const color = r.it.lo > 0 ? '#1f77b4' : '#aaa';
    parts.push(`<text x="${left - 6}" y="${y + 4}" font-size="11" text-anchor="end">${esc(r.name)}</text>`);
    if (Number.isFinite(r.it.lo)) parts.push(`<line x1="${x(r.it.lo)}" x2="${x(r.it.hi)}" y1="${y}" y2="${y}" stroke="${color}" stroke-width="2"/>`);
    parts.push(`<circle cx="${x(r.it.estimate)}" cy="${y}" r="3.5" fill="${color}"><title>${esc(`${r.name}: ${dci(r.it)}`)}</title></circle>`);
  });
  parts.push('</svg>');
  return parts.join('');
}

const CLASS_COLORS = ['#d62728', '#7f7f7f', '#2ca02c'];

function shapSvg(x: ShapSummary): string {
  const left = Math.max(110, 7 * Math.max(...x.features.map((f) => f.feature.length)) + 16);
  const W = left + 300, rowH = 16, top = 26, right = 16;
  const H = top + x.features.length * rowH + 26;
  const max = Math.max(1e-9, ...x.features.map((f) => f.total));
  const sx = (v: number) => (v / max) * (W - left - right);
  const parts = [`<svg width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="TreeSHAP ${esc(x.model)}">`, `<text x="${left}" y="15" font-size="12" font-weight="600">${esc(`TreeSHAP ${x.model}: mean |SHAP| per class (margin units)`)}</text>`];
  x.features.forEach((f, i) => {
    const y = top + i * rowH;
    parts.push(`<text x="${left - 6}" y="${y + 12}" font-size="11" text-anchor="end">${esc(f.feature)}</text>`);
    let at = left;
    f.meanAbs.forEach((v, k) => {
      parts.push(`<rect x="${at.toFixed(1)}" y="${y + 3}" width="${sx(v).toFixed(1)}" height="${rowH - 5}" fill="${CLASS_COLORS[k % 3]}" fill-opacity="0.75"><title>${esc(`${f.feature} ${x.classes[k]}: ${f4(v)}`)}</title></rect>`);
      at += sx(v);
    });
  });
  parts.push(`<text x="${left}" y="${H - 6}" font-size="10">${x.classes.map((c, k) => `<tspan fill="${CLASS_COLORS[k % 3]}">■</tspan> ${esc(c)}`).join('  ')}</text>`);
  parts.push('</svg>');
  return parts.join('');
}

export function importanceHtml(s: SetImportance, level: number): string {
  if (!s.importance?.length) return '';
  const md = importanceMarkdown(s, level);
  const out = [`<h3>Feature importance</h3><p>${esc(md[0]!)}</p>`, '<div class="row">'];
  for (const { model, result } of s.importance) {
    out.push(importanceSvg(`${model}: Δ log loss when shuffled`, result.features.map((f) => ({ name: f.feature, it: f.logLossIncrease }))));
    out.push(importanceSvg(`${model}: Δ macro-F1 when shuffled`, result.features.map((f) => ({ name: f.feature, it: f.macroF1Drop }))));
  }
  out.push('</div>');
  if (s.shap?.length) out.push('<div class="row">', ...s.shap.map(shapSvg), '</div>');
  return out.join('\n');
}
