/**
 * WebGPU for Node: gpu.js's `webgpu` mode needs `navigator.gpu`, which Node does not have. The
 * `webgpu` package (Dawn's node binding, a dependency of gpu.js) provides it; this module loads it
 * on demand, asks for an adapter and reports exactly why when it cannot (a missing Vulkan driver,
 * an old libstdc++, no adapter), so the caller can say which backend it uses instead.
 */
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { errorLine } from './backend.ts';

export interface DawnStatus {
  ok: boolean;
  /** Adapter description when ok; why not otherwise. */
  detail: string;
}

interface AdapterInfoLike {
  vendor?: string;
  architecture?: string;
  device?: string;
  description?: string;
}

interface GpuLike {
  requestAdapter(opts?: { powerPreference?: string }): Promise<{ info?: AdapterInfoLike } | null>;
}

let installed: Promise<DawnStatus> | undefined;
let dawn: GpuLike | undefined;

/**
 * Loads Dawn, installs `navigator.gpu` and its globals, and requests an adapter. Idempotent. Dawn
 * keeps the process alive while `navigator.gpu` refers to it: call releaseDawn() when done.
 */
export function installDawn(flags: string[] = []): Promise<DawnStatus> {
  installed ??= load(flags);
  return installed;
}

async function load(flags: string[]): Promise<DawnStatus> {
  let mod: { create(flags: string[]): GpuLike; globals: Record<string, unknown> };
  try {
    const fromGpuJs = createRequire(createRequire(import.meta.url).resolve('gpu.js'));
    mod = (await import(pathToFileURL(fromGpuJs.resolve('webgpu')).href)) as typeof mod;
  } catch (e) {
    const msg = errorLine(e);
    const hint = /GLIBCXX_3\.4\.3[2-9]/.test(msg) ? ' (its prebuilt binary needs libstdc++ from GCC 13+: Ubuntu 24.04, Debian 13)' : '';
    return { ok: false, detail: `Dawn (npm webgpu) failed to load: ${msg}${hint}` };
  }
  try {
    dawn = mod.create(flags);
    Object.assign(globalThis, mod.globals);
    const nav = (globalThis as { navigator?: Record<string, unknown> }).navigator;
    if (nav && typeof nav === 'object') {
      Object.defineProperty(nav, 'gpu', { value: dawn, configurable: true, writable: true });
    } else {
      Object.defineProperty(globalThis, 'navigator', { value: { gpu: dawn }, configurable: true, writable: true });
    }
    const adapter = await dawn.requestAdapter({ powerPreference: 'high-performance' });
    if (!adapter) {
      releaseDawn();
      return { ok: false, detail: 'Dawn loaded but found no WebGPU adapter (no Vulkan driver/ICD for a GPU?)' };
    }
    const i = adapter.info ?? {};
    const desc = [i.vendor, i.architecture, i.device, i.description].filter(Boolean).join(' ') || 'unnamed adapter';
    return { ok: true, detail: desc };
  } catch (e) {
    releaseDawn();
    return { ok: false, detail: `Dawn adapter request failed: ${errorLine(e)}` };
  }
}

/** Drops the references to Dawn so Node can exit. */
export function releaseDawn(): void {
  const nav = (globalThis as { navigator?: { gpu?: unknown } }).navigator;
  if (nav && nav.gpu === dawn && dawn !== undefined) delete nav.gpu;
  dawn = undefined;
  installed = undefined;
}

