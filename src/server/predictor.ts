/**
 * The server's predictor on top of the inference engine (src/inference: model repository, dynamic
 * batcher, ONNX Runtime). For every features row of a symbol it appends the model's input columns
 * to that symbol's window and, once the window holds the model's T rows, asks the engine for the
 * class probabilities; the engine batches concurrent requests across symbols.
 *
 * Freshness over completeness: while a symbol already has `maxInFlight` requests waiting for one
 * model, newer rows are not queued behind a model that cannot keep up; only the newest waits, and
 * is predicted as soon as a request returns (the rows in between are counted as skipped). The
 * newest row of every symbol always gets its prediction. Behind its producers (an ingest backlog,
 * limits.ingestSliceMs), a row whose symbol has a later message still waiting is out of date when
 * made: it waits, and each such symbol's newest row is predicted once per
 * limits.backlogPredictionMs (followBacklog), so predictions do not take the time the backlog
 * needs. Topics use the model's name; names the topic grammar cannot carry (dots) are published
 * with `-` in their place. A kept version served beside the current one (A/B,
 * `models.versions`) is a model of its own named `NAME@vN`, published on `pred.NAME@vN.SYM`, and
 * serves the symbols configured for NAME unless `models.symbols` names it.
 *
 * Live micro-batches (features.batching: batch, src/pipeline/results.ts) arrive through onBatch
 * instead: the model's columns come from the batch's float32 feature matrix (the kernel call's
 * values, the engine's trade-state columns beside them) into float32 windows, and every window a
 * flush makes ready goes to the model as one inference batch (engine.predictMany), not as separate
 * requests for the engine's batcher to coalesce. docs/compute.md, section live-batch-models.
 *
 * A raw-levels model (manifest layout NTLC) reads the book instead: each symbol's last T book rows
 * in a SnapshotRing, cut by SnapshotBatch into [1, T, L, 4] (ticks from the window's reference,
 * lots), the tensor it was trained on; fed only where the symbol's tick and lot are the ones in its
 * manifest (input.book.scales) and the server's rows keep its L levels.
 */
import { FEATURE_COLUMNS, FEATURE_SPEC_VERSION } from '../features/columns.ts';
import { featureDependencies, featureParamProblemsBySymbol, type ModelManifest, type ServerFeatureParams } from '../inference/manifest.ts';
import { MODEL_RE, MODEL_TOPIC_RE } from '../protocol/topics.ts';
import { HttpError, type ModelInfo, type Predictor } from './plugins.ts';
import type { FeatureBatch, Prediction } from '../pipeline/plugins.ts';
import { makeMatcher } from './security.ts';
import type { MetricsSource } from './metrics.ts';
import type { InferenceEngine } from '../inference/engine.ts';
import { logger } from '../core/log.ts';
import { SnapshotRing } from '../snapshots/ring.ts';
import { SnapshotBatch } from '../snapshots/batch.ts';
import type { BookRow } from '../model/row.ts';
import type { FeaturesConfig } from './config.ts';
import type { IngestBacklog } from './ingest.ts';

const log = logger('inference');

/** What the server uses of the inference engine. */
export type InferenceEngineLike = Pick<InferenceEngine, 'predict' | 'inputSpec' | 'models' | 'describe' | 'metricsText' | 'close'> & Partial<Pick<InferenceEngine, 'predictMany'>> & {
  /** The serving version's manifest (feature parameters); absent: the parameters are not checked. */
  readonly repository?: { get(name: string): { manifest: ModelManifest } | undefined };
};

/**
 * The engine with every request going through `predict` (and no predictMany, so micro-batched
 * windows arrive as separate requests): how a caller counts or observes requests around a real
 * engine (the backtester's idle tracking).
 */
export function engineThrough(engine: InferenceEngine, predict: InferenceEngine['predict']): InferenceEngineLike {
  return {
    predict,
    inputSpec: (m) => engine.inputSpec(m),
    models: () => engine.models(),
    describe: () => engine.describe(),
    metricsText: () => engine.metricsText(),
    close: () => engine.close(),
    repository: engine.repository,
  };
}

/**
 * The parameters the server's feature engine computes with (the config's `features` section). The
 * predictor reads them, and before the pipeline is built it may fill `vpinBucketBySymbol` in: a
 * symbol whose V is not configured (auto) takes the V its models were trained with.
 */
export type ServerFeatureConfig = Pick<FeaturesConfig, 'levels' | 'vpinBucket' | 'vpinBucketBySymbol' | 'vpinBuckets' | 'barMs' | 'barWindow'>;

