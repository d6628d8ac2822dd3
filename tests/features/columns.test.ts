/**
 * The column registry (src/features/columns.ts) is the one place a column is declared: the lists
 * the engine, the kernels, the host scaling and training use are its projections, and the shipped
 * models read what it says. Whether each kernel index names what the kernel computes is checked by
 * tests/compute/parity.test.ts (column by column against the engine).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  COL, COLUMNS, DEFAULT_INPUTS, DENSE_COLUMNS, DENSE_INDEX, FEATURE_COLUMNS, UNIT_TEXT, columnSpec,
} from '../../src/features/columns.ts';
import { KERNEL_COLUMNS } from '../../kernels/dense.ts';
import { OFI_INPUTS, transformFor } from '../../src/training/dataset.ts';
import { parseManifest } from '../../src/inference/manifest.ts';
import { COLUMNS_DOC, REGISTRY_SECTION, UNITS_SECTION, registryTable, unitsTable } from '../../scripts/columns-doc.ts';
import { readDocSection } from '../../scripts/lib/doc-section.ts';

describe('column registry', () => {
  it('orders the output columns and names each once', () => {
    expect(FEATURE_COLUMNS).toEqual(COLUMNS.map((c) => c.name));
    expect(new Set(FEATURE_COLUMNS).size).toBe(FEATURE_COLUMNS.length);
    FEATURE_COLUMNS.forEach((c, i) => expect([c, COL[c]]).toEqual([c, i]));
    for (const c of COLUMNS) expect(UNIT_TEXT[c.unit], c.name).toBeTruthy();
  });

  it('gives the kernels their columns by kernel index, then flags', () => {
    const withKernel = COLUMNS.filter((c) => c.kernelIndex !== undefined);
    expect(DENSE_COLUMNS.length).toBe(withKernel.length);
    DENSE_COLUMNS.forEach((c, i) => expect([c, columnSpec(c)!.kernelIndex]).toEqual([c, i]));
    expect(KERNEL_COLUMNS).toEqual([...DENSE_COLUMNS, 'flags']);
    DENSE_COLUMNS.forEach((c, i) => expect(FEATURE_COLUMNS[DENSE_INDEX[i]!]).toBe(c));
    // The kernels compute every per-row column (a row and a fixed number of rows before it); VPIN
    // and the bars, which need the whole trade history, live in the engine only.
    expect(new Set(withKernel.map((c) => c.family))).toEqual(new Set(['shape', 'ofi', 'returns', 'flow']));
  });

  it('gives training its default inputs, their transforms and the OFI baseline inputs', () => {
    expect(DEFAULT_INPUTS).toEqual(COLUMNS.filter((c) => c.defaultInput).map((c) => ({ name: c.name, transform: c.modelTransform })));
    for (const c of COLUMNS) expect([c.name, transformFor(c.name)]).toEqual([c.name, c.modelTransform]);
    expect(transformFor('label_50')).toBe('none');
    expect(OFI_INPUTS.map((c) => c.name)).toEqual(COLUMNS.filter((c) => c.family === 'ofi').map((c) => c.name));
    // Price levels are not stationary; the bar measures are NaN for their first W bars.
    expect(DEFAULT_INPUTS.map((c) => c.name)).not.toContain('mid');
    expect(DEFAULT_INPUTS.filter((c) => columnSpec(c.name)!.family === 'bars')).toEqual([]);
  });

  it('agrees with what the shipped models read', () => {
    // Dot directories are not models (models/.versions holds kept versions; the repository ignores them too).
    const dirs = readdirSync('models', { withFileTypes: true }).filter((d) => d.isDirectory() && !d.name.startsWith('.'));
    expect(dirs.length).toBeGreaterThan(0);
    for (const d of dirs) {
      const file = join('models', d.name, 'manifest.json');
      const m = parseManifest(JSON.parse(readFileSync(file, 'utf8')), file);
      // A raw-levels model (layout NTLC) reads book channels, not feature columns (parseManifest checks them).
      if (m.input.layout === 'NTLC') continue;
      const cmd = (m.training as { command: string }).command;
      for (const c of m.input.columns) expect(columnSpec(c), `${file}: ${c}`).toBeDefined();
      if (!/--columns\b/.test(cmd)) {
        expect(m.input.columns, `${file} was trained on the default inputs ("${cmd}"): a change to the registry's defaultInput makes that command train on other columns; retrain the model or keep the defaults`)
          .toEqual(DEFAULT_INPUTS.map((c) => c.name));
      }
      for (const s of m.normalization?.columns ?? []) {
        expect([file, s.name, s.transform]).toEqual([file, s.name, columnSpec(s.name)!.modelTransform]);
      }
    }
  });

  it('is what the units and registry tables of docs/features.md say', () => {
    const doc = readFileSync(COLUMNS_DOC, 'utf8');
    const stale = `${COLUMNS_DOC} differs from src/features/columns.ts: run \`npx tsx scripts/columns-doc.ts\``;
    expect(readDocSection(doc, UNITS_SECTION), stale).toBe(unitsTable());
    expect(readDocSection(doc, REGISTRY_SECTION), stale).toBe(registryTable());
    // Every column appears in the units table, by name or by its prefix_* group.
    for (const c of FEATURE_COLUMNS) expect(unitsTable(), c).toMatch(new RegExp(`\`(${c}|${c.split('_')[0]}_\\*)\``));
  });
});
