/**
 * Labels of FEATURES.md, for feature files written without `--labels`: for horizon k,
 * m+ = mean(mid(t+1) .. mid(t+k)) over the same symbol's rows, l = (m+ - mid(t)) / mid(t),
 * label 1 if l > alpha, -1 if l < -alpha, else 0; NaN for a symbol's last k rows and wherever a mid
 * involved is NaN. Summed in the same order as the feature engine, so both give identical labels.
 */
export function computeLabels(mid: Float64Array, symbolId: Uint16Array, k: number, alpha: number): Float64Array {
  const n = mid.length;
  const out = new Float64Array(n).fill(NaN);
  // Row indices per symbol, in order.
  const bySymbol = new Map<number, number[]>();
  for (let i = 0; i < n; i++) {
    let l = bySymbol.get(symbolId[i]!);
    if (!l) bySymbol.set(symbolId[i]!, (l = []));
    l.push(i);
  }
  for (const rows of bySymbol.values()) {
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

/** The three classes of the labels, in output order. */
export const CLASS_NAMES = ['down', 'flat', 'up'] as const;
export const CLASS_VALUES = [-1, 0, 1] as const;

/** Label value (-1, 0, 1) -> class index (0, 1, 2); -1 for NaN. */
export function classIndex(label: number): number {
  return label === -1 ? 0 : label === 0 ? 1 : label === 1 ? 2 : -1;
}