interface ModelPlan {
  name: string;
  /** Whether the model serves a symbol (cached per symbol). */
  serves: (symbol: string) => boolean;
  /** The name in topics. */
  topicName: string;
  /** Index of each input column in FEATURE_COLUMNS (empty for a raw-levels model). */
  cols: Int32Array;
  /** A raw-levels model: its L, and the ticks and lots (10^decimals) per symbol it was trained on (absent: not checked). */
  book?: { levels: number; scales?: Record<string, { price: number; size: number }> };
  T: number;
  classes: string[];
  info: ModelInfo;
  /** Symbols the model is not fed, with the reason (a VPIN bucket volume other than it was trained with); re-read on every refresh. */
  refusedSymbols: ReadonlyMap<string, string>;
  /** Each symbol's window of this model's columns or book rows (a new plan, a new model version: fresh windows). */
  windows: Map<string, Window | BookWindow>;
  /** Packed float32 windows for the micro-batched path, for reuse. */
  packs?: Float32Array[];
}

/** A window's newest row not yet requested: `parked` when it waits for the backlog sweep (EnginePredictor.park), else for a free slot. */
interface WaitingRow {
  ts: number;
  row: number;
  enteredAt: number;
  parked?: boolean;
}

/** One window of a micro-batch's inference batch: whose, and the row it predicts. */
interface GroupRequest {
  symbol: string;
  w: Window | BookWindow;
  ts: number;
  row: number;
  enteredAt: number;
}

/**
 * A symbol's recent rows of one model's input columns (a ring of T rows): float64 rows on the
 * row-by-row path, float32 on the micro-batched one (the batch's float32 values, as they go into the
 * model's input tensor).
 */
class Window {
  readonly data: Float64Array | Float32Array;
  rows = 0;
  inFlight = 0;
  /**
   * Snapshot arrays whose requests have returned, for reuse: a transformer window is ~18 KB, and a
   * fresh one per request (thousands a second) is enough garbage to stall the event loop in GC.
   */
  private readonly spare: Float64Array[] = [];
  /** The newest row, waiting for a free slot or for the backlog sweep (undefined: none waiting). */
  waiting: WaitingRow | undefined;
  constructor(readonly T: number, readonly C: number, readonly f32 = false) {
    this.data = f32 ? new Float32Array(T * C) : new Float64Array(T * C);
  }
  /** Appends a row: the model's columns of values[base + column]. */
  push(values: ArrayLike<number>, cols: Int32Array, base = 0): void {
    const at = (this.rows % this.T) * this.C;
    for (let c = 0; c < this.C; c++) this.data[at + c] = values[base + cols[c]!]!;
    this.rows++;
  }
  /** The last T rows, oldest first, into out[offset ..). */
  copyInto(out: Float32Array | Float64Array, offset: number): void {
    const start = (this.rows % this.T) * this.C;
    const head = this.data.subarray(start);
    out.set(head, offset);
    out.set(this.data.subarray(0, start), offset + head.length);
  }
  /** The last T rows, oldest first, row-major, in a pooled array: release() it once its request has its answer (the engine reads it when it batches). */
  snapshot(): Float64Array | Float32Array {
    const out = this.f32 ? new Float32Array(this.T * this.C) : this.spare.pop() ?? new Float64Array(this.T * this.C);
    this.copyInto(out, 0);
    return out;
  }
  /** A snapshot the engine no longer reads (its request has its answer). */
  release(a: Float64Array | Float32Array): void {
    if (a instanceof Float64Array && this.spare.length < 4) this.spare.push(a);
  }
}

/** A symbol's last T book rows for a raw-levels model, cut as SnapshotBatch cuts them. */
class BookWindow {
  readonly ring: SnapshotRing;
  private readonly batch: SnapshotBatch;
  inFlight = 0;
  waiting: WaitingRow | undefined;
  /** Why this symbol is not fed (logged once), or undefined. */
  refused: string | undefined;
  private readonly spare: Float32Array[] = [];
  constructor(symbol: string, readonly T: number, readonly levels: number) {
    this.ring = new SnapshotRing(symbol, 0, T, levels);
    this.batch = new SnapshotBatch({ windows: 1, rows: T, history: 0, levels });
  }
  get rows(): number {
    return this.ring.count;
  }
  /** The last T rows as [T, L, 4] in a pooled array (release() it once its request has its answer). */
  snapshot(): Float32Array {
    const out = this.spare.pop() ?? new Float32Array(this.batch.book.length);
    this.copyInto(out, 0);
    return out;
  }
  /** The last T rows as [T, L, 4] into out[offset ..). */
  copyInto(out: Float32Array, offset: number): void {
    this.batch.clear().add(this.ring);
    out.set(this.batch.book, offset);
  }
  release(a: Float64Array | Float32Array): void {
    if (a instanceof Float32Array && this.spare.length < 4) this.spare.push(a);
  }
  /** Why these rows do not fit the model (undefined: they do). */
  misfit(book: BookRow, plan: NonNullable<ModelPlan['book']>): string | undefined {
    if (book.usableLevels < this.levels) return `the server's book rows of ${this.ring.symbol} show ${book.usableLevels} levels (features.levels / feed.bookLevels ${book.levels}, source depth ${book.depthLimit}), the model reads ${this.levels}`;
    const sc = plan.scales;
    if (!sc) return undefined;
    const price = 10 ** this.ring.priceDecimals, size = 10 ** this.ring.sizeDecimals;
    const own = sc[this.ring.symbol];
    const fits = own ? own.price === price && own.size === size : Object.values(sc).some((x) => x.price === price && x.size === size);
    return fits ? undefined : `${this.ring.symbol}'s tick and lot are 1/${price} and 1/${size}, the model was trained on ${Object.entries(sc).map(([k, x]) => `${k} 1/${x.price} and 1/${x.size}`).join(', ')} (input.book.scales)`;
  }
}

