/**
 * Training data made of segments (issue 17 item 4): several inputs (`--data` repeated), several
 * symbols, several days of a dataset directory. A segment is one (input, symbol, day): the rows of
 * one symbol of one input file or source spec (a capture is continuous: one segment however many
 * hours it spans), or of one dataset partition (a day). The segments' rows are laid end to end,
 * each contiguous and in time order, on one time axis (ns from the earliest row of all inputs), and
 * `FeatureData.segments` says where each starts and ends, so that the dataset never lets a window
 * start before its segment or a label read past it (src/training/dataset.ts).
 */
import type { FeatureData, Segment } from '../features/data.ts';
import type { SplitFractions } from './dataset.ts';

export type { Segment };

/** One loaded input and the symbols to take from it. */
export interface SegmentInput {
  /** The input as given (`--data`). */
  spec: string;
  data: FeatureData;
}

const utcDate = (ns: bigint): string => new Date(Number(ns / 1_000_000n)).toISOString().slice(0, 10);

/**
 * The rows of `symbols` of every input, as segments laid end to end: ordered by symbol (as listed),
 * then by time. Columns are those every input has. Two segments of one symbol that overlap in time
 * (the same day given twice, a features file and its source) are refused: their rows would be
 * counted twice and one could be trained on while the other is tested.
 */
export function combineSegments(inputs: SegmentInput[], symbols: string[]): FeatureData {
  const live = inputs.filter((p) => p.data.n > 0);
  if (!live.length) throw new Error(`no rows in ${inputs.map((p) => p.spec).join(', ')}`);
  const startNs = live.reduce((m, p) => (p.data.startNs < m ? p.data.startNs : m), live[0]!.data.startNs);
  interface Piece { input: number; symbol: string; rows: number[]; date: string; partition?: string; t0: number; t1: number }
  const pieces: Piece[] = [];
  inputs.forEach((p, k) => {
    const d = p.data;
    const off = Number(d.startNs - startNs);
    // Rows by symbol id in one pass (many symbols: no scan per symbol).
    const bySid = new Map<number, number[]>();
    const wanted = new Set(symbols.map((x) => d.symbols.indexOf(x)).filter((x) => x >= 0));
    for (let i = 0; i < d.n; i++) {
      const sid = d.symbolId[i]!;
      if (!wanted.has(sid)) continue;
      let l = bySid.get(sid);
      if (!l) bySid.set(sid, (l = []));
      l.push(i);
    }
    for (const symbol of symbols) {
      const rows = bySid.get(d.symbols.indexOf(symbol));
      if (!rows?.length) continue;
      const parts = d.dataset?.partitions?.filter((q) => q.symbol === symbol);
      if (parts?.length) {
        const total = parts.reduce((a, q) => a + q.rows, 0);
        if (total !== rows.length) throw new Error(`${p.spec}: ${symbol} has ${rows.length} rows but its partitions count ${total}`);
        let at = 0;
        for (const q of parts) {
          const r = rows.slice(at, at + q.rows);
          at += q.rows;
          pieces.push({ input: k, symbol, rows: r, date: q.date, partition: q.key, t0: d.ts[r[0]!]! + off, t1: d.ts[r[r.length - 1]!]! + off });
        }
      } else {
        pieces.push({ input: k, symbol, rows, date: utcDate(d.startNs + BigInt(d.ts[rows[0]!]!)), t0: d.ts[rows[0]!]! + off, t1: d.ts[rows[rows.length - 1]!]! + off });
      }
    }
  });
  const missing = symbols.filter((s) => !pieces.some((q) => q.symbol === s));
  if (missing.length) throw new Error(`no rows for ${missing.join(', ')} in ${inputs.map((p) => p.spec).join(', ')} (symbols there: ${[...new Set(inputs.flatMap((p) => p.data.symbols))].join(', ')})`);
  pieces.sort((a, b) => symbols.indexOf(a.symbol) - symbols.indexOf(b.symbol) || a.t0 - b.t0 || a.input - b.input);
  const name = (q: Piece): string => `${inputs[q.input]!.spec}${q.partition ? ` ${q.partition}` : ''} ${q.symbol} ${q.date}`;
  for (let j = 1; j < pieces.length; j++) {
    const a = pieces[j - 1]!, b = pieces[j]!;
    if (a.symbol === b.symbol && b.t0 <= a.t1) throw new Error(`segments overlap in time: ${name(a)} and ${name(b)} (${a.symbol} rows of the same moments twice); give each day once`);
  }
  const n = pieces.reduce((a, q) => a + q.rows.length, 0);
  const columns = inputs[0]!.data.columns.filter((c) => inputs.every((p) => p.data.values.has(c)));
  const values = new Map<string, Float64Array>(columns.map((c) => [c, new Float64Array(n)]));
  const symbolId = new Uint16Array(n);
  const ts = new Float64Array(n);
  const segments: Segment[] = [];
  let at = 0;
  for (const q of pieces) {
    const d = inputs[q.input]!.data;
    const off = Number(d.startNs - startNs);
    const sid = symbols.indexOf(q.symbol);
    for (const c of columns) {
      const src = d.values.get(c)!, dst = values.get(c)!;
      for (let j = 0; j < q.rows.length; j++) dst[at + j] = src[q.rows[j]!]!;
    }
    for (let j = 0; j < q.rows.length; j++) {
      symbolId[at + j] = sid;
      ts[at + j] = d.ts[q.rows[j]!]! + off;
    }
    segments.push({ input: q.input, spec: inputs[q.input]!.spec, symbol: q.symbol, date: q.date, ...(q.partition ? { partition: q.partition } : {}), from: at, to: at + q.rows.length });
    at += q.rows.length;
  }
  return { source: inputs.map((p) => p.spec).join(' + '), n, columns, symbols: [...symbols], symbolId, ts, startNs, values, segments };
}

/**
 * The split of segmented data by time: the chronological fractions applied to the union of the
 * rows' times (every symbol, every day), so that one cut time separates train from validation and
 * one validation from test for every segment alike. Row j of the time-sorted union at
 * floor(n * train) is the first validation time, at floor(n * (train + val)) the first test time;
 * a row belongs to the split its time falls in (ties go to the later split). Infinity: no such split.
 */
export function timeCuts(ts: ArrayLike<number>, split: SplitFractions): { val: number; test: number } {
  const sorted = Float64Array.from(ts).sort();
  const n = sorted.length;
  const at = (f: number): number => {
    const j = Math.floor(n * f);
    return j >= n ? Infinity : sorted[j]!;
  };
  return { val: at(split.train), test: at(split.train + split.val) };
}

/**
 * Feature data read from a dataset directory, as segments where a symbol has several partitions
 * (days), so that evaluation too labels each day from its own mids and starts no window in the
 * previous day; returned as it is otherwise. The source, parameters and record are kept.
 */
export function segmentPartitions(d: FeatureData): FeatureData {
  const parts = d.dataset?.partitions;
  if (!parts || d.segments || !d.symbols.some((s) => parts.filter((q) => q.symbol === s).length > 1)) return d;
  return { ...d, ...combineSegments([{ spec: d.source, data: d }], d.symbols), source: d.source };
}
