/**
 * `features --skip-bad sequence-gap` on a capture with a depth line deleted (issue 12): the summary
 * accounts for every diff (rows written + withheld + dropped before sync + stale), and the run says
 * whether the book resynced, and where, or that the input had no later snapshot to do it.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { flowcast } from './run-cli.ts';
import { USDM_FILE, binanceSnapshotAfter, scratchDir } from '../helpers.ts';

const dir = scratchDir('cli-gaps');
const lines = gunzipSync(readFileSync(USDM_FILE)).toString('utf8').split('\n').filter(Boolean);
const isDiff = (l: string) => l.includes('"depthUpdate"');
/** The 300th depth diff of the capture (line 3,887), well after the sync. */
const cut = lines.map((l, i) => (isDiff(l) ? i : -1)).filter((i) => i >= 0)[299]!;

interface Summary { rows: number; withheld: number; dropped: number; stale: number; text: string }

async function features(name: string, file: string[]): Promise<Summary> {
  const src = join(dir, `${name}.jsonl`);
  writeFileSync(src, file.join('\n') + '\n');
  const r = await flowcast(['features', '--source', `binance:${src}`, '--out', join(dir, `${name}.csv`), '--vpin-bucket', '5', '--skip-bad', 'sequence-gap']);
  expect(r.stderr).not.toMatch(/Error/);
  expect(r.code).toBe(0);
  const m = /features: ([\d,]+) rows .* rows withheld ([\d,]+), diffs dropped before sync ([\d,]+), stale diffs ([\d,]+),/.exec(r.stderr);
  expect(m, r.stderr).not.toBeNull();
  const n = (s: string) => Number(s.replaceAll(',', ''));
  const written = readFileSync(join(dir, `${name}.csv`), 'utf8').trimEnd().split('\n').length - 1;
  expect(n(m![1]!)).toBe(written);
  return { rows: n(m![1]!), withheld: n(m![2]!), dropped: n(m![3]!), stale: n(m![4]!), text: r.stderr };
}

describe('features --skip-bad sequence-gap', () => {
  it('counts every row after an unrecoverable gap as withheld and says the input has no later snapshot', async () => {
    const gapped = lines.filter((_, i) => i !== cut);
    const s = await features('gap', gapped);
    const diffs = gapped.filter(isDiff).length;
    expect(s.rows + s.withheld + s.dropped + s.stale).toBe(diffs);
    expect(s.rows).toBe(295);
    expect(s.withheld).toBe(diffs - 295 - s.dropped);
    // The gap shows at the first diff after the deleted line.
    const at = gapped.findIndex((l, i) => i >= cut && isDiff(l)) + 1;
    expect(s.text).toMatch(new RegExp(`BTCUSDT lost sync at \\S+gap\\.jsonl:${at} \\(sequence-gap: expected pu=\\d+.*\\) and never resynced: the input has no later snapshot`));
  });

  it('resyncs at a later snapshot in the file, and says where', async () => {
    // A REST snapshot of the clean book after a diff D 200 diffs past the gap, inserted after D.
    const clean = join(dir, 'clean.jsonl');
    writeFileSync(clean, lines.join('\n') + '\n');
    const dIdx = lines.map((l, i) => (isDiff(l) ? i : -1)).filter((i) => i > cut)[200]!;
    const snapshot = await binanceSnapshotAfter(clean, lines[dIdx]!);
    const file = lines.filter((_, i) => i !== cut);
    file.splice(dIdx, 0, snapshot);
    const s = await features('resync', file);
    expect(s.rows + s.withheld + s.dropped + s.stale).toBe(file.filter(isDiff).length);
    // Withheld: the 200 diffs from the gap up to D; D continues the snapshot (U <= lastUpdateId <= u) and
    // every diff from there on makes a row. The resync is at the snapshot's line, right after D's.
    expect(s.withheld).toBe(200);
    const at = file.findIndex((l, i) => i >= cut && isDiff(l)) + 1;
    expect(s.text).toMatch(new RegExp(`BTCUSDT lost sync at \\S+resync\\.jsonl:${at} \\(sequence-gap: .*\\), resynced at line ${dIdx + 1}`));
    expect(s.text).not.toContain('never resynced');
  });
});
