/**
 * Byte input for every source: plain files, gzip (by magic bytes, not by name) and zip archives,
 * streamed so memory stays flat however large the input. Lines are handed out as byte ranges of a
 * shared buffer; parsers read numbers straight from bytes.
 */
import { createReadStream, promises as fsp } from 'node:fs';
import { createGunzip, createInflateRaw } from 'node:zlib';
import { basename } from 'node:path';
import type { Readable } from 'node:stream';
import { InputError, InputErrorCode } from '../core/errors.ts';

export interface ByteSource {
  /** Name used in error messages: the path, or `archive.zip!entry`. */
  readonly name: string;
  /** Size of the file on disk (compressed), for progress. */
  readonly diskBytes: number;
  /** Compressed bytes read so far. */
  readonly diskBytesRead: () => number;
  readonly stream: AsyncIterable<Buffer>;
}

export interface ZipEntry {
  name: string;
  method: number;
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
}

/** A regular file's size, or an InputError naming the path (missing, or not a regular file). */
export async function statOrThrow(path: string): Promise<number> {
  try {
    const st = await fsp.stat(path);
    if (!st.isFile()) throw new InputError(InputErrorCode.Missing, path, undefined, 'not a regular file');
    return st.size;
  } catch (e) {
    if (e instanceof InputError) throw e;
    throw new InputError(InputErrorCode.Missing, path, undefined, 'file not found');
  }
}

