import { describe, expect, it } from 'vitest';
import { selectComputeBackend, availableBackends } from '../../src/compute/select.ts';
import { parseComputeSpec, GPUJS_MODES, BackendUnavailable } from '../../src/compute/backend.ts';
import { setLogSink, setLogLevel } from '../../src/core/log.ts';

describe('compute backend selection', () => {
  it('parses --compute values and names the accepted ones on error', () => {
    for (const s of ['auto', 'cpu', 'gpujs', 'gpujs:webgpu', 'gpujs:webasm', 'gpujs:cpu', 'gpujs:headlessgl']) expect(parseComputeSpec(s)).toBe(s);
    expect(() => parseComputeSpec('gpu')).toThrow(/expected auto \| cpu \| gpujs \| gpujs:<webgpu\|headlessgl\|webgl2\|webgl\|webasm\|cpu>, got "gpu"/);
    expect(() => parseComputeSpec('gpujs:cuda')).toThrow(/got "gpujs:cuda"/);
  });

  it('cpu is the float64 JavaScript backend; an explicit gpu.js mode that cannot run is an error with the reason', async () => {
    const cpu = await selectComputeBackend('cpu');
    expect(cpu.info).toMatchObject({ requested: 'cpu', backend: 'cpu', precision: 'float64', reason: 'requested' });
    const wasm = await selectComputeBackend('gpujs:webasm');
    expect(wasm.info).toMatchObject({ backend: 'gpujs:webasm', precision: 'float32' });
    expect(wasm.info.libraryMode).toMatch(/^gpu\.js 2\.\d+\.\d+ webasm/);
    await wasm.backend.dispose();
    // WebGL exists only in browsers: never in Node.
    const err = await selectComputeBackend('gpujs:webgl').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackendUnavailable);
    expect((err as BackendUnavailable).message).toMatch(/gpujs:webgl is not available: webgl exists only in browsers/);
  });

  it('gpujs takes the best mode present and says why each better one was not used', async () => {
    const sel = await selectComputeBackend('gpujs');
    const order = GPUJS_MODES.map((m) => `gpujs:${m}`);
    const at = order.indexOf(sel.info.backend);
    expect(at).toBeGreaterThanOrEqual(0);
    expect(Object.keys(sel.info.unavailable)).toEqual(order.slice(0, at));
    for (const skipped of order.slice(0, at)) expect(sel.info.reason).toContain(`${skipped}: ${sel.info.unavailable[skipped]}`);
    await sel.backend.dispose();
  });

  it('auto times every available backend on the caller\'s batch shape, picks the fastest and logs why', async () => {
    const lines: string[] = [];
    const prev = setLogSink((l) => lines.push(l));
    setLogLevel('info');
    try {
      const sel = await selectComputeBackend('auto', { shape: { windows: 8, rows: 64 }, budgetMs: 20 });
      const { backends, unavailable } = await availableBackends();
      expect(Object.keys(sel.info.measured!).sort()).toEqual(backends.map((b) => b.name).sort());
      expect(sel.info.unavailable).toEqual(unavailable);
      const rates = sel.info.measured!;
      expect(rates[sel.info.backend]).toBe(Math.max(...Object.values(rates)));
      expect(sel.info.reason).toMatch(/^fastest measured on 8x\(100\+64\)x10 batches: .+ rows\/s$/);
      const logged = lines.map((l) => JSON.parse(l)).find((l) => l.msg === 'compute backend');
      expect(logged).toMatchObject({ component: 'compute', backend: sel.info.backend, reason: sel.info.reason });
      for (const b of backends) await b.dispose();
      await sel.backend.dispose();
    } finally {
      setLogSink(prev);
      setLogLevel('error');
    }
  });
});
