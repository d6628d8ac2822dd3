/** Small shared pieces of the benchmark scripts: medians, percentiles, rate text, the machine line. */
import { cpus, totalmem } from 'node:os';

/** Median (the mean of the two middle values for an even count); NaN for none. */
export function median(a: readonly number[]): number {
  if (a.length === 0) return NaN;
  const s = [...a].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** The value at quantile q of an ascending array (nearest rank below); NaN for none. */
export function percentile(sorted: ArrayLike<number>, q: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! : NaN;
}

/** 1.23 M / 456 k. */
export function fmtRate(v: number): string {
  return v >= 1e6 ? `${(v / 1e6).toFixed(2)} M` : `${(v / 1e3).toFixed(0)} k`;
}

/** One description of the machine for every benchmark section: CPU, cores, memory, Node, date. */
export function machineLine(): string {
  return `${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${new Date().toISOString().slice(0, 10)}`;
}
