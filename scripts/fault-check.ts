/**
 * The fault-injection pass of issue 12, repeatable: starts `flowcast serve` (the real CLI, as a
 * child process) and drives the CLI the way a new user and an attacker did, then prints one line
 * per case (PASS/FAIL and what was seen) and exits 1 if any case failed.
 *
 *   npm run fault-check                 every case
 *   npm run fault-check -- --only 4,13  just these items
 *
 * Clients here are third-party where it matters: `ws` for WebSockets, fetch for HTTP, and a msgpack
 * reader written from the spec that refuses extension types (tests/server/strict-msgpack.ts), not msgpackr.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { gunzipSync, gzipSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { request as httpRequest } from 'node:http';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { pack } from 'msgpackr';
import { decodeStrict } from '../tests/server/strict-msgpack.ts';
import { SPOT, SPOT_FILE, USDM, USDM_FILE } from '../src/sources/samples.ts';
import { MockExchange } from '../tests/support/mock-exchange.ts';

const { values: flags } = parseArgs({ options: { only: { type: 'string' }, help: { type: 'boolean' } } });
if (flags.help) {
  process.stdout.write('npm run fault-check [-- --only 1,4,13]\n');
  process.exit(0);
}
const only = flags.only ? new Set(flags.only.split(',').map((s) => s.trim())) : undefined;

const READER = 'fc-reader-goog-features-0001'; // reads features.GOOG only
const WRITER = 'fc-writer-only-000000000001'; // read: [], write: ['*']
const FULL = 'fc-full-access-000000000001';
const scratch = mkdtempSync(join(tmpdir(), 'flowcast-fault-'));

// ---------------------------------------------------------------------------------------------
// Processes

interface Served { url: string; port: number; proc: ChildProcess; stderr: () => string }

/** `flowcast serve` with `config`, on a free port; resolves when it prints its address. */
async function serve(config: object, args: string[] = []): Promise<Served> {
  const file = join(scratch, `config-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(file, JSON.stringify({ host: '127.0.0.1', port: 0, ...config }));
  const proc = spawn(process.execPath, ['bin/flowcast.js', 'serve', '--config', file, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, FLOWCAST_LOG: 'error' } });
  let out = '';
  let err = '';
  proc.stderr!.on('data', (d) => { err += d; });
  const url = await new Promise<string>((resolve, reject) => {
    proc.stdout!.on('data', (d) => {
      out += d;
      const m = /^flowcast (http:\/\/\S+?)\/ /m.exec(out);
      if (m) resolve(m[1]!);
    });
    proc.on('exit', (code) => reject(new Error(`flowcast serve exited ${code}: ${err.slice(-2000)}`)));
  });
  return { url, port: Number(new URL(url).port), proc, stderr: () => err };
}

function stop(s: Served | undefined): Promise<void> {
  if (!s || s.proc.exitCode !== null) return Promise.resolve();
  return new Promise((r) => { s.proc.once('exit', () => r()); s.proc.kill('SIGTERM'); });
}

interface Run { code: number; stdout: string; stderr: string }

function cli(args: string[], opts: { npx?: boolean } = {}): Promise<Run> {
  const [cmd, argv] = opts.npx ? ['npx', ['flowcast', ...args]] : [process.execPath, ['bin/flowcast.js', ...args]];
  return new Promise((resolve) => {
    // The user's environment: logs at their default level.
    const env = { ...process.env };
    delete env['FLOWCAST_LOG'];
    execFile(cmd, argv as string[], { maxBuffer: 64 << 20, env }, (e, stdout, stderr) => {
      const code = e ? (typeof (e as { code?: unknown }).code === 'number' ? (e as { code: number }).code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

// ---------------------------------------------------------------------------------------------
// WebSocket helpers (the `ws` package: a third-party client)

interface Conn { ws: WebSocket; frames: Buffer[]; closed: Promise<{ code: number; reason: string }> }

function open(url: string, headers: Record<string, string> = {}): Promise<Conn> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers, maxPayload: 256 << 20 });
    const frames: Buffer[] = [];
    const closed = new Promise<{ code: number; reason: string }>((r) => ws.on('close', (code, reason) => r({ code, reason: reason.toString() })));
    ws.on('message', (d) => frames.push(d as Buffer));
    ws.on('open', () => resolve({ ws, frames, closed }));
    ws.on('unexpected-response', (_req, res) => reject(Object.assign(new Error(`upgrade refused: ${res.statusCode}`), { status: res.statusCode })));
    ws.on('error', (e) => reject(e));
  });
}

/** Upgrade status: 101 when accepted, else the HTTP status of the refusal. */
async function upgradeStatus(url: string, headers: Record<string, string>): Promise<number> {
  try {
    const c = await open(url, headers);
    c.ws.close();
    return 101;
  } catch (e) {
    return (e as { status?: number }).status ?? -1;
  }
}

/** The next frame (strictly decoded) for which `pred` holds. */
async function nextFrame(c: Conn, pred: (v: Record<string, unknown>) => boolean): Promise<{ raw: Buffer; strict: ReturnType<typeof decodeStrict>; v: Record<string, unknown> }> {
  let i = 0;
  for (;;) {
    while (i < c.frames.length) {
      const raw = c.frames[i++]!;
      const strict = decodeStrict(raw);
      const v = strict.value as Record<string, unknown>;
      if (pred(v)) return { raw, strict, v };
    }
    if (c.ws.readyState !== WebSocket.OPEN) throw new Error('connection closed before the frame came');
    await new Promise<void>((r) => c.ws.once('message', () => r()));
  }
}

const isError = (v: Record<string, unknown>) => v['t'] === 'error';

async function http(s: Served, path: string, init: RequestInit = {}): Promise<{ status: number; body: string; headers: Headers }> {
  const r = await fetch(`${s.url}${path}`, init);
  return { status: r.status, body: await r.text(), headers: r.headers };
}

/** A GET whose headers go out as given (fetch replaces Host with the URL's). */
function rawGet(s: Served, path: string, headers: Record<string, string>): Promise<{ status: number }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port: s.port, path, headers }, (res) => { res.resume(); resolve({ status: res.statusCode ?? -1 }); });
    req.on('error', reject);
    req.end();
  });
}

const bearer = (k: string) => ({ authorization: `Bearer ${k}` });

async function healthSource(s: Served, prefix: string): Promise<Record<string, unknown> | undefined> {
  const h = JSON.parse((await http(s, '/healthz')).body) as { sources: Record<string, unknown>[] };
  return h.sources.find((x) => String(x['name']).startsWith(prefix));
}

// ---------------------------------------------------------------------------------------------
// The cases

interface Case { item: string; what: string; run: () => Promise<string> }
const cases: Case[] = [];
const check = (item: string, what: string, run: () => Promise<string>) => cases.push({ item, what, run });
function expect(cond: unknown, msg: string): asserts cond {
  if (!cond) throw new Error(msg);
}

// Config paths resolve against the config file (in the scratch directory): give them absolute.
const abs = (spec: string) => spec.replace(/^(\w+):(.*)$/, (_, k: string, f: string) => `${k}:${resolve(f)}`);
let demo: Promise<Served> | undefined;
let locked: Promise<Served> | undefined;
const demoServer = () => (demo ??= serve({
  sources: [{ replay: abs(USDM), speed: 50, loop: true }, { replay: abs(SPOT), speed: 50, loop: true }],
  feed: { maxBufferBytes: 65536, slowTimeoutMs: 2000 },
  models: { dir: resolve('models'), symbols: { '*': ['BTCUSDT'] } },
  security: {
    anonymous: true,
    keys: [
      { id: 'reader', key: READER, read: ['features.GOOG'] },
      { id: 'writer', key: WRITER, read: [], write: ['*'] },
      { id: 'full', key: FULL, read: ['*'], write: ['*'] },
    ],
  },
}));
const lockedServer = () => (locked ??= serve({ sources: [{ replay: abs(USDM), speed: 50, loop: true }], models: { dir: '' }, security: { anonymous: false, keys: [{ id: 'full', key: FULL, read: ['*'], write: ['*'] }] } }, ['--require-keys']));

const gbdtRow = (x: number) => ({ model: 'goog-gbdt', window: [Array.from({ length: 22 }, () => x)] });
const predict = (s: Served, body: unknown, key?: string) => http(s, '/v1/predict', { method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body), headers: { 'content-type': 'application/json', ...(key ? bearer(key) : {}) } });

// 1. Recorder restarts must keep every committed row.
check('1a', 'record: two runs into one directory within one period keep both runs\' rows', async () => {
  const dir = join(scratch, 'rec-two');
  const a = await cli(['record', '--source', SPOT, '--out', dir]);
  expect(a.code === 0, `first run exit ${a.code}: ${a.stderr}`);
  const first = await recordedRows(dir);
  const b = await cli(['record', '--source', USDM, '--out', dir]);
  expect(b.code === 0, `second run exit ${b.code}: ${b.stderr}`);
  const alone = join(scratch, 'rec-usdm');
  await cli(['record', '--source', USDM, '--out', alone]);
  const total = await recordedRows(dir);
  const usdm = await recordedRows(alone);
  expect(total === first + usdm, `after both runs ${total} rows, expected ${first} + ${usdm}`);
  const again = await cli(['record', '--source', SPOT, '--out', dir]);
  expect(again.code === 0, `third run exit ${again.code}`);
  const after = await recordedRows(dir);
  expect(after === total, `recording the same events again changed ${total} rows to ${after} (duplicates are recognised by content)`);
  return `${first} + ${usdm} rows kept; a repeat of the first run added 0`;
});

check('1b', 'record: after kill -9 and a restart in the same period, the committed rows and the new run\'s are all kept', async () => {
  const dir = join(scratch, 'rec-kill');
  // The first run is killed once it has committed segments; the restart records the same feed later on.
  const live = async (skipDiffs: number, stop: NodeJS.Signals): Promise<string> => {
    const mock = new MockExchange({ capture: USDM_FILE, speed: 20, skipDiffs });
    await mock.start();
    const proc = spawn(process.execPath, [
      'bin/flowcast.js', 'record', '--binance', 'usdm:BTCUSDT', '--ws-url', mock.wsUrl, '--rest-url', mock.restUrl,
      '--depth-stream', '@depth@0ms', '--out', dir, '--row-group', '150ms',
    ], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, FLOWCAST_LOG: 'info' } });
    let commits = 0;
    let out = '';
    proc.stdout!.on('data', (d: Buffer) => { out += d; });
    proc.stderr!.on('data', (d: Buffer) => { commits += d.toString().split('"segment committed"').length - 1; });
    const exited = new Promise((r) => proc.once('exit', r));
    try {
      await waitFor(() => commits >= 3, 60_000, 'three committed segments');
    } finally {
      proc.kill(stop);
      await exited;
      mock.stop();
    }
    return out;
  };
  await live(0, 'SIGKILL');
  const rec = await cli(['record', '--out', dir, '--recover']);
  expect(rec.code === 0, `--recover exit ${rec.code}: ${rec.stderr}`);
  const committed = await recordedRows(dir);
  const second = await live(3000, 'SIGTERM');
  const newRows = Number(/\((\d+) rows\b/.exec(second)?.[1] ?? NaN);
  expect(newRows > 0, `the restart printed no row count: "${second.trim()}"`);
  const total = await recordedRows(dir);
  expect(total === committed + newRows, `${total} rows in the directory; the killed run committed ${committed} and the restart recorded ${newRows}`);
  return `${committed} committed before the kill + ${newRows} recorded by the restart = ${total}`;
});

// 2. Every row not written is counted where the user looks.
check('2a', 'features --skip-bad sequence-gap: a deleted depth line is counted, the book resyncs or says it cannot', async () => {
  const lines = gunzipSync(readFileSync(USDM_FILE)).toString('utf8').split('\n');
  const depth = lines.map((l, i) => (l.includes('depthUpdate') ? i : -1)).filter((i) => i >= 0);
  const cut = depth[Math.floor(depth.length / 10)]!;
  const file = join(scratch, 'spot-gap.jsonl.gz');
  writeFileSync(file, gzipSync(lines.filter((_, i) => i !== cut).join('\n')));
  await cli(['features', '--source', USDM, '--out', join(scratch, 'whole.csv')]);
  const gap = await cli(['features', '--source', `binance:${file}`, '--out', join(scratch, 'gap.csv'), '--skip-bad', 'sequence-gap']);
  expect(gap.code === 0, `exit ${gap.code}: ${gap.stderr}`);
  const rows = (f: string) => readFileSync(f, 'utf8').trimEnd().split('\n').length - 1;
  const all = rows(join(scratch, 'whole.csv'));
  const got = rows(join(scratch, 'gap.csv'));
  const summary = gap.stdout + gap.stderr;
  const withheld = Number(/rows withheld ([\d,]+)/.exec(summary)?.[1]?.replaceAll(',', '') ?? NaN);
  expect(withheld === withheld, `no "rows withheld N" in the summary: ${summary.trim()}`);
  // The deleted line's own row and whatever was withheld until a resync: everything accounted for.
  expect(got + withheld >= all - 1, `${got} rows written + ${withheld} withheld, the whole file makes ${all}: rows lost uncounted (${summary.trim()})`);
  expect(got >= all * 0.9 || /cannot|no later snapshot/i.test(summary), `${got} of ${all} rows and the run does not say it cannot resync: ${summary.trim()}`);
  return `${got} of ${all} rows written, ${withheld} withheld and counted`;
});

check('2b', 'ingest: a bad message counts in /healthz, and does not silently withhold what follows', async () => {
  const s = await demoServer();
  const c = await open(`${s.url.replace('http', 'ws')}/ingest`, bearer(WRITER));
  const ts = Date.now();
  const book = (seq: number, bid: number) => ({ t: seq === 1 ? 'snapshot' : 'delta', sym: 'FCBAD', ts: ts + seq, seq, bids: [[bid, 1]], asks: [[101, 1]] });
  c.ws.send(pack([book(1, 99), book(2, 99.5), { ...book(3, 99.6), bids: [[-1, 1]] }, book(4, 99.7), book(5, 99.8)]));
  c.ws.send(pack({ t: 'flush', id: 1 }));
  await nextFrame(c, (v) => v['t'] === 'ack');
  const src = await waitForValue(() => healthSource(s, 'ingest'), 'an ingest source in /healthz');
  const refused = JSON.stringify(src['refused'] ?? {});
  const withheld = Number(src['rowsWithheld'] ?? 0);
  const rows = Number(src['rows'] ?? 0);
  c.ws.close();
  expect(/bad-request/.test(refused), `the malformed delta is not counted (refused ${refused}, badInput ${JSON.stringify(src['badInput'])})`);
  expect(rows + withheld >= 3, `${rows} rows, ${withheld} withheld for 4 good deltas after the snapshot (rows lost uncounted)`);
  return `refused ${refused}, rows ${rows}, withheld ${withheld}`;
});

// 3. Outputs of failed runs, and a missing output directory.
check('3a', 'features --out into a missing directory: created or refused clearly, never "internal error"', async () => {
  const out = join(scratch, 'no', 'such', 'dir', 'f.csv');
  const r = await cli(['features', '--source', SPOT, '--out', out]);
  expect(!/internal error/i.test(r.stderr) && r.code !== 70, `exit ${r.code}: ${r.stderr.split('\n')[0]}`);
  expect(r.code === 0 ? existsSync(out) : /director/i.test(r.stderr), `exit ${r.code}, but ${r.code === 0 ? 'no file' : 'no word on the directory'}: ${r.stderr.trim()}`);
  return r.code === 0 ? 'directory created, file written' : `refused: ${r.stderr.trim()}`;
});

check('3b', 'features: a run that fails midway leaves no header-only CSV or 0-row Parquet behind', async () => {
  const lines = gunzipSync(readFileSync(SPOT_FILE)).toString('utf8').split('\n');
  lines[Math.floor(lines.length / 2)] = 'this is not a capture line';
  const bad = join(scratch, 'bad.jsonl.gz');
  writeFileSync(bad, gzipSync(lines.join('\n')));
  const leftovers: string[] = [];
  for (const ext of ['csv', 'parquet']) {
    const out = join(scratch, `failed.${ext}`);
    // A fixed VPIN bucket skips the sizing pass, so the failure comes with the output open.
    const r = await cli(['features', '--source', `binance:${bad}`, '--out', out, '--vpin-bucket', '1']);
    expect(r.code !== 0, `a file with a malformed line exited 0`);
    if (existsSync(out)) leftovers.push(out);
    if (readdirSync(scratch).some((f) => f.startsWith(`failed.${ext}`))) leftovers.push(`${out}*`);
  }
  expect(leftovers.length === 0, `left behind: ${leftovers.join(', ')}`);
  return 'nothing left behind (csv, parquet)';
});

// 4-7. Access control.
check('4a', 'POST /v1/predict needs read access to the prediction topic', async () => {
  const s = await demoServer();
  const reader = await predict(s, gbdtRow(0), READER);
  const writer = await predict(s, gbdtRow(0), WRITER);
  const full = await predict(s, gbdtRow(0), FULL);
  expect(reader.status === 403 && writer.status === 403, `read-only key (features.GOOG): ${reader.status}, write-only key: ${writer.status}`);
  expect(full.status === 200, `a key that reads everything: ${full.status} ${full.body}`);
  return 'reader 403, writer 403, full 200';
});

check('4b', '/v1/topics lists only what the key may read', async () => {
  const s = await demoServer();
  const topics = async (k: string) => (JSON.parse((await http(s, '/v1/topics', { headers: bearer(k) })).body) as { topics: { topic: string }[] }).topics.map((t) => t.topic);
  const r = await topics(READER);
  const w = await topics(WRITER);
  expect(r.every((t) => t === 'features.GOOG'), `features.GOOG key sees ${r.join(', ')}`);
  expect(w.length === 0, `write-only key sees ${w.length} topics`);
  return `reader sees [${r.join(', ')}], writer sees none`;
});

check('5', 'DNS rebinding: a foreign Host is refused anonymous access on loopback', async () => {
  const s = await demoServer();
  const status = await upgradeStatus(`ws://127.0.0.1:${s.port}/feed`, { host: 'evil.example', origin: 'http://evil.example' });
  const topics = await rawGet(s, '/v1/topics', { host: 'evil.example' });
  const ok = await upgradeStatus(`ws://127.0.0.1:${s.port}/feed`, { host: `localhost:${s.port}`, origin: `http://localhost:${s.port}` });
  expect(status >= 400 && status < 500, `upgrade with Host: evil.example answered ${status}`);
  expect(topics.status >= 400, `GET /v1/topics with Host: evil.example answered ${topics.status}`);
  expect(ok === 101, `Host: localhost refused (${ok})`);
  return `feed ${status}, /v1/topics ${topics.status}; localhost still 101`;
});

