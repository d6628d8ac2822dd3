/**
 * Model versions (issue 17 item 5): every model directory that gets replaced keeps the version it
 * replaced, `flowcast models rollback` restores one, and the server can serve a kept version beside
 * the current one (A/B, `NAME@vN`).
 *
 * Layout (docs/models.md, "Model versions"):
 *
 *   models/NAME/                     the current version: what the repository serves as NAME
 *   models/.versions/NAME/v1/        a kept version: a copy of every file the model directory held
 *   models/.versions/NAME/v1/.version.json   its record (files with sizes and sha256, content hash,
 *                                    when and why it was kept)
 *
 * The history lives beside the model directory, not inside it, because every install replaces
 * the model directory whole (built as `NAME.tmp`, then renamed over it, so a serving repository
 * never loads half a model): a history inside it would have to be carried across that rename.
 * `.versions` starts with a dot, so the repository and every tool that scans models/ ignore it.
 *
 * The current version is the top-level files, always; it is "vN" where vN holds the same content
 * (content hash over the files' names and bytes). Versions are immutable once renamed into place:
 * a version is written under a temporary name and renamed, and a number already taken is never
 * reused, so two writers (a CLI and a serving repository) never mix their files.
 *
 * File I/O here is synchronous: model directories are a few hundred KB, versions are written only
 * when a model changes, and the callers that install models (writeModelDir) are synchronous.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MANIFEST_FILE, parseManifest, type ModelManifest } from './manifest.ts';

/** The directory under the models root holding every model's kept versions. */
export const VERSIONS_DIR = '.versions';
/** A version's record, inside its directory (a dot file: never one of the model's own files). */
export const VERSION_RECORD = '.version.json';
export const VERSION_SCHEMA = 'flowcast.model-version/v1';
/** Version ids: "v" and a number, 1 for the first version kept of a model. */
export const VERSION_ID_RE = /^v([1-9][0-9]{0,8})$/;

/** Why a version was kept. */
export type VersionSource = 'install' | 'replaced' | 'hot-reload' | 'rollback';

export interface VersionRecord {
  schema: typeof VERSION_SCHEMA;
  /** The model's name. */
  model: string;
  id: string;
  n: number;
  /** sha256 over the files' names and sha256s (contentHash). */
  hash: string;
  /** When the version was kept (ISO 8601). */
  created: string;
  source: VersionSource;
  /** The manifest's own fields, for listings that do not parse it again. */
  manifestVersion: string;
  kind: string;
  /** One line from the manifest's metrics (test, else validation), if it has any. */
  evaluation?: string;
  files: Record<string, { bytes: number; sha256: string }>;
}

/** A version as listed: its record, or why its directory is not a usable version. */
export interface VersionEntry {
  id: string;
  n: number;
  dir: string;
  record?: VersionRecord;
  /** The directory is corrupt: what is wrong, naming the file. */
  error?: string;
}

/** A version directory that cannot be used, or a rollback that cannot be done: the message names what. */
export class VersionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'VersionError';
  }
}

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** The directory of one model's kept versions. */
export function versionsDir(root: string, name: string): string {
  return join(root, VERSIONS_DIR, name);
}

/** The model's files: every regular file at the top of its directory, except dot files. */
export function readModelFiles(dir: string): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  for (const d of readdirSync(dir, { withFileTypes: true })) {
    if (!d.isFile() || d.name.startsWith('.')) continue;
    files.set(d.name, readFileSync(join(dir, d.name)));
  }
  return files;
}

/**
 * The content hash of a set of model files: sha256 over "name\0sha256\n" in name order. Equal
 * hashes are the same version, whatever the files' times or the path they were copied from.
 */
export function contentHash(files: ReadonlyMap<string, Uint8Array> | Record<string, { sha256: string }>): string {
  const entries: [string, string][] = files instanceof Map
    ? [...files].map(([k, v]) => [k, sha256(v)])
    : Object.entries(files as Record<string, { sha256: string }>).map(([k, v]) => [k, v.sha256]);
  entries.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const h = createHash('sha256');
  for (const [k, v] of entries) h.update(`${k}\0${v}\n`);
  return h.digest('hex');
}

