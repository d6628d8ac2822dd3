/**
 * Feature rows collected in memory as growable columns: for tests, dataset building and analysis
 * of inputs that fit in memory.
 */
import type { FeatureBlock, FeatureBlockSink } from '../features/columns.ts';

export class FeatureTable implements FeatureBlockSink {
  n = 0;
  ts: Float64Array;
  symbolId: Uint16Array;
  row: Float64Array;
  values: Float64Array[];
  symbols: readonly string[] = [];

  constructor(readonly columns: readonly string[], capacity = 1024) {
    this.ts = new Float64Array(capacity);
    this.symbolId = new Uint16Array(capacity);
    this.row = new Float64Array(capacity);
    this.values = columns.map(() => new Float64Array(capacity));
  }

  write(block: FeatureBlock, symbols: readonly string[]): void {
    this.symbols = symbols;
    this.reserve(this.n + block.n);
    this.ts.set(block.ts.subarray(0, block.n), this.n);
    this.symbolId.set(block.symbolId.subarray(0, block.n), this.n);
    this.row.set(block.row.subarray(0, block.n), this.n);
    for (let c = 0; c < this.values.length; c++) this.values[c]!.set(block.values[c]!.subarray(0, block.n), this.n);
    this.n += block.n;
  }

  async drain(): Promise<void> {}

  async close(): Promise<{ rows: number; bytes: number }> {
    return { rows: this.n, bytes: this.n * 8 * (this.columns.length + 3) };
  }

  column(name: string): Float64Array {
    const i = this.columns.indexOf(name);
    if (i < 0) throw new Error(`no column ${name} (have ${this.columns.join(', ')})`);
    return this.values[i]!.subarray(0, this.n);
  }

  private reserve(cap: number): void {
    if (cap <= this.ts.length) return;
    let c = this.ts.length;
    while (c < cap) c *= 2;
    const grow = <T extends Float64Array | Uint16Array>(a: T, make: (n: number) => T): T => {
      const b = make(c);
      b.set(a);
      return b;
    };
    this.ts = grow(this.ts, (k) => new Float64Array(k));
    this.symbolId = grow(this.symbolId, (k) => new Uint16Array(k));
    this.row = grow(this.row, (k) => new Float64Array(k));
    this.values = this.values.map((v) => grow(v, (k) => new Float64Array(k)));
  }
}