check('6', '/metrics without a key holds no market data on a server that requires keys', async () => {
  const s = await lockedServer();
  await waitForValue(async () => Number((await healthSource(s, 'replay'))?.['rows'] ?? 0) > 0 || undefined, 'rows from the replay');
  const r = await http(s, '/metrics');
  const market = r.status === 200 ? r.body.split('\n').filter((l) => /symbol="BTCUSDT"/.test(l) && /spread|depth|vpin/i.test(l)) : [];
  expect(market.length === 0, `${market.length} market-data lines without a key, e.g. ${market[0]}`);
  const keyed = await http(s, '/metrics', { headers: bearer(FULL) });
  expect(keyed.status === 200, `with a read key: ${keyed.status}`);
  return `anonymous ${r.status} without market data; keyed ${keyed.status}`;
});

check('7a', 'Authorization without "Bearer " is refused with 401', async () => {
  const s = await demoServer();
  const h = await http(s, '/v1/topics', { headers: { authorization: `Token ${FULL}` } });
  const ws = await upgradeStatus(`ws://127.0.0.1:${s.port}/feed`, { authorization: `Basic ${Buffer.from('a:b').toString('base64')}` });
  expect(h.status === 401 && ws === 401, `HTTP ${h.status}, upgrade ${ws}`);
  return 'HTTP 401, upgrade 401';
});

