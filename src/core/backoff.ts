/**
 * Exponential backoff: `initialMs * 2^attempt`, capped at `maxMs`; with jitter, a random 50-100% of
 * that, so clients that lost the same server do not all come back in the same instant.
 */
export function backoffMs(attempt: number, initialMs: number, maxMs: number, jitter = true): number {
  const base = Math.min(maxMs, initialMs * 2 ** attempt);
  return jitter ? base * (0.5 + Math.random() * 0.5) : base;
}
