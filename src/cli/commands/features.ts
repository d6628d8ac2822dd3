import { extname } from 'node:path';
import type { Command } from '../command.ts';
import { UsageError } from '../command.ts';
import { FEATURE_PARAM_FLAGS, listFlag, numberFlag, parseFlags, skipBadFlag, symbolsFlag, vpinBucketFlag } from '../args.ts';
import { outputFile } from '../output.ts';
import { SOURCE_SPEC_HELP } from '../../sources/spec.ts';
import { DEFAULT_FEATURE_OPTIONS, DEFAULT_HORIZONS } from '../../features/options.ts';
import { FEATURE_SPEC_VERSION } from '../../features/columns.ts';
import { COMPUTE_SPEC_HELP, parseComputeSpec } from '../../compute/backend.ts';

const usage = `flowcast features --source SPEC --out FILE.csv|FILE.parquet [flags]

Computes every column of the feature spec (v${FEATURE_SPEC_VERSION}, docs/features.md) for each book row of the source,
in spec order after ts_ns, symbol, row. CSV: header, empty field for NaN, round-trip float text.
Parquet: zstd, NaN as null, parameters in the file metadata.

  --source SPEC        ${SOURCE_SPEC_HELP}
  --out FILE           .csv or .parquet (by extension); appears only when the run succeeds
                       (written under a temporary name beside it), its directory created if missing
  --levels L           levels for depth_* and slope_* (default ${DEFAULT_FEATURE_OPTIONS.levels})
  --vpin-bucket V      VPIN bucket volume in the source's size unit, or "auto" (default): each
                       symbol's total traded volume / 500, two significant digits (a first pass)
  --vpin-buckets N     VPIN window in buckets (default ${DEFAULT_FEATURE_OPTIONS.vpinBuckets})
  --bar-ms MS          bar length for kyle/hasbrouck/amihud (default ${DEFAULT_FEATURE_OPTIONS.barMs})
  --bar-window W       completed bars in those regressions (default ${DEFAULT_FEATURE_OPTIONS.barWindow})
  --settle-ms MS       row time the bar columns wait for late trades (default ${DEFAULT_FEATURE_OPTIONS.settleMs})
  --labels             add label_<k> columns (smoothed mid move over k rows)
  --horizons K,K,..    label horizons in rows (default ${DEFAULT_HORIZONS.join(',')}); implies --labels
  --alpha A            label threshold (default ${DEFAULT_FEATURE_OPTIONS.alpha})
  --compute BACKEND    per-row columns (all but vpin and the bars) from: cpu (the engine's float64,
                       default), gpujs[:mode] (gpu.js kernels, float32; webasm and cpu in a worker
                       thread), or auto (measured; docs/compute.md)
                       ${COMPUTE_SPEC_HELP}
  --symbol SYM[,SYM]   only these symbols
  --skip-bad KINDS     skip and count these bad-input kinds instead of stopping: all, or any of
                       malformed-line, non-monotonic-time, sequence-gap, crossed-book
  --progress           progress on stderr even when it is not a terminal
  --quiet              no summary line

Examples:
  flowcast features --source lobster:data/lobster/GOOG_2012-06-21_34200000_57600000_message_10.csv.gz,data/lobster/GOOG_2012-06-21_34200000_57600000_orderbook_10.csv.gz --out goog.parquet --labels
  flowcast features --source binance:data/binance/binance-usdm_btcusdt_20240808.jsonl.gz --out btc.csv --vpin-bucket 5
`;

