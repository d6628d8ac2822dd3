/**
 * Flag parsing shared by commands: node:util parseArgs in strict mode (unknown flags are errors),
 * plus typed readers that name the flag in their error.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from './command.ts';
import { BadInputPolicy } from '../core/errors.ts';

export type Options = NonNullable<ParseArgsConfig['options']>;

/** The feature-parameter flags `features` and `dataset build` share (src/features/options.ts). */
export const FEATURE_PARAM_FLAGS = {
  levels: { type: 'string' },
  'vpin-bucket': { type: 'string' },
  'vpin-buckets': { type: 'string' },
  'bar-ms': { type: 'string' },
  'bar-window': { type: 'string' },
  'settle-ms': { type: 'string' },
  labels: { type: 'boolean' },
  horizons: { type: 'string' },
  alpha: { type: 'string' },
} as const satisfies Options;

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

/** A comma-separated list of positive numbers (integers unless `integer` is false). */
export function listFlag(value: string | undefined, name: string, dflt: number[], integer = true): number[] {
  if (value === undefined) return dflt;
  const out = value.split(',').map((s) => s.trim()).filter(Boolean).map((s) => {
    const v = Number(s);
    if (!(Number.isFinite(v) && v > 0 && (!integer || Number.isInteger(v)))) {
      throw new UsageError(`--${name}: expected positive ${integer ? 'integers' : 'numbers'} separated by commas, got "${value}"`);
    }
    return v;
  });
  if (out.length === 0) throw new UsageError(`--${name}: empty list`);
  return out;
}

/** --vpin-bucket: `auto` (the default: sized from each symbol's traded volume) or a positive volume. */
export function vpinBucketFlag(value: string | undefined): number | 'auto' {
  return value === undefined || value === 'auto' ? 'auto' : numberFlag(value, 'vpin-bucket', 0, { min: Number.MIN_VALUE });
}

/** --symbol, repeatable and comma-separated; undefined when absent. */
export function symbolsFlag(values: string[] | undefined): string[] | undefined {
  return values?.flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean);
}

/** --skip-bad KINDS as a policy; an unknown kind is a usage error. */
export function skipBadFlag(value: string | undefined): BadInputPolicy {
  try {
    return BadInputPolicy.parse(value);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/** A duration flag (500ms, 30s, 15m, 1h, 1d) in milliseconds; `dflt` when absent. */
export function durationMsFlag(v: string | undefined, name: string, dflt: number): number {
  if (v === undefined) return dflt;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(v.trim());
  if (!m) throw new UsageError(`--${name}: expected a duration such as 500ms, 30s, 15m, 1h or 1d, got "${v}"`);
  const mult = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 'ms' | 's' | 'm' | 'h' | 'd'];
  const ms = Number(m[1]) * mult;
  if (!(ms > 0)) throw new UsageError(`--${name}: must be positive, got "${v}"`);
  return ms;
}
