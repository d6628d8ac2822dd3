/** Synchronous file writing shared by the writers, and output files that appear only when complete. */
import { accessSync, constants, existsSync, mkdirSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { hostname } from 'node:os';

/** Writes all of `bytes` at the file's position (writeSync may write fewer than asked). */
export function writeAllSync(fd: number, bytes: Uint8Array): void {
  let off = 0;
  while (off < bytes.length) off += writeSync(fd, bytes, off);
}

/** An output path that cannot be written; the message says why, the caller names the flag. */
export class OutputPathError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OutputPathError';
  }
}

/** Creates `dir` and its parents if missing; what is in the way is named. */
export function ensureDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true });
  } catch (e) {
    let up = dir;
    while (!existsSync(up) && dirname(up) !== up) up = dirname(up);
    const why = existsSync(up) && !statSync(up).isDirectory() ? `${up} is not a directory` : reason(e);
    throw new OutputPathError(`cannot create the directory ${dir}: ${why}`);
  }
}

/**
 * An output file written under a temporary name beside it (`.NAME.HOST-PID.tmp`, same file system) and
 * renamed over `path` only when the run has succeeded: a failed run leaves neither a partial file
 * nor a changed earlier one. The directory is created if missing, and a path that cannot be
 * written is refused here, before any work is done.
 */
export class PendingOutput {
  readonly tmp: string;

  constructor(readonly path: string) {
    if (existsSync(path) && statSync(path).isDirectory()) throw new OutputPathError('is a directory');
    const dir = dirname(path);
    ensureDir(dir);
    // The host too: cluster workers on a shared directory may all run as pid 1 in their containers.
    this.tmp = join(dir, `.${basename(path)}.${hostname()}-${process.pid}.tmp`);
    try {
      accessSync(dir, constants.W_OK);
    } catch (e) {
      throw new OutputPathError(`cannot write in ${dir}: ${reason(e)}`);
    }
  }

  commit(): void {
    renameSync(this.tmp, this.path);
  }

  discard(): void {
    rmSync(this.tmp, { force: true });
  }
}

function reason(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  if (err.code === 'EACCES' || err.code === 'EPERM') return 'permission denied';
  if (err.code === 'EROFS') return 'read-only file system';
  return err.message;
}
