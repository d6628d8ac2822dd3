/**
 * Cluster mode's names in Redis (docs/cluster.md, "Keys"): every key starts with a prefix so that
 * several deployments can share one Redis, and every role derives its names from here alone.
 *
 *   <p>:meta            hash: shards (the shard count every role must agree on)
 *   <p>:in:<shard>      stream: normalised events of the symbols hashed to that shard (ingest -> compute)
 *   <p>:lease:<shard>   string with a TTL: the fencing token of the compute process that owns the shard
 *   <p>:owner:<shard>   string: the consumer that owned the shard last (no TTL: a new owner sees it was taken over)
 *   <p>:epoch           counter: makes each lease token unique
 *   <p>:members         sorted set: compute consumers by the time of their last heartbeat (ms)
 *   <p>:syms:<shard>    set: the symbols a compute process has made rows of on that shard (takeover notices go to their topics)
 *   <p>:seq             hash: each result topic's last seq
 *   <p>:out:<topic>     stream: one result topic's frames; entry id <seq>-0 is the frame of that seq,
 *                       <seq>-<k> (k >= 1) a gap notice between seq and seq + 1
 */
export const DEFAULT_PREFIX = 'flowcast';
/** The consumer group every input stream has; one per shard, since each shard is its own stream. */
export const COMPUTE_GROUP = 'compute';

export class ClusterKeys {
  constructor(readonly prefix: string = DEFAULT_PREFIX) {
    if (!/^[A-Za-z0-9_.\-]{1,64}$/.test(prefix)) throw new Error(`cluster key prefix ${JSON.stringify(prefix)}: letters, digits, _ . - only (at most 64)`);
  }

  meta(): string { return `${this.prefix}:meta`; }
  input(shard: number): string { return `${this.prefix}:in:${shard}`; }
  lease(shard: number): string { return `${this.prefix}:lease:${shard}`; }
  owner(shard: number): string { return `${this.prefix}:owner:${shard}`; }
  epoch(): string { return `${this.prefix}:epoch`; }
  members(): string { return `${this.prefix}:members`; }
  symbols(shard: number): string { return `${this.prefix}:syms:${shard}`; }
  seq(): string { return `${this.prefix}:seq`; }
  output(topic: string): string { return `${this.prefix}:out:${topic}`; }
}

/**
 * A symbol's shard: FNV-1a (32-bit) of its UTF-8 bytes, modulo the shard count. Stable across
 * processes, machines and versions (it is part of the data layout: changing it moves symbols).
 */
export function shardOf(symbol: string, shards: number): number {
  let h = 0x811c9dc5;
  const b = Buffer.from(symbol, 'utf8');
  for (let i = 0; i < b.length; i++) {
    h ^= b[i]!;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h % shards;
}

/** A result stream entry id split into the topic seq and the notice index (0: the seq's frame). */
export function parseEntryId(id: string): { seq: number; sub: number } {
  const dash = id.indexOf('-');
  return { seq: Number(id.slice(0, dash)), sub: Number(id.slice(dash + 1)) };
}
