#!/usr/bin/env node
// Runs the compiled CLI (dist/, built by bin/build.js, first here when missing or stale); falls
// back to the TypeScript through tsx's loader when no build can be made (FLOWCAST_TSX=1 forces it).
import { compiledEntry } from './build.js';

const entry = await compiledEntry();
let cli;
if (entry) {
  cli = await import(entry);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  cli = await import('../src/cli/index.ts');
}
await cli.runFromProcess();
