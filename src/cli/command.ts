/**
 * The shape of a CLI command. Each command lives in its own file under commands/ and default-exports
 * one of these; the dispatcher discovers them, so adding a command touches no shared registry.
 * Heavy dependencies are imported inside run(), keeping `flowcast --help` fast.
 */
export interface Command {
  name: string;
  /** One line for `flowcast --help`. */
  summary: string;
  /** Full usage text for `flowcast <name> --help`. */
  usage: string;
  /** Returns the process exit code. */
  run(argv: string[]): Promise<number>;
}

/** A usage error: printed with the command's usage, exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}
