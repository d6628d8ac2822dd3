/**
 * Replaces one marked section of a markdown file (between `<!-- <key>:start -->` and
 * `<!-- <key>:end -->`) so each benchmark refreshes only its own table.
 */
import { readFileSync, writeFileSync, existsSync } from 'node:fs';

export function writeDocSection(file: string, key: string, body: string): void {
  const start = `<!-- ${key}:start -->`;
  const end = `<!-- ${key}:end -->`;
  const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
  const block = `${start}\n${body.trim()}\n${end}`;
  const i = text.indexOf(start);
  const j = text.indexOf(end);
  const next = i >= 0 && j > i ? text.slice(0, i) + block + text.slice(j + end.length) : `${text.trimEnd()}\n\n${block}\n`;
  writeFileSync(file, next);
}

/** A markdown table from a header row and rows of cells. */
export function markdownTable(header: string[], rows: (string | number)[][]): string {
  const line = (cells: (string | number)[]) => `| ${cells.map(String).join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

/** The body of one marked section of a markdown text (undefined without its markers). */
export function readDocSection(text: string, key: string): string | undefined {
  const start = `<!-- ${key}:start -->`;
  const end = `<!-- ${key}:end -->`;
  const i = text.indexOf(start);
  const j = text.indexOf(end);
  return i >= 0 && j > i ? text.slice(i + start.length, j).trim() : undefined;
}
