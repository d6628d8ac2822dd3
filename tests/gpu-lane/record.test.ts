/**
 * The proof records (src/compute/lane/record.ts) as scripts/gpu-check and /healthz read them: a
 * missing record says how to make one, a written one is summarised per place, and gpu-check's
 * Node-side GPU parity (src/compute/gpu-check.ts parity --json) becomes hardware lines, passing or failing.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { mergeNodeParity, proofSummary, readProof, writeProof, PROOF_SCHEMA, type GpuProof } from '../../src/compute/lane/record.ts';
import { computeHealth } from '../../src/server/wiring.ts';
import { liveCompute } from '../../src/compute/live-dense.ts';
import { DEFAULT_DEPTH } from '../../src/model/depth.ts';
import { tempDir } from '../helpers.ts';

let dir: string, cleanup: () => void;
const saved = process.env.FLOWCAST_GPU_PROOF_DIR;
beforeEach(() => {
  ({ dir, cleanup } = tempDir('gpu-proof'));
  process.env.FLOWCAST_GPU_PROOF_DIR = dir;
});
afterEach(() => {
  if (saved === undefined) delete process.env.FLOWCAST_GPU_PROOF_DIR;
  else process.env.FLOWCAST_GPU_PROOF_DIR = saved;
  cleanup();
});

const software: GpuProof = {
  schema: PROOF_SCHEMA, where: 'software', ranAt: '2026-12-06T14:00:00.000Z', by: 'test', seconds: 1, host: 'h', runtime: 'Chromium',
  adapters: { webgpu: 'google swiftshader' }, kernels: [], models: [], proven: ['gpujs:webgl2 (GLSL ES 3.00 (WebGL2)): ...'], failed: [],
};

describe('GPU proof records', () => {
  it('a missing record names the command that makes it; a written one is summarised per place', () => {
    const none = proofSummary() as Record<string, { missing?: string }>;
    expect(none.software!.missing).toMatch(/tests\/gpu-lane/);
    expect(none.hardware!.missing).toMatch(/gpu-check/);
    writeProof(software);
    const s = proofSummary() as Record<string, Record<string, unknown>>;
    expect(s.software).toMatchObject({ ranAt: software.ranAt, proven: software.proven, failed: [] });
    writeFileSync(join(dir, 'hardware.json'), '{"schema":"other"}');
    expect(readProof('hardware')).toEqual({ error: expect.stringMatching(/schema other/) });
  });

  it("/healthz's compute section reports the records", async () => {
    writeProof(software);
    const h = await computeHealth(await liveCompute('cpu', DEFAULT_DEPTH)).health();
    expect(h['gpuProven']).toMatchObject({ software: { ranAt: software.ranAt }, hardware: { missing: expect.any(String) } });
  });

  it("gpu-check's Node-side GPU parity goes into the hardware record, a failing column as a failure", () => {
    const col = (column: string, pass: boolean) => ({ column, pass, maxRelError: pass ? 2e-7 : 3e-4, worst: pass ? 0.02 : 30, worstRow: 7, nanMismatches: 0 });
    const file = join(dir, 'parity.json');
    writeFileSync(file, JSON.stringify({
      unavailable: { 'gpujs:headlessgl': 'no headless-gl context' },
      report: { GOOG: { cpu: [col('mid', true)], 'gpujs:webgpu': [col('mid', true), col('ret_1', true)] }, AMZN: { 'gpujs:webgpu': [col('mid', true), col('ret_1', false)] } },
    }));
    const p = mergeNodeParity(file, 'gpu-box');
    expect(p.where).toBe('hardware');
    expect(p.proven).toEqual([]);
    expect(p.failed).toEqual([
      expect.stringMatching(/^gpujs:webgpu \(Node\).*AMZN ret_1 \(worst 30 at row 7/),
      'gpujs:headlessgl (Node): not live (no headless-gl context)',
    ]);
    expect(readProof('hardware')).toMatchObject({ host: 'gpu-box', failed: p.failed });
  });
});
