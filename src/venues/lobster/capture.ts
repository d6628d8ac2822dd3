/**
 * LOBSTER message + orderbook pairs (csv, csv.gz, or LOBSTER's sample zip), any level count.
 *
 * The two files are aligned row by row: orderbook row i is the book after message i. So each row
 * yields, in order: the order-level message (OrderEvent), a trade if it is an execution (type 4
 * visible, 5 hidden; aggressor sign = -direction), then the orderbook row as a book image
 * (DepthEvent snapshot) which makes the row. Times are seconds after midnight New York time on the
 * date in the file name; prices are USD x 10,000; padded levels (+-9999999999) are missing levels.
 */
import { basename } from 'node:path';
import { DepthEvent, OrderEvent, TradeEvent, BID, ASK, type MarketSink, type OrderType } from '../../model/events.ts';
import { LineReader, findZipEntry, isZip, openInput, openZipEntry, statOrThrow, type ByteSource } from '../../sources/input.ts';
import { parseDecimal, parseSecondsToNs, splitFields } from '../../sources/bytes.ts';
import { CHUNK_LINES, countIgnored, emptyStats, type MarketSource, type SourceOptions, type SourceStats } from '../../sources/source.ts';
import { InputError, InputErrorCode, BadInputPolicy } from '../../core/errors.ts';
import { TimeBase, TimeBaseRef, zonedMidnightNs } from '../../model/time.ts';

const FILE_RE = /^([A-Za-z0-9.]+)_(\d{4}-\d{2}-\d{2})_(\d+)_(\d+)_(message|orderbook)_(\d+)\.csv(\.gz)?$/;
const PAD_ASK = 9_999_999_999;
const PRICE_SCALE = 10_000;
export const LOBSTER_TIME_ZONE = 'America/New_York';

export interface LobsterName {
  symbol: string;
  date: string;
  levels: number;
}

/** Symbol, date and level count from a LOBSTER file name (`GOOG_2012-06-21_34200000_57600000_message_10.csv`). */
export function parseLobsterName(path: string): LobsterName | undefined {
  const m = FILE_RE.exec(basename(path).replace(/^.*!/, ''));
  if (!m) return undefined;
  return { symbol: m[1]!, date: m[2]!, levels: Number(m[6]) };
}

export class LobsterSource implements MarketSource {
  readonly kind = 'lobster' as const;
  readonly timeBase: TimeBaseRef;
  private readonly policy: BadInputPolicy;
  private msg!: ByteSource;
  private ob!: ByteSource;
  private meta!: LobsterName;

  private constructor(readonly spec: string, readonly files: readonly string[], opts: SourceOptions) {
    this.policy = opts.policy ?? new BadInputPolicy();
    this.timeBase = opts.timeBase ?? new TimeBaseRef();
  }

  /** `files`: [zip] or [message, orderbook]. */
  static async open(spec: string, files: string[], opts: SourceOptions = {}): Promise<LobsterSource> {
    const s = new LobsterSource(spec, files, opts);
    // The names are checked before any file is opened: a stream opened and then abandoned on a bad
    // name would keep its descriptor, and fail later on its own if the file went away meanwhile.
    let names: [string, string];
    let open: () => Promise<void>;
    if (files.length === 1) {
      const zip = files[0]!;
      if (!(await isZip(zip))) {
        throw new InputError(InputErrorCode.Format, zip, undefined, 'lobster: expects a LOBSTER zip, or MESSAGE,ORDERBOOK files');
      }
      const me = await findZipEntry(zip, /_message_\d+\.csv$/, 'LOBSTER message');
      const oe = await findZipEntry(zip, /_orderbook_\d+\.csv$/, 'LOBSTER orderbook');
      names = [`${zip}!${me.name}`, `${zip}!${oe.name}`];
      open = async () => {
        s.msg = await openZipEntry(zip, me);
        s.ob = await openZipEntry(zip, oe);
      };
    } else if (files.length === 2) {
      for (const f of files) await statOrThrow(f);
      names = [files[0]!, files[1]!];
      open = async () => {
        s.msg = await openInput(files[0]!);
        s.ob = await openInput(files[1]!);
      };
    } else {
      throw new InputError(InputErrorCode.Format, files.join(','), undefined, 'lobster: expects ZIP or MESSAGE,ORDERBOOK');
    }
    const mm = parseLobsterName(names[0]);
    const om = parseLobsterName(names[1]);
    if (!mm || !/_message_/.test(names[0])) {
      throw new InputError(InputErrorCode.Format, names[0], undefined,
        'not a LOBSTER message file name (expected SYMBOL_YYYY-MM-DD_START_END_message_LEVELS.csv[.gz]): the symbol, date and level count come from it');
    }
    if (!om || !/_orderbook_/.test(names[1])) {
      throw new InputError(InputErrorCode.Format, names[1], undefined,
        'not a LOBSTER orderbook file name (expected SYMBOL_YYYY-MM-DD_START_END_orderbook_LEVELS.csv[.gz])');
    }
    if (mm.symbol !== om.symbol || mm.date !== om.date || mm.levels !== om.levels) {
      throw new InputError(InputErrorCode.MixedFormat, names[1], undefined,
        `message and orderbook files do not belong together (${mm.symbol} ${mm.date} ${mm.levels} levels vs ${om.symbol} ${om.date} ${om.levels} levels)`);
    }
    await open();
    s.meta = mm;
    return s;
  }

