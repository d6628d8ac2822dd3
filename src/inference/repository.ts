/**
 * The model repository: every directory under the models root that holds a manifest.json is a
 * model, served under the directory's name. Models load independently: one that fails validation
 * is refused (state "refused", with the precise error) while the others serve.
 *
 * Hot reload (`watch: true`): changes under the root are debounced per model; a changed
 * fingerprint (manifest + ONNX bytes) loads a new version next to the old one and swaps it in
 * only once it passed every check; the old version's queued and in-flight requests finish on its
 * own session before it is released. If the new version fails, the old one keeps serving and the
 * failure is reported (lastReloadError, metric, log). Deploy atomically where you can: write
 * `models/name.tmp/` and rename it (directories starting with "." or ending in ".tmp" are ignored).
 *
 * Versions (versions.ts): while watching, the repository holds the files of each serving version,
 * so a version replaced on disk (a file copied over it, a rollback) is kept as
 * `models/.versions/NAME/vN` even when nothing else kept it, and the version that replaces it gets
 * its id too. A reload to a lower-numbered version is a rollback, and is logged as one. `pinned`
 * serves kept versions beside the current ones as `NAME@vN` (A/B); they never change, so they are
 * not watched.
 */
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { watch, type FSWatcher } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { FEATURE_COLUMNS, FEATURE_SPEC_VERSION } from '../features/columns.ts';
import { logger } from '../core/log.ts';
import { ServedModel } from './model.ts';
import { defaultSessionSettings, type SessionSettings } from './providers.ts';
import { batcherSettings, type BatcherSettings } from './batcher.ts';
import { InferenceMetrics } from './metrics.ts';
import { MANIFEST_FILE, type OutputTemperature } from './manifest.ts';
import { contentHash, findVersion, keepVersion, readModelFiles, VERSION_ID_RE, verifyVersion, type VersionSource } from './versions.ts';
import type { RunnerChoice } from './runner.ts';

const log = logger('inference');

export interface RepositoryOptions {
  /** The models root (default "models"). */
  dir?: string;
  session?: Partial<SessionSettings>;
  batcher?: Partial<BatcherSettings>;
  /** The feature columns the server computes (default: every spec column). */
  featureColumns?: readonly string[];
  featureSpecVersion?: number;
  /** Reload models when their files change. */
  watch?: boolean;
  debounceMs?: number;
  /** Serve only these model names. */
  only?: string[];
  /**
   * Where sessions run: a worker thread per model (default; the event loop never blocks), inline,
   * or `auto` (per model: inline when a full batch is cheaper than a thread hop, runner.ts).
   */
  runner?: RunnerChoice;
  metrics?: InferenceMetrics;
  /**
   * Keep a version replaced while serving under models/.versions (default: when watching). Off,
   * the repository never writes under its directory.
   */
  keepVersions?: boolean;
  /** Kept versions to serve beside the current ones, as "NAME@vN" (served under that name). */
  pinned?: string[];
}

/** "NAME@vN" -> its parts; undefined for anything else. */
export function parsePinned(key: string): { name: string; id: string } | undefined {
  const at = key.lastIndexOf('@');
  if (at <= 0) return undefined;
  const name = key.slice(0, at), id = key.slice(at + 1);
  return VERSION_ID_RE.test(id) && !name.includes('@') ? { name, id } : undefined;
}

export interface ModelStatus {
  name: string;
  state: 'ready' | 'refused';
  /** Why the model is refused. */
  error?: string;
  /** A newer version that failed to load while this one kept serving. */
  lastReloadError?: string;
  version?: string;
  kind?: string;
  loadedAt?: string;
  provider?: string;
  /** Where its session runs, and why. */
  runner?: string;
  runnerReason?: string;
  sha256?: string;
  /** The kept version (models/.versions/NAME/vN) this is, if one holds the same content. */
  versionId?: string;
  /** sha256 over the model directory's files (versions.ts contentHash). */
  contentHash?: string;
  /** The version this one replaced while serving, and whether that was a rollback (to a lower-numbered version). */
  previousVersionId?: string;
  rolledBack?: boolean;
  /** A pinned version (`NAME@vN`): the model it is a version of. */
  model?: string;
  pinned?: boolean;
  input?: { name: string; columns: string[]; window: number; layout: string };
  /** temperature: the one the served probabilities are rescaled by (output.temperature), absent where none. */
  output?: { name: string; classes: string[]; horizon?: number; labelColumn?: string; temperature?: OutputTemperature };
}

