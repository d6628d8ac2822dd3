/**
 * The batch role's work queue on Redis Streams (docs/cluster.md, "Batch"): a coordinator puts one
 * entry per task into a run's task stream, read by the consumer group `workers`; a worker claims an
 * entry (XREADGROUP, or XAUTOCLAIM once its holder has been silent for `claimIdleMs`), keeps its
 * claim fresh while it works (XCLAIM ... JUSTID, which resets the idle time without counting a
 * delivery), and ends it with one Lua call: done (XACK + the result into the results stream), retry
 * (the error kept, the entry handed back for another claim) or dead (into the dead-letter stream +
 * XACK). The delivery count XPENDING keeps is the try count: a task delivered `maxTries` times
 * that fails, or claimed once more after that many deliveries (its workers died), is dead-lettered.
 *
 * Every Lua call checks that the caller still holds the entry (XPENDING's owner), so a worker whose
 * claim was taken over (it was paused or cut off past `claimIdleMs`) can neither ack nor report.
 * The payloads are opaque strings here; src/dataset/cluster.ts gives them their meaning.
 *
 * Keys, under `<p>:batch:<dataset>` (`<dataset>`: an id the coordinator keeps in the dataset
 * directory, so that workers given that directory find its runs):
 *   runs               counter: the last run number
 *   current            string: the run workers serve now
 *   workers            sorted set: worker consumers by the time (ms) of their last heartbeat
 *   <run>:job          hash: state (running|done), total, maxTries, claimIdleMs, dir, started/finished
 *   <run>:tasks        stream: field i (task index), t (payload); group `workers`
 *   <run>:results      stream: field k (done|retry|dead), i, w (worker), n (try), r (result) or e (error)
 *   <run>:dead         stream: the dead-lettered tasks: i, t, n (tries), e (last error), w
 *   <run>:errors       hash: entry id -> the last error reported for it (what a dead letter names)
 * A finished run's keys expire after the retention (default a day).
 */
import type { Redis } from 'ioredis';
import { LuaScript } from './redis.ts';

export const BATCH_GROUP = 'workers';

export class BatchKeys {
  constructor(readonly prefix: string, readonly dataset: string) {
    if (!/^[A-Za-z0-9_.\-]{1,64}$/.test(prefix)) throw new Error(`cluster key prefix ${JSON.stringify(prefix)}: letters, digits, _ . - only (at most 64)`);
    if (!/^[A-Za-z0-9]{1,64}$/.test(dataset)) throw new Error(`batch dataset id ${JSON.stringify(dataset)}: letters and digits only`);
  }
  private base(): string { return `${this.prefix}:batch:${this.dataset}`; }
  runs(): string { return `${this.base()}:runs`; }
  current(): string { return `${this.base()}:current`; }
  workers(): string { return `${this.base()}:workers`; }
  job(run: number): string { return `${this.base()}:${run}:job`; }
  tasks(run: number): string { return `${this.base()}:${run}:tasks`; }
  results(run: number): string { return `${this.base()}:${run}:results`; }
  dead(run: number): string { return `${this.base()}:${run}:dead`; }
  errors(run: number): string { return `${this.base()}:${run}:errors`; }
  ofRun(run: number): string[] { return [this.job(run), this.tasks(run), this.results(run), this.dead(run), this.errors(run)]; }
}

export interface RunSettings {
  /** A task's holder silent this long (no claim refresh) loses it to the next worker that looks. */
  claimIdleMs: number;
  /** Deliveries before a task is dead-lettered (a failure on the last one, or a claim after it). */
  maxTries: number;
}

export interface RunInfo extends RunSettings {
  run: number;
  state: 'running' | 'done';
  total: number;
  dir: string;
}

export type ResultKind = 'done' | 'retry' | 'dead';

export interface BatchResult {
  id: string;
  kind: ResultKind;
  task: number;
  worker: string;
  tries: number;
  result?: string;
  error?: string;
}