check('7b', 'failed key attempts are throttled per address', async () => {
  // Its own server: once throttled, this address could present no key to the others for a while.
  const s = await serve({ sources: [], models: { dir: '' }, security: { anonymous: false, keys: [{ id: 'full', key: FULL, read: ['*'] }] } }, ['--no-replay']);
  try {
    const seen: number[] = [];
    for (let i = 0; i < 60 && !seen.includes(429); i++) seen.push((await http(s, '/v1/topics', { headers: bearer(`wrong-key-${i}-000000000000`) })).status);
    expect(seen.includes(429), `60 wrong keys: ${[...new Set(seen)].join(', ')}`);
    const good = await http(s, '/v1/topics', { headers: bearer(FULL) });
    return `429 after ${seen.indexOf(429)} failures (a right key from the same address now: ${good.status})`;
  } finally {
    await stop(s);
  }
});

// 8-13. Protocol conformance.
check('8', 'msgpack error frames on /feed and /ingest carry no extension types', async () => {
  const s = await demoServer();
  const f = await open(`ws://127.0.0.1:${s.port}/feed`);
  f.ws.send(pack({ op: 'subscribe', topics: ['not a topic'] }));
  const fe = await nextFrame(f, isError);
  f.ws.send(pack({ op: 'subscribe' }));
  const fe2 = await nextFrame(f, (v) => isError(v) && v !== fe.v);
  f.ws.close();
  const i = await open(`ws://127.0.0.1:${s.port}/ingest`, bearer(WRITER));
  i.ws.send(pack({ t: 'delta', sym: 'FCEXT', bids: [[1, 1]], asks: [] }));
  const ie = await nextFrame(i, isError);
  i.ws.close();
  return `feed ${fe.v['code']}/${fe2.v['code']}, ingest ${ie.v['code']}: plain msgpack`;
});