/** The manifest's evaluation in one line: "test macro-F1 0.4634, AUC 0.6505, 22138 samples". */
export function evaluationHeadline(m: Pick<ModelManifest, 'metrics'>): string | undefined {
  const metrics = m.metrics as Record<string, Record<string, unknown> | undefined> | undefined;
  if (!metrics) return undefined;
  for (const split of ['test', 'validation']) {
    const s = metrics[split];
    if (!s || typeof s !== 'object') continue;
    const parts: string[] = [];
    const num = (k: string) => (typeof s[k] === 'number' ? (s[k] as number) : undefined);
    if (num('macroF1') !== undefined) parts.push(`macro-F1 ${num('macroF1')!.toFixed(4)}`);
    if (num('macroAuc') !== undefined) parts.push(`AUC ${num('macroAuc')!.toFixed(4)}`);
    if (num('samples') !== undefined) parts.push(`${num('samples')} samples`);
    if (parts.length) return `${split} ${parts.join(', ')}`;
  }
  return undefined;
}

/** Every directory under the model's versions directory named vN, in number order, each checked for its record. */
export function listVersions(root: string, name: string): VersionEntry[] {
  const base = versionsDir(root, name);
  if (!existsSync(base)) return [];
  const out: VersionEntry[] = [];
  for (const d of readdirSync(base, { withFileTypes: true })) {
    const m = VERSION_ID_RE.exec(d.name);
    if (!m || !d.isDirectory()) continue;
    const dir = join(base, d.name);
    const entry: VersionEntry = { id: d.name, n: Number(m[1]), dir };
    try {
      entry.record = readRecord(root, name, d.name);
    } catch (e) {
      entry.error = (e as Error).message;
    }
    out.push(entry);
  }
  return out.sort((a, b) => a.n - b.n);
}

function readRecord(root: string, name: string, id: string): VersionRecord {
  const dir = join(versionsDir(root, name), id);
  const file = join(dir, VERSION_RECORD);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new VersionError(`${file} is ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing' : `unreadable (${(e as Error).message})`}: ${dir} is not a version flowcast kept, or a partial copy`);
  }
  let r: VersionRecord;
  try {
    r = JSON.parse(text) as VersionRecord;
  } catch (e) {
    throw new VersionError(`${file} is not JSON (${(e as Error).message})`);
  }
  if (r?.schema !== VERSION_SCHEMA) throw new VersionError(`${file}: schema is ${JSON.stringify(r?.schema)}, expected "${VERSION_SCHEMA}"`);
  if (r.model !== name || r.id !== id) throw new VersionError(`${file} records ${r.model}@${r.id}, but the directory is ${name}@${id}`);
  if (!r.files || typeof r.files !== 'object' || Object.keys(r.files).length === 0) throw new VersionError(`${file} lists no files`);
  return r;
}

/**
 * Checks a kept version completely: its record, every file it lists present with the recorded
 * sha256 and no other model file, the content hash, and the manifest (schema, name, the ONNX
 * file's sha256). Throws a VersionError naming the file; returns the record and manifest.
 */
