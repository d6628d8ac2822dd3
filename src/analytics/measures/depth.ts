/**
 * Depth near the mid and at the top of the book, per side, for the liquidity measures and the
 * liquidity-evaporation detector: from the full book through a ladder's best levels, or from a row
 * when the row holds the whole book.
 */
import type { PriceLadder } from '../../book/ladder.ts';

/** Per side: scratch arrays for the book's best levels, and how many levels the band took last time. */
export class DepthScratch {
  px = new Float64Array(64);
  sz = new Float64Array(64);
  want = 16;
}

/**
 * One side of a full book: the size within `bps` of mid into near[k] (NaN when mid is undefined)
 * and the size of the best L levels into top[k]. Reads the best levels through the ladder's `top`
 * (a tick grid or sorted pages alike), as many as the band took last time plus a margin, more if
 * the band reaches past them.
 */
export function depthBoth(l: PriceLadder, mid: number, bps: number, L: number, scr: DepthScratch, near: Float64Array, top: Float64Array, k: number): void {
  const n = l.n;
  let want = Math.min(n, Math.max(L, scr.want));
  const bid = l.sign > 0;
  const lim = bid ? mid * (1 - bps / 1e4) : mid * (1 + bps / 1e4);
  let dn = 0;
  let inBand = 0;
  for (;;) {
    if (scr.px.length < want) {
      let c = scr.px.length;
      while (c < want) c *= 2;
      scr.px = new Float64Array(c);
      scr.sz = new Float64Array(c);
    }
    l.top(want, scr.px, scr.sz);
    dn = 0;
    inBand = 0;
    const px = scr.px;
    const sz = scr.sz;
    while (inBand < want && (bid ? px[inBand]! >= lim : px[inBand]! <= lim)) dn += sz[inBand++]!;
    if (inBand < want || want >= n || mid !== mid) break;
    want = Math.min(n, want * 2);
  }
  scr.want = inBand + 8;
  let dt = 0;
  const m = L < want ? L : want;
  for (let i = 0; i < m; i++) dt += scr.sz[i]!;
  near[k] = mid === mid ? dn : NaN;
  top[k] = dt;
}

/** The size of the best L levels of one side into top[k]. */
export function depthTopOnly(l: PriceLadder, L: number, scr: DepthScratch, top: Float64Array, k: number): void {
  if (scr.px.length < L) {
    scr.px = new Float64Array(L);
    scr.sz = new Float64Array(L);
  }
  l.top(L, scr.px, scr.sz);
  let dt = 0;
  for (let i = 0; i < L; i++) dt += scr.sz[i]!;
  top[k] = dt;
}

/** Size within `bps` of mid over the first n levels of a row's side (the row holds the whole book). */
export function rowDepthWithin(px: Float64Array, sz: Float64Array, n: number, mid: number, bps: number): number {
  if (mid !== mid) return NaN;
  let d = 0;
  for (let i = 0; i < n; i++) {
    const p = px[i]!;
    if (p !== p || Math.abs(p - mid) > (mid * bps) / 1e4) break;
    d += sz[i]!;
  }
  return d;
}

/** Size of the first n levels of a row's side. */
export function rowDepthTop(sz: Float64Array, n: number): number {
  let d = 0;
  for (let i = 0; i < n; i++) d += sz[i]!;
  return d;
}
