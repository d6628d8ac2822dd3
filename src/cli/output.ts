/** Output-file flags: the file is written under a temporary name and appears only when the run succeeds. */
import { UsageError } from './command.ts';
import { OutputPathError, PendingOutput, ensureDir } from '../store/files.ts';

/** The pending output for `--flag PATH`; a path that cannot be written is a usage error naming it. */
export function outputFile(flag: string, path: string): PendingOutput {
  try {
    return new PendingOutput(path);
  } catch (e) {
    throw e instanceof OutputPathError ? new UsageError(`--${flag} ${path}: ${e.message}`) : e;
  }
}

/** Creates the directory of `--flag DIR` if missing; one that cannot be created is a usage error naming it. */
export function outputDir(flag: string, dir: string): void {
  try {
    ensureDir(dir);
  } catch (e) {
    throw e instanceof OutputPathError ? new UsageError(`--${flag} ${dir}: ${e.message}`) : e;
  }
}