export function verifyVersion(root: string, name: string, id: string): { record: VersionRecord; manifest: ModelManifest; dir: string } {
  const base = versionsDir(root, name);
  if (!VERSION_ID_RE.test(id)) throw new VersionError(`"${id}" is not a version id (expected v1, v2, ...)`);
  const dir = join(base, id);
  if (!existsSync(dir)) {
    const known = listVersions(root, name).map((v) => v.id);
    throw new VersionError(`${name} has no version ${id} (${known.length ? `kept: ${known.join(', ')}` : `no version kept in ${base}`})`);
  }
  const record = readRecord(root, name, id);
  const present = readModelFiles(dir);
  for (const [file, want] of Object.entries(record.files)) {
    const bytes = present.get(file);
    if (!bytes) throw new VersionError(`${join(dir, file)} is missing (${VERSION_RECORD} lists it)`);
    const got = sha256(bytes);
    if (got !== want.sha256) throw new VersionError(`${join(dir, file)} has sha256 ${got.slice(0, 12)}…, ${VERSION_RECORD} recorded ${want.sha256.slice(0, 12)}… (the file changed after the version was kept)`);
  }
  for (const file of present.keys()) if (!(file in record.files)) throw new VersionError(`${join(dir, file)} is not one of the version's files (${VERSION_RECORD} lists ${Object.keys(record.files).join(', ')})`);
  if (contentHash(record.files) !== record.hash) throw new VersionError(`${join(dir, VERSION_RECORD)}: hash ${record.hash.slice(0, 12)}… is not the hash of the files it lists`);
  const manifestPath = join(dir, MANIFEST_FILE);
  const text = present.get(MANIFEST_FILE);
  if (!text) throw new VersionError(`${manifestPath} is missing: the version has no manifest`);
  let json: unknown;
  try {
    json = JSON.parse(text.toString('utf8'));
  } catch (e) {
    throw new VersionError(`${manifestPath} is not JSON (${(e as Error).message})`);
  }
  const manifest = parseManifest(json, manifestPath);
  if (manifest.name !== name) throw new VersionError(`${manifestPath}: name is "${manifest.name}", the model is "${name}"`);
  const onnx = present.get(manifest.onnx.file);
  if (!onnx) throw new VersionError(`${join(dir, manifest.onnx.file)} is missing (the manifest's onnx.file)`);
  if (manifest.onnx.sha256 && sha256(onnx) !== manifest.onnx.sha256) throw new VersionError(`${join(dir, manifest.onnx.file)} does not match the manifest's onnx.sha256`);
  return { record, manifest, dir };
}

/** The kept version with this content, if any (corrupt directories never match). */
export function findVersion(root: string, name: string, hash: string): VersionEntry | undefined {
  return listVersions(root, name).find((v) => v.record?.hash === hash);
}

/**
 * Keeps a model version: a copy of `files` as the model's next vN, unless a kept version already
 * has this content (then that one is returned: keeping is idempotent). Written under a temporary
 * name and renamed, so a reader never sees a partial version.
 */