interface Entry {
  current?: ServedModel;
  error?: string;
  lastReloadError?: string;
  fingerprint?: string;
  /** The serving version's files (while watching with keepVersions), kept if they are replaced on disk. */
  files?: Map<string, Buffer>;
  hash?: string;
  versionId?: string;
  previousVersionId?: string;
  rolledBack?: boolean;
  /** A pinned version: the model and the version id. */
  pin?: { name: string; id: string };
  /** Reloads of one model run one after another. */
  chain: Promise<unknown>;
  timer?: NodeJS.Timeout;
  watcher?: FSWatcher;
}

export class ModelRepository extends EventEmitter {
  readonly dir: string;
  readonly session: SessionSettings;
  readonly batcher: BatcherSettings;
  readonly metrics: InferenceMetrics;
  readonly runnerMode: RunnerChoice;
  private readonly entries = new Map<string, Entry>();
  private readonly featureColumns: readonly string[];
  private readonly specVersion: number;
  private readonly debounceMs: number;
  private readonly keepVersions: boolean;
  private rootWatcher: FSWatcher | undefined;
  private closed = false;

  private readonly opts: RepositoryOptions;

  private constructor(opts: RepositoryOptions) {
    super();
    this.dir = resolve(opts.dir ?? 'models');
    this.session = { ...defaultSessionSettings(), ...opts.session };
    this.batcher = batcherSettings(opts.batcher);
    this.metrics = opts.metrics ?? new InferenceMetrics();
    this.featureColumns = opts.featureColumns ?? FEATURE_COLUMNS;
    this.specVersion = opts.featureSpecVersion ?? FEATURE_SPEC_VERSION;
    this.debounceMs = opts.debounceMs ?? 250;
    const env = process.env.FLOWCAST_ORT_RUNNER;
    this.runnerMode = opts.runner ?? (env === 'inline' || env === 'auto' ? env : 'worker');
    this.opts = { ...opts, runner: this.runnerMode };
    this.keepVersions = opts.keepVersions ?? Boolean(opts.watch);
    for (const key of opts.pinned ?? []) {
      const pin = parsePinned(key);
      // A malformed entry is listed as refused with the reason rather than stopping the others.
      this.entries.set(key, { chain: Promise.resolve(), pin, ...(pin ? {} : { error: `"${key}" is not NAME@vN (a kept version: flowcast models versions NAME)` }) });
    }
  }

  /** Loads every model under the root (refusing bad ones individually) and starts watching if asked. */
  static async open(opts: RepositoryOptions = {}): Promise<ModelRepository> {
    const repo = new ModelRepository(opts);
    const st = await stat(repo.dir).catch(() => undefined);
    if (!st?.isDirectory()) throw new Error(`models directory ${repo.dir} does not exist`);
    await repo.scan();
    if (opts.watch) repo.startWatching();
    return repo;
  }

  /** The serving version of a model, if it is ready. */
  get(name: string): ServedModel | undefined {
    return this.entries.get(name)?.current;
  }

  names(): string[] {
    return [...this.entries.keys()].sort();
  }

  status(): ModelStatus[] {
    return this.names().map((name) => {
      const e = this.entries.get(name)!;
      const m = e.current;
      if (!m) return { name, state: 'refused', error: e.error ?? 'not loaded', ...(e.pin ? { model: e.pin.name, versionId: e.pin.id, pinned: true } : {}) };
      const mf = m.manifest;
      const s: ModelStatus = {
        name,
        state: 'ready',
        version: mf.version,
        kind: mf.kind,
        loadedAt: m.loadedAt.toISOString(),
        provider: m.provider,
        runner: m.runner.mode,
        runnerReason: m.runnerReason,
        sha256: m.sha256,
        ...(e.versionId ? { versionId: e.versionId } : {}),
        ...(e.hash ? { contentHash: e.hash } : {}),
        ...(e.previousVersionId ? { previousVersionId: e.previousVersionId, rolledBack: Boolean(e.rolledBack) } : {}),
        ...(e.pin ? { model: e.pin.name, pinned: true } : {}),
        input: { name: mf.input.name, columns: mf.input.columns, window: mf.input.window, layout: mf.input.layout },
        output: { name: mf.output.name, classes: mf.output.classes, horizon: mf.output.horizon, labelColumn: mf.output.labelColumn, ...(mf.output.temperature ? { temperature: mf.output.temperature } : {}) },
      };
      if (e.lastReloadError) s.lastReloadError = e.lastReloadError;
      return s;
    });
  }

  /** Finds model directories and (re)loads each one whose files changed. */
  async scan(): Promise<void> {
    const dirs = await this.modelDirs();
    const seen = new Set(dirs);
    await Promise.all(dirs.map((d) => this.reload(d)));
    for (const [name, e] of [...this.entries]) if (!seen.has(name) && !e.pin && !this.opts.pinned?.includes(name)) await this.remove(name);
    // A pinned version that is not serving yet (or was refused) is tried again: it may have been kept since.
    await Promise.all([...this.entries].filter(([, e]) => e.pin && !e.current).map(([key, e]) => this.loadPinned(key, e)));
  }

