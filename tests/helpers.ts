/** Shared test helpers: real data paths, temporary directories, running the feature pipeline into memory. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { runFeatures, type FeaturesRunOptions } from '../src/pipeline/features.ts';
import { FeatureTable } from '../src/store/memory.ts';
import type { TimeBaseRef } from '../src/core/time.ts';

export { GOOG_MSG, GOOG_OB, GOOG, AMZN_ZIP, AMZN, USDM_FILE, SPOT_FILE, USDM, SPOT } from '../src/sources/samples.ts';

export async function featuresInMemory(spec: string, opts: FeaturesRunOptions = {}) {
  let table!: FeatureTable;
  let tb!: TimeBaseRef;
  const res = await runFeatures(spec, opts, (columns, timeBase) => {
    tb = timeBase;
    return (table = new FeatureTable(columns));
  });
  return { table, timeBase: tb, res };
}

/** A fresh directory under the OS temp dir (`flowcast-<name>-XXXXXX`) and the function that removes it. */
export function tempDir(name: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `flowcast-${name}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * A fresh temporary directory removed once the tests around the call are done: call it at the top
 * of a test file or describe block (where vitest hooks can be registered).
 */
export function scratchDir(name: string): string {
  const t = tempDir(name);
  afterAll(t.cleanup);
  return t.dir;
}
