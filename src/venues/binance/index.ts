import type { Venue } from '../venue.ts';
import { BinanceSource } from './capture.ts';
import { BINANCE_FUTURES, BINANCE_SPOT } from './sequence.ts';
import { binanceLive } from './live.ts';
import { InputError, InputErrorCode } from '../../core/errors.ts';

export const binance: Venue = {
  id: 'binance',
  specForms: ['binance:FILE'],
  // Spot first: recordings written before the registry list the rules in this order.
  sequences: [BINANCE_SPOT, BINANCE_FUTURES],
  openCapture(spec, files, opts) {
    if (files.length !== 1) throw new InputError(InputErrorCode.Format, spec, undefined, 'binance: takes exactly one capture file');
    return BinanceSource.open(spec, files[0]!, opts);
  },
  live: binanceLive,
  verifyBook: {
    groundTruth: 'bookTicker',
    run: async (src, o) => (await import('./verify.ts')).verifyBinanceBook(src, o),
  },
};
