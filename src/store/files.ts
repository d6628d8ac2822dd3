/** Synchronous file writing shared by the writers. */
import { writeSync } from 'node:fs';

/** Writes all of `bytes` at the file's position (writeSync may write fewer than asked). */
export function writeAllSync(fd: number, bytes: Uint8Array): void {
  let off = 0;
  while (off < bytes.length) off += writeSync(fd, bytes, off);
}
