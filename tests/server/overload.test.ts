/**
 * A server sent more than it computes keeps predicting. A burst of rows at 1,000 symbols goes
 * through the real /ingest path as one frame (what a producer's batch, or a socket read of many
 * frames, hands the server in one callback), into the feature engine and a model served by the
 * inference engine. With ingest work bounded per event-loop turn (limits.ingestSliceMs: 5, the
 * default; 0 applies each frame as it comes), the model's answers come back while the burst is
 * still being applied: predictions arrive before the last message is applied, in several turns,
 * instead of after the whole burst. Nothing accepted is
 * lost: every row's features frame comes out, every ready row is predicted or counted as skipped
 * to stay fresh, the newest row of every symbol is predicted, and a producer that disconnects while
 * its frames still wait has all of them applied.
 *
 * The observation is the order of events (the ingest counter's value when each prediction frame
 * arrives), not time: on a server that applies a frame in one go, that counter already holds the
 * whole burst when the first prediction can arrive.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scratchDir } from '../helpers.ts';
import { FeedClient } from '../../src/client/feed-client.ts';
import { IngestClient } from '../../src/client/ingest-client.ts';
import type { IngestMessage } from '../../src/protocol/frames.ts';
import { writeLinearModel } from '../inference/helpers.ts';
import type { RunningServer } from '../../src/server/server.ts';
import { WRITE_KEY, feedUrl, ingestUrl, testServer, until } from './helpers.ts';

const T = 4;
const SYMBOLS = Array.from({ length: 1000 }, (_, i) => `S${String(i).padStart(3, '0')}`);
/** Deltas per symbol after its snapshot: rows 0..DELTAS per symbol. */
const DELTAS = 12;

function burst(syms: readonly string[], deltas: number, now: number): IngestMessage[] {
  const out: IngestMessage[] = syms.map((sym) => ({
    t: 'snapshot', sym, ts: now,
    bids: Array.from({ length: 10 }, (_, i) => [100 - i * 0.01, 5 + i] as [number, number]),
    asks: Array.from({ length: 10 }, (_, i) => [100.01 + i * 0.01, 5 + i] as [number, number]),
  }));
  for (let r = 1; r <= deltas; r++) {
    for (const sym of syms) {
      const j = ((r * 7919) % 10) * 0.01;
      out.push({ t: 'delta', sym, ts: now + r, bids: [[100 - j, 5 + (r % 7)]], asks: [[100.01 + j, 6 + (r % 5)]] });
    }
  }
  return out;
}

/** A server with the model `lin` (window T), the whole burst accepted in one frame, ingest bounded at 5 ms a turn. */
async function overloadServer(name: string, backlogPredictionMs: number): Promise<RunningServer> {
  const dir = scratchDir(name);
  writeLinearModel(dir, 'lin', { window: T });
  return testServer((c) => {
    c.features.vpinBucket = 1;
    c.limits.maxSubscriptions = 4096;
    c.limits.ingestMaxPayloadBytes = 8 << 20;
    c.limits.ingestSliceMs = 5;
    c.limits.backlogPredictionMs = backlogPredictionMs;
  }, { models: dir }, { plugins: true });
}

/** A subscriber to the symbols' features and `lin` predictions. */
async function subscriber(server: RunningServer, syms: readonly string[]): Promise<FeedClient> {
  const c = await FeedClient.connect({ url: feedUrl(server) });
  const topics = syms.flatMap((s) => [`features.${s}`, `pred.lin.${s}`]);
  for (let k = 0; k < topics.length; k += 500) await c.subscribe(topics.slice(k, k + 500));
  return c;
}

