/**
 * The software-GPU lane (src/compute/lane/): the project's gpu.js backend runs its kernels as
 * WebGL2 (GLSL) and WebGPU (WGSL) shaders in headless Chromium on SwiftShader and every kernel
 * column is compared with the float64 FeatureEngine on real GOOG, AMZN and Binance rows under the
 * CPU modes' float32 tolerance; the shipped models run on ONNX Runtime Web's WebGPU provider and
 * are compared with onnxruntime-node's CPU provider on their evaluation windows. A shader that
 * does not compile, or a result outside the tolerance, fails here. The run's record goes to
 * out/gpu-proof/software.json (scripts/gpu-check prints it, /healthz serves it).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { LaneBrowser } from '../../src/compute/lane/browser.ts';
import { runLane, lanePassed, shippedModels, LANE_MODES, LANE_SOURCES, LANE_WINDOWS, EVAL_DAYS, ONNX_TOLERANCE } from '../../src/compute/lane/run.ts';
import { writeProof, readProof, type GpuProof } from '../../src/compute/lane/record.ts';
import { DENSE_COLUMNS } from '../../src/compute/dense.ts';
import { KERNELS } from '../../kernels/index.ts';

let proof: GpuProof;

describe.skipIf(!LaneBrowser.available())('software-GPU lane (headless Chromium on SwiftShader)', () => {
  beforeAll(async () => {
    proof = await runLane({ by: 'tests/gpu-lane/gpu-lane.test.ts' });
    writeProof(proof);
  }, 1_200_000);

  it('runs on SwiftShader: WebGL2 through ANGLE on SwiftShader Vulkan, and a SwiftShader WebGPU adapter', () => {
    expect(proof.adapters.webgl2).toMatch(/SwiftShader/);
    expect(proof.adapters.webgpu).toMatch(/swiftshader/i);
  });

  for (const m of LANE_MODES.filter((x) => x.required)) {
    it(`gpujs:${m.mode}: every kernel ran as ${m.mode} shaders and every kernel column is within the float32 tolerance on every day`, () => {
      const k = proof.kernels.find((x) => x.path === `gpujs:${m.mode}`)!;
      expect(k.error).toBeUndefined();
      expect(k.kernels.length).toBeGreaterThan(0);
      for (const line of k.kernels) expect(line).toMatch(new RegExp(`: ${m.mode}$`));
      // Every kernel kernels/index.ts registers ran (new kernels join the lane without a change here).
      for (const def of KERNELS) expect(k.kernels).toContain(`${def.name}: ${m.mode}`);
      expect(k.columns).toBe(DENSE_COLUMNS.length);
      expect(k.sources.map((s) => s.source)).toEqual(LANE_SOURCES.map((s) => s.name));
      for (const s of k.sources) {
        expect(s.failed, `${k.path} on ${s.source}`).toEqual([]);
        expect(s.rows).toBeGreaterThan(3000);
        // float32 arithmetic ran (a float64 path would be ~1e-15) and stayed inside the tolerance.
        expect(s.maxRelError).toBeGreaterThan(0);
        expect(s.worst).toBeLessThanOrEqual(1);
      }
      expect(k.proven).toBe(true);
    });
  }

  it('a required mode whose shaders do not compile fails the lane; one not required is recorded only', () => {
    expect(lanePassed(proof)).toBe(true);
    // As the lane records a shader the compiler refused (WebGL1's, before the kernels' fix).
    const broken = (required: boolean): GpuProof => ({
      ...proof,
      kernels: proof.kernels.map((k) => (k.path === 'gpujs:webgl' ? { ...k, required, proven: false, error: "ERROR: 0:590: 'user_i' : Loop index cannot be compared with non-constant expression" } : k)),
    });
    expect(lanePassed(broken(true))).toBe(false);
    expect(lanePassed(broken(false))).toBe(true);
  });

  for (const [runtime, where] of [['onnxruntime-web', 'in the page'], ['onnxruntime-node', "in Node, Dawn on Chromium's SwiftShader Vulkan driver"]] as const) {
    it(`every shipped model on ${runtime}'s WebGPU provider (${where}) equals onnxruntime-node CPU within ${ONNX_TOLERANCE} on its evaluation windows`, () => {
      const dirs = shippedModels();
      expect(dirs.length).toBeGreaterThanOrEqual(2);
      const mine = proof.models.filter((m) => m.runtime === runtime);
      expect(mine.map((m) => m.model).sort()).toEqual(dirs.map((d) => d.split('/').at(-1)).sort());
      // Every shipped layout is fed (a model of an unknown layout would be recorded, not required).
      expect(mine.filter((m) => !m.required)).toEqual([]);
      for (const m of mine.filter((x) => x.required)) {
        expect(m.error, m.model).toBeUndefined();
        expect(m.reference).toBe('onnxruntime-node cpu');
        // Feature models on every evaluation day; a raw-levels model on its own day (its ticks and lots are that symbol's).
        expect(m.sets.map((s) => s.data)).toEqual(m.layout === 'NTLC' ? [EVAL_DAYS[0]] : EVAL_DAYS);
        expect(m.windows).toBe(m.sets.length * LANE_WINDOWS);
        expect(m.placement.WebGpuExecutionProvider, `${m.model}: nodes on WebGPU`).toBeGreaterThan(0);
        expect(m.maxAbsDp, m.model).toBeLessThanOrEqual(ONNX_TOLERANCE);
        expect(m.proven).toBe(true);
      }
    });
  }

  it('the record is written where gpu-check and /healthz read it', () => {
    const back = readProof('software');
    expect('schema' in back && back.ranAt).toBe(proof.ranAt);
    expect(lanePassed(proof)).toBe(true);
  });
});
