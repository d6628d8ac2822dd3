/**
 * Loads uWebSockets.js and refuses the pure-JS fallback. The package silently falls back to a slow
 * Node implementation when its native binary does not load (wrong Node ABI, glibc too old, or
 * UWS_USE_FALLBACK set); the native module is the one that exports `getParts`.
 */
import uWS from 'uWebSockets.js';

export { uWS };

export class NativeUwsMissing extends Error {
  constructor() {
    super(
      'uWebSockets.js loaded its pure-JS fallback, not the native addon (see the warning above: Node ABI ' +
      `${process.versions.modules}, ${process.platform}-${process.arch}). flowcast refuses to serve on it: ` +
      'install a uWebSockets.js build for this platform, and unset UWS_USE_FALLBACK.',
    );
    this.name = 'NativeUwsMissing';
  }
}

export function uwsIsNative(): boolean {
  return typeof (uWS as unknown as { getParts?: unknown }).getParts === 'function';
}

export function requireNativeUws(): typeof uWS {
  if (!uwsIsNative()) throw new NativeUwsMissing();
  return uWS;
}

/**
 * The `maxPayloadLength` to give uWS for a documented frame limit. uWS cuts a connection whose frame
 * is over its limit without a close frame (the client sees 1006), so it gets headroom and the
 * endpoints refuse frames over the documented limit themselves, with 1009 and a reason. Only
 * frames over this larger bound are still cut; it is what one connection may make the server hold.
 */
export function uwsPayloadLimit(documented: number): number {
  return documented * 4;
}

/** Text of an ArrayBuffer uWS hands out (addresses, close messages). */
export function abText(ab: ArrayBuffer): string {
  return Buffer.from(ab).toString('utf8');
}
