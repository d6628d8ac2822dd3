import type { Venue } from '../venue.ts';
import { TardisSource } from './capture.ts';

export const tardis: Venue = {
  id: 'tardis',
  specForms: ['tardis:BOOKFILE[,TRADESFILE]'],
  // Its incremental_book_L2 files carry no update ids: a snapshot alone resyncs.
  sequences: [],
  openCapture: (spec, files, opts) => TardisSource.open(spec, files, opts),
};