async function readHead(path: string, n: number): Promise<Buffer> {
  const fh = await fsp.open(path, 'r');
  try {
    const buf = Buffer.alloc(n);
    const { bytesRead } = await fh.read(buf, 0, n, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

export async function isZip(path: string): Promise<boolean> {
  await statOrThrow(path);
  const head = await readHead(path, 4);
  return head.length === 4 && head.readUInt32LE(0) === 0x04034b50;
}

/** Opens a file; gzip is decompressed on the fly. A zip must be opened through `openZipEntry`. */
export async function openInput(path: string): Promise<ByteSource> {
  const size = await statOrThrow(path);
  const head = await readHead(path, 4);
  if (head.length >= 4 && head.readUInt32LE(0) === 0x04034b50) {
    const entries = (await listZip(path)).filter((e) => !e.name.endsWith('/'));
    if (entries.length !== 1) {
      throw new InputError(InputErrorCode.Format, path, undefined,
        `zip archive with ${entries.length} entries; name the entry (${entries.map((e) => e.name).join(', ')})`);
    }
    return openZipEntry(path, entries[0]!);
  }
  // Progress reads `bytesRead`: a 'data' listener would switch the stream to flowing mode before
  // anyone iterates it, and the first chunks would be lost.
  const raw = createReadStream(path, { highWaterMark: 1 << 20 });
  const gz = head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b;
  const stream = gz ? guard(raw.pipe(createGunzip({ chunkSize: 1 << 20 })), raw, path) : guard(raw, raw, path);
  return { name: path, diskBytes: size, diskBytesRead: () => raw.bytesRead, stream };
}

/** Turns stream errors into InputErrors naming the file (a truncated gzip above all). */
async function* guard(stream: Readable, raw: Readable, name: string): AsyncGenerator<Buffer> {
  if (stream !== raw) raw.on('error', (e) => stream.destroy(e));
  try {
    for await (const chunk of stream) yield chunk as Buffer;
  } catch (e) {
    const msg = (e as Error).message ?? String(e);
    if (/unexpected end of file/i.test(msg)) {
      throw new InputError(InputErrorCode.Truncated, name, undefined, 'compressed stream is truncated (unexpected end of file): the file was cut short');
    }
    if (/incorrect header check|invalid|unknown compression/i.test(msg)) {
      throw new InputError(InputErrorCode.Truncated, name, undefined, `compressed stream is corrupt: ${msg}`);
    }
    throw new InputError(InputErrorCode.Missing, name, undefined, `read failed: ${msg}`);
  } finally {
    raw.destroy();
  }
}

/** Reads a zip's central directory (the archive must be on disk, not a stream). */
export async function listZip(path: string): Promise<ZipEntry[]> {
  const size = await statOrThrow(path);
  const fh = await fsp.open(path, 'r');
  try {
    const tailLen = Math.min(size, 65_557);
    const tail = Buffer.alloc(tailLen);
    await fh.read(tail, 0, tailLen, size - tailLen);
    let eocd = -1;
    for (let i = tailLen - 22; i >= 0; i--) {
      if (tail.readUInt32LE(i) === 0x06054b50) { eocd = i; break; }
    }
    if (eocd < 0) throw new InputError(InputErrorCode.Truncated, path, undefined, 'zip end-of-central-directory record not found (truncated or not a zip)');
    const count = tail.readUInt16LE(eocd + 10);
    const cdSize = tail.readUInt32LE(eocd + 12);
    const cdOffset = tail.readUInt32LE(eocd + 16);
    if (cdOffset === 0xffffffff || count === 0xffff) {
      throw new InputError(InputErrorCode.Format, path, undefined, 'zip64 archives are not supported; unzip it first');
    }
    if (cdOffset + cdSize > size) throw new InputError(InputErrorCode.Truncated, path, undefined, 'zip central directory lies past the end of the file (truncated)');
    const cd = Buffer.alloc(cdSize);
    await fh.read(cd, 0, cdSize, cdOffset);
    const out: ZipEntry[] = [];
    let p = 0;
    for (let i = 0; i < count; i++) {
      if (cd.readUInt32LE(p) !== 0x02014b50) throw new InputError(InputErrorCode.Format, path, undefined, `zip central directory entry ${i} is corrupt`);
      const method = cd.readUInt16LE(p + 10);
      const compressedSize = cd.readUInt32LE(p + 20);
      const usize = cd.readUInt32LE(p + 24);
      const nameLen = cd.readUInt16LE(p + 28);
      const extraLen = cd.readUInt16LE(p + 30);
      const commentLen = cd.readUInt16LE(p + 32);
      const localHeaderOffset = cd.readUInt32LE(p + 42);
      const name = cd.toString('utf8', p + 46, p + 46 + nameLen);
      out.push({ name, method, compressedSize, size: usize, localHeaderOffset });
      p += 46 + nameLen + extraLen + commentLen;
    }
    return out;
  } finally {
    await fh.close();
  }
}

export async function openZipEntry(path: string, entry: ZipEntry): Promise<ByteSource> {
  const name = `${path}!${entry.name}`;
  if (entry.method !== 0 && entry.method !== 8) {
    throw new InputError(InputErrorCode.Format, name, undefined, `zip compression method ${entry.method} is not supported (stored or deflate only)`);
  }
  const size = await statOrThrow(path);
  const fh = await fsp.open(path, 'r');
  let dataStart: number;
  try {
    const lh = Buffer.alloc(30);
    await fh.read(lh, 0, 30, entry.localHeaderOffset);
    if (lh.readUInt32LE(0) !== 0x04034b50) throw new InputError(InputErrorCode.Format, name, undefined, 'zip local header is corrupt');
    dataStart = entry.localHeaderOffset + 30 + lh.readUInt16LE(26) + lh.readUInt16LE(28);
  } finally {
    await fh.close();
  }
  if (dataStart + entry.compressedSize > size) {
    throw new InputError(InputErrorCode.Truncated, name, undefined, 'zip entry data runs past the end of the archive (truncated)');
  }
  const raw = entry.compressedSize === 0
    ? createReadStream(path, { start: 0, end: -1 })
    : createReadStream(path, { start: dataStart, end: dataStart + entry.compressedSize - 1, highWaterMark: 1 << 20 });
  const stream = entry.method === 8 ? guard(raw.pipe(createInflateRaw({ chunkSize: 1 << 20 })), raw, name) : guard(raw, raw, name);
  return { name, diskBytes: entry.compressedSize, diskBytesRead: () => raw.bytesRead, stream };
}

/** Finds the one zip entry whose base name matches a pattern, or says which exist. */
export async function findZipEntry(path: string, pattern: RegExp, what: string): Promise<ZipEntry> {
  const entries = await listZip(path);
  const hits = entries.filter((e) => pattern.test(basename(e.name)));
  if (hits.length !== 1) {
    throw new InputError(InputErrorCode.Format, path, undefined,
      `expected exactly one ${what} entry in the zip, found ${hits.length} (entries: ${entries.map((e) => e.name).join(', ')})`);
  }
  return hits[0]!;
}

/**
 * Splits a byte stream into lines without decoding it. Usage:
 *   while (await r.fill()) while (r.next()) use(r.buf, r.start, r.end)
 * `next()` is synchronous while whole lines are buffered; the final line needs no newline. A `\r`
 * before the newline is dropped.
 */
export class LineReader {
  buf: Buffer = Buffer.alloc(0);
  start = 0;
  end = 0;
  /** 1-based number of the line last returned by next(). */
  lineNo = 0;
  private pos = 0;
  private limit = 0;
  /** Cached position of the next newline at or after pos (-1: not searched / none). */
  private nl = -1;
  private readonly it: AsyncIterator<Buffer>;
  private ended = false;
  private finalDone = false;
  /**
   * The chunk to continue in once `buf` (a line carried over from the previous chunk and the first
   * line of this one) is used up: only that line is copied, not the whole chunk.
   */
  private pending: Buffer | undefined;
  private pendingPos = 0;

  constructor(readonly source: ByteSource) {
    this.it = source.stream[Symbol.asyncIterator]();
  }

  get name(): string {
    return this.source.name;
  }

  /** True if next() will return a line without reading more. */
  ready(): boolean {
    if (this.pos >= this.limit && !this.resume()) return false;
    if (this.nl < this.pos) this.nl = this.buf.indexOf(10, this.pos);
    return (this.nl !== -1 && this.nl < this.limit) || (this.ended && !this.finalDone);
  }

  next(): boolean {
    if (this.pos >= this.limit && !this.resume()) return false;
    let nl = this.nl >= this.pos ? this.nl : this.buf.indexOf(10, this.pos);
    if (nl === -1 || nl >= this.limit) {
      if (!this.ended) {
        this.nl = -1;
        return false;
      }
      nl = this.limit;
      this.finalDone = true;
    }
    this.start = this.pos;
    let e = nl;
    if (e > this.start && this.buf[e - 1] === 13) e--;
    this.end = e;
    this.pos = nl + 1;
    this.lineNo++;
    return true;
  }

  /** Waits until a line is ready; false at the end of input. */
  async ensure(): Promise<boolean> {
    while (!this.ready()) if (!(await this.fill())) return false;
    return true;
  }

  /** Reads more input; false once the stream is exhausted and every line has been handed out. */
  async fill(): Promise<boolean> {
    if (this.pos >= this.limit && this.resume()) return true;
    if (this.ended) return this.pos < this.limit;
    const r = await this.it.next();
    const rest = this.limit - this.pos;
    if (r.done) {
      this.ended = true;
      return rest > 0;
    }
    const chunk = r.value;
    const nl = rest === 0 ? -1 : chunk.indexOf(10);
    if (rest === 0) {
      this.buf = chunk;
    } else if (nl === -1) {
      // The carried line goes on past this whole chunk: it all has to be joined.
      const merged = Buffer.allocUnsafe(rest + chunk.length);
      this.buf.copy(merged, 0, this.pos, this.limit);
      chunk.copy(merged, rest);
      this.buf = merged;
    } else {
      const merged = Buffer.allocUnsafe(rest + nl + 1);
      this.buf.copy(merged, 0, this.pos, this.limit);
      chunk.copy(merged, rest, 0, nl + 1);
      this.buf = merged;
      this.pending = chunk;
      this.pendingPos = nl + 1;
    }
    this.pos = 0;
    this.nl = -1;
    this.limit = this.buf.length;
    return true;
  }

  /** Continues in the pending chunk once the joined line is used up; false if there is none. */
  private resume(): boolean {
    const p = this.pending;
    if (!p) return false;
    this.pending = undefined;
    this.buf = p;
    this.pos = this.pendingPos;
    this.limit = p.length;
    this.nl = -1;
    return true;
  }

  text(): string {
    return this.buf.toString('utf8', this.start, this.end);
  }

  /** Stops reading early (closes the underlying file). */
  async close(): Promise<void> {
    await this.it.return?.();
  }
}

/** Reads every line of a source with a synchronous callback; returns the line count. */
export async function forEachLine(src: ByteSource, fn: (buf: Buffer, start: number, end: number, lineNo: number) => void): Promise<number> {
  const r = new LineReader(src);
  while (await r.fill()) while (r.next()) fn(r.buf, r.start, r.end, r.lineNo);
  return r.lineNo;
}
