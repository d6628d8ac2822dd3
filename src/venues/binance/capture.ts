/**
 * Binance raw captures: one `<local_recv_ts_ns> <json>` per line, the JSON being a combined-stream
 * envelope `{"stream": ..., "data": {...}}` or a bare REST depth snapshot. Spot and USD-M futures.
 *
 *  - depthUpdate -> DepthEvent delta (absolute sizes; "0" deletes), U/u/pu kept for the book's
 *    sync rules; futures diffs carry pu, spot diffs do not, which selects the rule.
 *  - REST snapshot -> DepthEvent snapshot with lastSeq = lastUpdateId; it seeds the book but makes
 *    no row. It carries no symbol: it belongs to the one symbol of the capture's depth streams.
 *  - trade / aggTrade -> TradeEvent at T (ms); `m: true` means the buyer was the maker, so the
 *    aggressor sold (sign -1). If a capture has both streams for a symbol, the first one seen is
 *    used and the other ignored (counted), so no print is counted twice.
 *  - bookTicker -> QuoteEvent (u kept: verify-book compares it with the rebuilt book).
 */
import { DepthEvent, QuoteEvent, TradeEvent, type MarketSink, type SequenceRule } from '../../model/events.ts';
import { LineReader, openInput, type ByteSource } from '../../sources/input.ts';
import { parseEpochNsParts } from '../../sources/bytes.ts';
import { CHUNK_LINES, countIgnored, emptyStats, type MarketSource, type SourceOptions, type SourceStats } from '../../sources/source.ts';
import { BadInputPolicy, InputError, InputErrorCode } from '../../core/errors.ts';
import { TimeBaseRef, type TimeBase } from '../../model/time.ts';
import { BINANCE_FUTURES, BINANCE_SPOT } from './sequence.ts';

type Json = Record<string, unknown>;

export class BinanceSource implements MarketSource {
  readonly kind = 'binance' as const;
  readonly timeBase: TimeBaseRef;
  private readonly policy: BadInputPolicy;
  private input!: ByteSource;

  private constructor(readonly spec: string, readonly files: readonly string[], opts: SourceOptions) {
    this.policy = opts.policy ?? new BadInputPolicy();
    this.timeBase = opts.timeBase ?? new TimeBaseRef();
  }

  static async open(spec: string, file: string, opts: SourceOptions = {}): Promise<BinanceSource> {
    const s = new BinanceSource(spec, [file], opts);
    s.input = await openInput(file);
    return s;
  }

  get totalBytes(): number {
    return this.input.diskBytes;
  }

  bytesRead(): number {
    return this.input.diskBytesRead();
  }

  async run(sink: MarketSink, pause?: () => Promise<void> | void): Promise<SourceStats> {
    const p = new BinanceLineParser(this.input.name, this.timeBase, this.policy, sink);
    const r = new LineReader(this.input);
    try {
      while (await r.fill()) {
        while (r.next()) {
          p.line(r.buf, r.start, r.end, r.lineNo);
          if (pause && r.lineNo % CHUNK_LINES === 0) await pause();
        }
      }
    } finally {
      // Closes the file when the run stops early (an error, a consumer that has read enough); a no-op at its end.
      await r.close();
    }
    p.finish();
    p.stats.lines[this.input.name] = r.lineNo;
    return p.stats;
  }
}

/** Parses capture lines into events; also used by the live connector for single messages. */
export class BinanceLineParser {
  readonly stats = emptyStats();
  private readonly depth = new DepthEvent();
  private readonly trade = new TradeEvent();
  private readonly quote = new QuoteEvent();
  private readonly parts = new Float64Array(2);
  private readonly rules = new Map<string, SequenceRule>();
  private readonly tradeStream = new Map<string, string>();
  private readonly streamSymbols = new Set<string>();
  private pendingSnapshot: DepthEvent | undefined;
  private sawValidLine = false;
  private tb: TimeBase | undefined;

  constructor(
    private readonly file: string,
    private readonly timeBase: TimeBaseRef,
    private readonly policy: BadInputPolicy,
    private readonly sink: MarketSink,
  ) {}