export interface Claimed {
  id: string;
  task: number;
  payload: string;
  /** Deliveries so far, this one included (XPENDING's count). */
  deliveries: number;
}

// Does `ARGV[2]` (a consumer) hold entry `ARGV[3]` of KEYS[1] in group ARGV[1]?
const HOLDS = `
local function holds(k, g, c, id)
  local p = redis.call('XPENDING', k, g, id, id, 1)
  return p[1] ~= nil and p[1][2] == c
end
`;

/** Refreshes the claims ARGV[3..] of consumer ARGV[2]; returns the ids it no longer holds. */
const REFRESH = new LuaScript('batch-refresh', `${HOLDS}
local lost = {}
for i = 3, #ARGV do
  if holds(KEYS[1], ARGV[1], ARGV[2], ARGV[i]) then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'JUSTID')
  else
    lost[#lost + 1] = ARGV[i]
  end
end
return lost
`);

/** KEYS: tasks, results, errors; ARGV: group, consumer, id, task, tries, result. 1 = acked, 0 = not held. */
const DONE = new LuaScript('batch-done', `${HOLDS}
if not holds(KEYS[1], ARGV[1], ARGV[2], ARGV[3]) then return 0 end
redis.call('XADD', KEYS[2], '*', 'k', 'done', 'i', ARGV[4], 'w', ARGV[2], 'n', ARGV[5], 'r', ARGV[6])
redis.call('XACK', KEYS[1], ARGV[1], ARGV[3])
redis.call('HDEL', KEYS[3], ARGV[3])
return 1
`);

/**
 * KEYS: tasks, results, errors; ARGV: group, consumer, id, task, tries, error, idle (ms). The error
 * kept and reported; the entry handed back with its idle time set to `idle`, so that XAUTOCLAIM
 * finds it after claimIdleMs - idle (the retry's delay); JUSTID counts no delivery.
 */
const RETRY = new LuaScript('batch-retry', `${HOLDS}
if not holds(KEYS[1], ARGV[1], ARGV[2], ARGV[3]) then return 0 end
redis.call('HSET', KEYS[3], ARGV[3], ARGV[6])
redis.call('XADD', KEYS[2], '*', 'k', 'retry', 'i', ARGV[4], 'w', ARGV[2], 'n', ARGV[5], 'e', ARGV[6])
redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[3], 'IDLE', ARGV[7], 'JUSTID')
return 1
`);

/**
 * KEYS: tasks, results, errors, dead; ARGV: group, consumer, id, task, tries, error (or '' for the
 * last one kept), payload. Into the dead-letter stream, reported, acked.
 */
const DEAD = new LuaScript('batch-dead', `${HOLDS}
if not holds(KEYS[1], ARGV[1], ARGV[2], ARGV[3]) then return 0 end
local e = ARGV[6]
if e == '' then
  e = redis.call('HGET', KEYS[3], ARGV[3]) or 'no error reported: every worker that took it died or lost it before it ended'
end
redis.call('XADD', KEYS[4], '*', 'i', ARGV[4], 't', ARGV[7], 'n', ARGV[5], 'e', e, 'w', ARGV[2])
redis.call('XADD', KEYS[2], '*', 'k', 'dead', 'i', ARGV[4], 'w', ARGV[2], 'n', ARGV[5], 'e', e)
redis.call('XACK', KEYS[1], ARGV[1], ARGV[3])
redis.call('HDEL', KEYS[3], ARGV[3])
return 1
`);

function fields(flat: string[]): Record<string, string> {
  const o: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) o[flat[i]!] = flat[i + 1]!;
  return o;
}

/** The coordinator's side: opens a run with its tasks, reads its results, closes it. */
export class BatchCoordinator {
  run = 0;
  constructor(private readonly redis: Redis, readonly keys: BatchKeys) {}

