/**
 * The calibration part of the evaluation report: markdown tables (Brier with paired intervals, ECE,
 * temperature scaling before/after, reliability bins) and, for the HTML page, reliability diagrams
 * as inline SVG (one per model: the three classes one-vs-rest, before and after the temperature).
 */
import type { Interval } from './evaluate/bootstrap.ts';
import type { SetCalibration } from './calibration-eval.ts';
import type { ReliabilityBin } from './calibration.ts';

const f3 = (v: number): string => (Number.isFinite(v) ? v.toFixed(3) : 'n/a');
const f4 = (v: number): string => (Number.isFinite(v) ? v.toFixed(4) : 'n/a');
const s4 = (v: number): string => (Number.isFinite(v) ? (v >= 0 ? '+' : '') + v.toFixed(4) : 'n/a');
const ci4 = (x: Interval): string => `${f4(x.estimate)} [${f4(x.lo)}, ${f4(x.hi)}]`;
const dci4 = (x: Interval): string => `${s4(x.estimate)} [${s4(x.lo)}, ${s4(x.hi)}]`;
const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

const verdict = (d: Interval): string => (d.hi < 0 ? 'better' : d.lo > 0 ? 'worse' : 'no clear difference');

export function calibrationMarkdown(c: SetCalibration | undefined, classes: string[], level: number): string[] {
  if (!c) return [];
  const pct = Math.round(level * 100);
  const L: string[] = [];
  L.push(`Calibration (${c.bins} equal-width bins). Brier: multi-class, sum over classes of (p - outcome)², 0 = perfect; Δ against the class frequencies of the training split (the ${c.reference} baseline's probabilities, the best forecast that reads no input), paired, ${pct}% block-bootstrap intervals, negative = better. ECE: top-label (Guo et al. 2017), sum over bins of n_b/n |accuracy - confidence|; classwise: the mean over classes of the one-vs-rest gap.`, '');
  L.push(`| system | Brier | Δ Brier vs class frequencies | verdict | log loss | ECE | classwise ECE |`, '|---|---|---|---|---|---|---|');
  for (const s of c.systems) {
    const d = s.brierVsFrequencies;
    L.push(`| ${s.kind === 'model' ? `**${s.name}**` : s.name} | ${ci4(s.brier)} | ${d ? dci4(d) : ''} | ${d ? verdict(d) : ''} | ${f4(s.logLoss)} | ${f4(s.ece)} | ${f4(s.classwiseEce)} |`);
  }
  L.push('');
  const scaled = c.models.filter((m) => m.temperature);
  if (scaled.length) {
    L.push('Temperature scaling: p_T = softmax(ln p / T), T fitted on the model\'s validation split only (minimum NLL; T > 1 softens an overconfident model, T < 1 sharpens a timid one), then applied to these rows. It cannot change any argmax, so macro-F1, accuracy and AUC are unchanged. A model that serves a stored temperature (flowcast models calibrate) is scaled again on top of it, so T near 1 says the stored one still fits. Δ = after minus before, paired:', '');
    L.push('| model | T | fitted on | validation NLL before → after | log loss before → after | Δ log loss | Brier before → after | Δ Brier | ECE before → after |', '|---|---|---|---|---|---|---|---|---|');
    for (const m of scaled) {
      const t = m.temperature!;
      const s = c.systems.find((x) => x.name === m.name)!;
      L.push(`| ${m.name} | ${t.T.toFixed(3)} | ${t.fittedOn}, ${t.validation.samples} samples | ${f4(t.validation.nllBefore)} → ${f4(t.validation.nllAfter)} | ${f4(s.logLoss)} → ${f4(t.logLoss)} | ${dci4(t.dLogLoss)} | ${f4(s.brier.estimate)} → ${f4(t.brier)} | ${dci4(t.dBrier)} | ${f4(s.ece)} → ${f4(t.ece)} |`);
    }
    L.push('');
  }
  for (const m of c.models) {
    L.push(`Reliability of ${m.name} (one-vs-rest per class; per bin of predicted P(class): samples, mean predicted, observed frequency; empty bins left out):`, '');
    L.push(`| P(class) bin | ${classes.map((k) => `${k}: n | ${k}: predicted | ${k}: observed`).join(' | ')} |`, `|---|${classes.map(() => '---|---|---|').join('')}`);
    for (let b = 0; b < c.bins; b++) {
      const cells = m.reliability.map((bins) => bins[b]!);
      if (cells.every((x) => x.count === 0)) continue;
      const lo = cells[0]!.lo, hi = cells[0]!.hi;
      L.push(`| ${lo.toFixed(1)}-${hi.toFixed(1)} | ${cells.map((x) => (x.count ? `${Math.round(x.count)} | ${f3(x.predicted)} | ${f3(x.observed)}` : '0 | | ')).join(' | ')} |`);
    }
    L.push('');
  }
  return L;
}

const CLASS_COLORS = ['#d62728', '#7f7f7f', '#2ca02c'];

