/**
 * Feature CSV: header `ts_ns,symbol,row,<columns>`, one line per row, NaN as an empty field, and
 * numbers in JavaScript's shortest round-trip form (parsing the text gives back the same double).
 * `ts_ns` is exact int64 epoch nanoseconds.
 */
import { openSync, closeSync } from 'node:fs';
import { writeAllSync } from './files.ts';
import type { FeatureBlock, FeatureBlockSink } from '../features/columns.ts';
import type { TimeBaseRef } from '../model/time.ts';

export class CsvFeatureWriter implements FeatureBlockSink {
  private readonly fd: number;
  private rows = 0;
  private bytes = 0;
  private headerDone = false;

  constructor(readonly path: string, private readonly columns: readonly string[], private readonly timeBase: TimeBaseRef) {
    this.fd = openSync(path, 'w');
  }

  write(block: FeatureBlock, symbols: readonly string[]): void {
    if (!this.headerDone) {
      this.put(`ts_ns,symbol,row,${this.columns.join(',')}\n`);
      this.headerDone = true;
    }
    const base = this.timeBase.get().baseNs;
    const vals = block.values;
    const nc = vals.length;
    const parts: string[] = [];
    let line = '';
    for (let i = 0; i < block.n; i++) {
      line = `${base + BigInt(block.ts[i]!)},${symbols[block.symbolId[i]!]},${block.row[i]}`;
      for (let c = 0; c < nc; c++) {
        const x = vals[c]![i]!;
        line += x === x ? ',' + x : ',';
      }
      parts.push(line);
    }
    if (parts.length) this.put(parts.join('\n') + '\n');
    this.rows += block.n;
  }

  async drain(): Promise<void> {}

  async close(): Promise<{ rows: number; bytes: number }> {
    if (!this.headerDone) this.put(`ts_ns,symbol,row,${this.columns.join(',')}\n`);
    closeSync(this.fd);
    return { rows: this.rows, bytes: this.bytes };
  }

  private put(s: string): void {
    const b = Buffer.from(s, 'latin1');
    writeAllSync(this.fd, b);
    this.bytes += b.length;
  }
}