  get symbol(): string {
    return this.meta.symbol;
  }

  /** Epoch ns of midnight, New York time, on the file's date (LOBSTER times count from it). */
  get midnightNs(): bigint {
    return zonedMidnightNs(this.meta.date, LOBSTER_TIME_ZONE);
  }

  get levels(): number {
    return this.meta.levels;
  }

  get totalBytes(): number {
    return this.msg.diskBytes + this.ob.diskBytes;
  }

  bytesRead(): number {
    return this.msg.diskBytesRead() + this.ob.diskBytesRead();
  }

  async run(sink: MarketSink, pause?: () => Promise<void> | void): Promise<SourceStats> {
    const msgR = new LineReader(this.msg);
    const obR = new LineReader(this.ob);
    try {
      return await this.stream(sink, pause, msgR, obR);
    } finally {
      // Closes the files when the run stops early (an error, a consumer that has read enough); a no-op at their end.
      await Promise.all([msgR.close(), obR.close()]);
    }
  }

  private async stream(sink: MarketSink, pause: (() => Promise<void> | void) | undefined, msgR: LineReader, obR: LineReader): Promise<SourceStats> {
    const stats = emptyStats();
    const { symbol, date, levels } = this.meta;
    const midnightNs = this.midnightNs;
    const tb = this.timeBase.ensureNs(midnightNs);
    const dayOffset = tb.fromEpochNs(midnightNs);

    const mb = new Int32Array(2 * 8);
    const ob = new Int32Array(2 * (4 * levels + 2));
    const order = new OrderEvent();
    const trade = new TradeEvent();
    const depth = new DepthEvent();
    order.symbol = trade.symbol = depth.symbol = symbol;
    depth.kind = 'snapshot';
    depth.sizes = 'absolute';
    depth.depthLimit = levels;
    depth.makesRow = true;
    let lastTs = -Infinity;
    const hasOrder = typeof sink.onOrder === 'function';

    for (;;) {
      if (!msgR.ready() && !(await msgR.ensure())) break;
      if (!obR.ready() && !(await obR.ensure())) {
        throw new InputError(InputErrorCode.Truncated, this.ob.name, obR.lineNo + 1,
          `orderbook file ends after ${obR.lineNo} rows but the message file has more (the files must be aligned row by row)`);
      }
      msgR.next();
      obR.next();
      const line = msgR.lineNo;
      if (pause && line % CHUNK_LINES === 0) await pause();

      // Message: time,type,order_id,size,price,direction
      const nf = splitFields(msgR.buf, msgR.start, msgR.end, mb);
      const buf = msgR.buf;
      const nsOfDay = nf === 6 ? parseSecondsToNs(buf, mb[0]!, mb[1]!) : NaN;
      const type = nf === 6 ? parseDecimal(buf, mb[2]!, mb[3]!) : NaN;
      const orderId = nf === 6 ? parseDecimal(buf, mb[4]!, mb[5]!) : NaN;
      const size = nf === 6 ? parseDecimal(buf, mb[6]!, mb[7]!) : NaN;
      const priceInt = nf === 6 ? parseDecimal(buf, mb[8]!, mb[9]!) : NaN;
      const direction = nf === 6 ? parseDecimal(buf, mb[10]!, mb[11]!) : NaN;
      if (nf !== 6 || Number.isNaN(nsOfDay) || !(type >= 1 && type <= 7 && Number.isInteger(type)) || Number.isNaN(orderId) ||
        Number.isNaN(size) || Number.isNaN(priceInt) || (direction !== 1 && direction !== -1)) {
        this.policy.report(new InputError(InputErrorCode.Malformed, this.msg.name, line,
          `expected a LOBSTER message "time,type(1-7),order_id,size,price,direction(+-1)", got "${truncate(msgR.text())}"`));
        stats.ignored['malformed'] = (stats.ignored['malformed'] ?? 0) + 1;
        continue;
      }
      const ts = dayOffset + nsOfDay;
      if (ts < lastTs) {
        this.policy.report(new InputError(InputErrorCode.NonMonotonic, this.msg.name, line,
          `time goes backwards: ${msgR.buf.toString('latin1', mb[0]!, mb[1]!)} s after ${(lastTs - dayOffset) / 1e9} s`));
        countIgnored(stats, 'non-monotonic');
        continue;
      }
      lastTs = ts;

      // Orderbook: ask_px_1,ask_sz_1,bid_px_1,bid_sz_1,...
      const obuf = obR.buf;
      const of = splitFields(obuf, obR.start, obR.end, ob);
      depth.reset();
      depth.ts = ts;
      depth.line = line;
      let bad = of !== 4 * levels;
      if (!bad) {
        for (let l = 0; l < levels; l++) {
          const ap = parseDecimal(obuf, ob[8 * l]!, ob[8 * l + 1]!);
          const as = parseDecimal(obuf, ob[8 * l + 2]!, ob[8 * l + 3]!);
          const bp = parseDecimal(obuf, ob[8 * l + 4]!, ob[8 * l + 5]!);
          const bs = parseDecimal(obuf, ob[8 * l + 6]!, ob[8 * l + 7]!);
          if (Number.isNaN(ap) || Number.isNaN(as) || Number.isNaN(bp) || Number.isNaN(bs)) { bad = true; break; }
          if (ap !== PAD_ASK && as > 0) depth.pushAsk(ap / PRICE_SCALE, as);
          if (bp !== -PAD_ASK && bs > 0) depth.pushBid(bp / PRICE_SCALE, bs);
        }
      }
      if (bad) {
        this.policy.report(new InputError(InputErrorCode.Malformed, this.ob.name, obR.lineNo,
          `expected ${4 * levels} numeric fields (ask_px,ask_sz,bid_px,bid_sz x ${levels} levels), got ${of} in "${truncate(obR.text())}"`));
        countIgnored(stats, 'malformed');
        continue;
      }

      const side = direction === 1 ? BID : ASK;
      const price = priceInt / PRICE_SCALE;
      if (hasOrder) {
        order.ts = ts;
        order.type = type as OrderType;
        order.orderId = orderId;
        order.side = side;
        order.price = price;
        order.size = size;
        order.line = line;
        sink.onOrder!(order);
        stats.orders++;
      }
      if (type === 4 || type === 5) {
        trade.ts = ts;
        trade.price = price;
        trade.size = size;
        trade.sign = direction === 1 ? -1 : 1;
        trade.id = orderId;
        trade.hidden = type === 5;
        trade.line = line;
        sink.onTrade(trade);
        stats.trades++;
      }
      sink.onDepth(depth);
      stats.depthEvents++;
    }
    if (await obR.ensure()) {
      throw new InputError(InputErrorCode.Truncated, this.msg.name, msgR.lineNo + 1,
        `message file ends after ${msgR.lineNo} rows but the orderbook file has more (the files must be aligned row by row)`);
    }
    stats.lines[this.msg.name] = msgR.lineNo;
    stats.lines[this.ob.name] = obR.lineNo;
    return stats;
  }
}

/** The TimeBase a LOBSTER day uses (UTC midnight of its date), for tools that need it up front. */
export function lobsterTimeBase(date: string): TimeBase {
  return TimeBase.ofEpochNs(zonedMidnightNs(date, LOBSTER_TIME_ZONE));
}

function truncate(s: string): string {
  return s.length > 120 ? s.slice(0, 117) + '...' : s;
}
