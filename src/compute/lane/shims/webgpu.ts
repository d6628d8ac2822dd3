/**
 * Browser stand-in for src/compute/webgpu.ts, swapped in by the lane's bundler (bundle.ts). In
 * Node that module loads Dawn to provide `navigator.gpu`; a browser has `navigator.gpu` itself,
 * so installing is asking it for an adapter, and releasing is nothing.
 */
import type { DawnStatus } from '../../webgpu.ts';

interface AdapterLike {
  info?: { vendor?: string; architecture?: string; device?: string; description?: string };
}
declare const navigator: { gpu?: { requestAdapter(): Promise<AdapterLike | null> } };

export type { DawnStatus };

export async function installDawn(): Promise<DawnStatus> {
  if (typeof navigator === 'undefined' || !navigator.gpu) return { ok: false, detail: 'this browser has no navigator.gpu (WebGPU disabled)' };
  const a = await navigator.gpu.requestAdapter();
  if (!a) return { ok: false, detail: 'navigator.gpu returned no adapter' };
  const i = a.info ?? {};
  return { ok: true, detail: [i.vendor, i.architecture, i.device, i.description].filter(Boolean).join(' ') || 'unnamed adapter' };
}

export function releaseDawn(): void {}
