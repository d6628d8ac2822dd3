/**
 * The report's calibration and importance sections render what was computed, and rewriting the
 * report keeps the sections other scripts maintain between their markers.
 */
import { describe, expect, it } from 'vitest';
import { calibrationHtml, calibrationMarkdown } from '../../src/training/calibration-report.ts';
import { importanceHtml, importanceMarkdown } from '../../src/training/importance-report.ts';
import { calibrateSet } from '../../src/training/calibration-eval.ts';
import { permutationImportance } from '../../src/training/importance.ts';
import { keepMarkedSections } from '../../src/training/evaluate/report.ts';

describe('calibration and importance sections', () => {
  const n = 6, C = 3;
  const y = [0, 1, 2, 0, 1, 2];
  const model = [0.7, 0.2, 0.1, 0.2, 0.6, 0.2, 0.1, 0.1, 0.8, 0.5, 0.3, 0.2, 0.3, 0.4, 0.3, 0.2, 0.2, 0.6];
  const freq = Array.from({ length: n * C }, () => 1 / 3);
  const bs = { block: 2, replicates: 20, level: 0.95, seed: 1 };

  it('calibration: a row per system, the temperature line, reliability bins per model, and an SVG diagram', () => {
    const c = calibrateSet({ y, n, C, reference: 'majority class', systems: [{ name: 'm', kind: 'model', p: model }, { name: 'majority class', kind: 'baseline', p: freq }], temperatures: new Map([['m', { T: 0.8, fittedOn: 'val', samples: 9, nllBefore: 1, nllAfter: 0.9 }]]), bins: 10, bootstrap: bs });
    const md = calibrationMarkdown(c, ['down', 'flat', 'up'], 0.95).join('\n');
    expect(md).toMatch(/\| \*\*m\*\* \| 0\.\d{4} \[/);
    expect(md).toMatch(/\| majority class \| 0\.6667 \[0\.6667, 0\.6667\] \|  \|/);
    expect(md).toMatch(/\| m \| 0\.800 \| val, 9 samples \| 1\.0000 → 0\.9000 \|/);
    expect(md).toContain('| 0.7-0.8 | 1 | 0.700 | 1.000 |');
    const html = calibrationHtml(c, ['down', 'flat', 'up'], 0.95);
    expect(html).toContain('<svg');
    expect(html).toContain('Reliability: m (T = 0.80)');
    expect(calibrationMarkdown(undefined, [], 0.95)).toEqual([]);
  });

  it('importance: a ranked table per model and a chart', async () => {
    const result = await permutationImportance({ y, n, C, features: ['a', 'b'], predict: async (perm) => (perm?.feature === 0 ? freq : model), repeats: 2, seed: 1, bootstrap: bs });
    const md = importanceMarkdown({ importance: [{ model: 'm', result }] }, 0.95).join('\n');
    expect(md).toContain('m (unpermuted: macro-F1 1.000');
    expect(md).toMatch(/\| 1 \| a \| \+\d\.\d{4} \[/);
    expect(md).toMatch(/\| 2 \| b \| \+0\.0000 \[\+0\.0000, \+0\.0000\]/);
    expect(importanceHtml({ importance: [{ model: 'm', result }] }, 0.95)).toContain('m: Δ log loss when shuffled');
    expect(importanceMarkdown({}, 0.95)).toEqual([]);
  });
});

describe('keepMarkedSections', () => {
  const levels = '<!-- raw-levels evaluation: begin (scripts/eval-levels.ts writes this section) -->\n## Raw\ntable\n<!-- raw-levels evaluation: end -->';
  const bench = '<!-- backtest:start -->\n## Backtest\nrows\n<!-- backtest:end -->';

  it('appends the previous file\'s marked sections, in order, to the new report', () => {
    const prev = `# Model evaluation\n\nold tables\n\n${levels}\n\nstray text\n\n${bench}\n`;
    const out = keepMarkedSections(prev, '# Model evaluation\n\nnew tables\n');
    expect(out).toBe(`# Model evaluation\n\nnew tables\n\n${levels}\n\n${bench}\n`);
    expect(out).not.toContain('old tables');
    expect(out).not.toContain('stray text');
  });

  it('does not duplicate a section the new report writes itself, and leaves a report without markers alone', () => {
    expect(keepMarkedSections(levels, `# R\n\n${levels}\n`)).toBe(`# R\n\n${levels}\n`);
    expect(keepMarkedSections('# old, no markers', '# R\n')).toBe('# R\n');
    // A begin marker without its end is not a section.
    expect(keepMarkedSections('<!-- x: begin -->\nhalf', '# R\n')).toBe('# R\n');
  });
});
