/**
 * The one shape every market-abuse and market-stress detector has. A detector belongs to one symbol
 * and is made by its registry entry (registry.ts) with its options group and a DetectorContext.
 *
 * Per event the engine writes what it knows into ctx.reg once (the R_* slots, context.ts) and then
 * calls the hook of every detector that has it, in registry order: numbers travel in the register
 * rather than as arguments so that no double is boxed per detector and event. A hook reads only the
 * slots its comment names; the others hold whatever an earlier event left. Alerts leave through
 * ctx.emit only, detections below the alert level through ctx.detected.
 */
export interface Detector {
  /** Its registry name, which is also the name of its options group. */
  readonly kind: string;
  /**
   * A resting order was added or a level grew (L2): R_TS, R_KEY, R_SIDE, R_PX, R_SZ (the size
   * added), R_BEST (the best price on that side before it), R_THR (spoofing's large-size threshold
   * before it), R_LEVEL (the level's size with it, NaN without a trusted book).
   */
  onAdd?(): void;
  /** R_SZ was cancelled from R_KEY (R_TS, R_SIDE, R_PX); `gone`: the order or level no longer exists. */
  onCancel?(gone: boolean): void;
  /** A visible execution: R_TS, R_KEY, R_SIDE, R_PX, R_SZ, R_LEVEL (the level's size before it). */
  onExec?(): void;
  /**
   * A print: R_TS, R_PX, R_SZ, R_SIGN; set against the book before it when one is trusted and the
   * aggressor is known: R_SIDE (the resting side), R_CUM, R_DISP, R_BID, R_ASK (else R_DISP is NaN).
   */
  onPrint?(): void;
  /** An aggressive order finished: R_TS, R_PX (VWAP), R_SZ, R_SIGN, R_FILLS, R_LAST, R_MID. */
  onParentTrade?(): void;
  /** The book after a row with a mid: R_TS, R_BID, R_ASK, R_NEAR_BID, R_NEAR_ASK, R_TOP_BID, R_TOP_ASK. */
  onBook?(): void;
  /** Writes the measure columns it owns (measures/columns.ts) as of `ts` into `v`. */
  measures?(v: Float64Array, ts: number): void;
  /** Its internal counts for validation and tests (names unique across detectors). */
  counters?(): Record<string, number>;
}
