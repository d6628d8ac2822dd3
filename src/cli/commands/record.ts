import type { Command } from '../command.ts';
import { UsageError } from '../command.ts';
import { durationMsFlag, numberFlag, parseFlags } from '../args.ts';
import { outputDir } from '../output.ts';
import type { ConnectorTarget } from '../../venues/venue.ts';

const usage = `flowcast record --out DIR (--binance M:SYMS | --source SPEC) [flags]

Records the normalised event stream (depth snapshots and deltas with their sequence numbers,
trades) to Parquet, one file per period, for replay (flowcast serve --replay recording:DIR) or SQL.
Rows are committed every --row-group (a complete Parquet segment, fsync'd), so a crash loses at
most the open row group; at start, periods a crash left as segments are compacted.

  --out DIR              recording directory (created if missing; one recording process at a time,
                         earlier runs' periods are added to, their events kept)
  --binance M:SYMS       live Binance feed: spot:SYM[,SYM] or usdm:SYM[,SYM]
  --ws-url URL           stream base URL (default Binance's; a mock exchange in tests)
  --rest-url URL         REST base URL
  --depth-stream S       diff stream suffix (default @depth@100ms)
  --source SPEC          record a file source instead, as fast as it reads (lobster:, binance:, tardis:)
  --rotate DUR           file period: 15m, 1h (default), 1d ... (aligned to UTC)
  --row-group DUR        longest time rows wait in memory (default 10s)
  --row-group-rows N     rows per committed segment at most (default 131072)
  --duration DUR         stop after this long (default: until SIGINT/SIGTERM)
  --no-fsync             do not fsync segments (faster; process crashes are still safe)
  --recover              only compact what a crash left in DIR, then exit

Durations: a number with ms, s, m, h or d (e.g. 500ms, 30s, 1h).

Examples:
  flowcast record --binance usdm:BTCUSDT,ETHUSDT --out rec/
  flowcast record --source binance:data/binance/binance-usdm_btcusdt_20240808.jsonl.gz --out rec/
  flowcast serve --replay recording:rec/
`;

function duplicates(rows: number): string {
  return rows ? `; ${rows} rows already in the recording dropped as duplicates` : '';
}

const command: Command = {
  name: 'record',
  summary: 'record a live (or file) event stream to time-rotated Parquet, crash-safe per row group',
  usage,
  async run(argv) {
    const { values } = parseRecordFlags(argv);
    if (!values.out) throw new UsageError('--out is required');
    const out = values.out;
    outputDir('out', out);
    const { lockRecording, RecordingLocked } = await import('../../store/recorder.ts');
    let release: () => void;
    try {
      release = lockRecording(out);
    } catch (e) {
      throw e instanceof RecordingLocked ? new UsageError(`--out ${out}: ${e.message}`) : e;
    }
    try {
      return await recordInto(out, values);
    } finally {
      release();
    }
  },
};

type RecordFlags = ReturnType<typeof parseRecordFlags>['values'];

function parseRecordFlags(argv: string[]) {
  return parseFlags(argv, {
    out: { type: 'string' },
    binance: { type: 'string' },
    'ws-url': { type: 'string' },
    'rest-url': { type: 'string' },
    'depth-stream': { type: 'string' },
    source: { type: 'string' },
    rotate: { type: 'string' },
    'row-group': { type: 'string' },
    'row-group-rows': { type: 'string' },
    duration: { type: 'string' },
    'no-fsync': { type: 'boolean' },
    recover: { type: 'boolean' },
  });
}