/** The model part of a model's topics: its name, with `-` for what the grammar cannot carry (a version's `@vN` kept). */
export function topicNameOf(name: string): string {
  if (MODEL_RE.test(name) || MODEL_TOPIC_RE.test(name)) return name;
  const at = name.search(/@v[1-9][0-9]*$/);
  const fix = (x: string) => x.replace(/[^A-Za-z0-9_-]/g, '-');
  return at > 0 ? fix(name.slice(0, at)) + name.slice(at) : fix(name);
}

/** Windows one POST /v1/predict may carry (the body size limit applies as well). */
export const MAX_BATCH_WINDOWS = 4096;

export interface EnginePredictorOptions {
  /**
   * Which symbols each model serves: symbol patterns (`*` wildcards) by model name, `*` for the
   * models not named; absent: every model serves every symbol.
   */
  symbols?: Readonly<Record<string, readonly string[]>>;
  maxInFlight?: number;
  /** How often the list of ready models is re-read (hot reload), ms. */
  refreshMs?: number;
  /**
   * The server's feature parameters: a model trained with other ones (its manifest's
   * input.features, for the columns it reads) is refused with the reason, in the log and in
   * /v1/models. Given before the live pipeline is built (loadPredictor), the first look at the
   * models adopts their V for symbols the config leaves on auto. Absent: not checked.
   */
  features?: ServerFeatureConfig;
}

export class EnginePredictor implements Predictor, MetricsSource {
  private plans: ModelPlan[] = [];
  private readonly timer: NodeJS.Timeout;
  private readonly maxInFlight: number;
  skipped = 0;
  failed = 0;
  /** Micro-batched path: inference batches made by flushes (one per model per flush with a window ready), and by rows that waited. */
  batchedFlushes = 0;
  waitingBatches = 0;
  /** Models (name@version) refused for their feature parameters, with the reasons. */
  private readonly paramRefusals = new Map<string, { version: string | undefined; reasons: string[] }>();
  /** Models (name@version) not fed some symbols, as last logged. */
  private readonly symbolRefusals = new Map<string, { version: string | undefined; key: string }>();
  /** V adopted from a model's manifest per symbol, and which model it came from. */
  readonly adoptedVpin: Record<string, { bucket: number; model: string }> = {};
  /** The ingest backlog the predictor sheds by (followBacklog), and the interval of its predictions there. */
  private backlog: IngestBacklog | undefined;
  private backlogMs = 0;
  /** Windows whose newest row waits because a later message of its symbol is in the backlog, per plan: predicted by the next sweep. */
  private readonly parked = new Map<ModelPlan, Map<string, { w: Window | BookWindow; batched: boolean }>>();
  private sweepTimer: NodeJS.Timeout | undefined;
  private sweepEmit: ((p: Prediction) => void) | undefined;
  /** Rows skipped because a later message of their symbol was waiting in the ingest backlog (also in `skipped`). */
  supersededRows = 0;

  constructor(readonly engine: InferenceEngineLike, private readonly opts: EnginePredictorOptions = {}) {
    this.maxInFlight = opts.maxInFlight ?? 2;
    this.adoptVpinBuckets();
    this.refresh();
    this.timer = setInterval(() => this.refresh(), opts.refreshMs ?? 1000);
    this.timer.unref();
  }

  private manifestOf(name: string): ModelManifest | undefined {
    return this.engine.repository?.get(name)?.manifest;
  }

  /** The server's feature parameters as featureParamProblems reads them. */
  private serverParams(): ServerFeatureParams | undefined {
    const f = this.opts.features;
    if (!f) return undefined;
    return {
      specVersion: FEATURE_SPEC_VERSION,
      // Raw-levels models are fed from the book rows (BookWindow).
      feedsBookLevels: true,
      levels: f.levels,
      vpinBuckets: f.vpinBuckets,
      barMs: f.barMs,
      barWindow: f.barWindow,
      vpinBucketOf: (sym) => f.vpinBucketBySymbol[sym] ?? (typeof f.vpinBucket === 'number' ? f.vpinBucket : undefined),
    };
  }