  /** A new run holding `payloads` (task i = payloads[i]); workers see it once it is complete. */
  async open(payloads: readonly string[], settings: RunSettings, dir: string): Promise<number> {
    const run = await this.redis.incr(this.keys.runs());
    this.run = run;
    await this.redis.call('XGROUP', 'CREATE', this.keys.tasks(run), BATCH_GROUP, '0', 'MKSTREAM');
    for (let i = 0; i < payloads.length; i += 256) {
      const p = this.redis.pipeline();
      for (let j = i; j < Math.min(payloads.length, i + 256); j++) p.xadd(this.keys.tasks(run), '*', 'i', String(j), 't', payloads[j]!);
      const res = await p.exec();
      for (const [err] of res ?? []) if (err) throw err;
    }
    await this.redis.hset(this.keys.job(run), {
      state: 'running', total: String(payloads.length), maxTries: String(settings.maxTries), claimIdleMs: String(settings.claimIdleMs),
      dir, startedAt: new Date().toISOString(),
    });
    await this.redis.set(this.keys.current(), String(run));
    return run;
  }

  /** Results after `after` (a stream id), waiting up to `blockMs` for the first. */
  async results(after: string, blockMs: number): Promise<BatchResult[]> {
    const r = (await this.redis.call('XREAD', 'COUNT', '512', 'BLOCK', String(blockMs), 'STREAMS', this.keys.results(this.run), after)) as [string, [string, string[]][]][] | null;
    if (!r) return [];
    return r[0]![1].map(([id, flat]) => {
      const f = fields(flat);
      return { id, kind: f['k'] as ResultKind, task: Number(f['i']), worker: f['w']!, tries: Number(f['n']), result: f['r'], error: f['e'] };
    });
  }

  /** Whether the run's job hash is still there (Redis restarted without persistence loses it). */
  async exists(): Promise<boolean> {
    return (await this.redis.exists(this.keys.job(this.run))) === 1;
  }

  /** Workers whose heartbeat is within `withinMs`. */
  async liveWorkers(withinMs: number): Promise<string[]> {
    return this.redis.zrangebyscore(this.keys.workers(), Date.now() - withinMs, '+inf');
  }

  /** The dead-lettered tasks of the run, in order. */
  async deadLetters(): Promise<{ id: string; task: number; tries: number; error: string; worker: string }[]> {
    const r = (await this.redis.xrange(this.keys.dead(this.run), '-', '+')) as [string, string[]][];
    return r.map(([id, flat]) => {
      const f = fields(flat);
      return { id, task: Number(f['i']), tries: Number(f['n']), error: f['e']!, worker: f['w']! };
    });
  }

  /** Marks the run done (idle workers stop waiting on it) and lets its keys expire after `retentionS`. */
  async close(retentionS: number): Promise<void> {
    await this.redis.hset(this.keys.job(this.run), { state: 'done', finishedAt: new Date().toISOString() });
    const p = this.redis.pipeline();
    for (const k of this.keys.ofRun(this.run)) p.expire(k, retentionS);
    await p.exec();
  }
}

/** A worker's side: finds the current run, claims tasks, keeps claims fresh, ends them. */
export class BatchWorker {
  constructor(private readonly redis: Redis, readonly keys: BatchKeys, readonly consumer: string) {}

  /** The run workers serve now, if any. */
  async current(): Promise<RunInfo | undefined> {
    const run = Number(await this.redis.get(this.keys.current()));
    if (!(run > 0)) return undefined;
    const j = await this.redis.hgetall(this.keys.job(run));
    if (!j['state']) return undefined;
    return {
      run, state: j['state'] as RunInfo['state'], total: Number(j['total']), dir: j['dir'] ?? '',
      maxTries: Number(j['maxTries']), claimIdleMs: Number(j['claimIdleMs']),
    };
  }