export function keepVersion(root: string, name: string, files: ReadonlyMap<string, Uint8Array>, source: VersionSource): { entry: VersionEntry; created: boolean } {
  const hash = contentHash(files);
  const known = listVersions(root, name);
  const same = known.find((v) => v.record?.hash === hash);
  if (same) return { entry: same, created: false };
  const manifestBytes = files.get(MANIFEST_FILE);
  if (!manifestBytes) throw new VersionError(`cannot keep a version of ${name} without ${MANIFEST_FILE}`);
  let manifest: Partial<ModelManifest> = {};
  try {
    manifest = JSON.parse(Buffer.from(manifestBytes).toString('utf8')) as Partial<ModelManifest>;
  } catch {
    // A damaged manifest is kept as it is (verifyVersion will say so); the record just lacks its fields.
  }
  const base = versionsDir(root, name);
  mkdirSync(base, { recursive: true });
  const record: Omit<VersionRecord, 'id' | 'n'> = {
    schema: VERSION_SCHEMA,
    model: name,
    hash,
    created: new Date().toISOString(),
    source,
    manifestVersion: String(manifest.version ?? '?'),
    kind: String(manifest.kind ?? '?'),
    files: Object.fromEntries([...files].map(([k, v]) => [k, { bytes: v.length, sha256: sha256(v) }])),
  };
  const headline = manifest.metrics ? evaluationHeadline(manifest as ModelManifest) : undefined;
  if (headline) record.evaluation = headline;
  const tmp = join(base, `.tmp-${process.pid}-${Math.random().toString(36).slice(2, 10)}`);
  mkdirSync(tmp);
  try {
    for (const [k, v] of files) writeFileSync(join(tmp, k), v);
    // Numbers only grow, even past corrupt or removed directories: an id always means one content.
    let n = Math.max(0, ...known.map((v) => v.n)) + 1;
    for (;;) {
      const id = `v${n}`;
      const full: VersionRecord = { ...record, id, n } as VersionRecord;
      writeFileSync(join(tmp, VERSION_RECORD), JSON.stringify(full, null, 2) + '\n');
      try {
        renameSync(tmp, join(base, id));
        return { entry: { id, n, dir: join(base, id), record: full }, created: true };
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        // Another writer took this number first (rename onto a non-empty directory fails).
        if (code !== 'EEXIST' && code !== 'ENOTEMPTY' && code !== 'EISDIR') throw e;
        n++;
      }
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** Keeps the model directory's current files as a version (if it has a manifest); undefined when there is nothing to keep. */
export function keepCurrent(root: string, name: string, source: VersionSource): VersionEntry | undefined {
  const dir = join(root, name);
  if (!existsSync(join(dir, MANIFEST_FILE))) return undefined;
  return keepVersion(root, name, readModelFiles(dir), source).entry;
}

/** The kept version the model directory's current files are, if any. */
export function currentVersion(root: string, name: string): { hash: string; entry?: VersionEntry } | undefined {
  const dir = join(root, name);
  if (!existsSync(join(dir, MANIFEST_FILE))) return undefined;
  const hash = contentHash(readModelFiles(dir));
  return { hash, entry: findVersion(root, name, hash) };
}

/**
 * Replaces the model directory with `files`, whole: built as `NAME.tmp` (which the repository
 * ignores), then renamed into place, so a watching repository sees either version and never a mix.
 */
export function installModelFiles(root: string, name: string, files: ReadonlyMap<string, Uint8Array>): string {
  const dir = join(root, name);
  const tmp = join(root, `${name}.tmp`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  for (const [k, v] of files) writeFileSync(join(tmp, k), v);
  if (existsSync(dir)) {
    const old = join(root, `.${name}.old-${process.pid}`);
    rmSync(old, { recursive: true, force: true });
    renameSync(dir, old);
    renameSync(tmp, dir);
    rmSync(old, { recursive: true, force: true });
  } else renameSync(tmp, dir);
  return dir;
}

export interface RollbackResult {
  model: string;
  /** The version that was current (kept first, if it was not yet). */
  from: VersionEntry;
  to: VersionEntry;
  dir: string;
}

/**
 * Restores a kept version as the model's current one: the previous version (the highest-numbered
 * kept version below the current one whose content differs) or the one named. The current files
 * are kept first, so a rollback can itself be undone (`--to` the version rolled back from). The
 * target is verified completely before anything changes; nothing changes on any error.
 */
export function rollback(root: string, name: string, to?: string): RollbackResult {
  const dir = join(root, name);
  if (!statSync(dir, { throwIfNoEntry: false })?.isDirectory()) throw new VersionError(`no model directory ${dir}`);
  if (!existsSync(join(dir, MANIFEST_FILE))) throw new VersionError(`${join(dir, MANIFEST_FILE)} is missing: ${dir} is not a model directory`);
  if (to !== undefined && !VERSION_ID_RE.test(to)) throw new VersionError(`--to "${to}" is not a version id (expected v1, v2, ...; see flowcast models versions ${name})`);
  const current = readModelFiles(dir);
  const hash = contentHash(current);
  const all = listVersions(root, name);
  const kept = all.find((v) => v.record?.hash === hash);
  // Not kept yet (copied in by hand, or shipped): newer than every kept version.
  const currentN = kept?.n ?? Infinity;
  const list = () => all.map((v) => `${v.id}${v === kept ? ' (current)' : v.error ? ' (corrupt)' : ''}`).join(', ') || 'none';
  let target: VersionEntry | undefined;
  if (to !== undefined) {
    target = all.find((v) => v.id === to);
    if (!target) throw new VersionError(`${name} has no version ${to} (kept in ${versionsDir(root, name)}: ${list()})`);
    if (target === kept) throw new VersionError(`${name}: ${to} is already the current version (nothing to do)`);
  } else {
    target = all.filter((v) => v.n < currentN && v.record?.hash !== hash).pop();
    if (!target) throw new VersionError(`${name} has no version earlier than ${kept ? `${kept.id}, the current one,` : 'the current one'} to roll back to (kept: ${list()})`);
  }
  let verified;
  try {
    verified = verifyVersion(root, name, target.id);
  } catch (e) {
    throw new VersionError(`cannot roll ${name} back to ${target.id}: ${(e as Error).message}; nothing was changed`);
  }
  // The current files are kept before they are replaced, so the rollback can be undone with --to.
  const from = kept ?? keepVersion(root, name, current, 'rollback').entry;
  installModelFiles(root, name, readModelFiles(verified.dir));
  return { model: name, from, to: { ...target, record: verified.record }, dir };
}
