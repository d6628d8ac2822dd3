/**
 * Who may connect and what they may do: API keys (hashed) with topic patterns, ingest symbols and
 * connection limits; anonymous read-only access (loopback binds, loopback Host names only); the
 * browser origin check; throttling of failed key attempts per address; per-connection token buckets
 * for request rates.
 */
import { hashKey, isLoopbackHost, type ApiKey, type ServerConfig } from './config.ts';

export interface Principal {
  /** Key id, or 'anonymous'. */
  id: string;
  key: ApiKey | undefined;
  /** Whether a topic may be subscribed. */
  canRead(topic: string): boolean;
  /** Whether some topic that starts with `prefix` and goes on past it may be read (`pred.M.`: some symbol's predictions of M). */
  canReadUnder(prefix: string): boolean;
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

/**
 * Whether any of the patterns matches some name that starts with `prefix` and is longer. A pattern
 * without `*` must itself be such a name; with one, the text before its first `*` must extend the
 * prefix or be a prefix of it (that `*` then covers the rest of the prefix, and anything after).
 */
export function makePrefixMatcher(patterns: readonly string[]): (prefix: string) => boolean {
  if (patterns.includes('*')) return () => true;
  return (prefix) => patterns.some((p) => {
    const star = p.indexOf('*');
    if (star < 0) return p.length > prefix.length && p.startsWith(prefix);
    const head = p.slice(0, star);
    return head.startsWith(prefix) || prefix.startsWith(head);
  });
}

const ANONYMOUS: Principal = { id: 'anonymous', key: undefined, canRead: () => true, canReadUnder: () => true, canWrite: () => false };

/** What a request (an upgrade, an HTTP request) offers to be let in with. */
export interface Credentials {
  /** The Authorization header ('' when absent). */
  authorization: string;
  /** The query string, for `key=`. */
  query: string;
  /** The Host header. */
  host: string;
  /** The peer's address. */
  ip: string;
}

export type AuthResult =
  | { ok: true; principal: Principal }
  /** `presented`: whether the request offered a key (a refusal without one may still get what needs none). */
  | { ok: false; status: string; reason: string; presented: boolean; retryAfterS?: number };

/**
 * Most addresses the failed-attempt table holds: a flood of failures from more addresses than this
 * evicts the oldest windows instead of growing without bound.
 */
export const AUTH_FAILURE_TABLE_SIZE = 10_000;

/** An address's failed key attempts in the window that began with the first of them. */
interface Failures {
  since: number;
  n: number;
}

/** The Host header's name: without the port, IPv6 addresses in brackets. */
export function hostName(host: string): string {
  if (host.startsWith('[')) {
    const end = host.indexOf(']');
    return end < 0 ? host : host.slice(0, end + 1);
  }
  const colon = host.indexOf(':');
  return colon < 0 ? host : host.slice(0, colon);
}

export class Security {
  private readonly byHash = new Map<string, Principal>();
  private readonly connectionsByKey = new Map<string, number>();
  private readonly connectionsByIp = new Map<string, number>();
  /** Failed key attempts by address, in the order their windows began (so expired ones come first). */
  private readonly failures = new Map<string, Failures>();
  private total = 0;
  readonly anonymousAllowed: boolean;

  constructor(private readonly cfg: ServerConfig, private readonly now: () => number = () => performance.now()) {
    // Belt and braces: config loading already forces this, but a hand-built config must not bypass it.
    this.anonymousAllowed = cfg.security.anonymous && isLoopbackHost(cfg.host);
    for (const k of cfg.security.keys) {
      this.byHash.set(k.hash.toString('hex'), {
        id: k.id, key: k, canRead: makeMatcher(k.read), canReadUnder: makePrefixMatcher(k.read), canWrite: makeMatcher(k.write),
      });
    }
  }

  get connections(): number {
    return this.total;
  }

  /** Addresses with failed key attempts in a window not yet over (at most AUTH_FAILURE_TABLE_SIZE). */
  get failingAddresses(): number {
    return this.failures.size;
  }

