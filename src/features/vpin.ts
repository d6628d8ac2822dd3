/**
 * VPIN (Easley, López de Prado, O'Hara 2012) with volume buckets of size V and a window of n
 * buckets, as FEATURES.md defines it: trades fill buckets in arrival order; a trade larger than a
 * bucket's remaining room is split and the rest goes to the next bucket(s). For each completed
 * bucket, B and S are its buyer- and seller-initiated volume; VPIN = sum over the last n completed
 * buckets of |B - S| / (n V), NaN until n buckets are complete. Trades of unknown side (sign 0) fill
 * buckets but count as neither B nor S.
 *
 * A pure streaming state machine: the feature engine and the analytics use the same one.
 */
export class VpinState {
  private fill = 0;
  private buy = 0;
  private sell = 0;
  private readonly imbalance: Float64Array;
  /** Completed buckets so far. */
  completed = 0;

  constructor(readonly bucketVolume: number, readonly window = 50) {
    if (!(bucketVolume > 0)) throw new RangeError(`VPIN bucket volume must be > 0, got ${bucketVolume}`);
    if (!(window >= 1 && Number.isInteger(window))) throw new RangeError(`VPIN window must be a positive integer, got ${window}`);
    this.imbalance = new Float64Array(window);
  }

  addTrade(size: number, sign: number): void {
    // x * 1 and x * 0 are exact: the same sums as adding the whole piece to one side.
    this.addVolume(size, sign > 0 ? 1 : 0, sign < 0 ? 1 : 0);
  }

  /**
   * Volume of which `buyShare` is buyer- and `sellShare` seller-initiated (shares in [0, 1]; their
   * sum below 1 leaves the rest unclassified), split across buckets with the shares kept in every
   * piece. Bulk volume classification pours whole bars this way.
   */
  addVolume(volume: number, buyShare: number, sellShare: number): void {
    let rest = volume;
    const V = this.bucketVolume;
    while (rest > 0) {
      const room = V - this.fill;
      const take = rest < room ? rest : room;
      this.buy += take * buyShare;
      this.sell += take * sellShare;
      rest -= take;
      if (take === room) {
        this.imbalance[this.completed % this.window] = Math.abs(this.buy - this.sell);
        this.completed++;
        this.fill = 0;
        this.buy = 0;
        this.sell = 0;
      } else {
        this.fill += take;
      }
    }
  }

  /** VPIN as of now; NaN until `window` buckets are complete. */
  value(): number {
    if (this.completed < this.window) return NaN;
    let s = 0;
    const n = this.window;
    // Oldest to newest, for a deterministic summation order.
    for (let i = this.completed - n; i < this.completed; i++) s += this.imbalance[i % n]!;
    return s / (n * this.bucketVolume);
  }

  /** |B - S| of the most recent completed bucket (NaN if none), for analytics. */
  lastImbalance(): number {
    return this.completed > 0 ? this.imbalance[(this.completed - 1) % this.window]! : NaN;
  }
}

/**
 * The default bucket size when none is given: the input's total traded volume / 500, rounded to two
 * significant digits, so 50 buckets span about a tenth of the input and VPIN is defined from there.
 */
export function autoBucketVolume(totalVolume: number): number {
  if (!(totalVolume > 0)) return NaN;
  return Number((totalVolume / 500).toPrecision(2));
}