check('9', 'heartbeat and pong ts are msgpack integers', async () => {
  const s = await demoServer();
  const c = await open(`ws://127.0.0.1:${s.port}/feed`);
  c.ws.send(pack({ op: 'ping', id: 7 }));
  const pong = await nextFrame(c, (v) => v['t'] === 'pong');
  const hb = await nextFrame(c, (v) => v['t'] === 'hb');
  c.ws.close();
  const floats = Object.entries({ pong, hb }).flatMap(([t, f]) => [...f.strict.numbers].filter(([, k]) => k === 'float64').map(([p]) => `${t}.${p}`));
  expect(floats.length === 0, `float64 at ${floats.join(', ')}`);
  return `pong ts ${pong.v['ts']}, hb ts ${hb.v['ts']}: integers`;
});

check('10', 'a frame without op gets bad-request', async () => {
  const s = await demoServer();
  const c = await open(`ws://127.0.0.1:${s.port}/feed`);
  c.ws.send(pack({ id: 3, topics: ['features.BTCUSDT'] }));
  const e = await nextFrame(c, isError);
  c.ws.close();
  expect(e.v['code'] === 'bad-request', `code ${e.v['code']}: ${e.v['message']}`);
  return `bad-request: ${e.v['message']}`;
});

check('11a', 'an oversize /feed frame closes with 1009 and a reason', async () => {
  const s = await demoServer();
  const c = await open(`ws://127.0.0.1:${s.port}/feed`);
  c.ws.send(pack({ op: 'ping', pad: 'x'.repeat(20_000) }));
  const { code, reason } = await c.closed;
  expect(code === 1009 && reason.length > 0, `closed ${code} "${reason}"`);
  return `1009 "${reason}"`;
});

