import type { Command } from '../command.ts';
import { UsageError } from '../command.ts';
import { numberFlag, parseFlags } from '../args.ts';
import type { LobsterSource } from '../../venues/lobster/capture.ts';

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

    if (src.kind === 'binance') {
      const { BookBuilder } = await import('../../book/builder.ts');
      const { BinanceTickerCheck } = await import('../../verify/binance.ts');
      const check = new BinanceTickerCheck();
      const builder = new BookBuilder({ levels: 1, sink: check, passThrough: check, sourceName: spec });
      await src.run(builder);
      builder.finish();
      const r = check.finish();
      const t = builder.totals();
      out(`verify-book ${spec}`);
      out(`  rows (applied depth diffs): ${r.rows.toLocaleString('en-US')}; diffs dropped before sync: ${t.diffsDropped}; gaps: ${t.gaps}; crossed repairs: ${t.crossedMessages}`);
      out(`  bookTickers: ${r.tickers.toLocaleString('en-US')}, of which ${r.checks} name the final u of an applied diff (checked); ${r.tickersWithoutDiff.toLocaleString('en-US')} fall between diffs (no ground truth)`);
      out(`  best bid/ask price and size equal the ticker's at ${r.checks - r.mismatches} of ${r.checks} checks: ${r.mismatches} mismatches`);
      for (const m of r.examples) out(`    mismatch at line ${m.line} (u=${m.u}): book ${m.book.join(' ')} vs ticker ${m.ticker.join(' ')}`);
      out(`  ${((performance.now() - t0) / 1000).toFixed(2)} s`);
      process.stdout.write(JSON.stringify({ source: spec, rows: r.rows, checks: r.checks, mismatches: r.mismatches }) + '\n');
      return r.mismatches === 0 ? 0 : 1;
    }

    if (src.kind === 'lobster') {
      const { LobsterVerifier } = await import('../../verify/lobster.ts');
      const lob = src as LobsterSource;
      const K = numberFlag(values.levels, 'levels', lob.levels, { min: 1, integer: true });
      if (K > lob.levels) throw new UsageError(`--levels ${K}: the file has only ${lob.levels} levels`);
      let v: InstanceType<typeof LobsterVerifier> | undefined;
      await src.run({
        onOrder: (e) => v?.onOrder(e),
        onTrade: () => {},
        onDepth: (e) => {
          // Created at the first row, once the time base is fixed: it reports New York clock times.
          v ??= new LobsterVerifier(K, Number(lob.midnightNs - src.timeBase.get().baseNs));
          v.onDepth(e);
        },
      });
      if (!v) throw new UsageError('the source has no rows');
      const r = v.result();
      const c = r.continuous;
      const pct = (a: number, b: number): string => (b ? ((100 * a) / b).toFixed(2) : '0') + '%';
      out(`verify-book ${spec} (${K} levels)`);
      out(`  (a) step check: ${r.steps.toLocaleString('en-US')} steps (message i applied to row i-1, compared with row i on the levels that stay known): ${r.mismatches} mismatches`);
      for (const m of r.examples) out(`    row ${m.row} (line ${m.line}): ${m.detail}`);
      out(`  (b) continuous rebuild from row 0 over ${c.rows.toLocaleString('en-US')} rows, never re-reading the file:`);
      out(`      level 1 exact on ${c.level1ExactRows.toLocaleString('en-US')} rows (${pct(c.level1ExactRows, c.rows)}); all ${K} levels exact on ${c.allLevelsExactRows.toLocaleString('en-US')} rows (${pct(c.allLevelsExactRows, c.rows)})`);
      if (c.firstDivergenceRow === null) out('      level 1 never diverged');
      else {
        out(`      level 1 first diverges at row ${c.firstDivergenceRow.toLocaleString('en-US')}, ${formatClock(c.firstDivergenceSeconds!)} New York time (${formatDuration(c.firstDivergenceSeconds! - c.firstRowSeconds)} after the first row)`);
        out(`      why: ${c.firstDivergenceReason}`);
      }
      const rs = c.reseeded;
      const k = rs.byKind;
      out(`      re-seeding from the file at each divergence: ${rs.divergences.toLocaleString('en-US')} divergences over the file: ${k['undescribed-level']} a file level missing from the rebuilt book, ` +
        `${k['vanished-level']} a rebuilt level the file no longer has, ${k['undescribed-size']} a size that differs at the touch;`);
      out(`      exact stretches last ${formatDuration(rs.medianStretchSeconds)} (median), ${formatDuration(rs.p90StretchSeconds)} (p90), ${formatDuration(rs.longestStretchSeconds)} (longest)`);
      out(`      so: LOBSTER writes messages only for changes within the requested ${K} levels, so a book rebuilt from them is exact at the touch only until a sweep`);
      out(`      brings up a level whose deeper history was never written. Use the orderbook rows as the book (flowcast features does) and the messages as order flow.`);
      out(`  ${((performance.now() - t0) / 1000).toFixed(2)} s`);
      process.stdout.write(JSON.stringify({ source: spec, rows: r.rows, checks: r.steps, mismatches: r.mismatches }) + '\n');
      return r.mismatches === 0 ? 0 : 1;
    }
    throw new UsageError(`verify-book needs a source that carries ground truth (binance: bookTicker, lobster: orderbook rows); ${src.kind} files carry none`);
  },
};
export default command;

function formatClock(secondsAfterMidnight: number): string {
  const h = Math.floor(secondsAfterMidnight / 3600);
  const m = Math.floor((secondsAfterMidnight % 3600) / 60);
  const s = secondsAfterMidnight % 60;
  return `${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}:${s.toFixed(3).padStart(6, '0')}`;
}

function formatDuration(s: number): string {
  if (s < 60) return `${s.toFixed(3)} s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m} min ${(s - 60 * m).toFixed(0)} s` : `${Math.floor(m / 60)} h ${m % 60} min`;
}
