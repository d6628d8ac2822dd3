/**
 * Bundles the lane's page (page.ts and what it imports: src/compute/gpujs.ts, kernels/, the
 * snapshot batch) for the browser with esbuild. gpu.js resolves to its browser build (its
 * package.json `browser` field: dist/gpu-browser.js). The compute code's two Node-only edges are
 * swapped for browser stand-ins, and nothing else: src/compute/webgpu.ts (loads Dawn for
 * `navigator.gpu`, which a browser has) and `node:module` (gpu.js's version). Any other Node
 * import fails the build, naming the file that made it.
 */
import { build, type Plugin } from 'esbuild';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const here = dirname(fileURLToPath(import.meta.url));
const SHIMS: Record<string, string> = {
  [join(here, '..', 'webgpu.ts')]: join(here, 'shims', 'webgpu.ts'),
};

const browserEdges: Plugin = {
  name: 'flowcast-lane-browser-edges',
  setup(b) {
    b.onResolve({ filter: /^node:module$/ }, () => ({ path: join(here, 'shims', 'node-module.ts') }));
    b.onResolve({ filter: /^(node:|fs$|path$|url$|os$|worker_threads$)/ }, (a) => ({
      errors: [{ text: `${a.importer} imports ${a.path}, which has no browser stand-in in src/compute/lane/bundle.ts` }],
    }));
    b.onResolve({ filter: /webgpu\.ts$/ }, (a) => {
      const abs = join(a.resolveDir, a.path);
      return SHIMS[abs] ? { path: SHIMS[abs] } : undefined;
    });
  },
};

let cached: Promise<string> | undefined;

/** The page script (an IIFE that sets globalThis.flowcastLane); built once per process. */
export function pageBundle(): Promise<string> {
  cached ??= (async () => {
    const version = (createRequire(import.meta.url)('gpu.js/package.json') as { version: string }).version;
    const res = await build({
      entryPoints: [join(here, 'page.ts')],
      bundle: true,
      write: false,
      format: 'iife',
      platform: 'browser',
      target: 'es2022',
      // No minification: gpu.js translates the kernel functions from their source text.
      minify: false,
      define: { __GPUJS_VERSION__: JSON.stringify(version), 'process.env.FLOWCAST_LOG': '"warn"' },
      plugins: [browserEdges],
      logLevel: 'silent',
    });
    return res.outputFiles[0]!.text;
  })();
  return cached;
}
