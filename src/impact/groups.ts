/**
 * Groups prints into aggressive orders and measures each order's realised mid move. Pure state
 * machine: it is told trades and rows in source order and hands back finished groups.
 *
 * Why group: one aggressive order that meets several resting orders prints once per resting order
 * (LOBSTER: one type-4/5 message each, all with the order's timestamp; Binance `trade`: one event per
 * maker fill, all with the taker's `T`). Its impact is the order's, not each print's, so:
 *
 *   a group is a run of consecutive prints of one symbol with the same aggressor sign and the same
 *   exchange timestamp (ns), with no print of another sign or time between them. Book rows at that
 *   same timestamp may come between prints (in LOBSTER every execution is itself a row).
 *
 * Two orders of the same sign in the same nanosecond (LOBSTER) or millisecond (Binance) are merged:
 * the data cannot tell them apart.
 *
 * Realised impact of a group, in its own direction (sign * mid change):
 *   - pre mid: the mid of the last row before its first print (the book the order met);
 *   - after mid: the mid of the first row after its last print (FEATURES.md assigns a trade to that
 *     row: in LOBSTER the execution's own row, on Binance the next depth message). "Before" and
 *     "after" are the caller's placing: analyzer.ts places a print after the last row at or before
 *     its exchange time, so a row that arrived first but is stamped later is its after row;
 *   - horizon h: the mid of the last row at or before (ts + h), but never a row earlier than the
 *     after row, so a quiet book (no row between the prints and ts + h) reads the after mid.
 *     A horizon past the last row is NaN.
 */

export interface TradeGroup<S> {
  symbolKey: number;
  sign: 1 | -1;
  /** Exchange time of its prints (ns since the run's time base). */
  ts: number;
  size: number;
  /** Sum of price * size of its prints. */
  notional: number;
  prints: number;
  /** Size executed against hidden orders (LOBSTER type 5). */
  hiddenSize: number;
  /** The caller's snapshot of the state before the first print (the book the order met). */
  pre: S;
  preMid: number;
  afterMid: number;
  /** One per horizon, in the grouper's horizon order. */
  horizonMid: Float64Array;
}

export interface GrouperCounters {
  prints: number;
  /** Prints with sign 0 (the venue did not say who aggressed): not grouped. */
  unsigned: number;
  /** Prints with no book before them (before the first row, or while the book was out of sync): not grouped. */
  noBook: number;
  groups: number;
  /** Groups whose horizon fell after the last row (that horizon is NaN). */
  horizonPastEnd: number;
}

interface Pending<S> extends TradeGroup<S> {
  /** Whether a row has come since the last print. */
  afterSet: boolean;
}

/** The grouper for one symbol. */
export class TradeGrouper<S> {
  private open: Pending<S> | null = null;
  /** Closed to new prints, but no row has come since their last print yet. */
  private waiting: Pending<S>[] = [];
  /** Finalised groups waiting for their horizons, in finalisation order; `head` is the first live one. */
  private fifo: Pending<S>[] = [];
  private head = 0;
  /** Per horizon: fifo index of the first group whose horizon is still unresolved. */
  private readonly cursor: number[];
  private lastMid = NaN;
  readonly counters: GrouperCounters = { prints: 0, unsigned: 0, noBook: 0, groups: 0, horizonPastEnd: 0 };

  constructor(
    readonly symbolKey: number,
    private readonly horizonsNs: readonly number[],
    private readonly onGroup: (g: TradeGroup<S>) => void,
  ) {
    for (const h of horizonsNs) if (!(h > 0)) throw new RangeError(`horizons must be positive, got ${h} ns`);
    this.cursor = horizonsNs.map(() => 0);
  }

