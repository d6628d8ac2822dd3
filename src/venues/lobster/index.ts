import type { Venue } from '../venue.ts';
import { LobsterSource } from './capture.ts';

export const lobster: Venue = {
  id: 'lobster',
  specForms: ['lobster:MESSAGE,ORDERBOOK', 'lobster:ZIP'],
  // Each orderbook row is a full image: nothing to sequence.
  sequences: [],
  openCapture: (spec, files, opts) => LobsterSource.open(spec, files, opts),
  verifyBook: {
    groundTruth: 'orderbook rows',
    run: async (src, o) => (await import('./verify.ts')).verifyLobsterBook(src, o),
  },
};
