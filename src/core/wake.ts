/**
 * A wake-up after a delay given in microseconds, as the batchers need (rows or requests waiting at
 * most maxQueueDelayUs). Node timers tick in milliseconds, so a delay under 1 ms waits on a
 * setImmediate turn instead: other I/O keeps being served in between, and the caller checks again.
 * One wake-up pending at a time; cancel() drops it.
 */
export class Wake {
  private timer: NodeJS.Timeout | undefined;
  private polling = false;

  constructor(private readonly onWake: () => void, private readonly unref = false) {}

  get pending(): boolean {
    return this.timer !== undefined || this.polling;
  }

  /** Wakes after `remainingUs` (at the next setImmediate turn under 1 ms); nothing if one is pending. */
  arm(remainingUs: number): void {
    if (this.pending) return;
    if (remainingUs >= 1000) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.onWake();
      }, Math.floor(remainingUs / 1000));
      if (this.unref) this.timer.unref();
      return;
    }
    this.polling = true;
    setImmediate(() => {
      if (!this.polling) return;
      this.polling = false;
      this.onWake();
    });
  }

  cancel(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    this.polling = false;
  }
}
