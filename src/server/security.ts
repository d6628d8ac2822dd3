/**
 * Who may connect and what they may do: API keys (hashed) with topic patterns, ingest symbols and
 * connection limits; anonymous read-only access (loopback binds only); the browser origin check;
 * per-connection token buckets for request rates.
 */
import { hashKey, isLoopbackHost, type ApiKey, type ServerConfig } from './config.ts';

export interface Principal {
  /** Key id, or 'anonymous'. */
  id: string;
  key: ApiKey | undefined;
  /** Whether a topic may be subscribed. */
  canRead(topic: string): boolean;
  /** Whether a symbol may be written over /ingest. */
  canWrite(symbol: string): boolean;
}

/** `*` matches any run of characters (dots included); everything else is literal. */
export function patternToRegExp(p: string): RegExp {
  return new RegExp(`^${p.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\/-]/g, '\\$&')).join('.*')}$`);
}

/** Whether a name matches any of the patterns (`*` alone: everything). */
export function makeMatcher(patterns: readonly string[]): (s: string) => boolean {
  if (patterns.includes('*')) return () => true;
  const res = patterns.map(patternToRegExp);
  return (s) => res.some((r) => r.test(s));
}

const ANONYMOUS: Principal = { id: 'anonymous', key: undefined, canRead: () => true, canWrite: () => false };

export type AuthResult = { ok: true; principal: Principal } | { ok: false; status: string; reason: string };

export class Security {
  private readonly byHash = new Map<string, Principal>();
  private readonly connectionsByKey = new Map<string, number>();
  private readonly connectionsByIp = new Map<string, number>();
  private total = 0;
  readonly anonymousAllowed: boolean;

  constructor(private readonly cfg: ServerConfig) {
    // Belt and braces: config loading already forces this, but a hand-built config must not bypass it.
    this.anonymousAllowed = cfg.security.anonymous && isLoopbackHost(cfg.host);
    for (const k of cfg.security.keys) {
      const read = makeMatcher(k.read);
      const write = makeMatcher(k.write);
      this.byHash.set(k.hash.toString('hex'), { id: k.id, key: k, canRead: read, canWrite: write });
    }
  }

  get connections(): number {
    return this.total;
  }

  /**
   * Authenticates a presented key (or none). A wrong key is refused even where anonymous access
   * would be allowed: a client that meant to authenticate should learn that it failed.
   */
  authenticate(presented: string | undefined, needWrite: boolean): AuthResult {
    if (presented) {
      const p = this.byHash.get(hashKey(presented).toString('hex'));
      if (!p) return { ok: false, status: '401 Unauthorized', reason: 'unknown API key' };
      if (needWrite && p.key!.write.length === 0) return { ok: false, status: '403 Forbidden', reason: `key "${p.id}" has no write access (ingest needs a write key)` };
      return { ok: true, principal: p };
    }
    if (needWrite) return { ok: false, status: '401 Unauthorized', reason: 'ingest needs a write key (Authorization: Bearer KEY, or ?key=KEY)' };
    if (!this.anonymousAllowed) return { ok: false, status: '401 Unauthorized', reason: 'an API key is required (Authorization: Bearer KEY, or ?key=KEY)' };
    return { ok: true, principal: ANONYMOUS };
  }

  /** Reserves a connection slot; returns a refusal reason when a limit is reached. */
  admit(p: Principal, ip: string): string | undefined {
    if (this.total >= this.cfg.limits.maxConnections) return `server connection limit (${this.cfg.limits.maxConnections}) reached`;
    if (p.key) {
      const n = this.connectionsByKey.get(p.id) ?? 0;
      if (n >= p.key.maxConnections) return `connection limit of key "${p.id}" (${p.key.maxConnections}) reached`;
      this.connectionsByKey.set(p.id, n + 1);
    } else {
      const n = this.connectionsByIp.get(ip) ?? 0;
      if (n >= this.cfg.limits.maxConnectionsPerIp) return `anonymous connection limit per address (${this.cfg.limits.maxConnectionsPerIp}) reached`;
      this.connectionsByIp.set(ip, n + 1);
    }
    this.total++;
    return undefined;
  }

  release(p: Principal, ip: string): void {
    this.total--;
    const map = p.key ? this.connectionsByKey : this.connectionsByIp;
    const k = p.key ? p.id : ip;
    const n = (map.get(k) ?? 1) - 1;
    if (n <= 0) map.delete(k);
    else map.set(k, n);
  }

  /**
   * Browsers send Origin on WebSocket upgrades; a page on another site must not read the feed
   * through a visitor's browser (cross-site WebSocket hijacking, which a loopback bind does not
   * prevent). Same-origin and configured origins pass; requests without Origin are not browsers.
   */
  originAllowed(origin: string, host: string): boolean {
    if (!origin) return true;
    if (this.cfg.security.allowedOrigins.includes(origin)) return true;
    return origin === `http://${host}` || origin === `https://${host}`;
  }
}

/** A token bucket: `rate` tokens per second, holding at most `burst`. */
export class TokenBucket {
  private tokens: number;
  private last: number;
  constructor(private readonly rate: number, private readonly burst: number) {
    this.tokens = burst;
    this.last = performance.now();
  }
  take(n = 1): boolean {
    const now = performance.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) * this.rate) / 1000);
    this.last = now;
    if (this.tokens < n) return false;
    this.tokens -= n;
    return true;
  }
}

/** The key a request presents: `Authorization: Bearer KEY`, or `key=` in the query (browsers cannot set headers on WebSockets). */
export function presentedKey(authorization: string, query: string): string | undefined {
  const m = /^Bearer\s+(\S+)$/i.exec(authorization);
  if (m) return m[1];
  const q = new URLSearchParams(query).get('key');
  return q || undefined;
}