  /** Loads a pinned version (NAME@vN) from models/.versions/NAME/vN after checking it completely. */
  private loadPinned(key: string, e: Entry): Promise<unknown> {
    const pin = e.pin!;
    const next = e.chain.then(async () => {
      if (this.closed || e.current) return;
      try {
        const { dir, record } = verifyVersion(this.dir, pin.name, pin.id);
        const m = await ServedModel.load(pin.name, dir, {
          session: this.session,
          batcher: this.batcher,
          featureColumns: this.featureColumns,
          featureSpecVersion: this.specVersion,
          metrics: this.metrics.model(key),
          runner: this.opts.runner,
        });
        if (this.closed) return void (await m.retire());
        e.current = m;
        e.error = undefined;
        e.versionId = pin.id;
        e.hash = record.hash;
        log.info('model version loaded beside the current one', { model: key, version: m.manifest.version, sha256: m.sha256 });
        this.emit('loaded', key, m);
      } catch (err) {
        const msg = (err as Error).message;
        if (e.error !== msg) log.error('pinned model version refused', { model: key, error: msg });
        e.error = msg;
        this.emit('refused', key, err);
      }
    });
    e.chain = next.catch(() => undefined);
    return e.chain;
  }

  /** Keeps a version's files under models/.versions; a failure is logged, never stops a reload. */
  private keep(name: string, files: Map<string, Buffer> | undefined, source: VersionSource): string | undefined {
    if (!files || !this.keepVersions) return undefined;
    try {
      const { entry, created } = keepVersion(this.dir, name, files, source);
      if (created) log.info('model version kept', { model: name, versionId: entry.id, hash: entry.record?.hash, source });
      return entry.id;
    } catch (err) {
      log.warn('could not keep a model version under models/.versions', { model: name, error: (err as Error).message });
      return undefined;
    }
  }

  /** Reloads one model if its files changed (serialised per model). */
  reload(name: string): Promise<ModelStatus | undefined> {
    if (this.entries.get(name)?.pin) return Promise.resolve(this.status().find((s) => s.name === name));
    let e = this.entries.get(name);
    if (!e) this.entries.set(name, (e = { chain: Promise.resolve() }));
    const entry = e;
    const next = entry.chain.then(() => this.reloadNow(name, entry)).catch((err: Error) => {
      log.error('model reload crashed', { model: name, error: err.message });
      return undefined;
    });
    entry.chain = next;
    return next;
  }

  private async reloadNow(name: string, e: Entry): Promise<ModelStatus | undefined> {
    if (this.closed) return undefined;
    const dir = join(this.dir, name);
    const exists = await stat(dir).then((s) => s.isDirectory(), () => false);
    if (!exists) {
      await this.remove(name);
      return undefined;
    }
    const fp = await ServedModel.fingerprint(dir).catch(() => undefined);
    if (fp !== undefined && fp === e.fingerprint) return this.status().find((s) => s.name === name);
    const previous = e.current;
    // The serving version's files are kept before anything else: the directory no longer holds them.
    const keptPrevious = previous ? this.keep(name, e.files, 'hot-reload') : undefined;
    let snapshot: Map<string, Buffer> | undefined;
    try {
      snapshot = readModelFiles(dir);
    } catch {
      // load() reports what is wrong with the directory
    }
    try {
      const next = await ServedModel.load(name, dir, {
        session: this.session,
        batcher: this.batcher,
        featureColumns: this.featureColumns,
        featureSpecVersion: this.specVersion,
        metrics: this.metrics.model(name),
        runner: this.opts.runner,
      });
      if (this.closed) {
        await next.retire();
        return undefined;
      }
      // The files read before the load are what it loaded only if the ONNX bytes agree (a copy may land in between).
      const onnxBytes = snapshot?.get(next.manifest.onnx.file);
      if (!onnxBytes || createHash('sha256').update(onnxBytes).digest('hex') !== next.sha256) snapshot = undefined;
      const previousId = e.versionId ?? keptPrevious;
      e.current = next;
      e.error = undefined;
      e.lastReloadError = undefined;
      e.fingerprint = fp;
      e.hash = snapshot ? contentHash(snapshot) : undefined;
      e.files = this.keepVersions ? snapshot : undefined;
      // A version that replaced one while serving is kept too (its id names it in logs and /v1/models);
      // at start-up the repository only looks its version up and writes nothing.
      e.versionId = previous ? this.keep(name, snapshot, 'hot-reload') : undefined;
      if (!e.versionId && e.hash) {
        try {
          e.versionId = findVersion(this.dir, name, e.hash)?.id;
        } catch {
          // an unreadable .versions directory only means no id
        }
      }
      if (this.opts.watch) this.watchModel(name, e);
      if (previous) {
        this.metrics.reloads++;
        const n = (id: string | undefined) => Number(id?.slice(1) ?? NaN);
        e.previousVersionId = previousId;
        e.rolledBack = n(e.versionId) < n(previousId);
        if (e.rolledBack) log.warn('model rolled back: an earlier version serves again', { model: name, versionId: e.versionId, from: previousId, version: next.manifest.version, sha256: next.sha256 });
        else log.info('model reloaded', { model: name, version: next.manifest.version, previous: previous.manifest.version, versionId: e.versionId, previousVersionId: previousId, sha256: next.sha256 });
        this.emit('reloaded', name, next);
        // The old version drains on its own session in the background.
        previous.retire().catch((err: Error) => log.error('retiring old model version failed', { model: name, error: err.message }));
      } else {
        log.info('model loaded', { model: name, version: next.manifest.version, provider: next.provider, sha256: next.sha256 });
        this.emit('loaded', name, next);
      }
    } catch (err) {
      const msg = (err as Error).message;
      e.fingerprint = fp;
      if (this.opts.watch) this.watchModel(name, e);
      if (previous) {
        this.metrics.reloadFailures++;
        e.lastReloadError = msg;
        log.error('model reload refused; the previous version keeps serving', { model: name, version: previous.manifest.version, error: msg });
        this.emit('reload-failed', name, err);
      } else {
        e.error = msg;
        log.error('model refused', { model: name, error: msg });
        this.emit('refused', name, err);
      }
    }
    return this.status().find((s) => s.name === name);
  }

