/**
 * Quote stuffing: a flood of book updates, nearly all of them cancelled, far above what is normal
 * for the symbol. Book updates are counted in 100 ms buckets (adds, cancels, executions: an L3 order
 * message, or one price level's change on an L2 feed). Over the trailing `windowMs`:
 *     rate = updates / window  >=  max(rateMultiple * baseline, minRate)   (per second)
 *     cancels / adds >= cancelRatio  with adds >= minAdds
 * where baseline is the median per-second update count of the last `baselineS` seconds (seconds
 * without updates count as 0), needing `minBaselineS` of them. The cancel ratio is cancels / adds
 * (counts), capped at 1 in the evidence: stuffing adds and cancels in pairs, so it is near 1; a
 * one-way pull of liquidity (cancels with few adds) is liquidity evaporation, not stuffing, and
 * fails minAdds. critical at criticalMultiple x baseline. Re-arms when the rate is back under
 * twice the baseline, no sooner than cooldownMs.
 */
import { BucketCounter, SlidingWindowQuantile } from '../stats.ts';
import type { AnalyticsOptions } from '../options.ts';
import { NS_PER_MS, R_TS, r6, type DetectorContext } from './context.ts';
import type { Detector } from './detector.ts';
import { M } from '../measures/columns.ts';
import { fmt } from '../alerts.ts';

export const UPD_ADD = 0;
export const UPD_CANCEL = 1;
export const UPD_EXEC = 2;

const BUCKET_NS = 100 * NS_PER_MS;
const NS_PER_S = 1_000_000_000;

export class StuffingMonitor implements Detector {
  readonly kind = 'stuffing';
  private readonly counter: BucketCounter;
  private readonly baseline: SlidingWindowQuantile;
  /** Updates in the current calendar second (the baseline's unit). */
  private thisSecond = 0;
  /** Updates in the window, and the trigger and re-arm levels as counts over it (fixed between seconds). */
  private inWindow = 0;
  private triggerCount = Infinity;
  private rearmCount = 0;
  private readonly windowS: number;
  private second = NaN;
  /** Start of the next 100 ms bucket: until then the clock has nothing to do. */
  private nextBucket = -Infinity;
  private armed = true;
  private lastAlert = -Infinity;
  private readonly cooldownNs: number;

  constructor(private readonly o: AnalyticsOptions['stuffing'], private readonly ctx: DetectorContext) {
    this.counter = new BucketCounter(BUCKET_NS, o.windowMs / 100, 3);
    this.baseline = new SlidingWindowQuantile(o.baselineS);
    this.windowS = o.windowMs / 1000;
    this.cooldownNs = o.cooldownMs * NS_PER_MS;
  }

  /** Current update rate (per second) over the window. */
  rate(): number {
    return this.inWindow / this.windowS;
  }

  cancelRatio(): number {
    const a = this.counter.total(UPD_ADD);
    return a > 0 ? this.counter.total(UPD_CANCEL) / a : NaN;
  }

  baselineRate(): number {
    return this.baseline.median();
  }

  onAdd(): void {
    this.update(UPD_ADD);
  }

  onCancel(): void {
    this.update(UPD_CANCEL);
  }

  onExec(): void {
    this.update(UPD_EXEC);
  }

  measures(v: Float64Array, ts: number): void {
    this.advance(ts);
    v[M.update_rate] = this.rate();
    v[M.cancel_ratio] = this.cancelRatio();
  }

  counters(): Record<string, number> {
    return { updateBaseline: this.baselineRate() };
  }

  /** Moves the clock (call on any event of the symbol). */
  advance(ts: number): void {
    if (ts < this.nextBucket) return;
    this.nextBucket = (Math.floor(ts / BUCKET_NS) + 1) * BUCKET_NS;
    const sec = Math.floor(ts / NS_PER_S);
    if (this.second !== this.second) this.second = sec;
    else if (sec > this.second) {
      // The finished second's count, then zeros for the seconds with no update at all.
      this.baseline.push(this.thisSecond);
      if (sec - this.second > 1) this.baseline.pushRepeated(0, sec - this.second - 1);
      this.second = sec;
      this.thisSecond = 0;
      if (this.baseline.size >= this.o.minBaselineS) {
        const base = this.baseline.median();
        this.triggerCount = Math.max(this.o.rateMultiple * base, this.o.minRate) * this.windowS;
        this.rearmCount = Math.max(2 * base, this.o.minRate / 2) * this.windowS;
      }
    }
    const c = this.counter;
    c.advance(ts);
    this.inWindow = c.total(UPD_ADD) + c.total(UPD_CANCEL) + c.total(UPD_EXEC);
  }

  /** One book update of `kind` (UPD_*) at R_TS. */
  private update(kind: number): void {
    const ts = this.ctx.reg[R_TS]!;
    if (ts >= this.nextBucket) this.advance(ts);
    this.counter.add(kind);
    this.thisSecond++;
    const n = ++this.inWindow;
    if (!this.armed) {
      if (n < this.rearmCount && ts - this.lastAlert >= this.cooldownNs) this.armed = true;
      return;
    }
    if (n < this.triggerCount) return;
    const base = this.baseline.median();
    const rate = this.rate();
    const threshold = this.triggerCount / this.windowS;
    const adds = this.counter.total(UPD_ADD);
    const cancels = this.counter.total(UPD_CANCEL);
    if (adds < this.o.minAdds || cancels < this.o.cancelRatio * adds) return;
    this.armed = false;
    this.lastAlert = ts;
    const multiple = base > 0 ? rate / base : Infinity;
    const critical = rate >= this.o.criticalMultiple * base && rate >= this.o.minRate;
    this.ctx.emit(ts, 'quote-stuffing', critical ? 'critical' : 'warning',
      `${this.ctx.symbol} ${fmt(rate)} book updates/s over ${this.o.windowMs} ms (${base > 0 ? fmt(multiple) + 'x' : 'vs a zero'} baseline ${fmt(base)}/s), ` +
      `${Math.round(100 * Math.min(1, cancels / adds))}% of adds cancelled`,
      {
        rate_per_s: r6(rate),
        baseline_per_s: r6(base),
        multiple: r6(multiple),
        threshold_per_s: r6(threshold),
        adds,
        cancels,
        executions: this.counter.total(UPD_EXEC),
        cancel_ratio: r6(Math.min(1, cancels / adds)),
        window_ms: this.o.windowMs,
      });
  }
}