describe('ingest under overload', () => {
  let server: RunningServer;

  beforeAll(async () => {
    // Rows out of date (a later message of their symbol waits) are predicted once per ms: as good
    // as every turn, so the answers interleave with the slices (the shedding itself: below).
    server = await overloadServer('overload-models', 1);
  });
  afterAll(async () => {
    await server?.close();
  });

  const counters = () => {
    const c = server.metrics.counter('flowcast_ingest_messages_total', 'Ingest messages, by result', ['result']);
    return { accepted: c.labels('accepted'), rejected: c.labels('rejected') };
  };

  it('predicts while a burst it cannot keep up with is still being applied, and every accepted row comes out', async () => {
    const { accepted, rejected } = counters();
    const a0 = accepted.value;
    const r0 = rejected.value;
    const sub = await subscriber(server, SYMBOLS);
    const feats = new Map<string, number[]>();
    const preds = new Map<string, number[]>();
    /** The ingest counter (messages of the burst applied) when each prediction frame arrived. */
    const appliedAtPred: number[] = [];
    let nFeats = 0;
    sub.on('features', (f) => {
      let a = feats.get(f.sym);
      if (!a) feats.set(f.sym, (a = []));
      a.push(f.row);
      nFeats++;
    });
    sub.on('pred', (p) => {
      appliedAtPred.push(accepted.value - a0);
      let a = preds.get(p.sym);
      if (!a) preds.set(p.sym, (a = []));
      a.push(p.row!);
    });
    const health0 = (await (await fetch(`${server.url}healthz`)).json()) as { inference: { skippedRows: number } };
    const prod = await IngestClient.connect({ url: ingestUrl(server), key: WRITE_KEY });
    const msgs = burst(SYMBOLS, DELTAS, Date.now());
    prod.send(msgs);
    const rows = SYMBOLS.length * (DELTAS + 1);
    await until(() => nFeats === rows, 120_000, `${rows} features frames`);
    await until(() => SYMBOLS.every((s) => preds.get(s)?.includes(DELTAS)), 60_000, "every symbol's newest row predicted");
    expect(accepted.value - a0).toBe(msgs.length);
    expect(rejected.value - r0).toBe(0);

    // Predictions came while the burst was being applied, in more than one turn.
    expect(appliedAtPred.length).toBeGreaterThan(0);
    expect(appliedAtPred[0]).toBeLessThan(msgs.length);
    const during = new Set(appliedAtPred.filter((n) => n < msgs.length));
    expect(during.size).toBeGreaterThanOrEqual(2);

    // Every accepted row came out once, in order; predictions only for rows with a full window, each once.
    for (const s of SYMBOLS) {
      expect(feats.get(s)).toEqual(Array.from({ length: DELTAS + 1 }, (_, i) => i));
      const p = preds.get(s)!;
      expect(new Set(p).size).toBe(p.length);
      expect(Math.min(...p)).toBeGreaterThanOrEqual(T - 1);
    }
    // Freshness: every ready row was predicted or counted as skipped.
    const health = (await (await fetch(`${server.url}healthz`)).json()) as { inference: { skippedRows: number } };
    const predicted = [...preds.values()].reduce((n, p) => n + p.length, 0);
    expect(predicted + health.inference.skippedRows - health0.inference.skippedRows).toBe(SYMBOLS.length * (DELTAS + 1 - (T - 1)));
    await prod.close();
    await sub.close();
  }, 240_000);

  it('applies every frame of a producer that disconnects while they still wait', async () => {
    const syms = SYMBOLS.map((s) => `Q${s}`);
    const { accepted } = counters();
    const a0 = accepted.value;
    const sub = await subscriber(server, syms);
    const last = new Map<string, number>();
    let nFeats = 0;
    sub.on('features', (f) => {
      last.set(f.sym, f.row);
      nFeats++;
    });
    const prod = await IngestClient.connect({ url: ingestUrl(server), key: WRITE_KEY });
    const msgs = burst(syms, 4, Date.now());
    prod.send(msgs);
    await prod.close();
    await until(() => nFeats === syms.length * 5, 120_000, `${syms.length * 5} features frames`);
    expect(accepted.value - a0).toBe(msgs.length);
    expect(syms.every((s) => last.get(s) === 4)).toBe(true);
    await sub.close();
  }, 240_000);
});

/**
 * Shedding by the backlog: a row made while a later book message of its symbol still waits to be
 * applied is out of date before its prediction could come back. With an interval longer than the
 * test (so the periodic sweep never runs), exactly one row per symbol is predicted, its newest; the
 * others are counted as skipped and superseded. Messages are counted per symbol when their frame is
 * received, before any is applied, so this holds for rows made from the burst's own frame as well.
 */
describe('ingest under overload: predictions shed by the backlog', () => {
  let server: RunningServer;

  beforeAll(async () => {
    server = await overloadServer('overload-shed-models', 1_000_000_000);
  });
  afterAll(async () => {
    await server?.close();
  });

  it('predicts only the newest row of each symbol when every earlier row has a later message waiting', async () => {
    type Health = { inference: { skippedRows: number; backlog?: { predictionIntervalMs: number; supersededRows: number } } };
    const health = async (): Promise<Health> => (await (await fetch(`${server.url}healthz`)).json()) as Health;
    const h0 = await health();
    expect(h0.inference.backlog?.predictionIntervalMs).toBe(1_000_000_000);
    const sub = await subscriber(server, SYMBOLS);
    const preds = new Map<string, number[]>();
    let nFeats = 0;
    sub.on('features', () => nFeats++);
    sub.on('pred', (p) => {
      let a = preds.get(p.sym);
      if (!a) preds.set(p.sym, (a = []));
      a.push(p.row!);
    });
    const prod = await IngestClient.connect({ url: ingestUrl(server), key: WRITE_KEY });
    prod.send(burst(SYMBOLS, DELTAS, Date.now()));
    const rows = SYMBOLS.length * (DELTAS + 1);
    await until(() => nFeats === rows, 120_000, `${rows} features frames`);
    await until(() => SYMBOLS.every((s) => preds.get(s)?.includes(DELTAS)), 60_000, "every symbol's newest row predicted");
    for (const s of SYMBOLS) expect(preds.get(s)).toEqual([DELTAS]);
    // Every other ready row (rows T-1 .. DELTAS-1 of each symbol) was skipped as superseded.
    const h = await health();
    const shed = SYMBOLS.length * (DELTAS - (T - 1));
    expect(h.inference.skippedRows - h0.inference.skippedRows).toBe(shed);
    expect(h.inference.backlog!.supersededRows - h0.inference.backlog!.supersededRows).toBe(shed);
    // The same count for Prometheus (this server's only shedding so far is this test's).
    const metrics = await (await fetch(`${server.url}metrics`)).text();
    expect(metrics).toContain(`flowcast_prediction_rows_skipped_total{reason="backlog"} ${h.inference.backlog!.supersededRows}`);
    expect(metrics).toContain(`flowcast_prediction_rows_skipped_total{reason="in-flight"} ${h.inference.skippedRows - h.inference.backlog!.supersededRows}`);
    await prod.close();
    await sub.close();
  }, 240_000);
});
