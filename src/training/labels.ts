/**
 * Labels of FEATURES.md, for feature files written without `--labels`: for horizon k,
 * m+ = mean(mid(t+1) .. mid(t+k)) over the same symbol's rows, l = (m+ - mid(t)) / mid(t),
 * label 1 if l > alpha, -1 if l < -alpha, else 0; NaN for a symbol's last k rows and wherever a mid
 * involved is NaN. Summed in the same order as the feature engine, so both give identical labels.
 */
export function computeLabels(mid: Float64Array, symbolId: Uint16Array, k: number, alpha: number): Float64Array {
  const out = new Float64Array(mid.length).fill(NaN);
  for (const rows of rowsBySymbol(symbolId)) {
    for (let p = 0; p + k < rows.length; p++) {
      const m0 = mid[rows[p]!]!;
      let sum = 0;
      for (let i = 1; i <= k; i++) sum += mid[rows[p + i]!]!;
      const l = (sum / k - m0) / m0;
      out[rows[p]!] = l > alpha ? 1 : l < -alpha ? -1 : l === l ? 0 : NaN;
    }
  }
  return out;
}

/** Row indices per symbol, each in row order. */
function rowsBySymbol(symbolId: Uint16Array): Iterable<number[]> {
  const bySymbol = new Map<number, number[]>();
  for (let i = 0; i < symbolId.length; i++) {
    let l = bySymbol.get(symbolId[i]!);
    if (!l) bySymbol.set(symbolId[i]!, (l = []));
    l.push(i);
  }
  return bySymbol.values();
}

/** The three classes of the labels, in output order. */
export const CLASS_NAMES = ['down', 'flat', 'up'] as const;
export const CLASS_VALUES = [-1, 0, 1] as const;

/** Label value (-1, 0, 1) -> class index (0, 1, 2); -1 for NaN. */
export function classIndex(label: number): number {
  return label === -1 ? 0 : label === 0 ? 1 : label === 1 ? 2 : -1;
}

/**
 * Labels over a time horizon h (ns) instead of k rows: m+ is the time-weighted mean of the mid over
 * (t, t + h] (the mid is a step function, each row's mid holding until the symbol's next row), then
 * the same rule as computeLabels. A row count means a different span of time on a busy and a
 * quiet minute; a time horizon is what a trader holding for 5 s is exposed to. NaN where the
 * symbol's rows end before t + h, and where a NaN mid holds anywhere in the interval or at t.
 */
export function computeTimeLabels(mid: Float64Array, ts: Float64Array, symbolId: Uint16Array, h: number, alpha: number): Float64Array {
  const out = new Float64Array(mid.length).fill(NaN);
  for (const rows of rowsBySymbol(symbolId)) {
    const m = rows.length;
    // Integrals of (mid - ref) over time from the first row, relative to the first row's time:
    // the products stay far below 2^53 whatever the prices and the length of the day.
    const t0 = ts[rows[0]!]!;
    let ref = NaN;
    for (const r of rows) if (mid[r]! === mid[r]!) { ref = mid[r]!; break; }
    if (ref !== ref) continue;
    const P = new Float64Array(m);
    const nanBefore = new Int32Array(m);
    for (let q = 1; q < m; q++) {
      const v = mid[rows[q - 1]!]!;
      const dt = ts[rows[q]!]! - ts[rows[q - 1]!]!;
      const bad = v !== v && dt > 0;
      P[q] = P[q - 1]! + (bad ? 0 : (v - ref) * dt);
      nanBefore[q] = nanBefore[q - 1]! + (bad ? 1 : 0);
    }
    const tLast = ts[rows[m - 1]!]! - t0;
    let q = 0;
    for (let p = 0; p < m; p++) {
      const tp = ts[rows[p]!]! - t0;
      const end = tp + h;
      if (end > tLast) break;
      const m0 = mid[rows[p]!]!;
      if (m0 !== m0) continue;
      // q: the last row at or before `end` (its mid holds from its time up to `end`).
      if (q < p) q = p;
      while (q + 1 < m && ts[rows[q + 1]!]! - t0 <= end) q++;
      const vq = mid[rows[q]!]!;
      // NaN mids in pieces that start at or after p (p's own piece included) and before `end`.
      const nans = nanBefore[q]! - nanBefore[p]! + (vq !== vq && end > ts[rows[q]!]! - t0 ? 1 : 0);
      if (nans > 0) continue;
      const integral = P[q]! - P[p]! + (vq - ref) * (end - (ts[rows[q]!]! - t0));
      const mean = ref + integral / h;
      const l = (mean - m0) / m0;
      out[rows[p]!] = l > alpha ? 1 : l < -alpha ? -1 : 0;
    }
  }
  return out;
}

/** The label column of a time horizon: `label_5s`, `label_500ms`. */
export function timeLabelColumn(ms: number): string {
  return ms % 1000 === 0 ? `label_${ms / 1000}s` : `label_${ms}ms`;
}
