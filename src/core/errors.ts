/**
 * Errors for bad input. Every one names where (file and line, or message) and what was expected,
 * so a user can open the file at that line and see the problem.
 */
export class InputError extends Error {
  readonly file: string;
  readonly line: number | undefined;
  readonly code: string;

  constructor(code: string, file: string, line: number | undefined, detail: string) {
    // Line 0 means "not from a line of a file" (a live message, a synthetic event).
    const at = line !== undefined && line > 0 ? line : undefined;
    super(`${file}${at !== undefined ? `:${at}` : ''}: ${detail}`);
    this.name = 'InputError';
    this.code = code;
    this.file = file;
    this.line = at;
  }
}

/** Codes for the kinds of bad input; `skip` flags refer to these names. */
export const InputErrorCode = {
  Missing: 'missing-file',
  Format: 'unknown-format',
  MixedFormat: 'mixed-format',
  Truncated: 'truncated',
  Malformed: 'malformed-line',
  NonMonotonic: 'non-monotonic-time',
  SequenceGap: 'sequence-gap',
  CrossedBook: 'crossed-book',
} as const;
export type InputErrorCode = (typeof InputErrorCode)[keyof typeof InputErrorCode];

/**
 * What to do with a recoverable bad record: stop (the default for batch jobs, so nothing is silently
 * wrong) or skip it and count it (what a long streaming job would rather do).
 */
export class BadInputPolicy {
  readonly counts = new Map<string, number>();
  readonly firstExamples = new Map<string, string>();

  constructor(private readonly skip: ReadonlySet<string> = new Set()) {}

  static parse(list: string | undefined): BadInputPolicy {
    if (!list) return new BadInputPolicy();
    const names = list.split(',').map((s) => s.trim()).filter(Boolean);
    const all = Object.values(InputErrorCode) as string[];
    for (const n of names) {
      if (n !== 'all' && !all.includes(n)) throw new Error(`--skip-bad: unknown kind "${n}" (one of: all, ${all.join(', ')})`);
    }
    return new BadInputPolicy(new Set(names.includes('all') ? all : names));
  }

  /** The same kinds skipped, counters fresh: for a preliminary pass over the input, whose skips must not count twice. */
  sameRules(): BadInputPolicy {
    return new BadInputPolicy(this.skip);
  }

  /** Throws unless this kind is skipped; when skipped, counts it and returns. */
  report(err: InputError): void {
    if (!this.skip.has(err.code)) throw err;
    this.counts.set(err.code, (this.counts.get(err.code) ?? 0) + 1);
    if (!this.firstExamples.has(err.code)) this.firstExamples.set(err.code, err.message);
  }

  get skipped(): number {
    let n = 0;
    for (const v of this.counts.values()) n += v;
    return n;
  }

  summary(): Record<string, number> {
    return Object.fromEntries(this.counts);
  }
}