/** Recovers what a crash left in `out`, then records into it (the caller holds its lock). */
async function recordInto(out: string, values: RecordFlags): Promise<number> {
  const { Recorder } = await import('../../store/recorder.ts');
  for (const r of await Recorder.recover(out)) process.stdout.write(`recovered ${r.file}: ${r.rows} rows${duplicates(r.duplicates)}\n`);
  if (values.recover) return 0;
  if (!values.binance === !values.source) throw new UsageError('give one of --binance or --source');
  const rotateMs = durationMsFlag(values.rotate, 'rotate', 3_600_000);
  const rowGroupMs = durationMsFlag(values['row-group'], 'row-group', 10_000);
  const rowGroupRows = numberFlag(values['row-group-rows'], 'row-group-rows', 131_072, { min: 1, integer: true });
  const fsync = !values['no-fsync'];
  const { TimeBase, TimeBaseRef } = await import('../../model/time.ts');

  if (values.source) {
    const { openSource } = await import('../../sources/spec.ts');
    const { BadInputPolicy } = await import('../../core/errors.ts');
    const src = await openSource(values.source, { policy: BadInputPolicy.parse('all') });
    // File time drives rotation and row groups, so a capture is split as it was recorded.
    let nowMs = 0;
    const rec = new Recorder({ dir: out, timeBase: src.timeBase, rotateMs, rowGroupMs, rowGroupRows, fsync, source: values.source, now: () => nowMs });
    const t0 = performance.now();
    await src.run({
      onDepth(e) {
        nowMs = src.timeBase.get().toEpochMs(e.ts);
        rec.tick();
        rec.onDepth(e);
      },
      onTrade(e) {
        nowMs = src.timeBase.get().toEpochMs(e.ts);
        rec.onTrade(e);
      },
    });
    const st = await rec.close();
    process.stdout.write(`recorded ${st.events} events (${st.rows} rows) into ${st.files} file(s) in ${out} in ${((performance.now() - t0) / 1000).toFixed(1)} s${duplicates(st.duplicateRows)}\n`);
    return 0;
  }

  const { parseLiveFlag, ConfigError } = await import('../../server/config.ts');
  let b;
  try {
    b = parseLiveFlag('binance', values.binance!);
  } catch (e) {
    if (e instanceof ConfigError) throw new UsageError(e.message);
    throw e;
  }
  const { venue } = await import('../../venues/registry.ts');
  const live = venue(b.kind)!.live!;
  const { bookBuilder } = await import('../../pipeline/book.ts');
  const { BadInputPolicy } = await import('../../core/errors.ts');
  const timeBase = new TimeBaseRef(TimeBase.ofEpochMs(Date.now()));
  const rec = new Recorder({ dir: out, timeBase, rotateMs, rowGroupMs, rowGroupRows, fsync, source: live.sourceName(b) });
  rec.start();
  const policy = BadInputPolicy.parse('all');
  let builder!: ReturnType<typeof bookBuilder>;
  // The connector needs each symbol's sync state (to fetch snapshots, resync on gaps); rows are not needed here.
  const target: ConnectorTarget = {
    state: '',
    detail: '',
    onSyncStatus: undefined,
    newSession: () => { builder = bookBuilder({ levels: 1, sink: { onRow() {} }, policy, onStatus: (s, st) => target.onSyncStatus?.(s, st) }); },
    onDepth: (e) => { rec.onDepth(e); builder.onDepth(e); },
    onTrade: (e) => { rec.onTrade(e); builder.onTrade(e); },
  };
  const conn = live.connect({ ...b, wsUrl: values['ws-url'], restUrl: values['rest-url'], depthStream: values['depth-stream'] }, timeBase, target);
  await conn.start();
  process.stdout.write(`recording ${conn.name} into ${out} (row groups every ${rowGroupMs} ms, files every ${rotateMs} ms)\n`);
  const duration = values.duration ? durationMsFlag(values.duration, 'duration', 0) : undefined;
  const { untilSignal } = await import('../../server/signals.ts');
  await untilSignal(duration);
  await conn.stop();
  const st = await rec.close();
  process.stdout.write(`recorded ${st.events} events (${st.rows} rows, ${st.segments} segments) into ${st.files} file(s); ${conn.stats.snapshots} snapshots, ${conn.stats.resyncRequests} resyncs, ${conn.stats.disconnects} disconnects${duplicates(st.duplicateRows)}\n`);
  return 0;
}

export default command;
