/**
 * Model versions in a running server (issue 17 item 5): a kept version served beside the current
 * one (models.versions: ["lin@v1"]) publishes on pred.lin@v1.SYM while the current one publishes on
 * pred.lin.SYM, each with its own version's outputs; `flowcast models rollback` on the served
 * directory switches pred.lin.SYM back to the old version's outputs, and the server says so. The
 * expected outputs are computed outside the server, by onnxruntime-node on each version's own
 * model.onnx (normalisation inside the graph, so the graph takes the raw feature values the
 * features frames carry). A missing version, a broken copy and a bad rollback never stop it.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { scratchDir } from '../helpers.ts';
import { writeLinearModel } from '../inference/helpers.ts';
import { FeedClient } from '../../src/client/feed-client.ts';
import { IngestClient } from '../../src/client/ingest-client.ts';
import { FEATURE_COLUMNS } from '../../src/features/columns.ts';
import { setLogLevel, setLogSink } from '../../src/core/log.ts';
import { VERSIONS_DIR } from '../../src/inference/versions.ts';
import { parseTopic } from '../../src/protocol/topics.ts';
import modelsCommand from '../../src/cli/commands/models.ts';
import type { FeaturesFrame, PredFrame } from '../../src/protocol/frames.ts';
import type { RunningServer } from '../../src/server/server.ts';
import { WRITE_KEY, feedUrl, ingestUrl, testServer, until } from './helpers.ts';

const COLUMNS = ['imb_1', 'ofi_1', 'spread_bps'];
const T = 4;
const logs: string[] = [];

interface ModelInfoJson { name: string; state: string; versionId?: string; rolledBack?: boolean; previousVersionId?: string; lastReloadError?: string; error?: string; topic?: string; model?: string; pinned?: boolean }

describe('model versions in a running server', () => {
  let server: RunningServer;
  let feed: FeedClient;
  let producer: IngestClient;
  const dir = scratchDir('ab-models');
  const sessions: Record<string, ort.InferenceSession> = {};
  const feats = new Map<string, FeaturesFrame>();
  const preds: PredFrame[] = [];
  const idx = COLUMNS.map((c) => (FEATURE_COLUMNS as readonly string[]).indexOf(c));
  let row = 0;
  const now = Date.now();

  beforeAll(async () => {
    writeLinearModel(dir, 'lin', { columns: COLUMNS, window: T, seed: 1, version: 'one', inGraph: true });
    writeLinearModel(dir, 'lin', { columns: COLUMNS, window: T, seed: 2, version: 'two', inGraph: true });
    // Each kept version's own graph, outside the server.
    for (const v of ['v1', 'v2']) sessions[v] = await ort.InferenceSession.create(join(dir, VERSIONS_DIR, 'lin', v, 'model.onnx'));
    setLogSink((line) => logs.push(line));
    setLogLevel('warn');
    server = await testServer((c) => {
      c.features.vpinBucket = 1;
      c.models.versions = ['lin@v1', 'lin@v9'];
    }, { models: dir }, { plugins: true });
    feed = await FeedClient.connect({ url: feedUrl(server) });
    feed.on('features', (f) => feats.set(`${f.sym}:${f.row}`, f));
    feed.on('pred', (p) => preds.push(p));
    producer = await IngestClient.connect({ url: ingestUrl(server), key: WRITE_KEY });
  }, 120_000);
  afterAll(async () => {
    setLogLevel('error');
    await producer?.close();
    await feed?.close();
    await server?.close();
    for (const s of Object.values(sessions)) await s.release();
  });

  const models = async (): Promise<ModelInfoJson[]> => ((await (await fetch(`http://127.0.0.1:${server.port}/v1/models`)).json()) as { models: ModelInfoJson[] }).models;

  /** Sends rows of SYM one at a time until each has its prediction on every topic given. */
  async function rows(sym: string, n: number, topics: string[]): Promise<number[]> {
    const sent: number[] = [];
    for (let k = 0; k < n; k++, row++) {
      const i = row;
      if (k === 0) producer.send({ t: 'snapshot', sym, ts: now + i, bids: [[99.9, 5], [99.8, 7]], asks: [[100.1, 4], [100.2, 9]] });
      else producer.send({ t: 'delta', sym, ts: now + i, bids: [[99.9, 5 + ((i * 7) % 11)]], asks: [[100.1 + (i % 3 === 0 ? -0.1 : 0), 3 + ((i * 5) % 13)]] });
      sent.push(k);
      if (k >= T - 1) for (const t of topics) await until(() => preds.some((p) => p.topic === t && p.row === k), 10_000, `${t} at row ${k}`);
    }
    return sent;
  }

  /** What a version's graph gives on the server's features of rows r-T+1..r of sym. */
  async function expected(version: string, sym: string, r: number): Promise<Float32Array> {
    const x = new Float32Array(T * COLUMNS.length);
    let o = 0;
    for (let q = r - T + 1; q <= r; q++) for (const k of idx) x[o++] = feats.get(`${sym}:${q}`)!.v[k] ?? NaN;
    const out = await sessions[version]!.run({ features: new ort.Tensor('float32', x, [1, T, COLUMNS.length]) });
    return out['probs']!.data as Float32Array;
  }

  /** Checks every prediction on a topic against a version; returns the largest difference and how many were bit-equal. */
  async function check(topic: string, sym: string, version: string, other: string): Promise<{ n: number; maxDiff: number; exact: number }> {
    const list = preds.filter((p) => p.topic === topic);
    expect(list.length).toBeGreaterThan(0);
    let maxDiff = 0, exact = 0;
    for (const p of list) {
      await until(() => feats.has(`${sym}:${p.row}`), 5000, `features of ${sym} row ${p.row}`);
      const want = await expected(version, sym, p.row!);
      const not = await expected(other, sym, p.row!);
      let d = 0, dOther = 0;
      p.probs.forEach((v, k) => {
        d = Math.max(d, Math.abs(v - want[k]!));
        dOther = Math.max(dOther, Math.abs(v - not[k]!));
      });
      maxDiff = Math.max(maxDiff, d);
      if (p.probs.every((v, k) => v === want[k])) exact++;
      // Its own version's output to float32 precision, and far from the other version's.
      expect(d, `${topic} row ${p.row}`).toBeLessThan(1e-6);
      expect(dOther, `${topic} row ${p.row} vs ${other}`).toBeGreaterThan(1e-3);
    }
    return { n: list.length, maxDiff, exact };
  }

  it('serves a kept version beside the current one, each on its own topic with its own outputs; /v1/models lists both', async () => {
    // The topic grammar's reading of a version: the first dot still ends the model part.
    expect(parseTopic('pred.lin@v1.BTC.X')).toEqual({ kind: 'pred', model: 'lin@v1', symbol: 'BTC.X' });
    expect(parseTopic('pred.lin@latest.AB')).toBeUndefined();
    expect(parseTopic('pred.lin@v0.AB')).toBeUndefined();
    expect(feed.hello.models.sort()).toEqual(['lin', 'lin@v1', 'lin@v9']);
    const listed = Object.fromEntries((await models()).map((m) => [m.name, m]));
    expect(listed['lin']).toMatchObject({ state: 'ready', versionId: 'v2', topic: 'lin' });
    expect(listed['lin@v1']).toMatchObject({ state: 'ready', versionId: 'v1', topic: 'lin@v1', model: 'lin', pinned: true });
    // A version that was never kept is refused with the reason; the others serve.
    expect(listed['lin@v9']).toMatchObject({ state: 'refused', error: 'lin has no version v9 (kept: v1, v2)' });

    await feed.subscribe(['features.AB', 'pred.lin.AB', 'pred.lin@v1.AB']);
    await rows('AB', 24, ['pred.lin.AB', 'pred.lin@v1.AB']);
    const cur = await check('pred.lin.AB', 'AB', 'v2', 'v1');
    const old = await check('pred.lin@v1.AB', 'AB', 'v1', 'v2');
    expect(cur.n).toBe(24 - T + 1);
    expect(old.n).toBe(24 - T + 1);
    expect(preds.filter((p) => p.topic === 'pred.lin@v1.AB').every((p) => p.model === 'lin@v1')).toBe(true);
    console.log(`A/B: ${cur.n} + ${old.n} predictions; max |diff| ${cur.maxDiff.toExponential(1)} / ${old.maxDiff.toExponential(1)}; bit-equal ${cur.exact}/${cur.n}, ${old.exact}/${old.n}`);

    // POST /v1/predict names either version.
    const window = [[0.2, 3, 12], [0.1, -1, 11], [-0.3, 0, 10], [0.5, 2, 9]];
    const x = Float32Array.from(window.flat());
    for (const [model, v] of [['lin', 'v2'], ['lin@v1', 'v1']] as const) {
      const r = (await (await fetch(`http://127.0.0.1:${server.port}/v1/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model, window }) })).json()) as { probs: number[] };
      const want = (await sessions[v]!.run({ features: new ort.Tensor('float32', x, [1, T, 3]) }))['probs']!.data as Float32Array;
      r.probs.forEach((p, k) => expect(Math.abs(p - want[k]!)).toBeLessThan(1e-6));
    }
  });

  it('keeps serving through a broken copy and a bad rollback, and switches back to the old version\'s outputs exactly on rollback', async () => {
    const run = async (...argv: string[]) => {
      let out = '', err = '';
      const o = vi.spyOn(process.stdout, 'write').mockImplementation((s) => ((out += String(s)), true));
      const e = vi.spyOn(process.stderr, 'write').mockImplementation((s) => ((err += String(s)), true));
      try {
        return { code: await modelsCommand.run([...argv, '--models', dir]), out, err };
      } finally {
        o.mockRestore();
        e.mockRestore();
      }
    };
    // A half-copied graph: refused on reload, v2 keeps serving. (/v1/models is polled: the reload is in the server.)
    const onnx = readFileSync(join(dir, 'lin', 'model.onnx'));
    writeFileSync(join(dir, 'lin', 'model.onnx'), onnx.subarray(0, onnx.length >> 1));
    async function poll(cond: (m: ModelInfoJson) => boolean, what: string): Promise<ModelInfoJson> {
      const t0 = Date.now();
      for (;;) {
        const m = (await models()).find((x) => x.name === 'lin')!;
        if (cond(m)) return m;
        if (Date.now() - t0 > 30_000) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(m)}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    const broken = await poll((m) => Boolean(m.lastReloadError), 'the broken copy refused');
    expect(broken).toMatchObject({ state: 'ready', versionId: 'v2' });
    expect(broken.lastReloadError).toMatch(/model\.onnx/);
    await feed.subscribe(['features.RB', 'pred.lin.RB']);
    await rows('RB', 10, ['pred.lin.RB']);
    await check('pred.lin.RB', 'RB', 'v2', 'v1');

    // A version that does not exist: a precise message, nothing changes.
    const bad = await run('rollback', 'lin', '--to', 'v9');
    expect(bad.code).toBe(1);
    expect(bad.err).toBe(`flowcast models rollback: lin has no version v9 (kept in ${join(dir, VERSIONS_DIR, 'lin')}: v1, v2)\n`);

    // Back to v1 (the broken copy is not a kept version: --to names the target).
    logs.length = 0;
    const t0 = performance.now();
    const ok = await run('rollback', 'lin', '--to', 'v1');
    expect(ok.code).toBe(0);
    expect(ok.out).toMatch(/^lin: rolled back from v3 to v1 \(other one, [0-9a-f]{12}\)/);
    const back = await poll((m) => m.versionId === 'v1', 'the rollback reloaded');
    const swapMs = performance.now() - t0; // reported, never asserted: the machine is shared
    // The broken copy it left was kept (v3) and is listed as what it is.
    expect((await run('versions', 'lin')).out).toMatch(/\n {2}v3 +\S+ +[0-9a-f]{12} +CORRUPT +\S+v3\/model\.onnx does not match the manifest's onnx\.sha256\n/);
    expect(back).toMatchObject({ state: 'ready', versionId: 'v1', rolledBack: true, previousVersionId: 'v2' });
    expect(back.lastReloadError).toBeUndefined();
    const line = logs.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l['msg'] === 'model rolled back: an earlier version serves again');
    expect(line).toMatchObject({ level: 'warn', component: 'inference', model: 'lin', versionId: 'v1', from: 'v2' });
    // Rows sent after the swap: pred.lin carries v1's outputs now, like pred.lin@v1.
    await feed.subscribe(['features.RC', 'pred.lin.RC', 'pred.lin@v1.RC']);
    await rows('RC', 12, ['pred.lin.RC', 'pred.lin@v1.RC']);
    const after = await check('pred.lin.RC', 'RC', 'v1', 'v2');
    await check('pred.lin@v1.RC', 'RC', 'v1', 'v2');
    const both = preds.filter((p) => p.sym === 'RC');
    for (const p of both.filter((x) => x.topic === 'pred.lin.RC')) {
      const twin = both.find((x) => x.topic === 'pred.lin@v1.RC' && x.row === p.row)!;
      expect(p.probs).toEqual(twin.probs);
    }
    console.log(`rollback: serving v1 ${swapMs.toFixed(0)} ms after the command started (debounce 250 ms included); ${after.n} predictions after it, max |diff| to v1 ${after.maxDiff.toExponential(1)}, bit-equal ${after.exact}/${after.n}`);
  });
});
