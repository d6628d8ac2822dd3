/**
 * Source specs, as the CLI and config take them: `VENUE:FILE[,FILE...]`, the venue one of the
 * registry's that reads capture files (src/venues/registry.ts):
 *   lobster:MESSAGE,ORDERBOOK   lobster:ZIP   binance:FILE   tardis:BOOKFILE[,TRADESFILE]
 * Files may be plain, gzip'd (detected by content) or, for LOBSTER, the sample zip.
 */
import { VENUES, venue } from '../venues/registry.ts';
import type { MarketSource, SourceOptions } from './source.ts';
import { InputError, InputErrorCode } from '../core/errors.ts';

export const SOURCE_SPEC_HELP = VENUES.flatMap((v) => (v.openCapture ? v.specForms : [])).join(' | ');

export async function openSource(spec: string, opts: SourceOptions = {}): Promise<MarketSource> {
  const colon = spec.indexOf(':');
  const kind = colon > 0 ? spec.slice(0, colon) : '';
  const files = colon > 0 ? spec.slice(colon + 1).split(',').map((f) => f.trim()).filter(Boolean) : [];
  if (files.length === 0) {
    throw new InputError(InputErrorCode.Format, spec, undefined, `not a source spec (expected ${SOURCE_SPEC_HELP})`);
  }
  const v = venue(kind);
  if (!v?.openCapture) throw new InputError(InputErrorCode.Format, spec, undefined, `unknown source kind "${kind}" (expected ${SOURCE_SPEC_HELP})`);
  return v.openCapture(spec, files, opts);
}
