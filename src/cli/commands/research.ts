import type { Command } from '../command.ts';
import { UsageError } from '../command.ts';
import { numberFlag, parseFlags, symbolsFlag } from '../args.ts';

const usage = `flowcast research --data DATA [--data DATA ...] [flags]

Time-series statistics of mid returns and order-flow imbalance (OFI), each with its p-value or
confidence interval: autocorrelation (Bartlett bands, Ljung-Box), stationarity (ADF with MacKinnon
p-values, KPSS with a Newey-West bandwidth) of log mid, returns and OFI, Granger causality
OFI -> returns (and back), Hurst exponent (DFA and R/S, parametric-bootstrap CI), Lo-MacKinlay variance
ratios (heteroskedasticity-robust z), and with --pair the lead-lag of two symbols or venues.
Formulas, references and conventions: docs/research.md.

Data:
  --data FILE|SPEC|DIR features from \`flowcast features\` (.csv, .csv.gz, .parquet), a source spec
                       (lobster:MSG,OB | lobster:ZIP | binance:FILE | tardis:...) computed in memory, or a
                       dataset directory from \`flowcast dataset build\`; repeatable (e.g. two venues)
  --where COND         with a dataset directory: which rows (SQL on venue, symbol, date)
  --symbol SYM         only these symbols (repeatable or comma-separated; default all)
  Returns are log mid changes (the features' mid) and OFI the level-1 order-flow imbalance (ofi_1).

Sampling:
  --every D|event      D (1s default; 100ms, 5s, 1m ...): the last mid at or before each tick and the
                       OFI summed over (tick - D, tick], ticks at whole multiples of D since the UTC day;
                       event: one point per feature row (book update), returns between consecutive rows

Lead-lag:
  --pair A B           lead-lag of series A and B: each is SYMBOL (unique across --data), N (the N-th
                       --data, one symbol) or N:SYMBOL. Cross-correlation of returns on the clock
                       (lags ±--max-lag) and Hayashi-Yoshida on each series' own update times
  --max-lag K          cross-correlation lags (default 10)
  --hy-max D --hy-step D   Hayashi-Yoshida shifts θ in [-D, D] (defaults 1s, 10ms; --hy-max 0 skips it)

Statistics:
  --lags K             ACF and Ljung-Box lags (default 10)
  --granger-lags L|auto    lags of both variables (default auto: AIC over 1..10)
  --vr Q,Q,...         variance-ratio horizons in steps (default 2,5,10,20)
  --bootstrap B        Hurst bootstrap replications (default 100; 0: regression CI only)
  --seed S             bootstrap seed (default 1)

Output:
  --json               the summary as one JSON object on the last line of stdout (the tables go to stderr)

Examples:
  flowcast research --data lobster:data/lobster/GOOG_2012-06-21_34200000_57600000_message_10.csv.gz,data/lobster/GOOG_2012-06-21_34200000_57600000_orderbook_10.csv.gz
  flowcast research --data binance:data/binance/binance-spot_btcusdt_20240808.jsonl.gz --data binance:data/binance/binance-usdm_btcusdt_20240808.jsonl.gz --every 100ms --pair 1 2
`;

interface Loaded {
  index: number;
  source: string;
  symbol: string;
  label: string;
  ts: Float64Array;
  mid: Float64Array;
  ofi: Float64Array;
}

/** `--pair A B`: parseArgs takes one value per flag, so the two operands are taken out of argv first. */
function takePair(argv: string[]): { rest: string[]; pair?: [string, string] } {
  const i = argv.indexOf('--pair');
  if (i < 0) return { rest: argv };
  const a = argv[i + 1], b = argv[i + 2];
  if (a === undefined || b === undefined || a.startsWith('--') || b.startsWith('--')) throw new UsageError('--pair takes two series: --pair A B');
  const rest = [...argv.slice(0, i), ...argv.slice(i + 3)];
  if (rest.includes('--pair')) throw new UsageError('--pair given twice');
  return { rest, pair: [a, b] };
}