  /**
   * Before the pipeline exists: a symbol on auto V takes the V the ready models reading vpin were
   * trained with (models in name order; a later model with another V for it is then refused).
   */
  private adoptVpinBuckets(): void {
    const f = this.opts.features;
    if (!f) return;
    const ready = this.engine.models().filter((m) => m.state === 'ready').map((m) => m.name).sort();
    for (const name of ready) {
      const m = this.manifestOf(name);
      const by = m?.input.features?.vpinBucket;
      if (!m || !by || featureDependencies(m.input.columns).vpin.length === 0) continue;
      for (const [sym, v] of Object.entries(by)) {
        if (f.vpinBucketBySymbol[sym] !== undefined || typeof f.vpinBucket === 'number') continue;
        f.vpinBucketBySymbol[sym] = v;
        this.adoptedVpin[sym] = { bucket: v, model: name };
        log.info('VPIN bucket volume of a symbol taken from the model trained on it', { symbol: sym, bucket: v, model: name });
      }
    }
  }

  /**
   * Why the server cannot feed a model at all (`model`), or cannot feed it some symbols
   * (`symbols`: their VPIN bucket volume differs from the one it was trained with); each logged
   * once per model version.
   */
  private paramProblems(name: string, version: string | undefined): { model: string[]; symbols: Map<string, string> } {
    const server = this.serverParams();
    const m = server && this.manifestOf(name);
    if (!server || !m) {
      this.paramRefusals.delete(name);
      this.symbolRefusals.delete(name);
      return { model: [], symbols: new Map() };
    }
    const found = featureParamProblemsBySymbol(m, server);
    const reasons = found.model;
    const known = this.paramRefusals.get(name);
    if (!reasons.length) this.paramRefusals.delete(name);
    else if (!known || known.version !== version || known.reasons.join() !== reasons.join()) {
      this.paramRefusals.set(name, { version, reasons });
      log.error('model refused: the server computes its inputs with other feature parameters than it was trained with', { model: name, version, reasons });
    }
    const symbols = new Map(Object.entries(found.symbols).map(([sym, r]) => [sym, r.join('; ')]));
    const said = this.symbolRefusals.get(name);
    const key = [...symbols].map(([k, v]) => `${k}:${v}`).join('|');
    if (!symbols.size) this.symbolRefusals.delete(name);
    else if (!said || said.version !== version || said.key !== key) {
      this.symbolRefusals.set(name, { version, key });
      if (!reasons.length) log.warn('model not fed some symbols: the server computes their inputs with other feature parameters than it was trained with', { model: name, version, symbols: Object.fromEntries(symbols) });
    }
    return { model: reasons, symbols };
  }

  /** Re-reads the ready models (the repository reloads them when their files change). */
  refresh(): void {
    const plans: ModelPlan[] = [];
    for (const st of this.engine.models()) {
      if (st.state !== 'ready') continue;
      const problems = this.paramProblems(st.name, st.version);
      if (problems.model.length) continue;
      const refusedSymbols = problems.symbols;
      const refusedInfo = refusedSymbols.size ? { refusedSymbols: Object.fromEntries(refusedSymbols) } : {};
      let spec;
      try {
        spec = this.engine.inputSpec(st.name);
      } catch {
        continue;
      }
      const levels = spec.levels;
      const cols = levels ? new Int32Array(0) : Int32Array.from(spec.columns.map((c) => (FEATURE_COLUMNS as readonly string[]).indexOf(c)));
      const book = levels ? { levels, scales: this.manifestOf(st.name)?.input.book?.scales } : undefined;
      if (cols.some((i) => i < 0)) {
        log.warn('model reads columns the server does not compute: not served', { model: st.name, columns: spec.columns });
        continue;
      }
      const topicName = topicNameOf(st.name);
      const old = this.plans.find((p) => p.name === st.name);
      if (old && old.T === spec.window && old.cols.join() === cols.join() && old.book?.levels === book?.levels) {
        old.info = { ...st, topic: topicName, classes: spec.classes, symbols: this.patterns(st.name, book) ?? ['*'], ...refusedInfo };
        old.refusedSymbols = refusedSymbols;
        plans.push(old);
        continue;
      }
      if (topicName !== st.name) log.warn('model name has characters topics cannot carry: published as another name', { model: st.name, topicName });
      plans.push({
        name: st.name, topicName, cols, ...(book ? { book } : {}), T: spec.window, classes: spec.classes, serves: this.scope(st.name, book), windows: new Map(),
        refusedSymbols, info: { ...st, topic: topicName, classes: spec.classes, symbols: this.patterns(st.name, book) ?? ['*'], ...refusedInfo },
      });
    }
    this.plans = plans;
  }

