/**
 * Browser stand-in for `node:module`, swapped in by the lane's bundler (bundle.ts): the one use of
 * createRequire that the bundled compute code makes is reading gpu.js's package.json for its
 * version, which the bundler compiles in as __GPUJS_VERSION__.
 */
declare const __GPUJS_VERSION__: string;

export function createRequire(_from: string): (id: string) => unknown {
  return (id: string) => {
    if (id === 'gpu.js/package.json') return { version: __GPUJS_VERSION__ };
    throw new Error(`src/compute/lane/shims/node-module.ts: require("${id}") has no browser stand-in`);
  };
}
