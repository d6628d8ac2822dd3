import { describe, expect, it } from 'vitest';
import { scratchDir } from '../helpers.ts';
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { gunzipSync, gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { openSource } from '../../src/sources/spec.ts';
import { openRecording } from '../../src/store/replay-recording.ts';
import { TradeEvent, type DepthEvent, type MarketSink } from '../../src/model/events.ts';
import { Recorder } from '../../src/store/recorder.ts';
import { TimeBase, TimeBaseRef } from '../../src/model/time.ts';
import { MockExchange } from '../support/mock-exchange.ts';
import { FeedClient } from '../../src/client/feed-client.ts';
import { flowcast } from '../cli/run-cli.ts';
import { feedUrl, testServer, until } from './helpers.ts';
import { bookBuilder } from '../../src/pipeline/book.ts';

const USDM = 'data/binance/binance-usdm_btcusdt_20240808.jsonl.gz';
const SPOT = 'data/binance/binance-spot_btcusdt_20240808.jsonl.gz';
const tmp = scratchDir('rec');

/** The first `lines` lines of a capture (its REST snapshot is line 8 or 55), as a smaller capture. */
function head(capture: string, lines: number, name: string): string {
  const out = join(tmp, name);
  writeFileSync(out, gzipSync(gunzipSync(readFileSync(capture)).toString('utf8').split('\n').slice(0, lines).join('\n') + '\n'));
  return out;
}

async function recordedEvents(spec: string): Promise<string[]> {
  const into: string[] = [];
  await (spec.startsWith('recording:') ? await openRecording(spec) : await openSource(spec)).run(signature(into));
  return into;
}

async function rowCount(dir: string): Promise<number> {
  const db = await DuckDBInstance.create(':memory:');
  const con = await db.connect();
  const res = await con.runAndReadAll(`select count(*)::INTEGER from read_parquet('${dir}/*.parquet')`);
  return res.getRows()[0]![0] as number;
}

/** Every field of every event, as text: two streams are the same stream iff these lists are equal. */
function signature(into: string[]): MarketSink {
  return {
    onDepth(e: DepthEvent) {
      const lv: number[] = [];
      for (let i = 0; i < e.nBids; i++) lv.push(e.bidPx[i]!, e.bidSz[i]!);
      lv.push(-1);
      for (let i = 0; i < e.nAsks; i++) lv.push(e.askPx[i]!, e.askSz[i]!);
      into.push(`D ${e.symbol} ${e.kind} ${e.sizes} ${e.ts} ${e.tsLocal} ${e.firstSeq} ${e.lastSeq} ${e.prevSeq} ${e.seqRule} ${e.depthLimit} ${e.makesRow} ${lv.join(',')}`);
    },
    onTrade(t: TradeEvent) {
      into.push(`T ${t.symbol} ${t.ts} ${t.tsLocal} ${t.price} ${t.size} ${t.sign} ${t.id} ${t.hidden}`);
    },
  };
}

// Each test waits on events (commits, connections, frames), never on time: the limits, on the
// tests and on each wait, only bound a hang, far above what a loaded machine takes (the CLI runs
// child processes; with other suites running beside them the slowest took 50 s of the default 60).
describe('recorder', { timeout: 300_000 }, () => {
  it('records a capture to time-rotated Parquet that replays event for event and reads in SQL', async () => {
    const dir = join(tmp, 'file');
    const r = await flowcast(['record', '--source', `binance:${SPOT}`, '--out', dir, '--rotate', '2m', '--row-group', '20s', '--no-fsync']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^recorded 13209 events \(135847 rows\) into 4 file\(s\) in /);
    const files = readdirSync(dir).sort();
    expect(files).toEqual(['flowcast-20240808T235400Z.parquet', 'flowcast-20240808T235600Z.parquet', 'flowcast-20240808T235800Z.parquet', 'flowcast-20240809T000000Z.parquet']);
    const want: string[] = [];
    await (await openSource(`binance:${SPOT}`)).run(signature(want));
    const got: string[] = [];
    await (await openRecording(`recording:${dir}`)).run(signature(got));
    expect(got.length).toBe(want.length);
    expect(got).toEqual(want);

    const db = await DuckDBInstance.create(':memory:');
    const con = await db.connect();
    const res = await con.runAndReadAll(
      `select kind, count(distinct event)::INTEGER as events, typeof(min(ts_ns)) as t from read_parquet('${dir}/*.parquet') group by kind order by kind`,
    );
    expect(res.getRows()).toEqual([['delta', 3451, 'BIGINT'], ['snapshot', 1, 'BIGINT'], ['trade', 9757, 'BIGINT']]);
  });

  it('serves a recording as a replay source', async () => {
    const server = await testServer(() => {}, { replay: [`recording:${join(tmp, 'file')}`], speed: 200 });
    // Held before its first event (it releases events only from timers, and startServer resolved in
    // this turn): at 200x the recording lasts under 2 s, which a busy machine can spend connecting.
    server.replays[0]!.pause();
    try {
      const c = await FeedClient.connect({ url: feedUrl(server) });
      let n = 0;
      c.on('features', () => n++);
      await c.subscribe(['features.BTCUSDT']);
      server.replays[0]!.resume();
      await until(() => n >= 50, 120_000, 'features from the recording');
      expect(server.pipeline.sourceList()[0]!.health()).toMatchObject({ state: 'running', gaps: 0, sync: { BTCUSDT: 'synced' } });
      await c.close();
    } finally {
      await server.close();
    }
  });

  it('two runs into one directory within one period keep both runs\' rows; events already recorded are dropped once', async () => {
    const dir = join(tmp, 'two');
    const spot = `binance:${head(SPOT, 3000, 'spot-head.jsonl.gz')}`;
    const usdm = `binance:${head(USDM, 3000, 'usdm-head.jsonl.gz')}`;
    const rowsOf = (out: string) => Number(/\((\d+) rows\)/.exec(out)![1]);
    const a = await flowcast(['record', '--source', spot, '--out', dir, '--no-fsync']);
    expect(a.code).toBe(0);
    const b = await flowcast(['record', '--source', usdm, '--out', dir, '--no-fsync']);
    expect(b.code).toBe(0);
    // Both captures start at 23:54 UTC: one hourly period, whose file holds the first run's events, then the second's.
    const period = 'flowcast-20240808T230000Z';
    expect(readdirSync(dir)).toEqual([`${period}.parquet`]);
    const both = [...await recordedEvents(spot), ...await recordedEvents(usdm)];
    expect(await recordedEvents(`recording:${dir}`)).toEqual(both);
    expect(await rowCount(dir)).toBe(rowsOf(a.stdout) + rowsOf(b.stdout));

    // The same events recorded again are duplicates by content (their event numbers and files differ): dropped once.
    const again = await flowcast(['record', '--source', spot, '--out', dir, '--no-fsync']);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(new RegExp(`; ${rowsOf(a.stdout)} rows already in the recording dropped as duplicates\n$`));
    expect(await recordedEvents(`recording:${dir}`)).toEqual(both);
    expect(await rowCount(dir)).toBe(rowsOf(a.stdout) + rowsOf(b.stdout));

    // A crash between a merge's rename and the removal of its segments leaves them beside the period file:
    // a reader sees each event once, and the next start merges them away.
    mkdirSync(join(dir, `${period}.parts`));
    copyFileSync(join(dir, `${period}.parquet`), join(dir, `${period}.parts`, '000001.parquet'));
    expect(await recordedEvents(`recording:${dir}`)).toEqual(both);
    const rec = await flowcast(['record', '--out', dir, '--recover']);
    expect(rec.code).toBe(0);
    expect(rec.stdout).toBe(`recovered ${join(dir, `${period}.parquet`)}: ${rowsOf(a.stdout) + rowsOf(b.stdout)} rows; ${rowsOf(a.stdout) + rowsOf(b.stdout)} rows already in the recording dropped as duplicates\n`);
    expect(readdirSync(dir)).toEqual([`${period}.parquet`]);
    expect(await recordedEvents(`recording:${dir}`)).toEqual(both);
  });

  it('identical events of one run are all kept; across runs a period keeps as many of each as the run with the most', async () => {
    const dir = join(tmp, 'repeats');
    const timeBase = new TimeBaseRef(TimeBase.ofEpochMs(Date.UTC(2024, 0, 1)));
    // Trades without ids (as a source without trade ids sends them): the same content may be two events.
    const trade = (price: number): TradeEvent => Object.assign(new TradeEvent(), { symbol: 'X', ts: 1000, price, size: 1 });
    const run = async (prices: number[]) => {
      const rec = new Recorder({ dir, timeBase, fsync: false, now: () => Date.UTC(2024, 0, 1, 0, 30) });
      for (const p of prices) rec.onTrade(trade(p));
      return rec.close();
    };
    expect((await run([100, 100, 101])).duplicateRows).toBe(0);
    expect((await run([100, 100, 100, 102])).duplicateRows).toBe(2);
    expect((await run([100, 100, 101])).duplicateRows).toBe(3);
    const prices = (await recordedEvents(`recording:${dir}`)).map((e) => Number(e.split(' ')[4]));
    expect(prices).toEqual([100, 100, 101, 100, 102]);
    expect(readdirSync(dir)).toEqual(['flowcast-20240101T000000Z.parquet']);
  });

  it('a crash (kill -9) loses at most the open row group; the next start compacts what was committed, and a restart in the same period keeps both runs\' rows', async () => {
    // The exchange's timeline runs only while a recorder is connected to it (held from here until
    // the first connects, and from the kill until the second does), so however long the processes
    // take to start, the 69 s of market at 5x last through both runs.
    const mock = new MockExchange({ capture: USDM, speed: 5 });
    await mock.start();
    mock.pause();
    const dir = join(tmp, 'live');
    const child = spawn(process.execPath, [
      'bin/flowcast.js', 'record', '--binance', 'usdm:BTCUSDT', '--ws-url', mock.wsUrl, '--rest-url', mock.restUrl,
      '--depth-stream', '@depth@0ms', '--out', dir, '--row-group', '150ms', '--rotate', '1000d',
    ], { env: { ...process.env, FLOWCAST_LOG: 'info' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let committedEvents = 0;
    let commits = 0;
    let err = '';
    let parsed = 0;
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
      // Whole lines only: a pipe may split a log line across two chunks.
      const end = err.lastIndexOf('\n') + 1;
      for (const line of err.slice(parsed, end).split('\n')) {
        if (!line.includes('"segment committed"')) continue;
        commits++;
        committedEvents = Math.max(committedEvents, (JSON.parse(line) as { eventsTotal: number }).eventsTotal);
      }
      parsed = end;
    });
    const exited = new Promise<number | null>((r) => child.on('exit', (code, signal) => r(signal ? -1 : code)));
    // A wait that ends early if the recorder exits, and whose failure shows the recorder's output
    // at that moment (not when the wait began).
    const wait = async (proc: typeof child, cond: () => boolean, what: string, out: () => string): Promise<void> => {
      const failed = (why: string): Error => new Error(`${why} waiting for ${what}; its output: ${out().slice(-1500)}`);
      await until(() => cond() || proc.exitCode !== null || proc.signalCode !== null, 120_000, what).catch(() => { throw failed('timed out'); });
      if (!cond()) throw failed(`exited (${proc.exitCode ?? proc.signalCode})`);
    };
    try {
      await wait(child, () => mock.stats.connections > 0, 'the recorder\'s connection', () => err);
      mock.resume();
      // A hundred diffs after the recorder's snapshot, so its committed events rebuild a book below.
      await wait(child, () => mock.stats.snapshotsServed > 0, 'the recorder\'s snapshot request', () => err);
      const synced = mock.diffsReleased;
      await wait(child, () => mock.diffsReleased >= synced + 100 && commits >= 4, '100 diffs and 4 commits', () => err);
      // Everything the exchange sent (each message and snapshot is one event) committed, then nothing more.
      mock.pause();
      await wait(child, () => committedEvents >= mock.stats.messagesSent + mock.stats.snapshotsServed, 'every event sent committed', () => err);
      // One recording process per directory: a second start (even only to recover) is refused while it runs.
      const busy = await flowcast(['record', '--out', dir, '--recover']);
      expect(busy.code).toBe(2);
      expect(busy.stderr.split('\n')[0]).toBe(`flowcast record: --out ${dir}: process ${child.pid} is recording into it (${join(dir, '.flowcast-record.lock')})`);
      const atKill = committedEvents;
      child.kill('SIGKILL');
      expect(await exited).toBe(-1);

      // Committed segments are complete Parquet files: nothing committed is lost.
      const parts = readdirSync(dir).filter((f) => f.endsWith('.parts'));
      expect(parts).toHaveLength(1);
      const events: string[] = [];
      await (await openRecording(`recording:${dir}`)).run(signature(events));
      expect(events.length).toBeGreaterThanOrEqual(atKill);
      // ... and they are a faithful prefix of the stream: the book rebuilt from them follows every diff.
      const seqs: number[] = [];
      const b = bookBuilder({ levels: 5, sink: { onRow: (row) => seqs.push(row.seq) } });
      await (await openRecording(`recording:${dir}`)).run(b);
      expect(b.totals().gaps).toBe(0);
      expect(seqs.length).toBeGreaterThan(50);

      // Restarting compacts the leftover segments into the period file, losing nothing more.
      const rec = await flowcast(['record', '--out', dir, '--recover']);
      expect(rec.code).toBe(0);
      expect(rec.stdout).toMatch(/^recovered .*flowcast-\d{8}T\d{6}Z\.parquet: \d+ rows\n$/);
      expect(readdirSync(dir).filter((f) => f.endsWith('.parts'))).toEqual([]);
      const after: string[] = [];
      await (await openRecording(`recording:${dir}`)).run(signature(after));
      expect(after).toEqual(events);

      // A second run in the same period (--rotate 1000d: one period whatever the wall clock), stopped
      // cleanly: its events are added after the first run's, none dropped.
      const connectionsBefore = mock.stats.connections;
      const second = spawn(process.execPath, [
        'bin/flowcast.js', 'record', '--binance', 'usdm:BTCUSDT', '--ws-url', mock.wsUrl, '--rest-url', mock.restUrl,
        '--depth-stream', '@depth@0ms', '--out', dir, '--row-group', '150ms', '--rotate', '1000d',
      ], { env: { ...process.env, FLOWCAST_LOG: 'info' }, stdio: ['ignore', 'pipe', 'pipe'] });
      let out2 = '';
      let err2 = '';
      second.stdout.on('data', (d: Buffer) => { out2 += d.toString(); });
      second.stderr.on('data', (d: Buffer) => { err2 += d.toString(); });
      const exited2 = new Promise<number | null>((r) => second.on('exit', (code) => r(code)));
      try {
        await wait(second, () => mock.stats.connections > connectionsBefore, 'the second recorder\'s connection', () => out2 + err2);
        mock.resume();
        await wait(second, () => err2.split('"segment committed"').length > 3, '3 commits of the second run', () => out2 + err2);
        second.kill('SIGTERM');
        expect(await exited2).toBe(0);
      } finally {
        second.kill('SIGKILL');
      }
      const m = /recorded (\d+) events \((\d+) rows, \d+ segments\) into 1 file\(s\)/.exec(out2);
      expect(m, out2).not.toBeNull();
      expect(readdirSync(dir)).toHaveLength(1);
      const final = await recordedEvents(`recording:${dir}`);
      expect(final.slice(0, after.length)).toEqual(after);
      expect(final.length).toBe(after.length + Number(m![1]));
      expect(await rowCount(dir)).toBe(Number(/: (\d+) rows/.exec(rec.stdout)![1]) + Number(m![2]));
    } finally {
      child.kill('SIGKILL');
      mock.stop();
    }
    expect(existsSync(dir)).toBe(true);
  });
});
