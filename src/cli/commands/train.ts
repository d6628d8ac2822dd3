import type { Command } from '../command.ts';
import { UsageError } from '../command.ts';
import { durationMsFlag, numberFlag, parseFlags, symbolsFlag, vpinBucketFlag } from '../args.ts';
import { compactUtcStamp } from '../../model/time.ts';
import { DEFAULT_LABEL } from '../../training/dataset.ts';

const usage = `flowcast train transformer|gbdt --data FEATURES [--data FEATURES ...] [flags]

Builds a labelled dataset from feature data, trains, exports ONNX, checks ONNX Runtime against the
training library on held-out samples, and writes models/<name>/ (model.onnx, manifest.json,
reference.json) atomically, so a serving flowcast hot-reloads it.

Data and labels:
  --data FILE|SPEC     features from \`flowcast features\` (.csv, .csv.gz, .parquet; labels used if
                       present, else computed from mid), or a source spec (lobster:MSG,OB | lobster:ZIP |
                       binance:FILE | tardis:...) computed in memory, or a dataset directory from
                       \`flowcast dataset build\` (its VPIN bucket per symbol goes into the manifest)
                       Repeat --data (or separate inputs with ';') to train on several inputs at once
  --where COND         with a dataset directory: which rows, a SQL condition DuckDB evaluates
                       (partition keys venue, symbol, date), e.g. "symbol='GOOG' and date<'2012-06-22'"
  --symbol SYM[,SYM]   the symbol(s) to train on (required if the data holds several); all: every
                       symbol of the inputs. Several inputs, several symbols, or a dataset directory
                       whose --where keeps several partitions make segments, one per (input, symbol,
                       day): windows and labels stay inside a segment, --split cuts by time over all
                       of them, and each symbol gets one VPIN bucket (docs/models.md, multi-day)
  --horizon K|Ts       label horizon: K rows (default 50), or a time like 5s, 500ms (1-10 s as the
                       roadmaps ask): the time-weighted mid over (t, t+T] against the mid at t
  --alpha A            label threshold (default 0.00002)
  --split TRAIN,VAL    chronological fractions of rows (default 0.7,0.15; test = the rest); the last
                       K samples before each boundary are purged; normalisation is fitted on train only.
                       Segments: the fractions of all rows' times, one cut time for every segment
  --columns C,C,..     input feature columns (default: 22 stationary spec columns, see docs/models.md)
  --cv SCHEME:K        gbdt: before shipping, refit on K folds and score each: purged-kfold:K (each
                       contiguous group tests once; labels reading into it purged) or walk-forward:K
                       (train on the past only); per-fold and mean scores go into metrics.cv
  --embargo N          with --cv purged-kfold: samples after each test group left out (default 1%
                       of the samples)
  --lags L,L,..        gbdt: past-only lag columns: each column also as it was L rows before
                       (e.g. 1,2,5,10); the model's window becomes max(L)+1 rows and its graph
                       picks those rows, so a server feeds it like any windowed model
  --lag-columns C,C,.. with --lags: lag only these input columns (default: all of them)

Feature parameters (recorded in the manifest's input.features; a server feeds the model only with
the same ones, or refuses it and says why):
  --levels L           levels of depth_* and slope_* (default 10)
  --vpin-bucket V|auto VPIN bucket volume; auto (default): the train split's traded volume / 500,
                       2 significant digits (the test rows do not set it). For a features file
                       (computed already) V states what it was computed with, where it does not say
  --vpin-buckets N     VPIN window in buckets (default 50)
  --bar-ms MS --bar-window W   bars of kyle_lambda, hasbrouck_lambda, amihud (defaults 1000, 300)

Output:
  --name NAME          model name = directory (default goog-transformer / goog-gbdt style: <symbol>-<kind>)
  --models DIR         models root (default models)
  --version V          manifest version (default: UTC timestamp)

transformer (TensorFlow.js: tfjs-node-gpu, tfjs-node, wasm or cpu, the fastest present):
  --window T           rows per sample (default 100)
  --patch P            rows per token (default 5; 1 = a token per row, ~5x slower to train)
  --d-model D --heads H --layers L --ffn F --dropout R --pool last|mean
                       (defaults 32, 4, 2, 64, 0.1, last)
  --epochs N --batch B --lr LR --samples-per-epoch S --val-samples V --patience P --seed S
                       (defaults 10, 64, 0.001, 8192, 4096, 3, 1)
  --backend NAME       force tensorflow-gpu | tensorflow | wasm | cpu

gbdt (XGBoost via python3-xgboost or its CLI; LightGBM via its CLI):
  --engine E           auto (default: xgboost, else lightgbm) | xgboost | xgboost-cli | lightgbm
  --rounds N --lr LR --max-depth D --num-leaves L --subsample S --colsample C --min-child-weight W
  --early-stopping N --threads N   (defaults 300, 0.05, 6, 31, 0.8, 0.8, 20, 30, all cores)

Examples:
  flowcast train transformer --data goog.csv --name goog-transformer
  flowcast train gbdt --data goog-0621.parquet --data goog-0622.parquet --data lobster:data/lobster/LOBSTER_SampleFile_AMZN_2012-06-21_5.zip --symbol all
  flowcast train gbdt --data lobster:data/lobster/GOOG_2012-06-21_34200000_57600000_message_10.csv.gz,data/lobster/GOOG_2012-06-21_34200000_57600000_orderbook_10.csv.gz
`;

