/**
 * Issue 17, item 2: a model's feature parameters (levels, VPIN bucket per symbol and window, bars,
 * spec version) are in its manifest, and the server feeds the model only with the same ones: a
 * symbol left on auto V takes the V its model was trained with, before the pipeline is built; a
 * model the server would feed with other parameters is refused with the reason, in the log and in
 * /v1/models, and POST /v1/predict answers 409 with it.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { writeLinearModel, tempDir } from './helpers.ts';
import { featureParamProblems, parseManifest, type FeatureParams, type ServerFeatureParams } from '../../src/inference/manifest.ts';
import { InferenceEngine } from '../../src/inference/engine.ts';
import { EnginePredictor, type ServerFeatureConfig } from '../../src/server/predictor.ts';
import { testServer, until } from '../server/helpers.ts';
import { FEATURE_COLUMNS } from '../../src/features/columns.ts';
import { loadServerConfig } from '../../src/server/config.ts';
import { loadPredictor } from '../../src/server/wiring.ts';
import { startServer } from '../../src/server/server.ts';

const t = tempDir('feature-params');
afterAll(() => t.cleanup());

const params = (o: Partial<FeatureParams> = {}): FeatureParams => ({ levels: 10, vpinBucket: { GOOG: 800 }, vpinBuckets: 50, barMs: 1000, barWindow: 300, ...o });
const server = (o: Partial<ServerFeatureParams> = {}, V: Record<string, number> = { GOOG: 800 }): ServerFeatureParams => ({
  specVersion: 1, levels: 10, vpinBuckets: 50, barMs: 1000, barWindow: 300, vpinBucketOf: (s) => V[s], ...o,
});
const config = (o: Partial<ServerFeatureConfig> = {}): ServerFeatureConfig => ({ levels: 10, vpinBucket: 'auto', vpinBucketBySymbol: {}, vpinBuckets: 50, barMs: 1000, barWindow: 300, ...o });

describe('featureParamProblems', () => {
  const manifest = (columns: string[], features?: FeatureParams) => writeLinearModel(t.dir, `m${Math.random().toString(36).slice(2, 8)}`, { columns, window: 2, ...(features ? { features } : {}) }).manifest;

  it('counts only the parameters the model\'s columns depend on', () => {
    // imb_1, ofi_1, spread_bps depend on none: no record needed, any server feeds them.
    expect(featureParamProblems(manifest(['imb_1', 'ofi_1', 'spread_bps']), server({ levels: 5, barMs: 200 }, {}))).toEqual([]);
    const m = manifest(['depth_bid', 'vpin', 'kyle_lambda'], params());
    expect(featureParamProblems(m, server())).toEqual([]);
    expect(featureParamProblems(m, server({ levels: 5 }))).toEqual(['input.features.levels is 10 (depth_bid), but the server computes 5 levels (features.levels)']);
    expect(featureParamProblems(m, server({ barWindow: 100 }))[0]).toMatch(/input\.features\.barWindow is 300 \(kyle_lambda\), but the server's bar window is 100/);
    expect(featureParamProblems(m, server({}, { GOOG: 1400 }))).toEqual([
      "input.features.vpinBucket.GOOG is 800, but the server computes GOOG's vpin with buckets of 1400 (features.vpinBucketBySymbol.GOOG); the model's vpin input would be on another scale",
    ]);
    expect(featureParamProblems(m, server({}, {}))[0]).toMatch(/server's VPIN bucket volume for GOOG is not fixed; set features\.vpinBucketBySymbol\.GOOG to 800/);
    expect(featureParamProblems(manifest(['vpin'], params({ vpinBucket: null })), server())[0]).toMatch(/VPIN bucket volume it was trained with is not recorded/);
    expect(featureParamProblems(manifest(['vpin', 'imb_1']), server())[0]).toMatch(/reads vpin but its manifest does not record the VPIN bucket volume and window it was trained with/);
    expect(featureParamProblems(m, server({ specVersion: 2 }))[0]).toMatch(/featureSpecVersion is 1, but the server computes feature spec v2/);
  });

  it('validates input.features in the manifest', () => {
    const m = manifest(['vpin'], params());
    const bad = (f: unknown) => () => parseManifest({ ...m, input: { ...m.input, features: f } }, 'x/manifest.json');
    expect(bad({ ...params(), vpinBucket: { GOOG: 0 } })).toThrow(/x\/manifest\.json: input\.features\.vpinBucket\.GOOG must be a number > 0, got 0/);
    expect(bad({ ...params(), barWindow: 1 })).toThrow(/input\.features\.barWindow must be an integer >= 2/);
    expect(bad({ ...params(), vpinBucket: 'auto' })).toThrow(/input\.features\.vpinBucket \(per symbol, or null\) must be an object/);
    expect(() => parseManifest({ ...m, input: { ...m.input, features: params({ vpinBucket: null }) } }, 'x')).not.toThrow();
  });
});

describe('the server feeds a model with its feature parameters or refuses it', () => {
  it('adopts the trained V for a symbol on auto, refuses a model trained with another V, levels or no record', async () => {
    const root = tempDir('fp-models');
    try {
      writeLinearModel(root.dir, 'a-vpin800', { columns: ['vpin', 'imb_1'], window: 2, features: params() });
      writeLinearModel(root.dir, 'b-vpin1400', { columns: ['vpin', 'imb_1'], window: 2, features: params({ vpinBucket: { GOOG: 1400 } }) });
      writeLinearModel(root.dir, 'c-levels5', { columns: ['depth_bid'], window: 2, features: params({ levels: 5 }) });
      writeLinearModel(root.dir, 'd-unrecorded', { columns: ['vpin'], window: 2 });
      writeLinearModel(root.dir, 'e-plain', { columns: ['imb_1', 'ofi_1'], window: 2 });
      const engine = await InferenceEngine.open({ dir: root.dir, runner: 'inline' });
      const features = config();
      const p = new EnginePredictor(engine, { features, refreshMs: 60_000 });
      try {
        // The first model (by name) reading vpin fixes GOOG's V; the config object is what the pipeline copies.
        expect(features.vpinBucketBySymbol).toEqual({ GOOG: 800 });
        expect(p.adoptedVpin).toEqual({ GOOG: { bucket: 800, model: 'a-vpin800' } });
        const byName = Object.fromEntries(p.models().map((m) => [m.name, m]));
        expect(byName['a-vpin800']).toMatchObject({ state: 'ready', classes: ['down', 'flat', 'up'] });
        expect(byName['e-plain']).toMatchObject({ state: 'ready' });
        // Another V for GOOG concerns GOOG only: the model is ready, not fed GOOG, fed any other symbol.
        expect(byName['b-vpin1400']).toMatchObject({ state: 'ready', refusedSymbols: { GOOG: expect.stringMatching(/^input\.features\.vpinBucket\.GOOG is 1400, but the server computes GOOG's vpin with buckets of 800/) } });
        expect(byName['c-levels5']).toMatchObject({ state: 'refused', error: expect.stringMatching(/input\.features\.levels is 5 \(depth_bid\), but the server computes 10 levels/) });
        expect(byName['d-unrecorded']).toMatchObject({ state: 'refused', error: expect.stringMatching(/reads vpin but its manifest does not record/) });
        await expect(p.predict({ model: 'c-levels5', window: [[1], [2]] })).rejects.toMatchObject({ status: 409, message: expect.stringMatching(/model c-levels5 is refused: feature parameters: /) });
        await expect(p.predict({ model: 'b-vpin1400', symbol: 'GOOG' })).rejects.toMatchObject({ status: 409, message: expect.stringMatching(/b-vpin1400 is not fed GOOG: feature parameters: input\.features\.vpinBucket\.GOOG is 1400/) });
        // Rows of GOOG and AMZN: b-vpin1400 predicts AMZN only; a-vpin800 both.
        const got: string[] = [];
        const values = new Float64Array(FEATURE_COLUMNS.length);
        for (let r = 0; r < 4; r++) for (const sym of ['GOOG', 'AMZN']) p.onFeatures(sym, r, r, values, 0, (x) => got.push(`${x.model}:${x.symbol}`));
        await until(() => got.filter((g) => g.startsWith('a-vpin800')).length >= 2 && got.some((g) => g === 'b-vpin1400:AMZN'), 60_000, 'predictions');
        expect(got.filter((g) => g.startsWith('b-vpin1400'))).not.toContain('b-vpin1400:GOOG');
        expect(new Set(got.filter((g) => g.startsWith('a-vpin800')))).toEqual(new Set(['a-vpin800:GOOG', 'a-vpin800:AMZN']));
        const ok = (await p.predict({ model: 'a-vpin800', window: [[0.5, 0.1], [0.4, -0.2]] })) as { probs: number[] };
        expect(ok.probs).toHaveLength(3);
      } finally {
        await p.close();
      }
      // A configured V wins over the model's: the model trained with another one is not fed that symbol.
      const engine2 = await InferenceEngine.open({ dir: root.dir, runner: 'inline', only: ['a-vpin800'] });
      const fixed = config({ vpinBucketBySymbol: { GOOG: 1400 } });
      const p2 = new EnginePredictor(engine2, { features: fixed, refreshMs: 60_000 });
      try {
        expect(fixed.vpinBucketBySymbol).toEqual({ GOOG: 1400 });
        expect(p2.models()).toMatchObject([{ name: 'a-vpin800', state: 'ready', refusedSymbols: { GOOG: expect.stringMatching(/vpinBucket\.GOOG is 800, but the server computes GOOG's vpin with buckets of 1400/) } }]);
      } finally {
        await p2.close();
      }
    } finally {
      root.cleanup();
    }
  });

  it('a server over the shipped models computes GOOG\'s vpin with the V they were trained with, and /v1/models says why a model is refused', async () => {
    const cfg = loadServerConfig({ env: {}, overrides: { port: 0, noReplay: true, models: 'models' } });
    expect(cfg.features.vpinBucket).toBe('auto');
    const { predictor } = await loadPredictor(cfg);
    expect(predictor).toBeDefined();
    const s = await startServer(cfg, { predictor, sweepMs: 5 });
    try {
      expect(s.pipeline.vpinBySymbol['GOOG']).toBe(760);
      const models = (await (await fetch(`http://127.0.0.1:${s.port}/v1/models`)).json()) as { models: { name: string; state: string }[] };
      // models/ may hold other models (goog-levels-transformer reads raw book levels; its own tests cover it).
      const state = Object.fromEntries(models.models.map((m) => [m.name, m.state]));
      expect([state['goog-gbdt'], state['goog-transformer']]).toEqual(['ready', 'ready']);
    } finally {
      await s.close();
    }
    const root = tempDir('fp-server');
    try {
      writeLinearModel(root.dir, 'levels5', { columns: ['depth_bid'], window: 2, features: params({ levels: 5 }) });
      const srv = await testServer(() => {}, { models: root.dir }, { plugins: true });
      try {
        const r = (await (await fetch(`http://127.0.0.1:${srv.port}/v1/models`)).json()) as { models: { name: string; state: string; error: string }[] };
        expect(r.models).toMatchObject([{ name: 'levels5', state: 'refused', error: expect.stringMatching(/^feature parameters: input\.features\.levels is 5 \(depth_bid\), but the server computes 10 levels/) }]);
        const pr = await fetch(`http://127.0.0.1:${srv.port}/v1/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'levels5', window: [[1], [2]] }) });
        expect(pr.status).toBe(409);
      } finally {
        await srv.close();
      }
    } finally {
      root.cleanup();
    }
  }, 60_000);
});