check('11b', 'an ingest frame over 1 MiB closes with 1009, not a reset', async () => {
  const s = await demoServer();
  const c = await open(`ws://127.0.0.1:${s.port}/ingest`, bearer(WRITER));
  let reset = '';
  c.ws.on('error', (e) => { reset = e.message; });
  c.ws.send(pack({ t: 'trade', sym: 'FCBIG', px: 1, sz: 1, pad: 'x'.repeat(1.5 * 2 ** 20) }));
  const { code, reason } = await c.closed;
  expect(code === 1009 && !reset, `closed ${code} "${reason}"${reset ? ` (${reset})` : ''}`);
  return `1009 "${reason}"`;
});

async function neverReads(s: Served, headers: Record<string, string>, topics: string[]): Promise<{ code: number; reason: string }> {
  const c = await open(`ws://127.0.0.1:${s.port}/feed`, headers);
  c.ws.send(pack({ op: 'subscribe', topics }));
  await nextFrame(c, (v) => v['t'] === 'subscribed');
  const sock = (c.ws as unknown as { _socket: import('node:net').Socket })._socket;
  sock.pause();
  // The server drops it by its slow-client rules: /healthz shows the connection gone.
  await waitForValue(async () => {
    const h = JSON.parse((await http(s, '/healthz', { headers })).body) as { feed: { connections: number } };
    return h.feed.connections === 0 || undefined;
  }, 'the server to drop the stuck client', 120_000);
  sock.resume();
  return c.closed;
}