  /**
   * Authenticates a request by the key it presents (or none). A wrong key is refused even where
   * anonymous access would be allowed: a client that meant to authenticate should learn that it
   * failed. So is an Authorization header that is not a bearer token: read as "no key", it would
   * turn a misconfigured client into an anonymous one without telling it.
   *
   * After `limits.authFailures` failed attempts from one address within `limits.authFailureWindowMs`
   * of the first, every key that address presents is refused (429) until that window is over, the
   * right one included: otherwise guessing could go on at full speed and succeed all the same.
   * Requests without a key are not held back (they are not guesses).
   *
   * Anonymous access on a loopback bind also needs a loopback Host name: a page whose name an
   * attacker rebinds to 127.0.0.1 (DNS rebinding) reaches the server from the visitor's browser,
   * same-origin as far as Origin and Host are concerned, but with the attacker's name in Host.
   */
  authenticate(c: Credentials, needWrite: boolean): AuthResult {
    const presented = presentedKey(c.authorization, c.query);
    if (presented !== undefined) {
      const wait = this.throttled(c.ip);
      if (wait > 0) {
        const { authFailures: n, authFailureWindowMs: w } = this.cfg.limits;
        return {
          ok: false, status: '429 Too Many Requests', presented: true, retryAfterS: wait,
          reason: `${n} failed API key attempts from this address within ${Math.round(w / 1000)} s: retry in ${wait} s`,
        };
      }
      if (presented === false) return this.failed(c.ip, 'the Authorization header must be "Bearer KEY"');
      const p = this.byHash.get(hashKey(presented).toString('hex'));
      if (!p) return this.failed(c.ip, 'unknown API key');
      if (needWrite && p.key!.write.length === 0) return { ok: false, status: '403 Forbidden', presented: true, reason: `key "${p.id}" has no write access (ingest needs a write key)` };
      return { ok: true, principal: p };
    }
    const refuse = (reason: string): AuthResult => ({ ok: false, status: '401 Unauthorized', presented: false, reason });
    if (needWrite) return refuse('ingest needs a write key (Authorization: Bearer KEY, or ?key=KEY)');
    if (!this.anonymousAllowed) return refuse('an API key is required (Authorization: Bearer KEY, or ?key=KEY)');
    if (!isLoopbackHost(hostName(c.host))) return refuse(`anonymous access is for loopback names only (Host "${c.host}"): present an API key`);
    return { ok: true, principal: ANONYMOUS };
  }

  /** Seconds until `ip` may present keys again (0: now). */
  private throttled(ip: string): number {
    const f = this.failures.get(ip);
    if (!f) return 0;
    const left = f.since + this.cfg.limits.authFailureWindowMs - this.now();
    if (left <= 0) {
      this.failures.delete(ip);
      return 0;
    }
    return f.n >= this.cfg.limits.authFailures ? Math.ceil(left / 1000) : 0;
  }

  /** Counts a failed attempt from `ip` and makes its refusal. */
  private failed(ip: string, reason: string): AuthResult {
    const now = this.now();
    const w = this.cfg.limits.authFailureWindowMs;
    let f = this.failures.get(ip);
    if (f && now - f.since >= w) {
      this.failures.delete(ip);
      f = undefined;
    }
    if (!f) {
      // Expired windows are at the front; past the bound, the oldest live one goes too.
      for (const [k, old] of this.failures) {
        if (now - old.since < w && this.failures.size < AUTH_FAILURE_TABLE_SIZE) break;
        this.failures.delete(k);
      }
      f = { since: now, n: 0 };
      this.failures.set(ip, f);
    }
    f.n++;
    return { ok: false, status: '401 Unauthorized', presented: true, reason };
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

/**
 * The key a request presents: `Authorization: Bearer KEY`, or `key=` in the query (browsers cannot
 * set headers on WebSockets); undefined when it presents none, false when the header is there but
 * is not a bearer token.
 */
function presentedKey(authorization: string, query: string): string | undefined | false {
  if (authorization) {
    const m = /^Bearer +(\S+)$/i.exec(authorization.trim());
    return m ? m[1]! : false;
  }
  const q = new URLSearchParams(query).get('key');
  return q || undefined;
}