const command: Command = {
  name: 'train',
  summary: 'train the transformer (TensorFlow.js) or a tree model (XGBoost/LightGBM), export ONNX, write models/<name>/',
  usage,
  async run(argv) {
    const { values, positionals } = parseFlags(argv, {
      data: { type: 'string', multiple: true }, where: { type: 'string' }, symbol: { type: 'string', multiple: true }, horizon: { type: 'string' }, alpha: { type: 'string' },
      split: { type: 'string' }, columns: { type: 'string' }, name: { type: 'string' }, models: { type: 'string' }, version: { type: 'string' },
      window: { type: 'string' }, patch: { type: 'string' }, 'd-model': { type: 'string' }, heads: { type: 'string' }, layers: { type: 'string' },
      ffn: { type: 'string' }, dropout: { type: 'string' }, pool: { type: 'string' }, epochs: { type: 'string' }, batch: { type: 'string' },
      lr: { type: 'string' }, 'samples-per-epoch': { type: 'string' }, 'val-samples': { type: 'string' }, patience: { type: 'string' },
      seed: { type: 'string' }, backend: { type: 'string' }, engine: { type: 'string' }, rounds: { type: 'string' }, 'max-depth': { type: 'string' },
      'num-leaves': { type: 'string' }, subsample: { type: 'string' }, colsample: { type: 'string' }, 'min-child-weight': { type: 'string' },
      'early-stopping': { type: 'string' }, threads: { type: 'string' }, lags: { type: 'string' }, 'lag-columns': { type: 'string' }, cv: { type: 'string' }, embargo: { type: 'string' },
      levels: { type: 'string' }, 'vpin-bucket': { type: 'string' }, 'vpin-buckets': { type: 'string' }, 'bar-ms': { type: 'string' }, 'bar-window': { type: 'string' },
    }, true);
    const kind = positionals[0];
    if (kind !== 'transformer' && kind !== 'gbdt') throw new UsageError(`expected "transformer" or "gbdt", got ${kind === undefined ? 'nothing' : `"${kind}"`}`);
    if (positionals.length > 1) throw new UsageError(`unexpected argument "${positionals[1]}"`);
    if (!values.data?.length) throw new UsageError('--data is required');
    // Source specs hold commas (lobster:MSG,OB), so a list of inputs in one value is ';'-separated.
    const dataList = values.data.flatMap((d) => d.split(';')).map((d) => d.trim()).filter(Boolean);
    const symbolList = symbolsFlag(values.symbol);
    const symbols = symbolList?.includes('all') ? (symbolList.length === 1 ? 'all' as const : (() => { throw new UsageError(`--symbol: "all" stands alone, got ${symbolList.join(',')}`); })()) : symbolList;
    const only = (names: string[], flags: readonly string[]): void => {
      for (const f of flags) if ((values as Record<string, unknown>)[f] !== undefined && !names.includes(kind)) throw new UsageError(`--${f} applies to ${kind === 'gbdt' ? 'transformer' : 'gbdt'} training only`);
    };
    only(['transformer'], ['window', 'patch', 'd-model', 'heads', 'layers', 'ffn', 'dropout', 'pool', 'epochs', 'batch', 'samples-per-epoch', 'val-samples', 'patience', 'backend']);
    only(['gbdt'], ['lags', 'lag-columns', 'cv', 'embargo', 'engine', 'rounds', 'max-depth', 'num-leaves', 'subsample', 'colsample', 'min-child-weight', 'early-stopping', 'threads']);

    const splitList = (values.split ?? '0.7,0.15').split(',').map(Number);
    if (splitList.length !== 2 || splitList.some((v) => !(v >= 0 && v < 1)) || splitList[0]! <= 0 || splitList[0]! + splitList[1]! >= 1) {
      throw new UsageError(`--split: expected TRAIN,VAL fractions with TRAIN > 0 and TRAIN + VAL < 1, got "${values.split}"`);
    }
    // A number of rows, or a time with its unit (5s, 500ms).
    const timeHorizon = values.horizon !== undefined && /[a-z]$/.test(values.horizon.trim());
    const horizonMs = timeHorizon ? durationMsFlag(values.horizon, 'horizon', 0) : undefined;
    const horizon = timeHorizon ? DEFAULT_LABEL.horizon : numberFlag(values.horizon, 'horizon', DEFAULT_LABEL.horizon, { min: 1, integer: true });
    const alpha = numberFlag(values.alpha, 'alpha', DEFAULT_LABEL.alpha, { min: 0 });

    const { loadTrainingSet } = await import('../../training/train-data.ts');
    const opt = (v: string | undefined, name: string, min: number) => (v === undefined ? undefined : numberFlag(v, name, 0, { min, integer: true }));
    const { buildDataset, DEFAULT_INPUTS, transformFor } = await import('../../training/dataset.ts');
    const { FEATURE_COLUMNS } = await import('../../features/columns.ts');
    const columns = values.columns ? values.columns.split(',').map((s) => s.trim()).filter(Boolean) : DEFAULT_INPUTS.map((c) => c.name);
    const unknown = columns.filter((c) => !(FEATURE_COLUMNS as readonly string[]).includes(c));
    if (unknown.length) throw new UsageError(`--columns: ${unknown.join(', ')} ${unknown.length === 1 ? 'is not a' : 'are not'} feature column${unknown.length === 1 ? '' : 's'} (${FEATURE_COLUMNS.join(', ')})`);

    const say = (l: string) => process.stderr.write(l + '\n');
    const t0 = performance.now();
    say(`train ${kind}: loading ${dataList.join(' + ')}`);
    const split = { train: splitList[0]!, val: splitList[1]! };
    const { data, symbol, params: featureParams, inputs, segmentInputs } = await loadTrainingSet(dataList, {
      horizon, alpha, ...(symbols ? { symbols } : {}), split,
      levels: opt(values.levels, 'levels', 1), vpinBucket: values['vpin-bucket'] === undefined ? undefined : vpinBucketFlag(values['vpin-bucket']),
      vpinBuckets: opt(values['vpin-buckets'], 'vpin-buckets', 1), barMs: opt(values['bar-ms'], 'bar-ms', 1), barWindow: opt(values['bar-window'], 'bar-window', 2),
      ...(values.where !== undefined ? { where: values.where } : {}),
      onLog: say,
    });
    const lags = values.lags === undefined ? undefined : values.lags.split(',').map((v) => numberFlag(v.trim(), 'lags', 0, { min: 1, integer: true }));
    if (lags && new Set(lags).size !== lags.length) throw new UsageError(`--lags: a lag is repeated in "${values.lags}"`);
    const lagColumns = values['lag-columns']?.split(',').map((c) => c.trim()).filter(Boolean);
    if (lagColumns && !lags) throw new UsageError('--lag-columns goes with --lags');
    const notInput = lagColumns?.filter((c) => !columns.includes(c)) ?? [];
    if (notInput.length) throw new UsageError(`--lag-columns: ${notInput.join(', ')} not among the input columns (--columns)`);
    const window = kind === 'transformer' ? numberFlag(values.window, 'window', 100, { min: 1, integer: true }) : 1;
    const ds = buildDataset(data, {
      columns, transforms: columns.map(transformFor), window, horizon, alpha,
      ...(horizonMs !== undefined ? { horizonMs } : {}),
      ...(lags ? { lags } : {}),
      ...(lagColumns ? { lagColumns } : {}),
      split, symbol,
      ...(kind === 'gbdt' ? { normalization: null } : {}),
    });
    say(`dataset: ${JSON.stringify(ds.describe())}`);
    const name = values.name ?? `${ds.symbol.toLowerCase().replace(/,/g, '-')}-${kind}`;
    const ctx: import('../../training/ship.ts').ShipContext = {
      name,
      modelsDir: values.models ?? 'models',
      version: values.version ?? compactUtcStamp(),
      command: `flowcast train ${argv.join(' ')}`,
      // The filter is part of what was trained on (a reload of the bare directory would be other
      // rows): its own field, so evaluate can read the same rows again for the baselines.
      dataSource: dataList.join(' + '),
      // Several inputs: training.data lists them (one input, segmented or not, stays a string).
      ...(data.segments ? { ...(dataList.length > 1 ? { dataSources: dataList } : {}), ...(segmentInputs ? { segmentInputs } : {}) } : {}),
      ...(values.where !== undefined ? { where: values.where } : {}),
      featureParams,
      inputs,
      onLog: say,
    };
    const { shipTransformer, shipGbdt } = await import('../../training/ship.ts');
    let res;
    if (kind === 'transformer') {
      const { DEFAULT_TRANSFORMER } = await import('../../training/transformer/model.ts');
      const { DEFAULT_TRAIN } = await import('../../training/transformer/train.ts');
      const { loadTf } = await import('../../training/tf-backend.ts');
      const pool = values.pool ?? DEFAULT_TRANSFORMER.pool;
      if (pool !== 'last' && pool !== 'mean') throw new UsageError(`--pool: expected last or mean, got "${pool}"`);
      const backendName = values.backend;
      if (backendName && !['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'].includes(backendName)) throw new UsageError(`--backend: expected tensorflow-gpu, tensorflow, wasm or cpu, got "${backendName}"`);
      const config = {
        ...DEFAULT_TRANSFORMER,
        window,
        features: columns.length,
        patch: numberFlag(values.patch, 'patch', DEFAULT_TRANSFORMER.patch, { min: 1, integer: true }),
        dModel: numberFlag(values['d-model'], 'd-model', DEFAULT_TRANSFORMER.dModel, { min: 1, integer: true }),
        heads: numberFlag(values.heads, 'heads', DEFAULT_TRANSFORMER.heads, { min: 1, integer: true }),
        layers: numberFlag(values.layers, 'layers', DEFAULT_TRANSFORMER.layers, { min: 0, integer: true }),
        ffn: numberFlag(values.ffn, 'ffn', DEFAULT_TRANSFORMER.ffn, { min: 1, integer: true }),
        dropout: numberFlag(values.dropout, 'dropout', DEFAULT_TRANSFORMER.dropout, { min: 0 }),
        pool: pool as 'last' | 'mean',
      };
      const { checkConfig } = await import('../../training/transformer/model.ts');
      try {
        checkConfig(config);
      } catch (e) {
        throw new UsageError((e as Error).message);
      }
      const train = {
        ...DEFAULT_TRAIN,
        epochs: numberFlag(values.epochs, 'epochs', DEFAULT_TRAIN.epochs, { min: 1, integer: true }),
        batchSize: numberFlag(values.batch, 'batch', DEFAULT_TRAIN.batchSize, { min: 1, integer: true }),
        lr: numberFlag(values.lr, 'lr', DEFAULT_TRAIN.lr, { min: 0 }),
        samplesPerEpoch: numberFlag(values['samples-per-epoch'], 'samples-per-epoch', DEFAULT_TRAIN.samplesPerEpoch, { min: 1, integer: true }),
        valSamples: numberFlag(values['val-samples'], 'val-samples', DEFAULT_TRAIN.valSamples, { min: 1, integer: true }),
        patience: numberFlag(values.patience, 'patience', DEFAULT_TRAIN.patience, { min: 1, integer: true }),
        seed: numberFlag(values.seed, 'seed', DEFAULT_TRAIN.seed, { integer: true }),
      };
      const backend = await loadTf(backendName as never);
      say(`tfjs backend: ${backend.name} (${backend.reasons.join('; ')})`);
      res = await shipTransformer(ctx, ds, config, backend, train);
    } else {
      const { probeEngines, DEFAULT_GBDT } = await import('../../training/gbdt/train.ts');
      const probes = await probeEngines();
      const want = values.engine ?? 'auto';
      const byName = (e: string) => probes.find((p) => p.engine === e)!;
      let pick;
      if (want === 'auto' || want === 'xgboost') pick = [byName('xgboost-python'), byName('xgboost-cli'), ...(want === 'auto' ? [byName('lightgbm-cli')] : [])].find((p) => p.available);
      else if (want === 'xgboost-cli') pick = byName('xgboost-cli').available ? byName('xgboost-cli') : undefined;
      else if (want === 'lightgbm') pick = byName('lightgbm-cli').available ? byName('lightgbm-cli') : undefined;
      else throw new UsageError(`--engine: expected auto, xgboost, xgboost-cli or lightgbm, got "${want}"`);
      if (!pick) throw new UsageError(`--engine ${want}: not available here (${probes.map((p) => `${p.engine}: ${p.detail}`).join('; ')})`);
      say(`engine: ${pick.engine} (${pick.detail}); ${probes.filter((p) => p !== pick).map((p) => `${p.engine}: ${p.available ? 'also available' : p.detail}`).join('; ')}`);
      const params = {
        ...DEFAULT_GBDT,
        rounds: numberFlag(values.rounds, 'rounds', DEFAULT_GBDT.rounds, { min: 1, integer: true }),
        learningRate: numberFlag(values.lr, 'lr', DEFAULT_GBDT.learningRate, { min: 0 }),
        maxDepth: numberFlag(values['max-depth'], 'max-depth', DEFAULT_GBDT.maxDepth, { min: 1, integer: true }),
        numLeaves: numberFlag(values['num-leaves'], 'num-leaves', DEFAULT_GBDT.numLeaves, { min: 2, integer: true }),
        subsample: numberFlag(values.subsample, 'subsample', DEFAULT_GBDT.subsample, { min: 0 }),
        colsample: numberFlag(values.colsample, 'colsample', DEFAULT_GBDT.colsample, { min: 0 }),
        minChildWeight: numberFlag(values['min-child-weight'], 'min-child-weight', DEFAULT_GBDT.minChildWeight, { min: 0 }),
        earlyStopping: numberFlag(values['early-stopping'], 'early-stopping', DEFAULT_GBDT.earlyStopping, { min: 0, integer: true }),
        threads: numberFlag(values.threads, 'threads', DEFAULT_GBDT.threads, { min: 0, integer: true }),
        seed: numberFlag(values.seed, 'seed', DEFAULT_GBDT.seed, { integer: true }),
      };
      if (values.cv !== undefined) {
        const { parseCv } = await import('../../training/cv.ts');
        const { crossValidateGbdt } = await import('../../training/cv-run.ts');
        let spec;
        try {
          spec = parseCv(values.cv, numberFlag(values.embargo, 'embargo', Math.floor(ds.sampleRows().length / 100), { min: 0, integer: true }));
        } catch (e) {
          throw new UsageError(`--cv: ${(e as Error).message}`);
        }
        const cv = await crossValidateGbdt(ds, spec, pick.engine, pick.detail, params, say);
        say(`cv ${cv.scheme}:${cv.folds}: macro-F1 ${cv.macroF1.mean} ± ${cv.macroF1.std}, AUC ${cv.macroAuc.mean} ± ${cv.macroAuc.std}`);
        ctx.cv = cv as unknown as Record<string, unknown>;
      } else if (values.embargo !== undefined) throw new UsageError('--embargo goes with --cv');
      res = await shipGbdt(ctx, ds, pick.engine, pick.detail, params);
    }
    const test = res.metrics.test as { macroF1: number; macroAuc: number } | undefined;
    say(`train ${kind}: ${res.dir} in ${((performance.now() - t0) / 1000).toFixed(1)} s; parity max |Δp| ${res.parity.maxAbsDiff.toExponential(2)}${test ? `; test macro-F1 ${test.macroF1}, macro AUC ${test.macroAuc}` : ''}`);
    return 0;
  },
};
export default command;