check('11c', 'a client that never reads is closed with 4008 (slowTimeoutMs 2 s, 64 KiB buffer)', async () => {
  const { code, reason } = await neverReads(await demoServer(), {}, ['book.BTCUSDT', 'features.BTCUSDT', 'alerts.*']);
  expect(code === 4008, `closed ${code} "${reason}"`);
  return `4008 "${reason}"`;
});

check('11d', 'a client that never reads is closed with 4008 (default feed settings)', async () => {
  const { code, reason } = await neverReads(await lockedServer(), bearer(FULL), ['book.BTCUSDT', 'features.BTCUSDT', 'alerts.*']);
  expect(code === 4008, `closed ${code} "${reason}"`);
  return `4008 "${reason}"`;
});

check('12a', 'a crossed or locked ingest snapshot gets its own error, not sequence-gap at seq NaN', async () => {
  const s = await demoServer();
  const c = await open(`ws://127.0.0.1:${s.port}/ingest`, bearer(WRITER));
  c.ws.send(pack({ t: 'snapshot', sym: 'FCCROSS', ts: Date.now(), seq: 1, bids: [[101, 1]], asks: [[100, 1]] }));
  const crossed = await nextFrame(c, isError);
  c.ws.send(pack({ t: 'snapshot', sym: 'FCLOCK', ts: Date.now(), bids: [[100, 1]], asks: [[100, 1]] }));
  const lockedErr = await nextFrame(c, (v) => isError(v) && v !== crossed.v);
  c.ws.close();
  for (const e of [crossed, lockedErr]) {
    expect(e.v['code'] !== 'sequence-gap' && !/NaN/.test(String(e.v['message'])), `${e.v['code']}: ${e.v['message']}`);
  }
  return `${crossed.v['code']}: ${crossed.v['message']}`;
});

