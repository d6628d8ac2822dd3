/**
 * Progress for long jobs on stderr: rate and ETA from the fraction of input bytes consumed, redrawn
 * at most a few times a second, only when stderr is a terminal or when forced. `done()` prints the
 * one-line summary.
 */
export interface ProgressOptions {
  label: string;
  unit: string;
  totalBytes?: number;
  enabled?: boolean;
  out?: NodeJS.WritableStream & { isTTY?: boolean };
  intervalMs?: number;
}

export class Progress {
  private readonly started = performance.now();
  private lastDraw = 0;
  private readonly out: NodeJS.WritableStream & { isTTY?: boolean };
  private readonly enabled: boolean;
  private readonly intervalMs: number;
  private drewLine = false;

  constructor(private readonly opts: ProgressOptions) {
    this.out = opts.out ?? process.stderr;
    this.enabled = opts.enabled ?? Boolean(this.out.isTTY);
    this.intervalMs = opts.intervalMs ?? 250;
  }

  /** count: units done so far; bytes / totalBytes: input consumed so far and in all (for the ETA). */
  tick(count: number, bytes?: number, totalBytes?: number): void {
    if (!this.enabled) return;
    const now = performance.now();
    if (now - this.lastDraw < this.intervalMs) return;
    this.lastDraw = now;
    const secs = (now - this.started) / 1000;
    const rate = count / Math.max(secs, 1e-9);
    let eta = '';
    const total = totalBytes ?? this.opts.totalBytes;
    if (total && bytes !== undefined && bytes > 0) {
      const frac = Math.min(1, bytes / total);
      const left = frac > 0 ? (secs * (1 - frac)) / frac : NaN;
      eta = ` ${(frac * 100).toFixed(1)}% ETA ${formatSeconds(left)}`;
    }
    const line = `${this.opts.label}: ${count.toLocaleString('en-US')} ${this.opts.unit} ${formatRate(rate)} ${this.opts.unit}/s${eta}`;
    this.out.write(this.out.isTTY ? `\r${line}\x1b[K` : `${line}\n`);
    this.drewLine = true;
  }

  elapsedSeconds(): number {
    return (performance.now() - this.started) / 1000;
  }

  /** Clears the progress line; the caller prints its own summary. */
  done(): void {
    if (this.drewLine && this.out.isTTY) this.out.write('\r\x1b[K');
  }
}

export function formatRate(perSecond: number): string {
  if (!Number.isFinite(perSecond)) return '-';
  if (perSecond >= 1e6) return `${(perSecond / 1e6).toFixed(2)}M`;
  if (perSecond >= 1e3) return `${(perSecond / 1e3).toFixed(1)}k`;
  return perSecond.toFixed(0);
}

export function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return '?';
  if (s < 60) return `${s.toFixed(1)}s`;
  const m = Math.floor(s / 60);
  return `${m}m${String(Math.round(s - m * 60)).padStart(2, '0')}s`;
}
