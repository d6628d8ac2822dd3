/**
 * Model versions (issue 17 item 5): installs keep the version they replace under
 * models/.versions/NAME/vN, `models versions` lists them, `models rollback` restores one exactly
 * (verified first, nothing changed on any error), a watching repository keeps a version replaced by
 * hand and reports a rollback, and kept versions can be served beside the current one (NAME@vN).
 * Every model here is written into a temporary directory.
 */
import { cpSync, existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { InferenceEngine } from '../../src/inference/engine.ts';
import { setLogLevel, setLogSink } from '../../src/core/log.ts';
import { contentHash, listVersions, readModelFiles, rollback, verifyVersion, VersionError, VERSIONS_DIR } from '../../src/inference/versions.ts';
import modelsCommand from '../../src/cli/commands/models.ts';
import { logRegToOnnx, type LogRegModel } from '../../src/training/logreg.ts';
import { randomWindow, rng, tempDir, writeLinearModel, type TestModel } from './helpers.ts';

const logs: string[] = [];
setLogSink((line) => logs.push(line));

const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function setup(): string {
  const t = tempDir('versions');
  cleanups.push(t.cleanup);
  return t.dir;
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** Runs `flowcast models ARGS` in this process: exit code, stdout and stderr. */
async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '', err = '';
  const o = vi.spyOn(process.stdout, 'write').mockImplementation((s) => ((out += String(s)), true));
  const e = vi.spyOn(process.stderr, 'write').mockImplementation((s) => ((err += String(s)), true));
  try {
    const code = await modelsCommand.run(argv);
    return { code, out, err };
  } finally {
    o.mockRestore();
    e.mockRestore();
  }
}

const dirHash = (dir: string) => contentHash(readModelFiles(dir));

describe('model versions', () => {
  it('every install keeps the version it replaces; the same content is kept once; versions lists hash, time, evaluation and the current one', async () => {
    const root = setup();
    const a = writeLinearModel(root, 'lin', { seed: 1, version: 'a' });
    const hashA = dirHash(join(root, 'lin'));
    writeLinearModel(root, 'lin', { seed: 2, version: 'b' });
    writeLinearModel(root, 'lin', { seed: 2, version: 'b' }); // the same content again: no new version
    const list = listVersions(root, 'lin');
    expect(list.map((v) => v.id)).toEqual(['v1', 'v2']);
    expect(list[0]!.record).toMatchObject({ model: 'lin', id: 'v1', n: 1, hash: hashA, manifestVersion: 'a', kind: 'other', source: 'install' });
    expect(list[1]!.record!.hash).toBe(dirHash(join(root, 'lin')));
    // v1 is a byte-for-byte copy of the first install.
    expect(readFileSync(join(list[0]!.dir, 'model.onnx')).equals(Buffer.from(readFileSync(join(root, VERSIONS_DIR, 'lin', 'v1', 'model.onnx'))))).toBe(true);
    expect(verifyVersion(root, 'lin', 'v1').manifest.version).toBe(a.manifest.version);
    // The repository never serves the history as a model.
    const engine = await InferenceEngine.open({ dir: root, runner: 'inline' });
    cleanups.push(() => engine.close());
    expect(engine.models().map((m) => [m.name, m.versionId])).toEqual([['lin', 'v2']]);

    // The evaluation headline comes from the manifest's metrics.
    const mf = JSON.parse(readFileSync(join(root, 'lin', 'manifest.json'), 'utf8'));
    mf.metrics = { test: { samples: 22138, macroF1: 0.4634, macroAuc: 0.6506 } };
    mf.version = 'c';
    writeFileSync(join(root, 'lin', 'manifest.json'), JSON.stringify(mf));
    const r = await cli('versions', 'lin', '--models', root);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/v1 +\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ +[0-9a-f]{12} +other a +no evaluation in its manifest +\(kept: install\)\n/);
    expect(r.out).toMatch(/v2 .* other b .*\(kept: install\)\n/);
    expect(r.out).toContain(`current: ${join(root, 'lin')} (${dirHash(join(root, 'lin')).slice(0, 12)}), not kept yet`);
    writeLinearModel(root, 'lin', { seed: 3, version: 'd' });
    const r2 = await cli('versions', 'lin', '--models', root);
    expect(r2.out).toMatch(/v3 .* other c +test macro-F1 0\.4634, AUC 0\.6506, 22138 samples +\(kept: replaced\)\n/);
    expect(r2.out).toMatch(/v4 .* other d .*\(kept: install\) +<- current\n/);
    const json = JSON.parse((await cli('versions', 'lin', '--models', root, '--json')).out);
    expect(json.current.versionId).toBe('v4');
    expect(json.versions.map((v: { id: string; current: boolean }) => [v.id, v.current])).toEqual([['v1', false], ['v2', false], ['v3', false], ['v4', true]]);
  });

  it('models import onnx keeps the version it replaces; rollback brings the first graph back byte for byte', async () => {
    const root = setup();
    const files = [1, 2].map((seed) => {
      const r = rng(seed);
      const lr: LogRegModel = { W: Float64Array.from({ length: 36 }, () => r() * 2 - 1), b: Float64Array.from([0, 0.1, -0.1]), d: 12, C: 3, iterations: 0, loss: 0 };
      const file = join(root, `net${seed}.onnx`);
      writeFileSync(file, logRegToOnnx(lr, [4, 3], 'features', null));
      return file;
    });
    for (const [i, f] of files.entries()) {
      const r = await cli('import', 'onnx', f, '--name', 'imp', '--columns', 'imb_1,ofi_1,spread_bps', '--window', '4', '--version', `r${i + 1}`, '--models', root);
      expect(r.code, r.err).toBe(0);
    }
    expect(listVersions(root, 'imp').map((v) => [v.id, v.record!.manifestVersion, v.record!.source])).toEqual([['v1', 'r1', 'install'], ['v2', 'r2', 'install']]);
    expect((await cli('rollback', 'imp', '--models', root)).out).toContain('imp: rolled back from v2 to v1 (other r1, ');
    expect(readFileSync(join(root, 'imp', 'model.onnx')).equals(readFileSync(files[0]!))).toBe(true);
  });

  it('rollback restores the previous version exactly, keeps the one it left, and --to undoes it', async () => {
    const root = setup();
    const a = writeLinearModel(root, 'lin', { seed: 1, version: 'a' });
    const b = writeLinearModel(root, 'lin', { seed: 2, version: 'b' });
    const w = randomWindow(12, rng(3));
    const filesA = readModelFiles(join(root, VERSIONS_DIR, 'lin', 'v1'));
    const r = await cli('rollback', 'lin', '--models', root);
    expect(r.code).toBe(0);
    expect(r.out).toContain('lin: rolled back from v2 to v1 (other a, ');
    // The model directory now holds exactly v1's files.
    const now = readModelFiles(join(root, 'lin'));
    expect([...now.keys()].sort()).toEqual([...filesA.keys()].sort());
    for (const [k, v] of filesA) expect(now.get(k)!.equals(v)).toBe(true);
    const engine = await InferenceEngine.open({ dir: root, runner: 'inline' });
    cleanups.push(() => engine.close());
    expect(maxDiff(await engine.predict('lin', 'X', w), a.expect(w))).toBeLessThan(1e-5);
    expect(maxDiff(await engine.predict('lin', 'X', w), b.expect(w))).toBeGreaterThan(1e-3);
    // Undo: back to v2; no version was added by either rollback (both contents were kept).
    expect(rollback(root, 'lin', 'v2')).toMatchObject({ from: { id: 'v1' }, to: { id: 'v2' } });
    expect(dirHash(join(root, 'lin'))).toBe(listVersions(root, 'lin')[1]!.record!.hash);
    expect(listVersions(root, 'lin').map((v) => v.id)).toEqual(['v1', 'v2']);
    // A current version copied in by hand is kept by the rollback that leaves it.
    const other = setup();
    writeLinearModel(other, 'lin', { seed: 9, version: 'hand' });
    for (const f of ['manifest.json', 'model.onnx']) cpSync(join(other, 'lin', f), join(root, 'lin', f));
    expect(rollback(root, 'lin')).toMatchObject({ from: { id: 'v3' }, to: { id: 'v2' } });
    expect(listVersions(root, 'lin')[2]!.record).toMatchObject({ manifestVersion: 'hand', source: 'rollback' });
  });

  it('names what is wrong: no earlier version, an unknown or malformed id, a corrupt version; nothing changes', async () => {
    const root = setup();
    writeLinearModel(root, 'lin', { seed: 1, version: 'a' });
    let r = await cli('rollback', 'lin', '--models', root);
    expect(r.code).toBe(1);
    expect(r.err).toBe('flowcast models rollback: lin has no version earlier than v1, the current one, to roll back to (kept: v1 (current))\n');
    writeLinearModel(root, 'lin', { seed: 2, version: 'b' });
    const before = dirHash(join(root, 'lin'));
    r = await cli('rollback', 'lin', '--to', 'v7', '--models', root);
    expect(r.err).toBe(`flowcast models rollback: lin has no version v7 (kept in ${join(root, VERSIONS_DIR, 'lin')}: v1, v2 (current))\n`);
    r = await cli('rollback', 'lin', '--to', '3', '--models', root);
    expect(r.err).toContain('--to "3" is not a version id (expected v1, v2, ...');
    r = await cli('rollback', 'lin', '--to', 'v2', '--models', root);
    expect(r.err).toContain('lin: v2 is already the current version (nothing to do)');
    r = await cli('rollback', 'nope', '--models', root);
    expect(r.err).toBe(`flowcast models rollback: no model directory ${join(root, 'nope')}\n`);

    const v1 = join(root, VERSIONS_DIR, 'lin', 'v1');
    const onnx = readFileSync(join(v1, 'model.onnx'));
    // A byte changed after the version was kept.
    const bad = Buffer.from(onnx);
    bad[bad.length - 5] ^= 0xff;
    writeFileSync(join(v1, 'model.onnx'), bad);
    r = await cli('rollback', 'lin', '--models', root);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(new RegExp(`cannot roll lin back to v1: ${join(v1, 'model.onnx').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} has sha256 [0-9a-f]{12}…, \\.version\\.json recorded [0-9a-f]{12}… \\(the file changed after the version was kept\\); nothing was changed`));
    expect(dirHash(join(root, 'lin'))).toBe(before);
    // The listing checks each version as a rollback would.
    expect((await cli('versions', 'lin', '--models', root)).out).toMatch(/\n {2}v1 +\S+ +[0-9a-f]{12} +CORRUPT +\S+v1\/model\.onnx has sha256 /);
    // A missing file, an extra file, no record.
    rmSync(join(v1, 'model.onnx'));
    expect(() => rollback(root, 'lin')).toThrow(`${join(v1, 'model.onnx')} is missing (.version.json lists it)`);
    writeFileSync(join(v1, 'model.onnx'), onnx);
    writeFileSync(join(v1, 'notes.txt'), 'x');
    expect(() => rollback(root, 'lin')).toThrow(`${join(v1, 'notes.txt')} is not one of the version's files (.version.json lists `);
    rmSync(join(v1, 'notes.txt'));
    const record = readFileSync(join(v1, '.version.json'));
    rmSync(join(v1, '.version.json'));
    expect(() => rollback(root, 'lin')).toThrow(VersionError);
    expect(() => rollback(root, 'lin')).toThrow(`${join(v1, '.version.json')} is missing: ${v1} is not a version flowcast kept, or a partial copy`);
    // The listing says which version is corrupt and why.
    const list = await cli('versions', 'lin', '--models', root);
    expect(list.out).toContain(`v1    CORRUPT  ${join(v1, '.version.json')} is missing`);
    writeFileSync(join(v1, '.version.json'), record);
    expect(dirHash(join(root, 'lin'))).toBe(before);
    expect(rollback(root, 'lin').to.id).toBe('v1');
  });

  it('a watching repository keeps a version replaced by hand, names the version it serves, and reports a rollback', async () => {
    const root = setup();
    const src = setup();
    // Written elsewhere and copied in: nothing is kept yet, and opening the repository writes nothing.
    const a = writeLinearModel(src, 'live', { seed: 1, version: 'a' });
    cpSync(join(src, 'live'), join(root, 'live'), { recursive: true });
    const engine = await InferenceEngine.open({ dir: root, runner: 'inline', watch: true, debounceMs: 50 });
    cleanups.push(() => engine.close());
    const repo = engine.repository;
    expect(existsSync(join(root, VERSIONS_DIR))).toBe(false);
    expect(engine.models()[0]!.versionId).toBeUndefined();
    const w = randomWindow(12, rng(8));

    // Another version's files copied over the served ones.
    const src2 = setup();
    const b = writeLinearModel(src2, 'live', { seed: 2, version: 'b' });
    const reloaded = () => new Promise<void>((res) => {
      const on = () => {
        if (repo.get('live')?.manifest.version !== undefined) res();
      };
      repo.once('reloaded', on);
    });
    let done = reloaded();
    for (const f of ['model.onnx', 'manifest.json']) writeFileSync(join(root, 'live', f), readFileSync(join(src2, 'live', f)));
    await done;
    while (repo.get('live')!.manifest.version !== 'b') await reloaded();
    const kept = listVersions(root, 'live');
    expect(kept.map((v) => [v.id, v.record!.manifestVersion, v.record!.source])).toEqual([['v1', 'a', 'hot-reload'], ['v2', 'b', 'hot-reload']]);
    expect(kept[0]!.record!.hash).toBe(dirHash(join(src, 'live')));
    expect(engine.models()[0]).toMatchObject({ versionId: 'v2', previousVersionId: 'v1', rolledBack: false });
    expect(maxDiff(await engine.predict('live', 'X', w), b.expect(w))).toBeLessThan(1e-5);

    // Rolled back from outside: the repository reloads it, says so, and serves v1's outputs.
    logs.length = 0;
    setLogLevel('warn');
    cleanups.push(() => setLogLevel('error'));
    done = reloaded();
    rollback(root, 'live');
    await done;
    expect(engine.models()[0]).toMatchObject({ versionId: 'v1', previousVersionId: 'v2', rolledBack: true, version: 'a' });
    const line = logs.map((l) => JSON.parse(l)).find((l) => l.msg === 'model rolled back: an earlier version serves again');
    expect(line).toMatchObject({ level: 'warn', model: 'live', versionId: 'v1', from: 'v2', version: 'a' });
    expect(maxDiff(await engine.predict('live', 'X', w), a.expect(w))).toBeLessThan(1e-5);
    expect(listVersions(root, 'live').map((v) => v.id)).toEqual(['v1', 'v2']);
  });

  it('serves kept versions beside the current one as NAME@vN; a missing, corrupt or malformed one is refused with the reason', async () => {
    const root = setup();
    const models: TestModel[] = [1, 2, 3].map((seed) => writeLinearModel(root, 'lin', { seed, version: String(seed) }));
    // v2 corrupt: its manifest edited after it was kept.
    const v2 = join(root, VERSIONS_DIR, 'lin', 'v2');
    writeFileSync(join(v2, 'manifest.json'), readFileSync(join(v2, 'manifest.json'), 'utf8').replace('"version": "2"', '"version": "two"'));
    const engine = await InferenceEngine.open({ dir: root, runner: 'inline', pinned: ['lin@v1', 'lin@v2', 'lin@v9', 'lin@latest'] });
    cleanups.push(() => engine.close());
    const st = Object.fromEntries(engine.models().map((m) => [m.name, m]));
    expect(Object.keys(st).sort()).toEqual(['lin', 'lin@latest', 'lin@v1', 'lin@v2', 'lin@v9']);
    expect(st['lin']).toMatchObject({ state: 'ready', versionId: 'v3', version: '3' });
    expect(st['lin@v1']).toMatchObject({ state: 'ready', versionId: 'v1', version: '1', model: 'lin', pinned: true });
    expect(st['lin@v2']).toMatchObject({ state: 'refused', model: 'lin', versionId: 'v2' });
    expect(st['lin@v2']!.error).toMatch(/v2\/manifest\.json has sha256 [0-9a-f]{12}…, \.version\.json recorded/);
    expect(st['lin@v9']!.error).toBe(`lin has no version v9 (kept: v1, v2, v3)`);
    expect(st['lin@latest']!.error).toBe('"lin@latest" is not NAME@vN (a kept version: flowcast models versions NAME)');
    const w = randomWindow(12, rng(4));
    expect(maxDiff(await engine.predict('lin@v1', 'X', w), models[0]!.expect(w))).toBeLessThan(1e-5);
    expect(maxDiff(await engine.predict('lin', 'X', w), models[2]!.expect(w))).toBeLessThan(1e-5);
    await expect(engine.predict('lin@v9', 'X', w)).rejects.toThrow('model lin@v9 is refused: lin has no version v9');
    expect(engine.describe().models.find((m) => m.name === 'lin@v1')!.metrics!.requests).toBe(1);
    expect(readdirSync(root).sort()).toEqual([VERSIONS_DIR, 'lin']);
  });
});
