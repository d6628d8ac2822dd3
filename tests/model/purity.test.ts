/**
 * src/model/ holds the types every stage shares, so it must stay below all of them: the I/O
 * folders (sources, venues, store, server, cli) import it, never the reverse. A model file that
 * imported one would drag that folder's dependencies into every stage. The only thing allowed
 * from outside is a type-only import of a Node built-in, which costs nothing at run time.
 */
import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const MODEL = resolve(dirname(fileURLToPath(import.meta.url)), '../../src/model');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) =>
    d.isDirectory() ? sources(join(dir, d.name)) : /\.[mc]?[jt]s$/.test(d.name) ? [join(dir, d.name)] : []);
}

interface Ref {
  spec: string;
  typeOnly: boolean;
}

/** Every module a file names: static imports and re-exports, dynamic import(), require(). */
function references(text: string): Ref[] {
  // Comments could hold example imports; strings never start a module reference here.
  const code = text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
  const refs: Ref[] = [];
  for (const m of code.matchAll(/\b(import|export)\s+(type\s+)?([^'"`;]*?\bfrom\s+)?(['"])([^'"]+)\4/g)) {
    refs.push({ spec: m[5]!, typeOnly: m[2] !== undefined });
  }
  for (const m of code.matchAll(/\b(?:import|require)\s*\(\s*(['"`])([^'"`]+)\1/g)) refs.push({ spec: m[2]!, typeOnly: false });
  return refs;
}

function outside(file: string, r: Ref): boolean {
  if (r.spec.startsWith('.')) {
    const target = resolve(dirname(file), r.spec);
    return target !== MODEL && !target.startsWith(MODEL + sep);
  }
  return !(r.typeOnly && r.spec.startsWith('node:'));
}

describe('src/model purity', () => {
  it('finds the references it checks', () => {
    expect(references(`import { a } from './a.ts';\nimport type { B } from "../b.ts";\nexport * from './c.ts';\nimport 'd';\nconst e = await import('e');`))
      .toEqual([
        { spec: './a.ts', typeOnly: false },
        { spec: '../b.ts', typeOnly: true },
        { spec: './c.ts', typeOnly: false },
        { spec: 'd', typeOnly: false },
        { spec: 'e', typeOnly: false },
      ]);
  });

  it('no file under src/model/ imports from outside it', () => {
    const files = sources(MODEL);
    expect(files.length).toBeGreaterThan(0);
    const bad = files.flatMap((f) =>
      references(readFileSync(f, 'utf8')).filter((r) => outside(f, r)).map((r) => `${relative(MODEL, f)}: ${r.spec}`));
    expect(bad).toEqual([]);
  });
});