  line(buf: Buffer, start: number, end: number, lineNo: number): void {
    if (end === start) return;
    const sp = buf.indexOf(32, start);
    if (sp < 0 || sp >= end || !parseEpochNsParts(buf, start, sp, this.parts)) {
      this.bad(lineNo, InputErrorCode.Malformed, `expected "<local_recv_ts_ns> <json>", got "${preview(buf, start, end)}"`);
      return;
    }
    // A bookTicker line when nothing takes quotes: not decoded (a third of a USD-M capture's lines).
    // What decoding it would have left behind is kept: its time fixes the time base if first, its
    // stream names a symbol, and it counts as a Binance line. Only a whole envelope is skipped (it
    // ends in "}}"): a cut line still goes to the parser and is reported; other damage inside a
    // skipped line goes unseen, as its content would have gone unused.
    if (!this.sink.onQuote) {
      const sym = bookTickerStream(buf, sp + 1, end);
      if (sym !== undefined) {
        this.tb ??= this.timeBase.ensureMs(this.parts[0]! * 1000);
        if (sym) this.streamSymbols.add(sym);
        this.sawValidLine = true;
        return;
      }
    }
    this.text(buf.toString('utf8', sp + 1, end), this.parts[0]!, this.parts[1]!, lineNo);
  }

  /** One message's JSON text, received at `sec` s + `ns` ns since the epoch: a capture line's body, or a live frame. */
  text(json: string, sec: number, ns: number, lineNo: number): void {
    let msg: unknown;
    try {
      msg = JSON.parse(json);
    } catch (e) {
      this.bad(lineNo, InputErrorCode.Malformed, `invalid JSON (${(e as Error).message})`);
      return;
    }
    if (msg === null || typeof msg !== 'object' || Array.isArray(msg)) {
      this.bad(lineNo, InputErrorCode.Malformed, 'expected a JSON object after the timestamp');
      return;
    }
    this.received(msg as Json, sec, ns, lineNo);
  }

  /** One decoded message received at `sec` s + `ns` ns since the epoch (the first one fixes the time base). */
  received(msg: Json, sec: number, ns: number, lineNo: number): void {
    this.tb ??= this.timeBase.ensureMs(sec * 1000);
    this.message(msg, this.tb.fromEpochSecNs(sec, ns), lineNo);
  }

  /** One decoded message (a capture line's JSON, or a live websocket frame). */
  message(msg: Json, local: number, lineNo: number): void {
    const env = msg['data'];
    if (env !== undefined && typeof msg['stream'] === 'string') {
      const stream = msg['stream'] as string;
      const at = stream.indexOf('@');
      if (at > 0) this.streamSymbols.add(stream.slice(0, at).toUpperCase());
      if (env === null || typeof env !== 'object') {
        this.bad(lineNo, InputErrorCode.Malformed, `stream ${stream}: "data" is not an object`);
        return;
      }
      this.event(env as Json, local, lineNo, stream);
      return;
    }
    if ('lastUpdateId' in msg) {
      this.snapshot(msg, local, lineNo);
      return;
    }
    this.event(msg, local, lineNo, '');
  }

  finish(): void {
    if (this.pendingSnapshot) countIgnored(this.stats, 'snapshot without any depth stream');
    if (!this.sawValidLine) {
      throw new InputError(InputErrorCode.Format, this.file, undefined,
        'no Binance events found (expected lines "<local_recv_ts_ns> <json>" with depthUpdate, trade, aggTrade or bookTicker messages)');
    }
  }

  private event(d: Json, local: number, lineNo: number, stream: string): void {
    const e = d['e'];
    if (e === 'depthUpdate') return this.depthUpdate(d, local, lineNo);
    if (e === 'trade' || e === 'aggTrade') return this.tradeMsg(d, e, local, lineNo);
    if (e === 'bookTicker' || (e === undefined && stream.includes('@bookTicker'))) return this.ticker(d, local, lineNo);
    this.sawValidLine = true;
    countIgnored(this.stats, `event ${String(e ?? stream)}`);
  }