  /**
   * The configured symbol patterns of a model. A raw-levels model the config does not name serves
   * the symbols it was trained on (input.book.scales): its inputs are ticks and lots of that grid.
   */
  private patterns(model: string, book?: ModelPlan['book']): readonly string[] | undefined {
    const s = this.opts.symbols;
    const at = model.indexOf('@');
    const base = at > 0 ? model.slice(0, at) : undefined;
    return s?.[model] ?? (base !== undefined ? s?.[base] : undefined) ?? s?.['*'] ?? (book?.scales ? Object.keys(book.scales) : undefined);
  }

  private scope(model: string, book?: ModelPlan['book']): (symbol: string) => boolean {
    const pats = this.patterns(model, book);
    if (!pats || pats.includes('*')) return () => true;
    const matches = makeMatcher(pats);
    const cache = new Map<string, boolean>();
    return (sym) => {
      let v = cache.get(sym);
      if (v === undefined) cache.set(sym, (v = matches(sym)));
      return v;
    };
  }

  models(): ModelInfo[] {
    return this.engine.models().map((m): ModelInfo => {
      const plan = this.plans.find((p) => p.name === m.name);
      if (plan) return plan.info;
      const refused = m.state === 'ready' ? this.paramRefusals.get(m.name) : undefined;
      if (refused) return { ...m, classes: [], state: 'refused', error: `feature parameters: ${refused.reasons.join('; ')}` };
      return { ...m, classes: [] };
    });
  }

  onFeatures(symbol: string, ts: number, row: number, values: Float64Array, enteredAt: number, emit: (p: Prediction) => void, book?: BookRow): void {
    for (const plan of this.plans) {
      if (!plan.serves(symbol) || (plan.refusedSymbols.size > 0 && plan.refusedSymbols.has(symbol))) continue;
      let w = plan.windows.get(symbol);
      if (plan.book) {
        if (!book) continue;
        w = this.pushBook(plan, symbol, book);
        if (!w) continue;
      } else {
        if (!w) {
          w = new Window(plan.T, plan.cols.length);
          plan.windows.set(symbol, w);
        }
        (w as Window).push(values, plan.cols);
      }
      if (w.rows < plan.T) continue;
      if (this.backlog && this.park(plan, symbol, w, ts, row, enteredAt, false, emit)) continue;
      if (w.inFlight >= this.maxInFlight) {
        if (w.waiting) this.skipped++;
        w.waiting = { ts, row, enteredAt };
        continue;
      }
      this.supersede(w);
      this.request(plan, symbol, w, ts, row, enteredAt, emit);
    }
  }

  /** Appends a book row to a raw-levels model's window of the symbol; undefined while the rows do not fit the model. */
  private pushBook(plan: ModelPlan, symbol: string, book: BookRow): BookWindow | undefined {
    let bw = plan.windows.get(symbol) as BookWindow | undefined;
    if (!bw) {
      bw = new BookWindow(symbol, plan.T, plan.book!.levels);
      plan.windows.set(symbol, bw);
    }
    bw.ring.push(book);
    const why = bw.misfit(book, plan.book!);
    if (why) {
      if (bw.refused !== why) log.warn('raw-levels model not fed for this symbol', { model: plan.name, symbol, reason: why });
      bw.refused = why;
      return undefined;
    }
    bw.refused = undefined;
    return bw;
  }

  /**
   * A live micro-batch (features.batching: batch): for each model, every row appends the model's
   * columns from the batch's float32 matrix to its symbol's float32 window (raw-levels models: its
   * book row), and the windows of all symbols that are ready and have a free slot go to the engine
   * together: one inference batch per model per flush (engine.predictMany: one ONNX run per
   * maxBatchSize windows), normalised once, in the engine. Freshness as row by row: at most
   * maxInFlight requests per symbol and model; beyond, the newest row waits (the one it replaces is
   * skipped), and the rows waiting when a batch returns go together as the next batch.
   */
  onBatch(batch: FeatureBatch, emit: (p: Prediction) => void): void {
    const NF = FEATURE_COLUMNS.length;
    for (const plan of this.plans) {
      let group: GroupRequest[] | undefined;
      let pack: Float32Array | undefined;
      const size = this.sampleSize(plan);
      for (let i = 0; i < batch.n; i++) {
        const r = batch.rows[i]!;
        const symbol = r.symbol;
        if (!plan.serves(symbol) || (plan.refusedSymbols.size > 0 && plan.refusedSymbols.has(symbol))) continue;
        let w: Window | BookWindow | undefined;
        if (plan.book) {
          w = this.pushBook(plan, symbol, r.book);
          if (!w) continue;
        } else {
          w = plan.windows.get(symbol);
          if (!(w instanceof Window) || !w.f32) {
            w = new Window(plan.T, plan.cols.length, true);
            plan.windows.set(symbol, w);
          }
          w.push(batch.values, plan.cols, i * NF);
        }
        if (w.rows < plan.T) continue;
        if (this.backlog && this.park(plan, symbol, w, r.ts, r.row, r.enteredAt, true, emit)) continue;
        if (w.inFlight >= this.maxInFlight) {
          if (w.waiting) this.skipped++;
          w.waiting = { ts: r.ts, row: r.row, enteredAt: r.enteredAt };
          continue;
        }
        this.supersede(w);
        w.inFlight++;
        group ??= [];
        pack ??= this.takePack(plan, size * (batch.n - i));
        w.copyInto(pack, group.length * size);
        group.push({ symbol, w, ts: r.ts, row: r.row, enteredAt: r.enteredAt });
      }
      if (group) {
        this.batchedFlushes++;
        this.runGroup(plan, pack!, group, emit);
      }
    }
  }

