/**
 * Writes the tables of docs/features.md that derive from the column registry
 * (src/features/columns.ts): the units table and the registry table. Run it after changing the
 * registry: `npx tsx scripts/columns-doc.ts`. tests/features/columns.test.ts fails while the doc
 * and the registry disagree.
 */
import { fileURLToPath } from 'node:url';
import { COLUMNS, UNIT_TEXT } from '../src/features/columns.ts';
import { markdownTable, writeDocSection } from './lib/doc-section.ts';

export const COLUMNS_DOC = 'docs/features.md';
export const UNITS_SECTION = 'columns:units';
export const REGISTRY_SECTION = 'columns:registry';

const code = (s: string) => `\`${s}\``;

/**
 * The columns of one unit, with `p_*` standing for every registry column named p_... when they
 * all share the unit (a family's columns usually do; the table stays short and still exact).
 */
function names(group: readonly string[]): string {
  const prefix = (n: string) => (n.includes('_') ? n.slice(0, n.indexOf('_')) : undefined);
  const out: string[] = [];
  for (const n of group) {
    const p = prefix(n);
    const all = p === undefined ? [] : COLUMNS.filter((c) => prefix(c.name) === p).map((c) => c.name);
    if (all.length > 1 && all.every((a) => group.includes(a))) {
      if (!out.includes(code(`${p}_*`))) out.push(code(`${p}_*`));
    } else {
      out.push(code(n));
    }
  }
  return out.join(', ');
}

export function unitsTable(): string {
  const groups = new Map<string, string[]>();
  for (const c of COLUMNS) {
    const text = UNIT_TEXT[c.unit];
    groups.set(text, [...(groups.get(text) ?? []), c.name]);
  }
  return markdownTable(['column(s)', 'unit'], [
    [code('ts_ns'), 'int64 nanoseconds since the Unix epoch, UTC (exact; see "time" below)'],
    ...[...groups].map(([text, group]) => [names(group), text]),
    [code('label_k'), '-1, 0, 1'],
  ]);
}

export function registryTable(): string {
  return markdownTable(['column', 'family', 'kernel index', 'model transform', 'default model input'], COLUMNS.map((c) => [
    code(c.name), c.family, c.kernelIndex ?? '-', c.modelTransform, c.defaultInput ? 'yes' : 'no',
  ]));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  writeDocSection(COLUMNS_DOC, UNITS_SECTION, unitsTable());
  writeDocSection(COLUMNS_DOC, REGISTRY_SECTION, registryTable());
  console.log(`${COLUMNS_DOC}: units and registry tables written from src/features/columns.ts`);
}
