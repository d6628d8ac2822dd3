/**
 * Builds the volume curve VWAP slices by (src/backtest/strategies/volume-curve.ts) from a recorded
 * day's trades and writes it as JSON for `--strategy vwap --param curve=FILE`:
 *
 *   npx tsx scripts/volume-curve.ts --source lobster:data/lobster/LOBSTER_SampleFile_AMZN_2012-06-21_5.zip \
 *       --bucket 5m --out out/amzn-curve.json [--symbol SYM]
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { parseDuration } from '../src/backtest/strategies/params.ts';
import { volumeCurveFromSource } from '../src/backtest/strategies/volume-curve-source.ts';

const { values } = parseArgs({
  options: { source: { type: 'string' }, bucket: { type: 'string', default: '5m' }, out: { type: 'string' }, symbol: { type: 'string' } },
  strict: true,
});
if (!values.source || !values.out) {
  process.stderr.write('usage: npx tsx scripts/volume-curve.ts --source SPEC --out FILE.json [--bucket 5m] [--symbol SYM]\n');
  process.exit(2);
}
const bucket = parseDuration(values.bucket!);
if (!(bucket !== undefined && bucket > 0)) throw new Error(`--bucket: expected a duration like 5m or 30s, got ${values.bucket}`);
const curve = await volumeCurveFromSource(values.source, bucket, values.symbol);
writeFileSync(values.out, JSON.stringify(curve) + '\n');
process.stderr.write(`volume curve: ${curve.share.length} buckets of ${values.bucket} from ${curve.from}, volume ${curve.volume}\n`);
