import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BinanceConnector } from '../../src/venues/binance/connector.ts';
import type { ConnectorTarget } from '../../src/venues/venue.ts';
import { MockExchange, type MockExchangeOptions } from '../support/mock-exchange.ts';
import { type BookBuilder } from '../../src/book/builder.ts';
import type { BookRow } from '../../src/model/row.ts';
import { openSource } from '../../src/sources/spec.ts';
import type { DepthEvent, TradeEvent } from '../../src/model/events.ts';
import { BadInputPolicy } from '../../src/core/errors.ts';
import { TimeBaseRef } from '../../src/model/time.ts';
import { FeedClient } from '../../src/client/feed-client.ts';
import { feedUrl, testServer, until } from '../server/helpers.ts';
import { bookBuilder } from '../../src/pipeline/book.ts';

const USDM = 'data/binance/binance-usdm_btcusdt_20240808.jsonl.gz';
const SPOT = 'data/binance/binance-spot_btcusdt_20240808.jsonl.gz';
const L = 10;

type Top = { bids: number[]; asks: number[] };
function top(r: BookRow): Top {
  const bids: number[] = [];
  const asks: number[] = [];
  for (let i = 0; i < L; i++) bids.push(r.bidPx[i]!, r.bidSz[i]!), asks.push(r.askPx[i]!, r.askSz[i]!);
  return { bids, asks };
}

/** The book after every diff of the capture, by its update id u: what the connector must reproduce. */
async function reference(file: string): Promise<Map<number, Top>> {
  const src = await openSource(`binance:${file}`);
  const out = new Map<number, Top>();
  const b = bookBuilder({ levels: L, sink: { onRow: (r) => out.set(r.seq, top(r)) } });
  await src.run(b);
  return out;
}

/** A connector target that keeps every row (a SourceHandle does the same inside the server). */
class Target implements ConnectorTarget {
  builder!: BookBuilder;
  state = '';
  detail = '';
  onSyncStatus: ConnectorTarget['onSyncStatus'];
  sessions = 0;
  trades = 0;
  readonly rows: { seq: number; top: Top; session: number }[] = [];
  readonly policy = BadInputPolicy.parse('all');
  newSession(): void {
    const session = ++this.sessions;
    this.builder = bookBuilder({
      levels: L, policy: this.policy, sink: { onRow: (r) => this.rows.push({ seq: r.seq, top: top(r), session }) },
      onStatus: (sym, st) => this.onSyncStatus?.(sym, st),
    });
  }
  onDepth(e: DepthEvent): void {
    this.builder.onDepth(e);
  }
  onTrade(e: TradeEvent): void {
    this.trades++;
    this.builder.onTrade(e);
  }
}

const refs = new Map<string, Map<number, Top>>();
beforeAll(async () => {
  refs.set(USDM, await reference(USDM));
  refs.set(SPOT, await reference(SPOT));
});

let mock: MockExchange | undefined;
let conn: BinanceConnector | undefined;
afterEach(async () => {
  await conn?.stop();
  mock?.stop();
  conn = undefined;
  mock = undefined;
});

async function run(file: string, mo: Partial<MockExchangeOptions>, target = new Target()) {
  mock = new MockExchange({ capture: file, speed: 25, ...mo });
  await mock.start();
  conn = new BinanceConnector({
    market: mock.market, symbols: [mock.symbol], timeBase: new TimeBaseRef(),
    wsUrl: mock.wsUrl, restUrl: mock.restUrl, depthStream: file === USDM ? '@depth@0ms' : '@depth@100ms',
    backoffInitialMs: 20, snapshotMinIntervalMs: 20, pingIntervalMs: 100,
  }, target);
  await conn.start();
  return { target, mock, conn };
}

function expectRowsMatch(file: string, rows: Target['rows']): void {
  const ref = refs.get(file)!;
  for (const r of rows) expect(ref.get(r.seq), `row u=${r.seq}`).toEqual(r.top);
}