const command: Command = {
  name: 'features',
  summary: 'compute the spec feature columns (and labels) from a source into CSV or Parquet',
  usage,
  async run(argv) {
    const { values } = parseFlags(argv, {
      source: { type: 'string' },
      out: { type: 'string' },
      ...FEATURE_PARAM_FLAGS,
      symbol: { type: 'string', multiple: true },
      compute: { type: 'string' },
      'skip-bad': { type: 'string' },
      progress: { type: 'boolean' },
      quiet: { type: 'boolean' },
    });
    if (!values.source) throw new UsageError('--source is required');
    if (!values.out) throw new UsageError('--out is required');
    const ext = extname(values.out).toLowerCase();
    if (ext !== '.csv' && ext !== '.parquet') throw new UsageError(`--out must end in .csv or .parquet, got "${values.out}"`);
    const horizons = values.labels || values.horizons ? listFlag(values.horizons, 'horizons', [...DEFAULT_HORIZONS]) : [];
    const opts = {
      levels: numberFlag(values.levels, 'levels', DEFAULT_FEATURE_OPTIONS.levels, { min: 1, integer: true }),
      vpinBucket: vpinBucketFlag(values['vpin-bucket']),
      vpinBuckets: numberFlag(values['vpin-buckets'], 'vpin-buckets', DEFAULT_FEATURE_OPTIONS.vpinBuckets, { min: 1, integer: true }),
      barMs: numberFlag(values['bar-ms'], 'bar-ms', DEFAULT_FEATURE_OPTIONS.barMs, { min: 1, integer: true }),
      barWindow: numberFlag(values['bar-window'], 'bar-window', DEFAULT_FEATURE_OPTIONS.barWindow, { min: 2, integer: true }),
      settleMs: numberFlag(values['settle-ms'], 'settle-ms', DEFAULT_FEATURE_OPTIONS.settleMs, { min: 0 }),
      horizons,
      alpha: numberFlag(values.alpha, 'alpha', DEFAULT_FEATURE_OPTIONS.alpha, { min: 0 }),
      symbols: symbolsFlag(values.symbol),
    };

    const { Progress, formatRate } = await import('../../core/progress.ts');
    const { runFeatures, syncLossLines } = await import('../../pipeline/features.ts');
    const { CsvFeatureWriter } = await import('../../store/csv.ts');
    const { ParquetFeatureWriter } = await import('../../store/parquet.ts');
    const policy = skipBadFlag(values['skip-bad']);
    let compute;
    try {
      compute = parseComputeSpec(values.compute ?? 'cpu');
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    const progress = new Progress({ label: 'features', unit: 'rows', enabled: values.progress ? true : undefined });
    const out = values.out;
    const pending = outputFile('out', out);
    const res = await runFeatures(values.source, {
      ...opts,
      policy,
      compute,
      onProgress: (rows, read, total) => progress.tick(rows, read, total),
    }, (columns, timeBase) => {
      if (ext === '.csv') return new CsvFeatureWriter(pending.tmp, columns, timeBase);
      return new ParquetFeatureWriter(pending.tmp, columns, timeBase, {
        'flowcast.spec_version': String(FEATURE_SPEC_VERSION),
        'flowcast.source': values.source!,
        'flowcast.params': JSON.stringify({ ...opts, settleMs: opts.settleMs }),
      });
    }).catch((e: unknown) => {
      pending.discard();
      throw e;
    });
    pending.commit();
    progress.done();
    if (!values.quiet) {
      const b = res.book;
      const vb = Object.entries(res.vpinBucket).map(([s, v]) => `${s}=${v}`).join(' ');
      const skipped = Object.entries(res.skipped).map(([k, v]) => `${k}=${v}`).join(' ') || '0';
      process.stderr.write(
        `features: ${res.output.rows.toLocaleString('en-US')} rows (${res.symbols.join(',')}) in ${res.seconds.toFixed(2)} s ` +
        `(${formatRate(res.output.rows / res.seconds)} rows/s) -> ${out} (${(res.output.bytes / 1e6).toFixed(1)} MB); ` +
        `vpin bucket ${vb}; gaps ${b.gaps}, rows withheld ${b.rowsWithheld.toLocaleString('en-US')}, ` +
        `diffs dropped before sync ${b.diffsDropped.toLocaleString('en-US')}, stale diffs ${b.diffsStale.toLocaleString('en-US')}, crossed repaired ${b.crossedMessages}, ` +
        `late trades ${res.features.lateTrades}, trades after last row ${b.tradesAfterLastRow}; skipped ${skipped}` +
        (compute === 'cpu' ? '' : `; compute ${res.compute.backend} (${res.compute.libraryMode}): ${res.compute.reason}`) + '\n',
      );
    }
    // A book that never resynced is said even with --quiet: its rows to the end are missing.
    for (const l of syncLossLines(res.gaps, res.source.spec, values.quiet ? 'unresolved' : 'all')) process.stderr.write(`features: ${l}\n`);
    return 0;
  },
};
export default command;
