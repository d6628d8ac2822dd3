/**
 * `flowcast impact` on the real GOOG day. The test reads the LOBSTER files itself and groups the
 * executions by its own loop (consecutive type 4/5 messages with one time and one sign = one
 * aggressive order), so the counts the command reports are checked against an independent count,
 * not against numbers copied from a run.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { flowcast } from '../cli/run-cli.ts';
import { GOOG, GOOG_MSG, GOOG_OB, scratchDir } from '../helpers.ts';
import type { ImpactSummary } from '../../src/impact/report.ts';

const dir = scratchDir('impact-cli');
const SIZES = [100, 300];
const EVERY_MS = 60_000;

interface Run { size: number; hidden: boolean; sign: number; preMidOk: boolean }

/** The aggressive orders of the day, by the rule docs/backtest.md states, from the raw files. */
function ordersFromFiles(): { prints: number; noBook: number; runs: Run[] } {
  const msg = gunzipSync(readFileSync(GOOG_MSG)).toString('utf8').trimEnd().split('\n');
  const ob = gunzipSync(readFileSync(GOOG_OB)).toString('utf8').trimEnd().split('\n');
  expect(ob.length).toBe(msg.length);
  const runs: Run[] = [];
  let prints = 0;
  let noBook = 0;
  let cur: (Run & { time: number }) | null = null;
  for (let i = 0; i < msg.length; i++) {
    const [time, type, , size, , dir] = msg[i]!.split(',').map(Number) as number[];
    if (type !== 4 && type !== 5) continue;
    prints++;
    const sign = -dir!;
    if (cur && cur.time === time && cur.sign === sign) {
      cur.size += size!;
      cur.hidden ||= type === 5;
      continue;
    }
    cur = null;
    if (i === 0) {
      noBook++; // no orderbook row before the first message
      continue;
    }
    // The book the order met: orderbook line i - 1 (ask px, ask sz, bid px, bid sz, ...); both sides present.
    const [, askSz, , bidSz] = ob[i - 1]!.split(',').map(Number) as number[];
    cur = { time: time!, sign, size: size!, hidden: type === 5, preMidOk: askSz! > 0 && bidSz! > 0 };
    runs.push(cur);
  }
  return { prints, noBook, runs };
}

describe('flowcast impact on the GOOG day', () => {
  it('counts prints, orders and matched orders as an independent grouping of the message file does; JSON last line; series CSV', async () => {
    const series = join(dir, 'goog-series.csv');
    const r = await flowcast(['impact', '--source', GOOG, '--sizes', SIZES.join(','), '--every-ms', String(EVERY_MS), '--series', series, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    const s = JSON.parse(lines[lines.length - 1]!) as ImpactSummary;
    // With --json the table goes to stderr.
    expect(r.stderr).toMatch(/^GOOG: [\d,]+ rows, [\d,]+ prints in [\d,]+ aggressive orders/);
    expect(s.symbols.map((y) => y.symbol)).toEqual(['GOOG']);
    const g = s.symbols[0]!;

    const want = ordersFromFiles();
    expect(g.prints).toBe(want.prints);
    expect(g.noBook).toBe(want.noBook);
    expect(g.orders).toBe(want.runs.length);
    expect(g.unsigned).toBe(0);

    for (const [k, q] of SIZES.entries()) {
      const z = g.sizes[k]!;
      expect(z.q).toBe(q);
      const inBand = want.runs.filter((x) => x.preMidOk && x.size >= 0.5 * q && x.size <= 2 * q);
      expect(inBand.length).toBeGreaterThan(0);
      const m = z.matched;
      expect(m.orders).toBe(inBand.length);
      expect(m.buys).toBe(inBand.filter((x) => x.sign > 0).length);
      expect(m.withHidden).toBe(inBand.filter((x) => x.hidden).length);
      // Every matched order has a realised cost; only walks that ran out of visible levels lack an estimate.
      const cost = m.pairs[0]!;
      expect([cost.estimate, cost.realised]).toEqual(['walk cost', 'prints VWAP']);
      expect(cost.n + m.walkExhausted).toBe(m.orders);
      expect(m.byHidden.visibleOnly.n + m.byHidden.withHidden.n).toBe(cost.n);
      // LOBSTER is the whole order flow: an order that met only visible orders executed exactly at the
      // levels the walk reads, so the walk's cost equals the prints' VWAP for every one of them.
      expect(m.byHidden.visibleOnly.within).toBe(1);
      expect(m.byHidden.visibleOnly.errP10).toBe(0);
      expect(m.byHidden.visibleOnly.errP90).toBe(0);
      // And the mid it leaves is the one the walk predicts (moved or not).
      expect(m.moveByHidden.visibleOnly.within).toBe(1);
      expect(m.moveByHidden.visibleOnly.n + m.moveByHidden.withHidden.n).toBe(m.pairs[1]!.n);
      // Hidden liquidity can only fill at prices no worse than the visible levels (price priority),
      // so with hidden prints the walk overestimates the cost, never under (at p10 and above).
      expect(m.byHidden.withHidden.errP10).toBeGreaterThanOrEqual(0);
      // One pair per estimate and target: walk cost, walk mid move x (after + 2 horizons), kyle x 3.
      expect(m.pairs.map((p) => `${p.estimate} / ${p.realised}`)).toEqual([
        'walk cost / prints VWAP', 'walk mid move / mid after', 'walk mid move / mid +1s', 'walk mid move / mid +10s',
        'kyle lambda*q / mid after', 'kyle lambda*q / mid +1s', 'kyle lambda*q / mid +10s',
      ]);
      for (const p of m.pairs) expect(p.n + p.dropped).toBe(m.orders);
    }

    // The series: one line per sample time and size, at multiples of --every-ms, as many as the summary says.
    const csv = readFileSync(series, 'utf8').trimEnd().split('\n');
    const header = csv[0]!.split(',');
    expect(header.slice(0, 3)).toEqual(['ts_ns', 'symbol', 'q']);
    const body = csv.slice(1).map((l) => l.split(','));
    for (const [k, q] of SIZES.entries()) {
      const mine = body.filter((f) => Number(f[2]) === q);
      expect(mine.length).toBe(g.sizes[k]!.series.samples);
      expect(mine.length).toBeGreaterThan(0);
      for (const f of mine) {
        expect(BigInt(f[0]!) % BigInt(EVERY_MS * 1e6)).toBe(0n);
        expect(BigInt(f[3]!) < BigInt(f[0]!)).toBe(true); // the book used is from before the sample time
      }
    }
  }, 180_000); // a whole day through the CLI (and a dist rebuild when stale) on a shared machine

  it('refuses a run without a size, and a bad band, as usage errors', async () => {
    const a = await flowcast(['impact', '--source', GOOG]);
    expect(a.code).toBe(2);
    expect(a.stderr.split('\n')[0]).toBe('flowcast impact: --size Q (or --sizes Q1,Q2,...) is required');
    const b = await flowcast(['impact', '--source', GOOG, '--size', '100', '--band', '2,1']);
    expect(b.code).toBe(2);
    expect(b.stderr.split('\n')[0]).toMatch(/^flowcast impact: --band: expected LO,HI/);
  });
});
