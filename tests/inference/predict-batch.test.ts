/**
 * POST /v1/predict takes a batch of windows (issue 17, item 5): one probability row per window, in
 * order, equal to the model's closed-form output and to the single-window answers; a bad window is
 * named by its index.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeLinearModel, tempDir, rng } from './helpers.ts';
import { testServer } from '../server/helpers.ts';
import type { RunningServer } from '../../src/server/server.ts';
import { MAX_BATCH_WINDOWS } from '../../src/server/predictor.ts';

const t = tempDir('predict-batch');
let server: RunningServer;
let model: ReturnType<typeof writeLinearModel>;
const T = 3;
const C = 2;

beforeAll(async () => {
  model = writeLinearModel(t.dir, 'lin', { columns: ['imb_1', 'ofi_1'], window: T });
  server = await testServer(() => {}, { models: t.dir }, { plugins: true });
});
afterAll(async () => {
  await server?.close();
  t.cleanup();
});

const post = (body: unknown) => fetch(`http://127.0.0.1:${server.port}/v1/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

describe('POST /v1/predict with a batch of windows', () => {
  it('answers every window in order, as the model computes it', async () => {
    const r = rng(3);
    const windows = Array.from({ length: 37 }, () => Array.from({ length: T }, () => Array.from({ length: C }, () => (r() - 0.5) * 8)));
    (windows[5]![1] as (number | null)[])[0] = null;
    const res = await post({ model: 'lin', windows });
    expect(res.status).toBe(200);
    const got = (await res.json()) as { model: string; classes: string[]; probs: number[][] };
    expect(got).toMatchObject({ model: 'lin', classes: ['down', 'flat', 'up'] });
    expect(got.probs).toHaveLength(windows.length);
    for (let i = 0; i < windows.length; i++) {
      const want = model.expect(windows[i]!.flat().map((v) => (v === null ? NaN : v)));
      got.probs[i]!.forEach((x, k) => expect(x).toBeCloseTo(want[k]!, 5));
    }
    const one = (await (await post({ model: 'lin', window: windows[7] })).json()) as { probs: number[] };
    one.probs.forEach((x, k) => expect(x).toBeCloseTo(got.probs[7]![k]!, 6));
    // Flat windows are taken too.
    const flat = (await (await post({ model: 'lin', windows: [windows[0]!.flat()] })).json()) as { probs: number[][] };
    flat.probs[0]!.forEach((x, k) => expect(x).toBeCloseTo(got.probs[0]![k]!, 6));
  });

  it('names the window at fault and refuses an empty or oversized batch', async () => {
    const ok = Array.from({ length: T }, () => [0, 1]);
    const bad = await post({ model: 'lin', windows: [ok, ok, [[1, 2]]] });
    expect(bad.status).toBe(400);
    expect((await bad.json()) as object).toMatchObject({ error: expect.stringMatching(/"windows"\[2\] must hold 3 rows of 2 numbers \(columns imb_1, ofi_1; null for NaN\)/) });
    expect((await post({ model: 'lin', windows: [] })).status).toBe(400);
    expect((await post({ model: 'lin', windows: Array.from({ length: MAX_BATCH_WINDOWS + 1 }, () => ok) })).status).toBe(413);
  });
});