  private sampleSize(plan: ModelPlan): number {
    return plan.T * (plan.book ? plan.book.levels * 4 : plan.cols.length);
  }

  /** A pooled array for at least `floats` (a group holds it until its answer is back). */
  private takePack(plan: ModelPlan, floats: number): Float32Array {
    const spare = plan.packs ??= [];
    for (let i = spare.length - 1; i >= 0; i--) {
      if (spare[i]!.length >= floats) return spare.splice(i, 1)[0]!;
    }
    return new Float32Array(floats);
  }

  /** One inference batch for the windows of a group; each answer to its row, then the rows waiting go as the next batch. */
  private runGroup(plan: ModelPlan, pack: Float32Array, group: GroupRequest[], emit: (p: Prediction) => void): void {
    const k = group.length;
    const size = this.sampleSize(plan);
    const eng = this.engine;
    const run = eng.predictMany
      ? eng.predictMany(plan.name, pack.subarray(0, k * size), k, `${k} live windows`)
      // An engine without predictMany (a wrapper): the windows as separate requests, answers packed in order.
      : Promise.all(group.map((_, j) => eng.predict(plan.name, group[j]!.symbol, pack.subarray(j * size, (j + 1) * size)))).then((outs) => {
        const all = new Float32Array(k * plan.classes.length);
        outs.forEach((o, j) => all.set(o, j * plan.classes.length));
        return all;
      });
    run.then(
      (out) => {
        const C = plan.classes.length;
        for (let j = 0; j < k; j++) {
          const q = group[j]!;
          emit({ model: plan.topicName, symbol: q.symbol, ts: q.ts, probs: out.subarray(j * C, (j + 1) * C), classes: plan.classes, row: q.row, enteredAt: q.enteredAt });
        }
        this.groupDone(plan, pack, group, emit);
      },
      (e: Error) => {
        this.failed += k;
        if (this.failed <= 10) log.error('prediction failed', { model: plan.name, windows: k, error: e });
        this.groupDone(plan, pack, group, emit);
      },
    );
  }

  private groupDone(plan: ModelPlan, pack: Float32Array, group: GroupRequest[], emit: (p: Prediction) => void): void {
    const spare = plan.packs ??= [];
    if (spare.length < 4) spare.push(pack);
    for (const q of group) q.w.inFlight--;
    this.runWaiting(plan, group, group.length, emit, false);
  }

  /** The waiting rows of `windows` that have a free slot, as one inference batch (a batch's windows after it returns, or parked ones). */
  private runWaiting(plan: ModelPlan, windows: Iterable<{ symbol: string; w: Window | BookWindow }>, most: number, emit: (p: Prediction) => void, sweeping: boolean): void {
    let next: GroupRequest[] | undefined;
    let nextPack: Float32Array | undefined;
    const size = this.sampleSize(plan);
    for (const q of windows) {
      const w = q.w, wait = w.waiting;
      if (!wait || w.inFlight >= this.maxInFlight) continue;
      // A returning batch does not bypass the backlog rule: the row waits for the sweep.
      if (!sweeping && this.backlog && this.backlog.pendingRows(q.symbol) > 0) {
        this.hold(plan, q.symbol, w, true, emit);
        continue;
      }
      w.waiting = undefined;
      w.inFlight++;
      next ??= [];
      nextPack ??= this.takePack(plan, size * most);
      w.copyInto(nextPack, next.length * size);
      next.push({ symbol: q.symbol, w, ...wait });
    }
    if (next) {
      this.waitingBatches++;
      this.runGroup(plan, nextPack!, next, emit);
    }
  }

  /** Sheds by the ingest backlog from now on (Predictor.followBacklog). */
  followBacklog(backlog: IngestBacklog, intervalMs: number): void {
    this.backlog = backlog;
    this.backlogMs = intervalMs;
  }

