/**
 * A compute process on its own (the failover test kills it with SIGKILL): connects, runs the
 * compute role, and prints `owns <shards>` on stdout whenever what it owns changes.
 * Env: REDIS_URL, PREFIX, SHARDS, LEASE_MS, CONSUMER.
 */
import { ClusterCompute } from '../../src/cluster/compute.ts';
import { connectRedis } from '../../src/cluster/redis.ts';
import { MetricsRegistry } from '../../src/server/metrics.ts';
import { pipelineOptions } from './fixtures.ts';

const env = (k: string): string => {
  const v = process.env[k];
  if (!v) throw new Error(`compute-child: ${k} is not set`);
  return v;
};
const url = env('REDIS_URL');
const c = new ClusterCompute(connectRedis(url, 'child-cmd'), connectRedis(url, 'child-read'), {
  prefix: env('PREFIX'), shards: Number(env('SHARDS')), leaseMs: Number(env('LEASE_MS')), consumer: env('CONSUMER'),
  bookIntervalMs: 0, pipeline: pipelineOptions(),
}, new MetricsRegistry());
await c.start();
let last = '';
setInterval(() => {
  const now = c.ownedShards().join(',');
  if (now !== last) {
    last = now;
    process.stdout.write(`owns ${now}\n`);
  }
}, 20);
