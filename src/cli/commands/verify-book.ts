import type { Command } from '../command.ts';
import { UsageError } from '../command.ts';
import { numberFlag, parseFlags } from '../args.ts';

const usage = `flowcast verify-book --source SPEC [--levels K] [--json-only]

Rebuilds books from a source and checks them against ground truth the source itself carries.
Prints a readable summary, then as its last line a JSON object:
  {"source": ..., "rows": ..., "checks": ..., "mismatches": ...}

  binance:FILE   at every bookTicker whose u equals the final u of an applied depth diff, the
                 rebuilt best bid/ask price and size must equal the ticker's.
  lobster:...    (a) step check: each message applied to the previous orderbook row must give the
                 next row on the levels that stay known (the JSON line reports this check);
                 (b) continuous rebuild from the first row over the whole file: how long level 1
                 stays exact and why it diverges.
  --levels K     LOBSTER: levels compared (default: all the file has)
`;

const command: Command = {
  name: 'verify-book',
  summary: 'check rebuilt books against the ground truth in the source (Binance bookTicker, LOBSTER rows)',
  usage,
  async run(argv) {
    const { values } = parseFlags(argv, { source: { type: 'string' }, levels: { type: 'string' }, 'json-only': { type: 'boolean' } });
    if (!values.source) throw new UsageError('--source is required');
    const spec = values.source;
    const out = (s: string): void => { if (!values['json-only']) process.stdout.write(s + '\n'); };
    const { openSource } = await import('../../sources/spec.ts');
    const src = await openSource(spec);
    const t0 = performance.now();

    const { VENUES, venue } = await import('../../venues/registry.ts');
    const check = venue(src.kind)?.verifyBook;
    if (!check) {
      const carriers = VENUES.flatMap((v) => (v.verifyBook ? [`${v.id}: ${v.verifyBook.groundTruth}`] : [])).sort();
      throw new UsageError(`verify-book needs a source that carries ground truth (${carriers.join(', ')}); ${src.kind} files carry none`);
    }
    const { bookBuilder } = await import('../../pipeline/book.ts');
    const r = await check.run(src, {
      spec,
      books: bookBuilder,
      levels: (dflt) => numberFlag(values.levels, 'levels', dflt, { min: 1, integer: true }),
      out,
      usage: (msg) => { throw new UsageError(msg); },
    });
    out(`  ${((performance.now() - t0) / 1000).toFixed(2)} s`);
    process.stdout.write(JSON.stringify({ source: spec, rows: r.rows, checks: r.checks, mismatches: r.mismatches }) + '\n');
    return r.mismatches === 0 ? 0 : 1;
  },
};
export default command;
