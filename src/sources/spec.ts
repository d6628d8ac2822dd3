/**
 * Source specs, as the CLI and config take them:
 *   lobster:MESSAGE,ORDERBOOK   lobster:ZIP   binance:FILE   tardis:BOOKFILE[,TRADESFILE]
 * Files may be plain, gzip'd (detected by content) or, for LOBSTER, the sample zip.
 */
import { LobsterSource } from './lobster.ts';
import { BinanceSource } from './binance.ts';
import { TardisSource } from './tardis.ts';
import type { MarketSource, SourceOptions } from './source.ts';
import { InputError, InputErrorCode } from '../core/errors.ts';

export const SOURCE_SPEC_HELP = 'lobster:MESSAGE,ORDERBOOK | lobster:ZIP | binance:FILE | tardis:BOOKFILE[,TRADESFILE]';

export async function openSource(spec: string, opts: SourceOptions = {}): Promise<MarketSource> {
  const colon = spec.indexOf(':');
  const kind = colon > 0 ? spec.slice(0, colon) : '';
  const files = colon > 0 ? spec.slice(colon + 1).split(',').map((f) => f.trim()).filter(Boolean) : [];
  if (files.length === 0) {
    throw new InputError(InputErrorCode.Format, spec, undefined, `not a source spec (expected ${SOURCE_SPEC_HELP})`);
  }
  switch (kind) {
    case 'lobster':
      return LobsterSource.open(spec, files, opts);
    case 'binance':
      if (files.length !== 1) throw new InputError(InputErrorCode.Format, spec, undefined, 'binance: takes exactly one capture file');
      return BinanceSource.open(spec, files[0]!, opts);
    case 'tardis':
      return TardisSource.open(spec, files, opts);
    default:
      throw new InputError(InputErrorCode.Format, spec, undefined, `unknown source kind "${kind}" (expected ${SOURCE_SPEC_HELP})`);
  }
}