  private depthUpdate(d: Json, local: number, lineNo: number): void {
    const symbol = d['s'];
    const E = d['E'];
    const U = d['U'];
    const u = d['u'];
    const pu = d['pu'];
    const b = d['b'];
    const a = d['a'];
    if (typeof symbol !== 'string' || typeof E !== 'number' || typeof U !== 'number' || typeof u !== 'number' || !Array.isArray(b) || !Array.isArray(a)) {
      this.bad(lineNo, InputErrorCode.Malformed, 'depthUpdate needs s (string), E, U, u (numbers), b and a (arrays)');
      return;
    }
    const rule: SequenceRule = typeof pu === 'number' ? BINANCE_FUTURES.id : BINANCE_SPOT.id;
    const known = this.rules.get(symbol);
    if (known && known !== rule) {
      this.bad(lineNo, InputErrorCode.MixedFormat,
        `depthUpdate for ${symbol} is ${rule === BINANCE_FUTURES.id ? 'futures-style (has pu)' : 'spot-style (no pu)'} but earlier ones were not: spot and futures streams mixed under one symbol`);
      return;
    }
    if (!known) this.rules.set(symbol, rule);
    if (this.pendingSnapshot) this.releaseSnapshot(symbol, rule);
    const ev = this.depth;
    ev.reset();
    ev.symbol = symbol;
    ev.kind = 'delta';
    ev.sizes = 'absolute';
    ev.makesRow = true;
    ev.depthLimit = Infinity;
    ev.seqRule = rule;
    ev.ts = this.tb!.fromEpochMs(E);
    ev.tsLocal = local;
    ev.firstSeq = U;
    ev.lastSeq = u;
    ev.prevSeq = typeof pu === 'number' ? pu : NaN;
    ev.line = lineNo;
    if (!this.levels(b, ev, true, lineNo) || !this.levels(a, ev, false, lineNo)) return;
    this.sawValidLine = true;
    this.stats.depthEvents++;
    this.sink.onDepth(ev);
  }

  private snapshot(d: Json, local: number, lineNo: number): void {
    const lid = d['lastUpdateId'];
    const bids = d['bids'];
    const asks = d['asks'];
    if (typeof lid !== 'number' || !Array.isArray(bids) || !Array.isArray(asks)) {
      this.bad(lineNo, InputErrorCode.Malformed, 'REST depth snapshot needs lastUpdateId (number), bids and asks (arrays)');
      return;
    }
    const ev = new DepthEvent();
    ev.kind = 'snapshot';
    ev.sizes = 'absolute';
    ev.makesRow = false;
    ev.lastSeq = lid;
    ev.tsLocal = local;
    const E = d['E'];
    ev.ts = typeof E === 'number' ? this.tb!.fromEpochMs(E) : local;
    ev.line = lineNo;
    if (!this.levels(bids, ev, true, lineNo) || !this.levels(asks, ev, false, lineNo)) return;
    this.sawValidLine = true;
    const sym = typeof d['symbol'] === 'string' ? (d['symbol'] as string) : this.soleSymbol(lineNo);
    if (sym === null) return;
    if (sym === undefined) {
      // Nothing has named the symbol yet: hold the snapshot until the first depth stream does.
      this.pendingSnapshot = ev;
      return;
    }
    ev.symbol = sym;
    ev.seqRule = this.rules.get(sym) ?? ('T' in d ? BINANCE_FUTURES.id : BINANCE_SPOT.id);
    this.stats.depthEvents++;
    this.sink.onDepth(ev);
  }

  private releaseSnapshot(symbol: string, rule: SequenceRule): void {
    const ev = this.pendingSnapshot!;
    this.pendingSnapshot = undefined;
    ev.symbol = symbol;
    ev.seqRule = rule;
    this.stats.depthEvents++;
    this.sink.onDepth(ev);
  }

  /** The only symbol the capture's streams have named so far; undefined if none; null (after an error) if several. */
  private soleSymbol(lineNo: number): string | undefined | null {
    const syms = new Set<string>([...this.rules.keys(), ...this.streamSymbols]);
    if (syms.size === 1) return [...syms][0]!;
    if (syms.size === 0) return undefined;
    this.bad(lineNo, InputErrorCode.Format,
      `REST snapshot without a symbol in a capture with several symbols (${[...syms].join(', ')}): cannot tell which book it seeds`);
    return null;
  }

  private levels(arr: unknown[], ev: DepthEvent, bid: boolean, lineNo: number): boolean {
    for (let i = 0; i < arr.length; i++) {
      const lv = arr[i];
      const px = Array.isArray(lv) ? Number(lv[0]) : NaN;
      const sz = Array.isArray(lv) ? Number(lv[1]) : NaN;
      if (!Array.isArray(lv) || lv.length < 2 || !(px > 0) || !(sz >= 0)) {
        this.bad(lineNo, InputErrorCode.Malformed, `${bid ? 'bid' : 'ask'} level ${i} is not ["price","qty"] with price > 0 and qty >= 0: ${JSON.stringify(lv)}`);
        return false;
      }
      if (bid) ev.pushBid(px, sz);
      else ev.pushAsk(px, sz);
    }
    return true;
  }