  /**
   * A ready row whose symbol has a later book message waiting in the ingest backlog is out of date
   * already: it waits as its window's newest row (replacing, and skipping, an older one), and the
   * next sweep, every backlogMs, predicts each such symbol's newest row once. A row made when the
   * symbol's backlog is gone is predicted at once, as always. So under overload each symbol still
   * gets a prediction per interval, and the time its other rows would cost goes to the backlog.
   */
  private park(plan: ModelPlan, symbol: string, w: Window | BookWindow, ts: number, row: number, enteredAt: number, batched: boolean, emit: (p: Prediction) => void): boolean {
    if (this.backlog!.pendingRows(symbol) === 0) return false;
    if (w.waiting) {
      this.skipped++;
      if (w.waiting.parked) this.supersededRows++;
    }
    w.waiting = { ts, row, enteredAt };
    this.hold(plan, symbol, w, batched, emit);
    return true;
  }

  /** Marks the window's waiting row as parked, for the next sweep (which is scheduled if none is). */
  private hold(plan: ModelPlan, symbol: string, w: Window | BookWindow, batched: boolean, emit: (p: Prediction) => void): void {
    w.waiting!.parked = true;
    let m = this.parked.get(plan);
    if (!m) this.parked.set(plan, (m = new Map()));
    m.set(symbol, { w, batched });
    this.sweepEmit = emit;
    if (!this.sweepTimer) {
      this.sweepTimer = setTimeout(() => this.sweep(), this.backlogMs);
      this.sweepTimer.unref();
    }
  }

  /** A row predicted now: a parked older row of its window is superseded by it. */
  private supersede(w: Window | BookWindow): void {
    if (!w.waiting) return;
    if (w.waiting.parked) this.supersededRows++;
    w.waiting = undefined;
    this.skipped++;
  }

  /** Predicts each parked window's newest row: per model, the micro-batched ones as one inference batch, the others as requests. */
  private sweep(): void {
    this.sweepTimer = undefined;
    const emit = this.sweepEmit!;
    for (const [plan, windows] of this.parked) {
      // A refresh replaced the plan (a new model version): its windows are gone with it.
      if (!this.plans.includes(plan)) continue;
      const batched: { symbol: string; w: Window | BookWindow }[] = [];
      for (const [symbol, p] of windows) {
        if (p.batched) batched.push({ symbol, w: p.w });
        else {
          const wait = p.w.waiting;
          if (!wait || p.w.inFlight >= this.maxInFlight) continue;
          p.w.waiting = undefined;
          this.request(plan, symbol, p.w, wait.ts, wait.row, wait.enteredAt, emit);
        }
      }
      if (batched.length) this.runWaiting(plan, batched, batched.length, emit, true);
    }
    this.parked.clear();
  }

  // No named closures here (the callbacks are inline arrows): the server runs under tsx, whose
  // keep-names transform would define a `name` property on each one, per request.
  private request(plan: ModelPlan, symbol: string, w: Window | BookWindow, ts: number, row: number, enteredAt: number, emit: (p: Prediction) => void): void {
    w.inFlight++;
    const window = w.snapshot();
    this.engine.predict(plan.name, symbol, window).then(
      (probs) => {
        w.release(window);
        emit({ model: plan.topicName, symbol, ts, probs, classes: plan.classes, row, enteredAt });
        this.requestDone(plan, symbol, w, emit);
      },
      (e: Error) => {
        w.release(window);
        this.failed++;
        if (this.failed <= 10) log.error('prediction failed', { model: plan.name, symbol, error: e });
        this.requestDone(plan, symbol, w, emit);
      },
    );
  }

  /** A request of w's returned: the newest row waiting, if any, takes the free slot. */
  private requestDone(plan: ModelPlan, symbol: string, w: Window | BookWindow, emit: (p: Prediction) => void): void {
    w.inFlight--;
    const next = w.waiting;
    if (next && w.inFlight < this.maxInFlight) {
      // A returning request does not bypass the backlog rule: the row waits for the sweep.
      if (this.backlog && this.backlog.pendingRows(symbol) > 0) return this.hold(plan, symbol, w, false, emit);
      w.waiting = undefined;
      this.request(plan, symbol, w, next.ts, next.row, next.enteredAt, emit);
    }
  }