/** Reliability diagram: observed frequency against mean predicted probability per bin, per class; dashed: after the temperature. */
function reliabilitySvg(title: string, classes: string[], before: ReliabilityBin[][], after?: ReliabilityBin[][]): string {
  const W = 300, H = 300, pad = 38;
  const sx = (v: number) => pad + v * (W - pad - 12);
  const sy = (v: number) => H - pad - v * (H - pad - 22);
  const total = before[0]!.reduce((s, b) => s + b.count, 0) || 1;
  const parts = [`<svg width="${W}" height="${H + 22}" viewBox="0 0 ${W} ${H + 22}" role="img" aria-label="${esc(title)}">`,
    `<text x="${W / 2}" y="14" font-size="12" text-anchor="middle" font-weight="600">${esc(title)}</text>`,
    `<rect x="${sx(0)}" y="${sy(1)}" width="${sx(1) - sx(0)}" height="${sy(0) - sy(1)}" fill="none" stroke="#999"/>`,
    `<line x1="${sx(0)}" y1="${sy(0)}" x2="${sx(1)}" y2="${sy(1)}" stroke="#bbb" stroke-dasharray="4 3"/>`,
    `<text x="${W / 2}" y="${H - 6}" font-size="11" text-anchor="middle">mean predicted probability</text>`,
    `<text x="11" y="${H / 2}" font-size="11" text-anchor="middle" transform="rotate(-90 11 ${H / 2})">observed frequency</text>`];
  for (const v of [0, 0.5, 1]) parts.push(`<text x="${sx(v)}" y="${sy(0) + 13}" font-size="10" text-anchor="middle">${v}</text><text x="${sx(0) - 4}" y="${sy(v) + 3}" font-size="10" text-anchor="end">${v}</text>`);
  const curve = (bins: ReliabilityBin[], color: string, dashed: boolean, name: string) => {
    const pts = bins.filter((b) => b.count > 0);
    if (!pts.length) return;
    const d = pts.map((b, j) => `${j ? 'L' : 'M'}${sx(b.predicted).toFixed(1)},${sy(b.observed).toFixed(1)}`).join('');
    parts.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="1.5"${dashed ? ' stroke-dasharray="5 3" opacity="0.8"' : ''}/>`);
    if (!dashed) for (const b of pts) {
      const r = 2 + 6 * Math.sqrt(b.count / total);
      parts.push(`<circle cx="${sx(b.predicted).toFixed(1)}" cy="${sy(b.observed).toFixed(1)}" r="${r.toFixed(1)}" fill="${color}" fill-opacity="0.55"><title>${esc(`${name} ${b.lo.toFixed(1)}-${b.hi.toFixed(1)}: ${Math.round(b.count)} samples, predicted ${f3(b.predicted)}, observed ${f3(b.observed)}`)}</title></circle>`);
    }
  };
  before.forEach((bins, k) => curve(bins, CLASS_COLORS[k % 3]!, false, classes[k]!));
  after?.forEach((bins, k) => curve(bins, CLASS_COLORS[k % 3]!, true, `${classes[k]} after T`));
  parts.push(`<text x="${pad}" y="${H + 4}" font-size="10">${classes.map((c, k) => `<tspan fill="${CLASS_COLORS[k % 3]}">■</tspan> ${esc(c)}`).join('  ')}</text>`,
    `<text x="${pad}" y="${H + 17}" font-size="10">${after ? 'dashed: after temperature scaling; ' : ''}dot area: samples</text>`);
  parts.push('</svg>');
  return parts.join('');
}

export function calibrationHtml(c: SetCalibration | undefined, classes: string[], level: number): string {
  if (!c) return '';
  const md = calibrationMarkdown(c, classes, level);
  const rows = c.systems.map((s) => `<tr><th>${esc(s.name)}</th><td>${ci4(s.brier)}</td><td>${s.brierVsFrequencies ? dci4(s.brierVsFrequencies) : ''}</td><td>${f4(s.logLoss)}</td><td>${f4(s.ece)}</td><td>${f4(s.classwiseEce)}</td></tr>`).join('');
  const temps = c.models.filter((m) => m.temperature).map((m) => {
    const t = m.temperature!;
    const s = c.systems.find((x) => x.name === m.name)!;
    return `<tr><th>${esc(m.name)}</th><td>${t.T.toFixed(3)}</td><td>${f4(s.logLoss)} → ${f4(t.logLoss)} (${dci4(t.dLogLoss)})</td><td>${f4(s.brier.estimate)} → ${f4(t.brier)} (${dci4(t.dBrier)})</td><td>${f4(s.ece)} → ${f4(t.ece)}</td></tr>`;
  }).join('');
  return [`<h3>Calibration</h3><p>${esc(md[0]!)}</p>`,
    `<table><tr><th>system</th><th>Brier</th><th>Δ Brier vs class frequencies</th><th>log loss</th><th>ECE</th><th>classwise ECE</th></tr>${rows}</table>`,
    temps ? `<table><caption>Temperature scaling (T fitted on the validation split)</caption><tr><th>model</th><th>T</th><th>log loss before → after (Δ)</th><th>Brier before → after (Δ)</th><th>ECE before → after</th></tr>${temps}</table>` : '',
    '<div class="row">', ...c.models.map((m) => reliabilitySvg(`Reliability: ${m.name}${m.temperature ? ` (T = ${m.temperature.T.toFixed(2)})` : ''}`, classes, m.reliability, m.temperature?.reliability)), '</div>'].join('\n');
}
