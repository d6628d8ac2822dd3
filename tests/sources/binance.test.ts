import { describe, expect, it } from 'vitest';
import { writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { openSource } from '../../src/sources/spec.ts';
import { BadInputPolicy, InputError } from '../../src/core/errors.ts';
import type { BookRow } from '../../src/model/row.ts';
import { SPOT_FILE, USDM_FILE, binanceSnapshotAfter, scratchDir } from '../helpers.ts';
import { bookBuilder } from '../../src/pipeline/book.ts';

const dir = scratchDir('binance');
const usdmLines = gunzipSync(readFileSync(USDM_FILE)).toString('utf8').split('\n').filter(Boolean);
const json = (l: string) => JSON.parse(l.slice(l.indexOf(' ') + 1));
const isDiff = (l: string) => l.includes('"depthUpdate"');

interface Built { seq: number; line: number; nTrades: number; top: number[] }

async function build(file: string, policy?: BadInputPolicy) {
  const src = await openSource(`binance:${file}`, { policy });
  const rows: Built[] = [];
  const builder = bookBuilder({
    levels: 10,
    policy,
    sourceName: file,
    sink: { onRow: (r: BookRow) => rows.push({ seq: r.seq, line: r.line, nTrades: r.nTrades, top: [...r.bidPx, ...r.bidSz, ...r.askPx, ...r.askSz] }) },
  });
  await src.run(builder);
  builder.finish();
  return { rows, builder };
}

function writeLines(name: string, lines: string[]): string {
  const p = join(dir, name);
  writeFileSync(p, gzipSync(lines.join('\n') + '\n'));
  return p;
}

describe('Binance capture: snapshot sync', () => {
  it('USD-M: buffered diffs before the snapshot; the first applied diff straddles lastUpdateId', async () => {
    const { rows, builder } = await build(USDM_FILE);
    const snapLine = usdmLines.findIndex((l) => l.includes('"lastUpdateId"')) + 1;
    expect(snapLine).toBe(55);
    const lid = json(usdmLines[snapLine - 1]!).lastUpdateId as number;
    const first = json(usdmLines[rows[0]!.line - 1]!).data;
    expect(first.U <= lid && lid <= first.u).toBe(true);
    expect(rows[0]!.line).toBe(42);
    expect(rows.length).toBe(6_547);
    expect(builder.totals().diffsDropped).toBe(4);
    // Trades before the first row all go to it.
    const before = usdmLines.slice(0, 41).filter((l) => l.includes('"e":"trade"')).length;
    expect(rows[0]!.nTrades).toBe(before);
    // Every trade lands in exactly one row (none after the last row in this capture).
    expect(rows.reduce((a, r) => a + r.nTrades, 0)).toBe(21_313);
  });

  it('spot: the first applied diff has U <= lastUpdateId + 1 <= u', async () => {
    const { rows } = await build(SPOT_FILE);
    const lines = gunzipSync(readFileSync(SPOT_FILE)).toString('utf8').split('\n');
    const lid = json(lines.find((l) => l.includes('"lastUpdateId"'))!).lastUpdateId as number;
    const first = json(lines[rows[0]!.line - 1]!).data;
    expect(first.U <= lid + 1 && lid + 1 <= first.u).toBe(true);
    expect(rows.length).toBe(3_449);
  });
});

describe('Binance capture: sequence gaps', () => {
  // A slice of the USD-M capture with one diff removed well after the sync.
  const slice = usdmLines.slice(0, 4000);
  const diffIdx = slice.map((l, i) => (isDiff(l) ? i : -1)).filter((i) => i > 60);
  const dropped = diffIdx[20]!;
  const gapped = slice.filter((_, i) => i !== dropped);

  it('stops by default with the file, line and the expected pu', async () => {
    const file = writeLines('gap.jsonl.gz', gapped);
    const err = await build(file).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    const e = err as InputError;
    expect(e.code).toBe('sequence-gap');
    expect(e.line).toBe(dropped + 1); // the diff after the removed one now sits on the removed one's line
    const prevU = json(slice[diffIdx[19]!]!).data.u;
    expect(e.message).toContain(`expected pu=${prevU}`);
  });

  it('--skip-bad sequence-gap withholds every row until a snapshot resyncs the book', async () => {
    const file = writeLines('gap-skip.jsonl.gz', gapped);
    const policy = BadInputPolicy.parse('sequence-gap');
    const { rows, builder } = await build(file, policy);
    const clean = await build(writeLines('clean.jsonl.gz', slice));
    expect(builder.totals().gaps).toBe(1);
    const lastGood = json(slice[diffIdx[19]!]!).data.u as number;
    expect(rows.every((r) => r.seq <= lastGood)).toBe(true);
    expect(rows.length).toBe(clean.rows.filter((r) => r.seq <= lastGood).length);
    // Every diff after the gap would have made a row: each is counted withheld (issue 12: this was 0),
    // and the gap is marked as never resynced (the slice has no later snapshot).
    expect(builder.totals().rowsWithheld).toBe(clean.rows.length - 1 - rows.length);
    const t = builder.totals();
    expect(t.rows + t.rowsWithheld + t.diffsDropped + t.diffsStale).toBe(gapped.filter(isDiff).length);
    expect(builder.gaps[0]).toMatchObject({ kind: 'sequence-gap', line: dropped + 1, unresolved: true });
  });

  it('a later snapshot resyncs: rows after it equal the clean rebuild exactly', async () => {
    // Take the clean book right after a later diff D and insert it as a REST snapshot after D's line.
    const dIdx = diffIdx[60]!;
    const D = json(slice[dIdx]!).data;
    const snap = await binanceSnapshotAfter(writeLines('clean2.jsonl.gz', slice), slice[dIdx]!);
    const withSnap = [...gapped];
    withSnap.splice(dIdx, 0, snap); // after D (one line earlier in `gapped` than in `slice`)
    const policy = BadInputPolicy.parse('sequence-gap');
    const { rows, builder } = await build(writeLines('resync.jsonl.gz', withSnap), policy);
    const clean = await build(writeLines('clean3.jsonl.gz', slice));
    expect(builder.totals().resyncs).toBe(1);
    expect(builder.gaps[0]!.resyncedAtLine).toBeGreaterThan(builder.gaps[0]!.line);
    const after = rows.filter((r) => r.seq >= D.u);
    const cleanAfter = clean.rows.filter((r) => r.seq >= D.u);
    expect(after.length).toBe(cleanAfter.length);
    expect(after.length).toBeGreaterThan(100);
    for (let i = 0; i < after.length; i++) expect(after[i]!.top).toEqual(cleanAfter[i]!.top);
    // The diffs between the gap and the snapshot are the rows withheld: nothing else is missing.
    const t = builder.totals();
    expect(t.rowsWithheld).toBe(clean.rows.length - 1 - rows.length);
    expect(t.rows + t.rowsWithheld + t.diffsDropped + t.diffsStale).toBe(gapped.filter(isDiff).length);
    expect(builder.gaps[0]!.unresolved).toBeUndefined();
  });
});

describe('Binance bad input', () => {
  const head = usdmLines.slice(0, 200);
  it('malformed JSON names the file and line', async () => {
    const lines = [...head];
    lines[100] = lines[100]!.slice(0, 60);
    await expect(build(writeLines('badjson.jsonl.gz', lines))).rejects.toThrow(/badjson\.jsonl\.gz:101: invalid JSON/);
  });

  it('a line without the receive-time prefix', async () => {
    const lines = [...head];
    lines[120] = lines[120]!.slice(lines[120]!.indexOf(' ') + 1);
    await expect(build(writeLines('noprefix.jsonl.gz', lines))).rejects.toThrow(/:121: expected "<local_recv_ts_ns> <json>"/);
  });

  it('a file that is not a Binance capture at all', async () => {
    const p = join(dir, 'quotes.csv');
    writeFileSync(p, 'exchange,symbol,timestamp\nbinance,BTCUSDT,1\n');
    await expect(build(p)).rejects.toThrow(/quotes\.csv:1: not a Binance capture/);
  });

  it('spot-style and futures-style diffs mixed under one symbol', async () => {
    const lines = [...head];
    const i = lines.findIndex((l, k) => k > 60 && isDiff(l));
    lines[i] = lines[i]!.replace(/,"pu":\d+/, '');
    await expect(build(writeLines('mixed.jsonl.gz', lines))).rejects.toThrow(/spot and futures streams mixed/);
  });

  it('a truncated gzip', async () => {
    const gz = readFileSync(USDM_FILE);
    const p = join(dir, 'cut.jsonl.gz');
    writeFileSync(p, gz.subarray(0, gz.length >> 1));
    await expect(build(p)).rejects.toThrow(/cut\.jsonl\.gz: compressed stream is truncated/);
  });

  it('exchange time going backwards between depth diffs', async () => {
    const lines = [...head];
    const i = lines.findIndex((l, k) => k > 60 && isDiff(l));
    lines[i] = lines[i]!.replace(/"E":(\d+)/, (_, e) => `"E":${Number(e) - 60_000}`);
    const err = await build(writeLines('back.jsonl.gz', lines)).catch((e: unknown) => e);
    expect((err as InputError).code).toBe('non-monotonic-time');
    expect((err as InputError).line).toBe(i + 1);
  });
});