  /**
   * A print. `snapshot` gives the caller's copy of the last row before it (undefined when there is
   * none it can vouch for), `preMid` that row's mid; both are asked for only when the print starts a
   * group, so extending prints copy nothing. `afterMid`: the mid of a row that reached the caller
   * before the print but is later in exchange time (the caller placed the print before it), which is
   * then the print's after row; undefined when the after row is still to come.
   */
  trade(ts: number, px: number, size: number, sign: number, hidden: boolean, snapshot: () => S | undefined, preMid: number, afterMid?: number): void {
    this.counters.prints++;
    const o = this.open;
    if (o && o.sign === sign && o.ts === ts) {
      o.size += size;
      o.notional += px * size;
      o.prints++;
      if (hidden) o.hiddenSize += size;
      o.afterSet = afterMid !== undefined;
      o.afterMid = afterMid ?? NaN;
      return;
    }
    if (o) this.close(o);
    this.open = null;
    if (sign !== 1 && sign !== -1) {
      this.counters.unsigned++;
      return;
    }
    const pre = snapshot();
    if (pre === undefined) {
      this.counters.noBook++;
      return;
    }
    this.open = {
      symbolKey: this.symbolKey,
      sign,
      ts,
      size,
      notional: px * size,
      prints: 1,
      hiddenSize: hidden ? size : 0,
      pre,
      preMid,
      afterMid: NaN,
      horizonMid: new Float64Array(this.horizonsNs.length).fill(NaN),
      afterSet: afterMid !== undefined,
    };
    if (afterMid !== undefined) this.open.afterMid = afterMid;
  }

  /** A book row (after its event was applied) with its mid. */
  row(ts: number, mid: number): void {
    // Horizons first, from groups finalised at earlier rows: lastMid is then at least their after row's.
    this.resolve(ts);
    for (const g of this.waiting) {
      g.afterMid = mid;
      g.afterSet = true;
      this.finalise(g);
    }
    this.waiting.length = 0;
    const o = this.open;
    if (o) {
      if (!o.afterSet) {
        o.afterMid = mid;
        o.afterSet = true;
      }
      // A later row means no further print can share the group's timestamp in source order. On
      // Binance a depth diff stamped later can still arrive between two prints of one taker order,
      // which then counts as two: 7 of the USD-M capture's 15,877 continuation prints, 4 of spot's 6,516.
      if (ts > o.ts) {
        this.finalise(o);
        this.open = null;
      }
    }
    this.lastMid = mid;
  }

  /** End of the stream: groups without an after row or a horizon get NaN there. */
  finish(): void {
    if (this.open) this.close(this.open);
    this.open = null;
    for (const g of this.waiting) this.finalise(g);
    this.waiting.length = 0;
    for (let j = 0; j < this.cursor.length; j++) {
      this.counters.horizonPastEnd += this.fifo.length - this.cursor[j]!;
      this.cursor[j] = this.fifo.length;
    }
    this.emitResolved();
  }

  private close(g: Pending<S>): void {
    if (g.afterSet) this.finalise(g);
    else this.waiting.push(g);
  }

  private finalise(g: Pending<S>): void {
    this.counters.groups++;
    this.fifo.push(g);
  }

  private resolve(ts: number): void {
    const fifo = this.fifo;
    for (let j = 0; j < this.cursor.length; j++) {
      const h = this.horizonsNs[j]!;
      let c = this.cursor[j]!;
      while (c < fifo.length && fifo[c]!.ts + h < ts) {
        fifo[c]!.horizonMid[j] = this.lastMid;
        c++;
      }
      this.cursor[j] = c;
    }
    this.emitResolved();
  }

  private emitResolved(): void {
    let done = this.fifo.length;
    for (const c of this.cursor) if (c < done) done = c;
    while (this.head < done) {
      const g = this.fifo[this.head]!;
      this.fifo[this.head++] = undefined as unknown as Pending<S>;
      this.onGroup(g);
    }
    // Compact now and then so the array does not grow with the day.
    if (this.head > 4096 && this.head * 2 > this.fifo.length) {
      this.fifo = this.fifo.slice(this.head);
      for (let j = 0; j < this.cursor.length; j++) this.cursor[j] = this.cursor[j]! - this.head;
      this.head = 0;
    }
  }
}
