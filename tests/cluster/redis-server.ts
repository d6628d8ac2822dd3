/**
 * A private redis-server for a test file: Debian's binary on a free port, in a temp dir, without
 * persistence; stopped (and its dir removed) by the caller. Tests skip with a clear message where
 * redis-server is not installed (.ci/run installs it).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const REDIS_BIN = process.env.REDIS_SERVER ?? 'redis-server';

export function redisAvailable(): boolean {
  return spawnSync(REDIS_BIN, ['--version'], { stdio: 'ignore' }).status === 0;
}

export const NO_REDIS = `redis-server not found (${REDIS_BIN}): the cluster tests need Debian's redis-server (apt-get install redis-server; .ci/run installs it)`;

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export interface TestRedis {
  port: number;
  dir: string;
  url: string;
  /** Stops the server (SIGKILL with `hard`: Redis vanishing mid-stream). */
  stop(hard?: boolean): Promise<void>;
  /** Starts it again on the same port (empty: no persistence). */
  restart(): Promise<void>;
}

export async function startRedis(): Promise<TestRedis> {
  const dir = mkdtempSync(join(tmpdir(), 'flowcast-redis-'));
  const port = await freePort();
  let proc: ChildProcess | undefined;
  const launch = async (): Promise<void> => {
    const p = spawn(REDIS_BIN, ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--protected-mode', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] });
    proc = p;
    await new Promise<void>((resolve, reject) => {
      let out = '';
      const onData = (b: Buffer): void => {
        out += b.toString();
        if (out.includes('Ready to accept connections')) resolve();
      };
      p.stdout!.on('data', onData);
      p.stderr!.on('data', onData);
      p.once('exit', (code) => reject(new Error(`redis-server on port ${port} exited (${code}) before it was ready:\n${out.slice(-2000)}`)));
    });
  };
  await launch();
  const stop = async (hard = false): Promise<void> => {
    const p = proc;
    if (!p || p.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      p.once('exit', () => resolve());
      p.kill(hard ? 'SIGKILL' : 'SIGTERM');
    });
  };
  return { port, dir, url: `redis://127.0.0.1:${port}`, stop, restart: launch };
}

/** Stops the server and removes its dir (a test file's last step). */
export async function disposeRedis(r: TestRedis): Promise<void> {
  await r.stop(true);
  rmSync(r.dir, { recursive: true, force: true });
}

/** Waits until `cond` holds, polling on a timer (events we do not own); throws `what` after `ms`. */
export async function until(cond: () => boolean | Promise<boolean>, what: string, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