  private tradeMsg(d: Json, kind: 'trade' | 'aggTrade', local: number, lineNo: number): void {
    const symbol = d['s'];
    const T = d['T'];
    const p = Number(d['p']);
    const q = Number(d['q']);
    const m = d['m'];
    if (typeof symbol !== 'string' || typeof T !== 'number' || !(p > 0) || !(q > 0) || typeof m !== 'boolean') {
      this.bad(lineNo, InputErrorCode.Malformed, `${kind} needs s, T, p > 0, q > 0 and m (boolean)`);
      return;
    }
    this.sawValidLine = true;
    const chosen = this.tradeStream.get(symbol);
    if (chosen === undefined) this.tradeStream.set(symbol, kind);
    else if (chosen !== kind) {
      countIgnored(this.stats, `${kind} (${chosen} used for ${symbol})`);
      return;
    }
    const t = this.trade;
    t.symbol = symbol;
    t.ts = this.tb!.fromEpochMs(T);
    t.tsLocal = local;
    t.price = p;
    t.size = q;
    t.sign = m ? -1 : 1;
    const id = kind === 'trade' ? d['t'] : d['a'];
    t.id = typeof id === 'number' ? id : NaN;
    t.hidden = false;
    t.line = lineNo;
    this.stats.trades++;
    this.sink.onTrade(t);
  }

  private ticker(d: Json, local: number, lineNo: number): void {
    const symbol = d['s'];
    const u = d['u'];
    const bp = Number(d['b']);
    const bq = Number(d['B']);
    const ap = Number(d['a']);
    const aq = Number(d['A']);
    if (typeof symbol !== 'string' || typeof u !== 'number' || Number.isNaN(bp) || Number.isNaN(bq) || Number.isNaN(ap) || Number.isNaN(aq)) {
      this.bad(lineNo, InputErrorCode.Malformed, 'bookTicker needs s, u, b, B, a, A');
      return;
    }
    this.sawValidLine = true;
    if (!this.sink.onQuote) return;
    const q = this.quote;
    q.symbol = symbol;
    const E = d['E'] ?? d['T'];
    q.ts = typeof E === 'number' ? this.tb!.fromEpochMs(E) : local;
    q.tsLocal = local;
    q.seq = u;
    q.bidPx = bp;
    q.bidSz = bq;
    q.askPx = ap;
    q.askSz = aq;
    q.line = lineNo;
    this.stats.quotes++;
    this.sink.onQuote(q);
  }

  private bad(lineNo: number, code: InputErrorCode, detail: string): void {
    if (!this.sawValidLine && lineNo <= 3 && code === InputErrorCode.Malformed) {
      // A file that fails from its first lines is most likely not a Binance capture at all.
      this.policy.report(new InputError(InputErrorCode.Format, this.file, lineNo, `not a Binance capture: ${detail}`));
    } else {
      this.policy.report(new InputError(code, this.file, lineNo, detail));
    }
    countIgnored(this.stats, code);
  }
}

const STREAM_PREFIX = Buffer.from('{"stream":"');
const BOOK_TICKER = Buffer.from('@bookTicker"');

/**
 * For a whole combined-stream envelope `{"stream":"<sym>@bookTicker...}}` in buf[start, end): the symbol
 * (upper case; '' when the name has none); undefined for any other line.
 */
function bookTickerStream(buf: Buffer, start: number, end: number): string | undefined {
  if (end - start < STREAM_PREFIX.length + BOOK_TICKER.length + 2 || buf[end - 1] !== 125 || buf[end - 2] !== 125) return undefined; // '}}'
  if (buf.compare(STREAM_PREFIX, 0, STREAM_PREFIX.length, start, start + STREAM_PREFIX.length) !== 0) return undefined;
  const nameStart = start + STREAM_PREFIX.length;
  const at = buf.indexOf(64, nameStart); // '@'
  if (at < 0 || at + BOOK_TICKER.length > end || buf.compare(BOOK_TICKER, 0, BOOK_TICKER.length, at, at + BOOK_TICKER.length) !== 0) return undefined;
  const quote = buf.indexOf(34, nameStart); // the name's closing '"'
  if (quote < at) return undefined;
  return buf.toString('latin1', nameStart, at).toUpperCase();
}

function preview(buf: Buffer, start: number, end: number): string {
  const s = buf.toString('utf8', start, Math.min(end, start + 80));
  return end - start > 80 ? s + '...' : s;
}
