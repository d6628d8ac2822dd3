/**
 * Multi-day inputs made from the real samples in data/: a LOBSTER day copied under other dates, and
 * a Binance capture moved whole days later (times, and update and trade ids, so that the days read as
 * one continuous capture when joined).
 */
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { GOOG_MSG, GOOG_OB, SPOT_FILE } from '../helpers.ts';

const DAY_MS = 86_400_000;
const DAY_NS = 86_400_000_000_000n;
/** Larger than a sample's span of trade ids, so that the days' ids keep increasing. */
const TRADE_ID_STEP = 1_000_000_000;

/** GOOG's sample day under each of `dates` (YYYY-MM-DD) in `dir`; returns the files. */
export function lobsterDays(dir: string, dates: readonly string[]): string[] {
  mkdirSync(dir, { recursive: true });
  const out: string[] = [];
  for (const d of dates) {
    for (const [src, kind] of [[GOOG_MSG, 'message'], [GOOG_OB, 'orderbook']] as const) {
      const f = join(dir, `GOOG_${d}_34200000_57600000_${kind}_10.csv.gz`);
      copyFileSync(src, f);
      out.push(f);
    }
  }
  return out;
}

/**
 * The capture with its REST snapshot moved to just before the first diff that reaches past it (the
 * sample's snapshot answered ~70 ms after that diff arrived; its time becomes that diff's less 1 ns).
 * A book already in sync at a day's start (--carry, or the joined days) then meets a snapshot that
 * is not older than itself, and a day read alone still syncs from it.
 */
function snapshotBeforeItsDiff(lines: string[]): string[] {
  const at = lines.findIndex((l) => l.includes('"lastUpdateId"'));
  const snap = lines[at]!;
  const last = (JSON.parse(snap.slice(snap.indexOf(' ') + 1)) as { lastUpdateId: number }).lastUpdateId;
  const rest = lines.filter((_, i) => i !== at);
  const to = rest.findIndex((l) => l.includes('"e":"depthUpdate"') && (JSON.parse(l.slice(l.indexOf(' ') + 1)).data as { u: number }).u > last);
  const ts = BigInt(rest[to]!.slice(0, rest[to]!.indexOf(' '))) - 1n;
  rest.splice(to, 0, `${ts}${snap.slice(snap.indexOf(' '))}`);
  return rest;
}

/**
 * The Binance spot capture's lines moved `k` days later, its update ids moved on so that day k's
 * first diff follows day k-1's last (U = previous u + 1), as in one capture cut at midnight.
 */
export function binanceDayLines(k: number, file = SPOT_FILE): string[] {
  const lines = snapshotBeforeItsDiff(gunzipSync(readFileSync(file)).toString('utf8').split('\n').filter(Boolean));
  const diffs = lines.filter((l) => l.includes('"e":"depthUpdate"')).map((l) => JSON.parse(l.slice(l.indexOf(' ') + 1)).data as { U: number; u: number });
  const idStep = diffs[diffs.length - 1]!.u + 1 - diffs[0]!.U;
  return lines.map((l) => {
    const sp = l.indexOf(' ');
    const local = BigInt(l.slice(0, sp)) + BigInt(k) * DAY_NS;
    const j = JSON.parse(l.slice(sp + 1)) as Record<string, unknown>;
    const d = (j.data ?? j) as Record<string, number>;
    for (const f of ['E', 'T'] as const) if (typeof d[f] === 'number') d[f] += k * DAY_MS;
    for (const f of ['U', 'u', 'lastUpdateId'] as const) if (typeof d[f] === 'number') d[f] += k * idStep;
    if (typeof d.t === 'number') d.t += k * TRADE_ID_STEP;
    return `${local} ${JSON.stringify(j)}`;
  });
}

/** `days` consecutive days of the Binance spot sample (2024-08-08 onwards) in `dir`, named as the recorder names them. */
export function binanceDays(dir: string, days: number): string[] {
  mkdirSync(dir, { recursive: true });
  const out: string[] = [];
  for (let k = 0; k < days; k++) {
    const date = new Date(Date.UTC(2024, 7, 8 + k)).toISOString().slice(0, 10).replace(/-/g, '');
    const f = join(dir, `binance-spot_btcusdt_${date}.jsonl.gz`);
    writeFileSync(f, gzipSync(binanceDayLines(k).join('\n') + '\n', { level: 1 }));
    out.push(f);
  }
  return out;
}

/** The same days joined into one capture file: the continuous run's input. */
export function binanceJoined(file: string, days: number): string {
  mkdirSync(dirname(file), { recursive: true });
  const all: string[] = [];
  for (let k = 0; k < days; k++) all.push(...binanceDayLines(k));
  writeFileSync(file, gzipSync(all.join('\n') + '\n', { level: 1 }));
  return file;
}