  private async remove(name: string): Promise<void> {
    const e = this.entries.get(name);
    if (!e) return;
    this.entries.delete(name);
    clearTimeout(e.timer);
    e.watcher?.close();
    if (e.current) {
      log.info('model removed', { model: name });
      this.emit('removed', name);
      await e.current.retire();
    }
  }

  private async modelDirs(): Promise<string[]> {
    const items = await readdir(this.dir, { withFileTypes: true });
    const only = this.opts.only ? new Set(this.opts.only) : undefined;
    return items
      .filter((d) => d.isDirectory() && !d.name.startsWith('.') && !d.name.endsWith('.tmp'))
      .map((d) => d.name)
      .filter((n) => !only || only.has(n))
      .sort();
  }

  private startWatching(): void {
    this.rootWatcher = watch(this.dir, (_event, file) => {
      if (!file) {
        this.scan().catch(() => undefined);
        return;
      }
      const name = String(file).split(/[\\/]/)[0]!;
      if (name.startsWith('.') || name.endsWith('.tmp') || (this.opts.only && !this.opts.only.includes(name))) return;
      this.debounce(name);
    });
    this.rootWatcher.on('error', (err) => log.error('models directory watch failed', { dir: this.dir, error: err.message }));
    for (const [name, e] of this.entries) this.watchModel(name, e);
  }

  /** (Re)attaches the watcher of a model directory: a directory replaced by rename is a new inode. */
  private watchModel(name: string, e: Entry): void {
    e.watcher?.close();
    e.watcher = undefined;
    if (this.closed || !this.rootWatcher) return;
    try {
      e.watcher = watch(join(this.dir, name), () => this.debounce(name));
      e.watcher.on('error', () => {
        e.watcher?.close();
        e.watcher = undefined;
        this.debounce(name);
      });
    } catch {
      this.debounce(name);
    }
  }

  private debounce(name: string): void {
    if (this.closed) return;
    let e = this.entries.get(name);
    if (!e) this.entries.set(name, (e = { chain: Promise.resolve() }));
    clearTimeout(e.timer);
    e.timer = setTimeout(() => {
      e.timer = undefined;
      this.reload(name).then((s) => this.emit('settled', name, s)).catch(() => undefined);
    }, this.debounceMs);
  }

  /** Stops watching, lets every queued request finish and releases all sessions. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.rootWatcher?.close();
    const all = [...this.entries.values()];
    for (const e of all) {
      clearTimeout(e.timer);
      e.watcher?.close();
    }
    await Promise.all(all.map(async (e) => {
      await e.chain;
      await e.current?.retire();
    }));
    this.entries.clear();
  }

  /** The manifest path of a model, for messages. */
  manifestPath(name: string): string {
    return join(this.dir, name, MANIFEST_FILE);
  }
}
