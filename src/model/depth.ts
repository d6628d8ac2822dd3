/**
 * Book depth: how many price levels per side each stage works on. The configured value is one
 * number (`--levels`, `features.levels`); what rows and tensors must carry follows from it and from
 * the columns that read a fixed depth. It is resolved once where a run's configuration is read
 * (the server's config, `flowcast features`, the parity capture) and passed down, so that no stage
 * re-derives it and none can forget a rule (a 5-level kernel batch once failed every live row).
 */

/** The deepest fixed-depth column: imb_10 reads 10 levels whatever `levels` is. */
export const FIXED_COLUMN_LEVELS = 10;

/** `levels` when none is configured. */
export const DEFAULT_LEVELS = 10;

export interface Depth {
  /** L: the levels depth_* and slope_* read (the configured value). */
  levels: number;
  /** Levels per side a BookRow carries: what the features read, and what book frames show. */
  rowLevels: number;
  /** Levels per side in snapshot rings and kernel tensors (the kernels' LT). */
  tensorLevels: number;
}

/**
 * The depth for `levels` configured levels; `bookLevels`: levels per side that consumers of the
 * rows other than the features need (the server's book frames).
 */
export function resolveDepth(levels: number, opts: { bookLevels?: number } = {}): Depth {
  const bookLevels = opts.bookLevels ?? 0;
  for (const [what, v, min] of [['levels', levels, 1], ['book levels', bookLevels, 0]] as const) {
    if (!Number.isInteger(v) || v < min || v > 1000) throw new RangeError(`${what} must be an integer in ${min}..1000, got ${v}`);
  }
  // Fewer levels in the tensor would not read as missing levels: the kernels index LT levels per row.
  const tensorLevels = Math.max(levels, FIXED_COLUMN_LEVELS);
  return { levels, rowLevels: Math.max(tensorLevels, bookLevels), tensorLevels };
}

/** The depth of DEFAULT_LEVELS, for library calls that are not given one (calibration, probes). */
export const DEFAULT_DEPTH: Readonly<Depth> = Object.freeze(resolveDepth(DEFAULT_LEVELS));