describe('Binance connector against the mock exchange', () => {
  it('USD-M: syncs from the REST snapshot mid-stream and rebuilds the exact book of every diff', async () => {
    const { target, mock: m, conn: c } = await run(USDM, { skipDiffs: 300, pingIntervalMs: 50 });
    await until(() => target.rows.length >= 400, 15_000, '400 rows');
    expect(target.state).toBe('running');
    expect(c.stats.snapshots).toBeGreaterThanOrEqual(1);
    expect(m.stats.snapshotsServed).toBe(c.stats.snapshots);
    expect(target.trades).toBeGreaterThan(0);
    expectRowsMatch(USDM, target.rows);
    // Consecutive diffs: no row missing after the first.
    const ref = [...refs.get(USDM)!.keys()];
    const i0 = ref.indexOf(target.rows[0]!.seq);
    expect(target.rows.map((r) => r.seq)).toEqual(ref.slice(i0, i0 + target.rows.length));
    // The exchange pings; the connector answers (and pings too).
    await until(() => m.stats.pongs > 0, 3000, 'pongs');
  });

  it('spot: the same, with spot sequencing (U = previous u + 1)', async () => {
    const { target } = await run(SPOT, { skipDiffs: 50, speed: 60 });
    await until(() => target.rows.length >= 150, 15_000, '150 rows');
    expectRowsMatch(SPOT, target.rows);
  });

  it('resyncs from a new snapshot after a sequence gap', async () => {
    const { target, mock: m, conn: c } = await run(USDM, {});
    const resyncs = () => target.builder?.counters('BTCUSDT')?.resyncs ?? 0;
    for (const n of [1, 2]) {
      await until(() => target.state === 'running' && resyncs() === n - 1, 20_000, `synced before gap ${n}`);
      const rows = target.rows.length;
      m.dropNextDiff();
      await until(() => resyncs() === n && target.state === 'running' && target.rows.length > rows, 20_000, `resynced after gap ${n}`);
    }
    expect(m.stats.diffsDropped).toBe(2);
    const counters = target.builder.counters('BTCUSDT')!;
    expect(counters.gaps).toBe(2);
    expect(counters.resyncs).toBe(2);
    expect(c.stats.resyncRequests).toBe(2);
    expect(c.stats.snapshots).toBe(3);
    // Between a gap and its resync rows are withheld, never wrong.
    expectRowsMatch(USDM, target.rows);
  });

  it('reconnects with backoff after the exchange drops the connection, and resyncs', async () => {
    const { target, mock: m, conn: c } = await run(USDM, { closeAfterMessages: 300, closeConnections: 2 });
    await until(() => target.sessions >= 3 && target.rows.some((r) => r.session === 3) && target.state === 'running', 20_000, 'third session');
    expect(m.stats.closedByFault).toBe(2);
    expect(c.stats.connects).toBeGreaterThanOrEqual(3);
    expect(c.stats.disconnects).toBeGreaterThanOrEqual(2);
    expect(new Set(target.rows.map((r) => r.session))).toEqual(new Set([1, 2, 3]));
    expectRowsMatch(USDM, target.rows);
  });

  it('feeds the server: features on the feed, and the source healthy in /healthz', async () => {
    mock = new MockExchange({ capture: USDM, speed: 25 });
    await mock.start();
    const m = mock;
    const server = await testServer((cfg) => {
      cfg.sources = [{ kind: 'binance', market: 'usdm', symbols: ['BTCUSDT'], wsUrl: m.wsUrl, restUrl: m.restUrl, depthStream: '@depth@0ms' }];
      cfg.features.vpinBucketBySymbol = { BTCUSDT: 5 };
    });
    try {
      const c = await FeedClient.connect({ url: feedUrl(server) });
      let n = 0;
      c.on('features', () => n++);
      await c.subscribe(['features.BTCUSDT']);
      await until(() => n >= 20, 15_000, 'features from the live source');
      const h = (await (await fetch(`http://127.0.0.1:${server.port}/healthz`)).json()) as { sources: Record<string, unknown>[] };
      expect(h.sources[0]).toMatchObject({ name: 'binance-usdm:BTCUSDT', kind: 'binance', state: 'running', sync: { BTCUSDT: 'synced' }, gaps: 0 });
      await c.close();
    } finally {
      await server.close();
    }
  });
});
