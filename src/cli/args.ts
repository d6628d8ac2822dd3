/**
 * Flag parsing shared by commands: node:util parseArgs in strict mode (unknown flags are errors),
 * plus typed readers that name the flag in their error.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from './command.ts';

export type Options = NonNullable<ParseArgsConfig['options']>;

export function parseFlags<O extends Options>(argv: string[], options: O, allowPositionals = false) {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

export function numberFlag(value: string | undefined, name: string, dflt: number, opts: { min?: number; integer?: boolean } = {}): number {
  if (value === undefined) return dflt;
  const v = Number(value);
  if (!Number.isFinite(v)) throw new UsageError(`--${name}: expected a number, got "${value}"`);
  if (opts.integer && !Number.isInteger(v)) throw new UsageError(`--${name}: expected an integer, got "${value}"`);
  if (opts.min !== undefined && v < opts.min) throw new UsageError(`--${name}: must be at least ${opts.min}, got ${v}`);
  return v;
}

export function listFlag(value: string | undefined, name: string, dflt: number[]): number[] {
  if (value === undefined) return dflt;
  const out = value.split(',').map((s) => s.trim()).filter(Boolean).map((s) => {
    const v = Number(s);
    if (!Number.isInteger(v) || v <= 0) throw new UsageError(`--${name}: expected positive integers separated by commas, got "${value}"`);
    return v;
  });
  if (out.length === 0) throw new UsageError(`--${name}: empty list`);
  return out;
}