  /**
   * POST /v1/predict. `{"model": M, "window": [[...C values...] x T]}` (or the T*C values flat,
   * oldest row first, raw feature values in the model's input columns), `{"model": M, "windows":
   * [window, ...]}` for a batch (answered with one probability row per window, in order; the
   * engine's batcher runs them together), or `{"model": M, "symbol": S}` for the model's view of
   * that symbol's live rows now.
   */
  async predict(body: unknown): Promise<unknown> {
    if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new HttpError(400, 'expected {"model": NAME, "window": [[...], ...]}, {"model": NAME, "windows": [window, ...]} or {"model": NAME, "symbol": SYM}');
    const b = body as Record<string, unknown>;
    const model = b['model'];
    const plan = this.plans.find((p) => p.name === model || p.topicName === model);
    const refused = typeof model === 'string' ? this.paramRefusals.get(model) : undefined;
    if (!plan && refused) throw new HttpError(409, `model ${model} is refused: feature parameters: ${refused.reasons.join('; ')}`);
    if (typeof model !== 'string' || !plan) throw new HttpError(404, `no model ${JSON.stringify(model)} (serving: ${this.plans.map((p) => p.name).join(', ') || 'none'})`);
    const C = plan.book ? plan.book.levels * 4 : plan.cols.length;
    const parse = (w: unknown, what: string): Float64Array => {
      const flat = (Array.isArray(w) && Array.isArray((w as unknown[])[0]) ? (w as unknown[][]).flat() : w) as unknown[];
      if (!Array.isArray(flat) || flat.length !== plan.T * C || flat.some((v) => v !== null && typeof v !== 'number')) {
        const what2 = plan.book ? `raw book levels: ${plan.book.levels} levels x bid px, bid size, ask px, ask size, in ticks from the window's reference and lots` : `columns ${plan.cols.length ? Array.from(plan.cols, (i) => FEATURE_COLUMNS[i]).join(', ') : ''}`;
        throw new HttpError(400, `${what} must hold ${plan.T} rows of ${C} numbers (${what2}; null for NaN), oldest first`);
      }
      return Float64Array.from(flat, (v) => (v === null ? NaN : (v as number)));
    };
    let window: Float64Array | Float32Array;
    let symbol = typeof b['symbol'] === 'string' ? (b['symbol'] as string) : 'http';
    if (b['windows'] !== undefined) {
      const list = b['windows'];
      if (!Array.isArray(list) || list.length === 0) throw new HttpError(400, '"windows" must be a non-empty array of windows');
      if (list.length > MAX_BATCH_WINDOWS) throw new HttpError(413, `"windows" holds ${list.length} windows; at most ${MAX_BATCH_WINDOWS} per request`);
      const windows = list.map((w, i) => parse(w, `"windows"[${i}]`));
      const t0 = performance.now();
      const key = symbol === 'http' ? `http:${plan.name}` : symbol;
      const probs = await Promise.all(windows.map((w) => this.engine.predict(plan.name, key, w)));
      return { model: plan.name, classes: plan.classes, probs: probs.map((p) => Array.from(p)), latencyMs: Math.round((performance.now() - t0) * 1000) / 1000 };
    }
    if (b['window'] !== undefined) {
      window = parse(b['window'], '"window"');
    } else if (typeof b['symbol'] === 'string') {
      const refusedWhy = plan.refusedSymbols.get(symbol);
      if (refusedWhy) throw new HttpError(409, `${plan.name} is not fed ${symbol}: feature parameters: ${refusedWhy}`);
      const w = plan.windows.get(symbol);
      if (!w || w.rows < plan.T) throw new HttpError(409, `${symbol} has ${w?.rows ?? 0} of the ${plan.T} rows ${plan.name} needs`);
      if (w instanceof BookWindow && w.refused) throw new HttpError(409, `${plan.name} is not fed ${symbol}: ${w.refused}`);
      window = w.snapshot();
    } else {
      throw new HttpError(400, 'give "window", "windows" or "symbol"');
    }
    if (symbol === 'http') symbol = `http:${plan.name}`;
    const t0 = performance.now();
    const probs = await this.engine.predict(plan.name, symbol, window);
    return { model: plan.name, classes: plan.classes, probs: Array.from(probs), latencyMs: Math.round((performance.now() - t0) * 1000) / 1000 };
  }

  health(): Record<string, unknown> {
    return { ...this.engine.describe(), skippedRows: this.skipped, failedPredictions: this.failed, ...(this.backlog ? { backlog: { predictionIntervalMs: this.backlogMs, supersededRows: this.supersededRows } } : {}), liveBatches: { fromFlushes: this.batchedFlushes, fromWaitingRows: this.waitingBatches } };
  }

  renderMetrics(out: string[]): void {
    out.push(this.engine.metricsText().trimEnd());
    out.push(
      '# HELP flowcast_live_inference_batches_total Inference batches the live micro-batches made (features.batching: batch), by what made them: a flush, or rows that waited (for a free slot, or for the backlog sweep).',
      '# TYPE flowcast_live_inference_batches_total counter',
      `flowcast_live_inference_batches_total{source="flush"} ${this.batchedFlushes}`,
      `flowcast_live_inference_batches_total{source="waiting"} ${this.waitingBatches}`,
      '# HELP flowcast_prediction_rows_skipped_total Ready rows not predicted, to stay fresh, by reason: a newer row of the symbol took their turn while its requests were in flight, or a later message of the symbol waited in the ingest backlog.',
      '# TYPE flowcast_prediction_rows_skipped_total counter',
      `flowcast_prediction_rows_skipped_total{reason="in-flight"} ${this.skipped - this.supersededRows}`,
      `flowcast_prediction_rows_skipped_total{reason="backlog"} ${this.supersededRows}`,
    );
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    clearTimeout(this.sweepTimer);
    await this.engine.close();
  }
}
