/**
 * The one progress line of a dataset build, fed by every worker: partitions done of planned, rows
 * and rows/s so far, and an ETA from the input bytes read of all the bytes the run will read.
 */
import { formatRate, formatSeconds } from '../core/progress.ts';

export class BuildProgress {
  private readonly started = performance.now();
  private lastDraw = 0;
  private drew = false;
  private readonly out: NodeJS.WritableStream & { isTTY?: boolean };
  private readonly enabled: boolean;
  /** Rows and bytes of finished tasks, and of running ones by task id. */
  private rowsDone = 0;
  private bytesDone = 0;
  private readonly running = new Map<number, { rows: number; bytes: number }>();
  partitionsDone = 0;

  constructor(private readonly partitions: number, private readonly totalBytes: number, opts: { enabled?: boolean; out?: NodeJS.WritableStream & { isTTY?: boolean } } = {}) {
    this.out = opts.out ?? process.stderr;
    this.enabled = opts.enabled ?? Boolean(this.out.isTTY);
  }

  update(task: number, rows: number, bytes: number): void {
    this.running.set(task, { rows, bytes });
    this.draw();
  }

  finish(task: number, partitions: number, rows: number, bytes: number): void {
    this.running.delete(task);
    this.partitionsDone += partitions;
    this.rowsDone += rows;
    this.bytesDone += bytes;
    this.draw(true);
  }

  get rows(): number {
    let r = this.rowsDone;
    for (const t of this.running.values()) r += t.rows;
    return r;
  }

  elapsedSeconds(): number {
    return (performance.now() - this.started) / 1000;
  }

  line(): string {
    let bytes = this.bytesDone;
    for (const t of this.running.values()) bytes += t.bytes;
    const secs = this.elapsedSeconds();
    const rows = this.rows;
    const frac = this.totalBytes > 0 ? Math.min(1, bytes / this.totalBytes) : 0;
    const eta = frac > 0 ? formatSeconds((secs * (1 - frac)) / frac) : '?';
    return `dataset: ${this.partitionsDone}/${this.partitions} partitions, ${rows.toLocaleString('en-US')} rows, ` +
      `${formatRate(rows / Math.max(secs, 1e-9))} rows/s, ${(frac * 100).toFixed(1)}% ETA ${eta}`;
  }

  private draw(force = false): void {
    if (!this.enabled) return;
    const now = performance.now();
    if (!force && now - this.lastDraw < 250) return;
    this.lastDraw = now;
    const l = this.line();
    this.out.write(this.out.isTTY ? `\r${l}\x1b[K` : `${l}\n`);
    this.drew = true;
  }

  done(): void {
    if (this.drew && this.out.isTTY) this.out.write('\r\x1b[K');
  }
}