check('12b', 'a crossed delta does not silently delete a side; stale seq numbers are counted', async () => {
  const s = await demoServer();
  const c = await open(`ws://127.0.0.1:${s.port}/ingest`, bearer(WRITER));
  const ts = Date.now();
  c.ws.send(pack([
    { t: 'snapshot', sym: 'FCDELTA', ts, seq: 1, bids: [[99, 1], [98, 1]], asks: [[101, 1], [102, 1]] },
    { t: 'delta', sym: 'FCDELTA', ts: ts + 1, seq: 2, bids: [[99.5, 1]], asks: [] },
    { t: 'delta', sym: 'FCDELTA', ts: ts + 2, seq: 3, bids: [[103, 1]], asks: [] }, // crosses both asks
    { t: 'delta', sym: 'FCDELTA', ts: ts + 3, seq: 3, bids: [[97, 1]], asks: [] }, // repeated seq
    { t: 'delta', sym: 'FCDELTA', ts: ts + 4, seq: 2, bids: [[96, 1]], asks: [] }, // older seq
  ]));
  c.ws.send(pack({ t: 'flush', id: 2 }));
  await nextFrame(c, (v) => v['t'] === 'ack');
  const errors = c.frames.map((f) => decodeStrict(f).value as Record<string, unknown>).filter(isError);
  const src = await waitForValue(async () => {
    const h = JSON.parse((await http(s, '/healthz')).body) as { sources: Record<string, unknown>[] };
    return h.sources.find((x) => JSON.stringify(x['symbols'] ?? []).includes('FCDELTA'));
  }, 'the FCDELTA ingest source in /healthz');
  c.ws.close();
  const text = JSON.stringify(src);
  expect(errors.some((e) => /cross/i.test(String(e['message']) + String(e['code']))) || /cross/i.test(text), `a crossed delta: no error and nothing counted (${text})`);
  expect(/stale|repeat|old/i.test(text) && !/"diffsStale":0/.test(text), `repeated and older seq numbers not counted: ${text}`);
  return `errors: ${errors.map((e) => e['code']).join(', ') || 'none'}; counted in /healthz`;
});

check('13', 'POST /v1/predict refuses non-finite inputs with 400', async () => {
  const s = await demoServer();
  const body = JSON.stringify(gbdtRow(0)).replace('[[0,', '[[1e309,');
  const r = await predict(s, body, FULL);
  expect(r.status === 400, `${r.status} ${r.body}`);
  return `400 ${r.body}`;
});

check('14', 'ingest memory: out-of-sync deltas are bounded', async () => {
  const s = await demoServer();
  const c = await open(`ws://127.0.0.1:${s.port}/ingest`, bearer(WRITER));
  const ts = Date.now();
  c.ws.send(pack({ t: 'snapshot', sym: 'FCMEM', ts, seq: 1, bids: [[99, 1]], asks: [[101, 1]] }));
  const burst = async (b: number) => {
    for (let k = 0; k < 20; k++) {
      c.ws.send(pack(Array.from({ length: 1000 }, (_, i) => ({ t: 'delta', sym: 'FCMEM', ts: ts + 1, seq: 10 + b * 100_000 + k * 1000 + i, bids: Array.from({ length: 20 }, (_, j) => [90 + j * 0.1 + i * 1e-4, 1]), asks: [[101, 1]] }))));
    }
    c.ws.send(pack({ t: 'flush', id: 100 + b }));
    await nextFrame(c, (v) => v['t'] === 'ack' && v['id'] === 100 + b);
  };
  await burst(0);
  const base = rssMb(s.proc.pid!);
  for (let b = 1; b <= 4; b++) await burst(b);
  const grown = rssMb(s.proc.pid!) - base;
  c.ws.close();
  expect(grown < 60, `RSS grew ${grown.toFixed(0)} MB over four bursts of 20k out-of-sync deltas`);
  return `RSS +${grown.toFixed(0)} MB over 80k out-of-sync deltas`;
});

// 15-17. A newcomer's rough edges.
check('15', 'tests/server/replay.test.ts passes on a busy machine (two CPU burners beside it)', async () => {
  const burners = [0, 1].map(() => spawn(process.execPath, ['-e', 'for(;;){}'], { stdio: 'ignore' }));
  try {
    const r = await new Promise<Run>((resolve) => execFile('npx', ['vitest', 'run', 'tests/server/replay.test.ts'], { maxBuffer: 16 << 20 }, (e, stdout, stderr) => resolve({ code: e ? 1 : 0, stdout, stderr })));
    expect(r.code === 0, (r.stdout + r.stderr).split('\n').filter((l) => /FAIL|Error|✗|×/.test(l)).slice(0, 5).join(' | '));
    return 'passed under load';
  } finally {
    for (const b of burners) b.kill();
  }
});

