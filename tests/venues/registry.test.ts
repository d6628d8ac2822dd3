/**
 * The venue registry drives every venue decision: source specs open through it, the rules events
 * name resolve through it, and the recorder's rule dictionary is its list. A venue added to the
 * registry without a sample here fails the first test, so each one is opened and run. Live
 * sources in the server's config and flags are read by the venue their key or flag names.
 */
import { describe, expect, it } from 'vitest';
import { VENUES, SEQUENCE_RULE_IDS, sequenceRule, venue } from '../../src/venues/registry.ts';
import { openSource, SOURCE_SPEC_HELP } from '../../src/sources/spec.ts';
import { SEQ_RULES } from '../../src/store/recorder.ts';
import { NO_SEQUENCE, UNSEQUENCED } from '../../src/model/sequence.ts';
import { AMZN, GOOG, SPOT, USDM } from '../../src/sources/samples.ts';
import { loadServerConfig, parseLiveFlag } from '../../src/server/config.ts';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { scratchDir } from '../helpers.ts';

/** One real capture per spec form of each venue that reads captures, the first of each run in full. */
const SAMPLES: Record<string, Record<string, string>> = {
  lobster: { 'lobster:ZIP': AMZN, 'lobster:MESSAGE,ORDERBOOK': GOOG },
  binance: { 'binance:FILE': SPOT },
  tardis: { 'tardis:BOOKFILE[,TRADESFILE]': 'tardis:data/tardis/tardis_quotes.csv.gz,data/tardis/tardis_trades.csv.gz' },
};

describe('venue registry', () => {
  it('every venue that reads captures has a sample for each of its spec forms, and no other venue has one', () => {
    for (const v of VENUES) expect(Object.keys(SAMPLES[v.id] ?? {}).sort(), v.id).toEqual(v.openCapture ? [...v.specForms].sort() : []);
    expect(Object.keys(SAMPLES).every((id) => venue(id) !== undefined)).toBe(true);
  });

  it.each(Object.entries(SAMPLES))('%s: each spec form opens through openSource as the venue', async (id, forms) => {
    for (const spec of Object.values(forms)) {
      const src = await openSource(spec);
      expect(src.kind).toBe(id);
      expect(src.spec).toBe(spec);
    }
  });

  it.each([['binance', [SPOT, USDM]], ['tardis', [SAMPLES['tardis']!['tardis:BOOKFILE[,TRADESFILE]']!]], ['lobster', [AMZN]]] as const)(
    '%s: every depth event names one of the venue\'s rules (or none), and the registry resolves it', async (id, specs) => {
      const seen = new Set<string>();
      for (const spec of specs) {
        const src = await openSource(spec);
        await src.run({ onDepth: (e) => { seen.add(e.seqRule); }, onTrade: () => {} });
      }
      const own = venue(id)!.sequences.map((r) => r.id);
      for (const r of seen) {
        expect([NO_SEQUENCE, ...own], `${id} event rule ${r}`).toContain(r);
        expect(sequenceRule(r).id).toBe(r);
      }
      // Binance's spot and USD-M captures use one rule each: both are what the venue registers.
      if (id === 'binance') expect([...seen].sort()).toEqual([...own].sort());
    });

  it('help and errors list exactly the registered capture spec forms', async () => {
    const forms = VENUES.flatMap((v) => (v.openCapture ? v.specForms : []));
    expect(SOURCE_SPEC_HELP).toBe(forms.join(' | '));
    expect(SOURCE_SPEC_HELP).toBe('lobster:MESSAGE,ORDERBOOK | lobster:ZIP | binance:FILE | tardis:BOOKFILE[,TRADESFILE]');
    await expect(openSource('kraken:x.csv')).rejects.toThrow(`unknown source kind "kraken" (expected ${SOURCE_SPEC_HELP})`);
    // A registered venue without captures (producers push over /ingest) is refused the same way.
    expect(venue('ingest')?.openCapture).toBeUndefined();
    await expect(openSource('ingest:x.csv')).rejects.toThrow(`unknown source kind "ingest" (expected ${SOURCE_SPEC_HELP})`);
    await expect(openSource('binance:a.jsonl,b.jsonl')).rejects.toThrow('binance: takes exactly one capture file');
  });

  it('each venue\'s sequence rules resolve by id to themselves; an unknown id names the registered ones', () => {
    expect(sequenceRule(NO_SEQUENCE)).toBe(UNSEQUENCED);
    for (const v of VENUES) for (const r of v.sequences) expect(sequenceRule(r.id), `${v.id} ${r.id}`).toBe(r);
    // Ingest producers' seq follows Binance spot's rule, recorded under its id.
    expect(venue('ingest')!.sequences).toEqual([sequenceRule('binance-spot')]);
    expect(() => sequenceRule('kraken')).toThrow('unknown sequence rule "kraken" (registered: none, binance-spot, binance-futures)');
  });

  it('the recorder\'s seqRule dictionary is the registry\'s ids, in the order recordings were always written', () => {
    expect(SEQ_RULES).toBe(SEQUENCE_RULE_IDS);
    expect(SEQ_RULES).toEqual(['none', 'binance-spot', 'binance-futures']);
  });

  it('a live source in the config file is read by the venue its key names; an unknown one lists every form', () => {
    const dir = scratchDir('venues');
    const load = (sources: unknown[]) => {
      const file = join(dir, 'sources.json');
      writeFileSync(file, JSON.stringify({ sources }));
      return loadServerConfig({ file, env: {}, overrides: { models: '' } }).sources;
    };
    expect(load([{ binance: 'usdm', symbols: ['btcusdt'] }])).toEqual([{ kind: 'binance', market: 'usdm', symbols: ['BTCUSDT'], wsUrl: undefined, restUrl: undefined, depthStream: undefined }]);
    expect(() => load([{ binance: 'coinm', symbols: ['BTCUSD'] }])).toThrow('sources[0].binance: expected "spot" or "usdm", got "coinm"');
    const live = VENUES.filter((v) => v.live).map((v) => v.live!.configForm);
    expect(live).toEqual(['{"binance": "spot"|"usdm", "symbols": [...]}']);
    expect(() => load([{ kraken: 'spot' }])).toThrow(`sources[0]: a source is ${['{"replay": SPEC, "speed"?, "loop"?}', ...live].join(' or ')}`);
  });

  it('a live flag is read by its venue, which names and connects the source', () => {
    const c = parseLiveFlag('binance', 'spot:btcusdt,ethusdt');
    expect(c).toEqual({ kind: 'binance', market: 'spot', symbols: ['BTCUSDT', 'ETHUSDT'] });
    const live = venue(c.kind)!.live!;
    expect(live.sourceName(c)).toBe('binance-spot:BTCUSDT,ETHUSDT');
    expect(live.describe(c)).toBe('binance spot BTCUSDT,ETHUSDT');
    // Nothing is started: connect builds the connector, start() opens its socket.
    expect(live.connect(c, undefined as never, undefined as never).name).toBe('binance-spot:BTCUSDT,ETHUSDT');
    expect(() => parseLiveFlag('binance', 'BTCUSDT')).toThrow('--binance: expected spot:SYMBOL[,SYMBOL...] or usdm:SYMBOL[,SYMBOL...], got "BTCUSDT"');
    expect(() => parseLiveFlag('lobster', 'x')).toThrow('--lobster: no live venue of that name');
  });
});
