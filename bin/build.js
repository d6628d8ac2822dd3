// The compiled CLI: src/ and kernels/ as plain JavaScript under dist/<stamp>/, so a run loads
// modules straight into Node instead of transpiling TypeScript at every start (tsx's loader costs
// ~0.5 s of a short run).
//
// dist/<stamp>/ mirrors the project root: src/ and kernels/ (every file copied, each .ts beside its
// .js, so paths a module finds from its own location - the dashboard, the inference worker, the
// browser lane's page sources, a pool's worker file - resolve as they do in the source tree), plus
// links to package.json, models/ and data/ (what `../..` from a module reaches). <stamp> hashes the
// path, size and mtime of every source file and of this script: an edited file makes a new stamp,
// hence a new build, and a build is never changed once complete, so a process still running an older
// one keeps it. Builds are written under a temporary name and renamed when complete, so processes
// starting at once never see half of one; older builds are pruned an hour after they were made.
//
//   node bin/build.js         build now (npm run build; npm install runs it as `prepare` where
//                             install scripts run: .npmrc's ignore-scripts=true skips it)
//   compiledEntry()           bin/flowcast.js: the current build's CLI entry, built first when
//                             missing or stale; undefined when it cannot be built (the caller then
//                             runs the TypeScript through tsx)
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const DIST = join(ROOT, 'dist');
const SOURCE_DIRS = ['src', 'kernels'];
const LINKS = ['package.json', 'models', 'data'];
const COMPLETE = '.complete';
const PRUNE_AFTER_MS = 60 * 60 * 1000;

/** Every file under the source directories, sorted, relative to the root. */
function sourceFiles() {
  const out = [];
  for (const d of SOURCE_DIRS) {
    const abs = join(ROOT, d);
    if (!existsSync(abs)) continue;
    for (const e of readdirSync(abs, { recursive: true, withFileTypes: true })) {
      if (e.isFile()) out.push(relative(ROOT, join(e.parentPath ?? e.path, e.name)));
    }
  }
  return out.sort();
}

/** The build's name: a hash of what it is made from. */
export function stamp(files = sourceFiles()) {
  const h = createHash('sha1');
  for (const f of [...files, 'package.json', 'bin/build.js']) {
    const s = statSync(join(ROOT, f), { throwIfNoEntry: false });
    h.update(`${f}\0${s ? `${s.size}:${s.mtimeMs}` : '-'}\n`);
  }
  return h.digest('hex').slice(0, 16);
}

/**
 * esbuild on each file alone: every import stays an import (nothing is bundled), relative `.ts`
 * specifiers become `.js`, static and dynamic alike (what tsc's rewriteRelativeImportExtensions does).
 */
async function compile(files, outdir) {
  const { build, stop } = await import('esbuild');
  const externalize = {
    name: 'flowcast-per-file',
    setup(b) {
      b.onResolve({ filter: /.*/ }, (a) => {
        if (a.kind === 'entry-point') return undefined;
        const rel = a.path.startsWith('./') || a.path.startsWith('../');
        return { path: rel ? a.path.replace(/\.(m|c)?ts$/, '.$1js') : a.path, external: true };
      });
    },
  };
  await build({
    absWorkingDir: ROOT,
    entryPoints: files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts')),
    outbase: ROOT,
    outdir,
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    sourcemap: 'linked',
    plugins: [externalize],
    logLevel: 'silent',
  }).finally(() => stop()); // esbuild's service process would outlive the CLI run otherwise
}

/** Builds dist/<stamp>/ unless it is there; returns its directory. */
export async function buildDist(files = sourceFiles(), name = stamp(files)) {
  const dir = join(DIST, name);
  if (existsSync(join(dir, COMPLETE))) return dir;
  mkdirSync(DIST, { recursive: true });
  const tmp = join(DIST, `.tmp-${name}-${process.pid}-${Date.now()}`);
  try {
    for (const d of SOURCE_DIRS) if (existsSync(join(ROOT, d))) cpSync(join(ROOT, d), join(tmp, d), { recursive: true });
    await compile(files, tmp);
    for (const l of LINKS) if (existsSync(join(ROOT, l))) symlinkSync(relative(tmp, join(ROOT, l)), join(tmp, l));
    writeFileSync(join(tmp, COMPLETE), `${new Date().toISOString()}\n`);
    try {
      renameSync(tmp, dir);
    } catch (e) {
      // Another process finished the same build first: theirs is identical.
      if (!existsSync(join(dir, COMPLETE))) throw e;
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  prune(name);
  return dir;
}

/** Removes other builds (and abandoned temporary ones) made more than an hour ago. */
function prune(keep) {
  const now = Date.now();
  for (const n of readdirSync(DIST)) {
    if (n === keep) continue;
    const p = join(DIST, n);
    try {
      if (now - statSync(p).mtimeMs > PRUNE_AFTER_MS) rmSync(p, { recursive: true, force: true });
    } catch { /* removed by another process meanwhile */ }
  }
}

/**
 * The compiled CLI's entry (a file URL), built first when missing or stale; undefined when
 * FLOWCAST_TSX=1 asks for the TypeScript or the build fails (a read-only checkout, no esbuild).
 */
export async function compiledEntry() {
  if (process.env.FLOWCAST_TSX === '1') return undefined;
  try {
    const files = sourceFiles();
    const name = stamp(files);
    let dir = join(DIST, name);
    if (!existsSync(join(dir, COMPLETE))) dir = await buildDist(files, name);
    return pathToFileURL(join(dir, 'src', 'cli', 'index.js')).href;
  } catch (e) {
    if (process.env.FLOWCAST_LOG === 'debug') process.stderr.write(`flowcast: no compiled build (${e?.message ?? e}); running the TypeScript\n`);
    return undefined;
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const t0 = performance.now();
  const dir = await buildDist();
  process.stdout.write(`flowcast build: ${relative(ROOT, dir)} (${((performance.now() - t0) / 1000).toFixed(2)} s)\n`);
}