check('16a', '`npx flowcast version` prints no npm warning and names the native pieces', async () => {
  const r = await cli(['version'], { npx: true });
  expect(!/npm warn/i.test(r.stderr), `stderr: ${r.stderr.trim()}`);
  const missing = ['onnxruntime', 'uWebSockets', 'parquet'].filter((p) => !new RegExp(p, 'i').test(r.stdout));
  expect(r.code === 0 && missing.length === 0, `exit ${r.code}; not named: ${missing.join(', ')}`);
  return r.stdout.trim().split('\n').length + ' lines, no warning';
});

check('16b', '`models list` on a CPU machine prints no JSON CUDA warning', async () => {
  const r = await cli(['models', 'list']);
  expect(r.code === 0 && !/^\{.*cuda/im.test(r.stderr + r.stdout), `exit ${r.code}: ${r.stderr.trim().slice(0, 300)}`);
  return 'quiet';
});

check('16c', '`serve --compute gpujs:webgpu` where unavailable: one precise line, no help text', async () => {
  const r = await cli(['serve', '--no-replay', '--port', '0', '--models', '', '--compute', 'gpujs:webgpu']);
  const lines = r.stderr.trim().split('\n');
  expect(r.code !== 0 && lines.length <= 2 && !/Usage|--config FILE/.test(r.stderr) && /webgpu/i.test(r.stderr), `exit ${r.code}, ${lines.length} lines: ${lines[0]}`);
  return lines[0]!;
});

check('16d', 'README examples run as written after npm install (npx flowcast, not a bare flowcast)', async () => {
  // A command line (not a command's output, such as serve's "flowcast http://... dashboard").
  const commands = 'serve|record|features|verify-book|analytics|train|models|evaluate|version';
  const bare = readFileSync('README.md', 'utf8').split('\n').filter((l) => new RegExp(`^\\s*(\\$ )?flowcast (${commands})(\\s|$)`).test(l));
  expect(bare.length === 0, `${bare.length} bare commands, e.g. ${bare[0]}`);
  return 'every example starts with npx flowcast or npm';
});

check('17', 'dashboard: VPIN reason, model selector by symbol, alert flood, stable default symbol', async () => {
  const r = await new Promise<Run>((resolve) => execFile('npx', ['vitest', 'run', 'tests/dashboard/'], { maxBuffer: 16 << 20 }, (e, stdout, stderr) => resolve({ code: e ? 1 : 0, stdout, stderr })));
  expect(r.code === 0, (r.stdout + r.stderr).split('\n').filter((l) => /FAIL|Error|×/.test(l)).slice(0, 5).join(' | '));
  const skipped = /skipped/.test(r.stdout) && !/passed/.test(r.stdout);
  return skipped ? 'SKIPPED (no Chromium here)' : 'headless Chromium: passed';
});

// ---------------------------------------------------------------------------------------------

async function recordedRows(dir: string): Promise<number> {
  const { DuckDBInstance } = await import('@duckdb/node-api');
  const db = await DuckDBInstance.create(':memory:');
  const con = await db.connect();
  const r = await con.runAndReadAll(`select count(*)::BIGINT as n from read_parquet('${dir}/*.parquet')`);
  const n = Number(r.getRowObjects()[0]!['n']);
  con.closeSync();
  return n;
}

async function waitFor(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  await waitForValue(async () => cond() || undefined, what, timeoutMs);
}

async function waitForValue<T>(get: () => Promise<T | undefined>, what: string, timeoutMs = 30_000): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await get();
    if (v !== undefined) return v;
    if (Date.now() - t0 > timeoutMs) throw new Error(`gave up waiting for ${what} after ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

let failed = 0;
let ran = 0;
try {
  for (const c of cases) {
    if (only && !only.has(c.item) && !only.has(c.item.replace(/[a-z]$/, ''))) continue;
    ran++;
    const t0 = Date.now();
    let line: string;
    try {
      line = `PASS  ${c.item.padEnd(4)} ${c.what}: ${await c.run()}`;
    } catch (e) {
      failed++;
      line = `FAIL  ${c.item.padEnd(4)} ${c.what}: ${(e as Error).message.trim().replace(/\s*\n\s*/g, ' | ')}`;
    }
    process.stdout.write(`${line} (${((Date.now() - t0) / 1000).toFixed(1)} s)\n`);
  }
} finally {
  await Promise.all([demo, locked].map(async (p) => stop(await p?.catch(() => undefined))));
  rmSync(scratch, { recursive: true, force: true });
}
process.stdout.write(`${ran - failed} passed, ${failed} failed\n`);
process.exit(failed ? 1 : 0);