/** A duration flag in ns; `0` (any unit) only where `allowZero`. */
function duration(parse: (s: string) => 'event' | number, v: string | undefined, flag: string, dflt: string, allowZero = false): number {
  const s = v ?? dflt;
  if (allowZero && /^0(ns|us|ms|s|m)?$/.test(s)) return 0;
  let ns: 'event' | number;
  try {
    ns = parse(s);
  } catch (e) {
    throw new UsageError(`--${flag}: ${(e as Error).message}`);
  }
  if (ns === 'event') throw new UsageError(`--${flag}: expected a duration like 1s or 10ms, got "${s}"`);
  return ns;
}

const command: Command = {
  name: 'research',
  summary: 'time-series statistics of returns and OFI (ACF, ADF/KPSS, Granger, Hurst, variance ratio, lead-lag) with p-values and intervals',
  usage,
  async run(argv) {
    const { rest, pair } = takePair(argv);
    const { values, positionals } = parseFlags(rest, {
      data: { type: 'string', multiple: true }, where: { type: 'string' }, symbol: { type: 'string', multiple: true },
      every: { type: 'string' }, 'max-lag': { type: 'string' }, 'hy-max': { type: 'string' }, 'hy-step': { type: 'string' },
      lags: { type: 'string' }, 'granger-lags': { type: 'string' }, vr: { type: 'string' }, bootstrap: { type: 'string' }, seed: { type: 'string' },
      json: { type: 'boolean' },
    }, true);
    if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"`);
    const datas = values.data ?? [];
    if (!datas.length) throw new UsageError('--data is required');
    const { parseEvery } = await import('../../research/series.ts');
    let every: 'event' | number;
    try {
      every = parseEvery(values.every ?? '1s');
    } catch (e) {
      throw new UsageError(`--every: ${(e as Error).message}`);
    }
    const acfLags = numberFlag(values.lags, 'lags', 10, { min: 1, integer: true });
    const maxLag = numberFlag(values['max-lag'], 'max-lag', 10, { min: 0, integer: true });
    const gl = values['granger-lags'] ?? 'auto';
    const grangerLags = gl === 'auto' ? { maxLag: 10 } : numberFlag(gl, 'granger-lags', 1, { min: 1, integer: true });
    const vrQ = (values.vr ?? '2,5,10,20').split(',').map((s) => {
      const q = Number(s.trim());
      if (!Number.isInteger(q) || q < 2) throw new UsageError(`--vr: expected integers ≥ 2 separated by commas, got "${values.vr}"`);
      return q;
    });
    const bootstrap = numberFlag(values.bootstrap, 'bootstrap', 100, { min: 0, integer: true });
    const seed = numberFlag(values.seed, 'seed', 1, { integer: true });
    const hyMaxNs = duration(parseEvery, values['hy-max'], 'hy-max', '1s', true);
    const hyStepNs = duration(parseEvery, values['hy-step'], 'hy-step', '10ms');
    if (hyMaxNs > 0 && hyMaxNs / hyStepNs > 5000) throw new UsageError(`--hy-max / --hy-step: ${Math.floor(hyMaxNs / hyStepNs) * 2 + 1} shifts (at most 10,001)`);
    const symbols = symbolsFlag(values.symbol);

    const say = (l: string) => process.stderr.write(l + '\n');
    const { loadFeatures, column } = await import('../../training/features-file.ts');
    const loadedData = [];
    for (const [i, spec] of datas.entries()) {
      say(`research: loading ${spec}`);
      // One label horizon (the cheapest): labels are not read here, but a source run computes them.
      const d = await loadFeatures(spec, { horizons: [10], ...(symbols ? { symbols } : {}), ...(values.where !== undefined ? { where: values.where } : {}) });
      if (d.n === 0) throw new Error(`${spec}: no feature rows${symbols ? ` for ${symbols.join(', ')}` : ''}`);
      loadedData.push({ index: i + 1, d });
    }
    // One time base for all inputs (the earliest first row, floored to a UTC day), so their clocks line up tick for tick.
    const DAY = 86_400_000_000_000n;
    const base = loadedData.reduce((m, { d }) => (d.startNs < m ? d.startNs : m), loadedData[0]!.d.startNs) / DAY * DAY;
    const series: Loaded[] = [];
    for (const { index, d } of loadedData) {
      const mid = column(d, 'mid'), ofi = column(d, 'ofi_1');
      const off = Number(d.startNs - base);
      d.symbols.forEach((symbol, sid) => {
        let k = 0;
        for (let i = 0; i < d.n; i++) if (d.symbolId[i] === sid) k++;
        if (!k) return;
        const s: Loaded = { index, source: d.source, symbol, label: symbol, ts: new Float64Array(k), mid: new Float64Array(k), ofi: new Float64Array(k) };
        let j = 0;
        for (let i = 0; i < d.n; i++) {
          if (d.symbolId[i] !== sid) continue;
          s.ts[j] = d.ts[i]! + off;
          s.mid[j] = mid[i]!;
          s.ofi[j] = ofi[i]!;
          j++;
        }
        series.push(s);
      });
    }
    const dup = new Set(series.filter((s, i) => series.findIndex((o) => o.symbol === s.symbol) !== i).map((s) => s.symbol));
    for (const s of series) if (dup.has(s.symbol)) s.label = `${s.index}:${s.symbol}`;

    const { sampleClock, sampleEvents, clockSpan } = await import('../../research/series.ts');
    const { runBattery, runPair, formatSeries, formatPair, summary } = await import('../../research/report.ts');
    const opts = { acfLags, granger: grangerLags, vrQ, bootstrap, seed };
    const sample = (s: Loaded, span?: { from: number; to: number }) => {
      if (every === 'event') return sampleEvents(s);
      const sp = span ?? clockSpan(s, every);
      return sampleClock(s, every, sp.from, sp.to);
    };
    const out = values.json ? process.stderr : process.stdout;
    const reports = [];
    for (const s of series) {
      const t0 = performance.now();
      const r = runBattery(s.label, s.source, sample(s), opts);
      reports.push(r);
      out.write(formatSeries(r) + '\n\n');
      say(`research: ${s.label} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    }
    const pairs = [];
    if (pair) {
      const resolve = (tok: string): Loaded => {
        const m = /^(\d+)(?::(.+))?$/.exec(tok);
        let hits: Loaded[];
        if (m) {
          const idx = Number(m[1]);
          if (idx < 1 || idx > datas.length) throw new UsageError(`--pair ${tok}: there ${datas.length === 1 ? 'is 1 --data' : `are ${datas.length} --data`}`);
          hits = series.filter((s) => s.index === idx && (m[2] === undefined || s.symbol === m[2]));
          if (hits.length > 1) throw new UsageError(`--pair ${tok}: --data ${idx} holds ${hits.map((h) => h.symbol).join(', ')}; name one as ${idx}:SYMBOL`);
        } else {
          hits = series.filter((s) => s.symbol === tok);
          if (hits.length > 1) throw new UsageError(`--pair ${tok}: ${tok} is in several --data (${hits.map((h) => h.index).join(', ')}); name one as N:${tok}`);
        }
        if (!hits.length) throw new UsageError(`--pair ${tok}: no such series (have ${series.map((s) => s.label).join(', ')})`);
        return hits[0]!;
      };
      const a = resolve(pair[0]), b = resolve(pair[1]);
      if (a === b) throw new UsageError('--pair: A and B are the same series');
      let ca, cb;
      if (every !== 'event') {
        const sa = clockSpan(a, every), sb = clockSpan(b, every);
        const span = { from: Math.max(sa.from, sb.from), to: Math.min(sa.to, sb.to) };
        if (!(span.to > span.from + every * (2 * maxLag + 2))) throw new Error(`lead-lag ${a.label} / ${b.label}: the two cover too little common time (${((span.to - span.from) / 1e9).toFixed(3)} s)`);
        ca = sample(a, span);
        cb = sample(b, span);
      }
      const p = runPair({ label: a.label, ...(ca ? { clock: ca } : {}), events: sampleEvents(a) }, { label: b.label, ...(cb ? { clock: cb } : {}), events: sampleEvents(b) }, { maxLag, hyMaxNs, hyStepNs });
      pairs.push(p);
      out.write(formatPair(p) + '\n');
    }
    if (values.json) {
      const meta = { command: `flowcast research ${argv.join(' ')}`, sampling: every === 'event' ? 'event' : { everyNs: every }, data: datas, level: 0.05 };
      process.stdout.write(JSON.stringify(summary(reports, pairs, meta)) + '\n');
    }
    return 0;
  },
};
export default command;