  /** Says this worker is alive (the coordinator's "no live worker" warning reads it). */
  async heartbeat(): Promise<void> {
    // The set lives as long as some worker beats (a day after the last one) and drops those silent for a day.
    const day = 86_400_000;
    await this.redis.multi().zadd(this.keys.workers(), Date.now(), this.consumer)
      .zremrangebyscore(this.keys.workers(), '-inf', Date.now() - day).pexpire(this.keys.workers(), day).exec();
  }

  /**
   * One task: first an entry whose holder has been silent for claimIdleMs (XAUTOCLAIM), else a new
   * one (XREADGROUP on `reader`, a connection of the caller's own since the read blocks up to `blockMs`).
   */
  async claim(run: RunInfo, reader: Redis, blockMs: number): Promise<Claimed | undefined> {
    const tasks = this.keys.tasks(run.run);
    // XAUTOCLAIM looks at COUNT x 10 pending entries a call: go on from its cursor until the list's end.
    let cursor = '0-0';
    let stale: [string, string[] | null] | undefined;
    do {
      const auto = (await this.redis.call('XAUTOCLAIM', tasks, BATCH_GROUP, this.consumer, String(run.claimIdleMs), cursor, 'COUNT', '1')) as
        [string, [string, string[] | null][], string[]?];
      cursor = auto[0];
      stale = auto[1].find(([, f]) => f !== null);
    } while (!stale && cursor !== '0-0');
    if (stale) {
      const f = fields(stale[1]!);
      const p = (await this.redis.call('XPENDING', tasks, BATCH_GROUP, stale[0], stale[0], '1')) as [string, string, number, number][];
      return { id: stale[0], task: Number(f['i']), payload: f['t']!, deliveries: Number(p[0]?.[3] ?? 1) };
    }
    const r = (await reader.call('XREADGROUP', 'GROUP', BATCH_GROUP, this.consumer, 'COUNT', '1', 'BLOCK', String(blockMs), 'STREAMS', tasks, '>')) as
      [string, [string, string[]][]][] | null;
    const e = r?.[0]?.[1][0];
    if (!e) return undefined;
    const f = fields(e[1]);
    return { id: e[0], task: Number(f['i']), payload: f['t']!, deliveries: 1 };
  }

  /** Keeps the claims on `ids` fresh; returns those another worker has taken meanwhile. */
  async refresh(run: number, ids: readonly string[]): Promise<string[]> {
    if (ids.length === 0) return [];
    return (await REFRESH.run(this.redis, [this.keys.tasks(run)], [BATCH_GROUP, this.consumer, ...ids])) as string[];
  }

  /** The task's result; false when this worker no longer held it (nothing written). */
  async done(run: number, c: Claimed, result: string): Promise<boolean> {
    return (await DONE.run(this.redis, [this.keys.tasks(run), this.keys.results(run), this.keys.errors(run)],
      [BATCH_GROUP, this.consumer, c.id, String(c.task), String(c.deliveries), result])) === 1;
  }

  /** The task failed on this try: handed back to be claimed again after `delayMs`. */
  async retry(run: RunInfo, c: Claimed, error: string, delayMs: number): Promise<boolean> {
    const idle = Math.max(0, run.claimIdleMs - delayMs);
    return (await RETRY.run(this.redis, [this.keys.tasks(run.run), this.keys.results(run.run), this.keys.errors(run.run)],
      [BATCH_GROUP, this.consumer, c.id, String(c.task), String(c.deliveries), error, String(idle)])) === 1;
  }

  /** Into the dead-letter stream with `tries` (the error: this one, or '' for the last one reported). */
  async dead(run: number, c: Claimed, tries: number, error: string): Promise<boolean> {
    return (await DEAD.run(this.redis, [this.keys.tasks(run), this.keys.results(run), this.keys.errors(run), this.keys.dead(run)],
      [BATCH_GROUP, this.consumer, c.id, String(c.task), String(tries), error, c.payload])) === 1;
  }
}
