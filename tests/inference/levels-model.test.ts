/**
 * Issue 14 item 3: raw book levels as a model input. The manifest's NTLC layout (input.book: L,
 * channels, units, per-symbol scales; per-channel normalisation, only sizes may be logged) is
 * validated field by field; the engine serves such a model on [T, L, 4] windows; the shipped
 * goog-levels-transformer loads from models/ and its ONNX output on the committed reference windows
 * equals TensorFlow.js's, and those windows are what SnapshotBatch assembles from the GOOG day; a
 * server that gathers inputs from feature columns only refuses it with the reason, the live
 * predictor (which gathers book windows: tests/server/levels-live.test.ts) serves it.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InferenceEngine } from '../../src/inference/engine.ts';
import { featureParamProblems, parseManifest, sampleSize, type ModelManifest } from '../../src/inference/manifest.ts';
import { EnginePredictor, type ServerFeatureConfig } from '../../src/server/predictor.ts';
import { readBookRings } from '../../src/training/levels/windows.ts';
import { SnapshotBatch } from '../../src/snapshots/batch.ts';
import { GOOG } from '../helpers.ts';

const NAME = 'goog-levels-transformer';
const manifestJson = (): Record<string, unknown> => JSON.parse(readFileSync(join('models', NAME, 'manifest.json'), 'utf8')) as Record<string, unknown>;
interface Reference { library: string; samples: { row: number; inputs: number[]; probs: number[] }[] }
const reference = JSON.parse(readFileSync(join('models', NAME, 'reference.json'), 'utf8')) as Reference;

let engine: InferenceEngine;
beforeAll(async () => {
  engine = await InferenceEngine.open({ dir: 'models', only: [NAME], runner: 'inline', batcher: { maxBatchSize: 4, maxQueueDelayUs: 1000 } });
});
afterAll(() => engine.close());

describe('manifest layout NTLC (raw book levels)', () => {
  const bad = (edit: (m: Record<string, any>) => void): (() => ModelManifest) => {
    const m = manifestJson() as Record<string, any>;
    edit(m);
    return () => parseManifest(m, 'm.json');
  };

  it('parses the shipped manifest: [N, T, L, 4], ticks and lots, per-channel normalisation', () => {
    const m = parseManifest(manifestJson(), 'm.json');
    expect(m.input).toMatchObject({ name: 'levels', layout: 'NTLC', window: 100, columns: ['bid_px', 'bid_sz', 'ask_px', 'ask_sz'] });
    expect(m.input.book).toEqual({ levels: 10, channels: ['bid_px', 'bid_sz', 'ask_px', 'ask_sz'], prices: 'ticks-from-window-reference', sizes: 'lots', scales: { GOOG: { price: 100, size: 1 } }, history: 0 });
    expect(m.normalization!.columns.map((c) => c.transform)).toEqual(['none', 'slog1p', 'none', 'slog1p']);
    expect(m.normalization!.inGraph).toBe(true);
    expect(sampleSize(m)).toBe(100 * 10 * 4);
  });

  it('names the field at fault', () => {
    expect(bad((m) => delete m.input.book)).toThrow('m.json: input.book (required with input.layout "NTLC") must be an object');
    expect(bad((m) => (m.input.book.levels = 0))).toThrow('input.book.levels must be a positive integer (levels per side), got 0');
    expect(bad((m) => (m.input.book.channels = ['bid_px', 'ask_px', 'bid_sz', 'ask_sz']))).toThrow(/input\.book\.channels must be \["bid_px","bid_sz","ask_px","ask_sz"\] \(SnapshotBatch\.book order\)/);
    expect(bad((m) => (m.input.columns = ['imb_1', 'bid_sz', 'ask_px', 'ask_sz']))).toThrow(/input\.columns of an NTLC input must be the book channels/);
    expect(bad((m) => (m.input.book.prices = 'dollars'))).toThrow('input.book.prices must be "ticks-from-window-reference" (SnapshotBatch units), got "dollars"');
    expect(bad((m) => (m.input.book.sizes = 'shares'))).toThrow('input.book.sizes must be "lots"');
    expect(bad((m) => (m.input.book.scales = {}))).toThrow('input.book.scales must name at least one symbol');
    expect(bad((m) => (m.input.book.scales.GOOG.price = 50))).toThrow('input.book.scales.GOOG.price must be a power of ten (10^price decimals), got 50');
    expect(bad((m) => (m.normalization.columns[0].transform = 'slog1p'))).toThrow(/normalization\.columns\[0\] \(bid_px\) must have transform "none"/);
    expect(bad((m) => (m.input.layout = 'NTF'))).toThrow('input.book describes raw book levels and goes with input.layout "NTLC" only (layout is "NTF")');
    expect(bad((m) => (m.input.layout = 'NCHW'))).toThrow('input.layout must be "NTF", "NF" or "NTLC", got "NCHW"');
  });
});

describe(`shipped ${NAME}`, () => {
  it('loads from models/ as the engine serves it, [T, L, 4] per request', () => {
    const st = engine.models().find((m) => m.name === NAME);
    expect([st?.state, st?.error]).toEqual(['ready', undefined]);
    const spec = engine.inputSpec(NAME);
    expect(spec).toMatchObject({ window: 100, levels: 10, size: 4000, classes: ['down', 'flat', 'up'] });
    const m = engine.repository.get(NAME)!.manifest;
    expect((m.metrics as { test: { samples: number } }).test.samples).toBe(22138);
    expect(m.parity!.maxAbsDiff).toBeLessThanOrEqual(1e-4);
  });

  it('ONNX Runtime through the engine equals TensorFlow.js on the reference windows', async () => {
    expect(reference.library).toMatch(/^TensorFlow\.js/);
    expect(reference.samples.length).toBe(3);
    const got = await Promise.all(reference.samples.map((s) => engine.predict(NAME, 'GOOG', Float32Array.from(s.inputs))));
    let max = 0;
    reference.samples.forEach((s, i) => s.probs.forEach((p, k) => (max = Math.max(max, Math.abs(got[i]![k]! - p)))));
    expect(max).toBeLessThan(1e-4);
    // A feature-row-sized window is refused by size, never reshaped.
    await expect(engine.predict(NAME, 'GOOG', new Float32Array(100 * 22))).rejects.toThrow(/has 2200 values, expected 4000/);
  });

  it('the reference windows are SnapshotBatch.book windows of the GOOG day (what the server computes)', async () => {
    const ring = (await readBookRings(GOOG, { levels: 10, symbols: ['GOOG'] })).get('GOOG')!;
    const batch = new SnapshotBatch({ windows: 1, rows: 100, history: 0, levels: 10 });
    for (const s of reference.samples) {
      batch.clear().add(ring, s.row);
      expect(Array.from(batch.book)).toEqual(s.inputs);
    }
  }, 120_000);

  it('a server that gathers feature columns only refuses it with the reason; the live predictor feeds it book levels', async () => {
    const m = engine.repository.get(NAME)!.manifest;
    const base = { specVersion: 1, levels: 10, vpinBuckets: 50, barMs: 1000, barWindow: 300, vpinBucketOf: () => undefined };
    expect(featureParamProblems(m, base)).toEqual([expect.stringMatching(/^the model reads raw book levels \(input\.layout NTLC, \[N, 100, 10, 4\]\), but this server gathers model inputs from feature columns only/)]);
    expect(featureParamProblems(m, { ...base, feedsBookLevels: true })).toEqual([]);
    const features: ServerFeatureConfig = { levels: 10, vpinBucket: 'auto', vpinBucketBySymbol: {}, vpinBuckets: 50, barMs: 1000, barWindow: 300 };
    const p = new EnginePredictor(engine, { features, refreshMs: 60_000 });
    try {
      // Unnamed in the config, it serves the symbols it was trained on (input.book.scales).
      expect(p.models()).toMatchObject([{ name: NAME, state: 'ready', classes: ['down', 'flat', 'up'], symbols: ['GOOG'] }]);
      // POST /v1/predict with a window: T rows of L * 4 raw values, nothing else.
      await expect(p.predict({ model: NAME, window: [[0]] })).rejects.toMatchObject({ status: 400, message: expect.stringMatching(/must hold 100 rows of 40 numbers \(raw book levels: 10 levels x bid px, bid size, ask px, ask size/) });
      const s = reference.samples[0]!;
      const r = (await p.predict({ model: NAME, window: s.inputs })) as { probs: number[] };
      r.probs.forEach((x, k) => expect(x).toBeCloseTo(s.probs[k]!, 4));
    } finally {
      await p.close();
    }
  });
});
