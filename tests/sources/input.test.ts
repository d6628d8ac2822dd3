import { describe, expect, it } from 'vitest';
import { scratchDir } from '../helpers.ts';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { forEachLine, listZip, openInput, findZipEntry, openZipEntry, LineReader } from '../../src/sources/input.ts';
import { parseDecimal, parseSecondsToNs } from '../../src/sources/bytes.ts';
import { InputError } from '../../src/core/errors.ts';

const dir = scratchDir('input');

async function lines(path: string): Promise<string[]> {
  const out: string[] = [];
  await forEachLine(await openInput(path), (b, s, e) => out.push(b.toString('utf8', s, e)));
  return out;
}

describe('input', () => {
  it('reads plain and gzip files the same, CRLF and a missing final newline included', async () => {
    const text = 'a,1\r\nb,2\nc,3';
    writeFileSync(join(dir, 'p.csv'), text);
    writeFileSync(join(dir, 'p.csv.gz'), gzipSync(text));
    writeFileSync(join(dir, 'gz-without-suffix'), gzipSync(text));
    for (const f of ['p.csv', 'p.csv.gz', 'gz-without-suffix']) expect(await lines(join(dir, f))).toEqual(['a,1', 'b,2', 'c,3']);
  });

  it('a truncated gzip is an error naming the file', async () => {
    const gz = gzipSync('x'.repeat(100_000) + '\n'.repeat(10));
    writeFileSync(join(dir, 'cut.gz'), gz.subarray(0, gz.length - 40));
    await expect(lines(join(dir, 'cut.gz'))).rejects.toThrow(/cut\.gz: compressed stream is truncated/);
  });

  it('a missing file is an InputError naming it', async () => {
    await expect(openInput(join(dir, 'nope.csv'))).rejects.toBeInstanceOf(InputError);
    await expect(openInput(join(dir, 'nope.csv'))).rejects.toThrow(/nope\.csv: file not found/);
  });

  it('streams an entry of the LOBSTER sample zip without extracting it', async () => {
    const zip = 'data/lobster/LOBSTER_SampleFile_AMZN_2012-06-21_5.zip';
    const entries = await listZip(zip);
    expect(entries.map((e) => e.name).sort()).toEqual([
      'AMZN_2012-06-21_34200000_57600000_message_5.csv',
      'AMZN_2012-06-21_34200000_57600000_orderbook_5.csv',
      'LOBSTER_SampleFiles_ReadMe.txt',
    ]);
    const e = await findZipEntry(zip, /_message_\d+\.csv$/, 'message');
    let n = 0;
    let first = '';
    await forEachLine(await openZipEntry(zip, e), (b, s, t) => { if (n++ === 0) first = b.toString('utf8', s, t); });
    expect(n).toBe(155_935);
    expect(first.split(',')[1]).toBe('5'); // README: the first AMZN message is a type-5 hidden execution
  });
});

describe('byte parsers', () => {
  it('parseDecimal is bit-identical to Number() on decimal text', () => {
    const cases = ['61800.20', '0.000', '61837.63000000', '5794000', '-9999999999', '0.05', '1e-3', '', '12.5.1', '123456789012.3456', '3.14159265358979312'];
    for (const c of cases) {
      const b = Buffer.from(c);
      const want = c === '' ? NaN : Number(c);
      expect(Object.is(parseDecimal(b, 0, b.length), want), c).toBe(true);
    }
  });

  it('parseSecondsToNs is exact to the nanosecond', () => {
    const b = Buffer.from('34200.015105074');
    expect(parseSecondsToNs(b, 0, b.length)).toBe(34_200_015_105_074);
    const c = Buffer.from('57599.9');
    expect(parseSecondsToNs(c, 0, c.length)).toBe(57_599_900_000_000);
  });
});

describe('input: nothing is lost before reading starts', () => {
  it('a plain file opened long before it is read still yields its first line', async () => {
    writeFileSync(join(dir, 'early.csv'), 'first\nsecond\n');
    const src = await openInput(join(dir, 'early.csv'));
    await new Promise((r) => setTimeout(r, 50));
    const out: string[] = [];
    await forEachLine(src, (b, s, e) => out.push(b.toString('utf8', s, e)));
    expect(out).toEqual(['first', 'second']);
  });
  it('LineReader gives the same lines wherever the chunks split them (a line carried across chunks, a chunk inside a line, CRLF split)', async () => {
    const text = 'a,1\r\nbb,22\n\nccc,333\n' + 'x'.repeat(40) + '\nlast';
    const want = ['a,1', 'bb,22', '', 'ccc,333', 'x'.repeat(40), 'last'];
    const bytes = Buffer.from(text);
    for (let size = 1; size <= bytes.length; size++) {
      const chunks: Buffer[] = [];
      for (let o = 0; o < bytes.length; o += size) chunks.push(Buffer.from(bytes.subarray(o, o + size)));
      const src = { name: `chunks of ${size}`, diskBytes: bytes.length, diskBytesRead: () => 0, stream: (async function* () { yield* chunks; })() };
      // Both ways callers drive it: fill/next (Binance, forEachLine) and ensure/next (LOBSTER).
      const a: string[] = [];
      const r = new LineReader(src);
      while (await r.fill()) while (r.next()) a.push(r.buf.toString('utf8', r.start, r.end));
      expect(a, src.name).toEqual(want);
      const b: string[] = [];
      const r2 = new LineReader({ ...src, stream: (async function* () { yield* chunks; })() });
      while (await r2.ensure()) { r2.next(); b.push(r2.text()); }
      expect(b, src.name).toEqual(want);
    }
  });
});
