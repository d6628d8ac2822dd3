/**
 * Multinomial logistic regression (softmax over a linear map), fitted by L-BFGS on the L2-penalised
 * mean cross-entropy, with optional class weights. The evaluation's baseline on OFI features, and
 * a small real model for tests. Exports to ONNX (Reshape -> MatMul -> Add -> Softmax) so the
 * baseline is served and evaluated through the same path as every other model.
 */
import { GraphBuilder, attr, modelBytes, DataType } from '../inference/onnx/graph.ts';
import { appendNormalization } from '../inference/normalize.ts';
import type { Normalization } from '../inference/manifest.ts';

export interface LogRegModel {
  /** d x C weights, row-major (feature-major). */
  W: Float64Array;
  b: Float64Array;
  d: number;
  C: number;
  iterations: number;
  loss: number;
}

export interface LogRegOptions {
  l2?: number;
  maxIter?: number;
  /** Per-class weights for the loss (e.g. inverse frequency); default 1. */
  classWeights?: number[];
  tol?: number;
}

/** X: n x d row-major (finite values), y: class index per row. */
export function fitLogReg(X: Float64Array | Float32Array, y: ArrayLike<number>, n: number, d: number, C: number, o: LogRegOptions = {}): LogRegModel {
  const l2 = o.l2 ?? 1e-4;
  const cw = o.classWeights ?? new Array<number>(C).fill(1);
  const P = (d + 1) * C;
  let wsum = 0;
  for (let i = 0; i < n; i++) wsum += cw[y[i]!]!;
  const probs = new Float64Array(C);
  // Parameters: W (d x C) then b (C).
  const f = (theta: Float64Array, grad: Float64Array): number => {
    grad.fill(0);
    let loss = 0;
    for (let i = 0; i < n; i++) {
      const row = i * d;
      let mx = -Infinity;
      for (let c = 0; c < C; c++) {
        let z = theta[d * C + c]!;
        for (let j = 0; j < d; j++) z += X[row + j]! * theta[j * C + c]!;
        probs[c] = z;
        if (z > mx) mx = z;
      }
      let s = 0;
      for (let c = 0; c < C; c++) s += probs[c] = Math.exp(probs[c]! - mx);
      const yi = y[i]!;
      const w = cw[yi]! / wsum;
      loss -= w * (Math.log(probs[yi]! / s));
      for (let c = 0; c < C; c++) {
        const g = w * (probs[c]! / s - (c === yi ? 1 : 0));
        if (g === 0) continue;
        for (let j = 0; j < d; j++) grad[j * C + c] += g * X[row + j]!;
        grad[d * C + c] += g;
      }
    }
    for (let k = 0; k < d * C; k++) {
      loss += 0.5 * l2 * theta[k]! * theta[k]!;
      grad[k] += l2 * theta[k]!;
    }
    return loss;
  };
  const { x, iterations, value } = lbfgs(f, new Float64Array(P), o.maxIter ?? 200, o.tol ?? 1e-7);
  return { W: x.slice(0, d * C), b: x.slice(d * C), d, C, iterations, loss: value };
}

/** Class probabilities for n rows. */
export function predictLogReg(m: LogRegModel, X: ArrayLike<number>, n: number): Float64Array {
  const { d, C, W, b } = m;
  const out = new Float64Array(n * C);
  for (let i = 0; i < n; i++) {
    let mx = -Infinity;
    for (let c = 0; c < C; c++) {
      let z = b[c]!;
      for (let j = 0; j < d; j++) z += X[i * d + j]! * W[j * C + c]!;
      out[i * C + c] = z;
      if (z > mx) mx = z;
    }
    let s = 0;
    for (let c = 0; c < C; c++) s += out[i * C + c] = Math.exp(out[i * C + c]! - mx);
    for (let c = 0; c < C; c++) out[i * C + c] /= s;
  }
  return out;
}

/**
 * ONNX for a softmax-linear model over input [N, ...sampleDims] (flattened to d per sample):
 * input `features`, output `probs` [N, C]; with `normalization`, the graph normalises raw input first.
 */
export function logRegToOnnx(m: LogRegModel, sampleDims: number[], inputName = 'features', normalization?: Normalization | null): Uint8Array {
  const g = new GraphBuilder('logreg');
  const input = g.input(inputName, DataType.FLOAT, ['N', ...sampleDims]);
  const x = normalization ? appendNormalization(g, input, normalization) : input;
  const flat = sampleDims.length === 1 ? x : g.node('Reshape', [x, g.int64s('flat_shape', [-1, m.d])]);
  const z = g.node('Add', [g.node('MatMul', [flat, g.weight('W', [m.d, m.C], m.W)]), g.weight('b', [m.C], m.b)]);
  g.node('Softmax', [z], { axis: attr.i(-1) }, { outputs: ['probs'] });
  g.output('probs', DataType.FLOAT, ['N', m.C]);
  return modelBytes(g.build(), { docString: 'multinomial logistic regression (flowcast)' });
}

/** Limited-memory BFGS with a backtracking (Armijo) line search; minimises f. */
export function lbfgs(
  f: (x: Float64Array, g: Float64Array) => number,
  x0: Float64Array,
  maxIter: number,
  tol: number,
  memory = 10,
): { x: Float64Array; value: number; iterations: number } {
  const P = x0.length;
  let x = x0.slice();
  let g = new Float64Array(P);
  let fx = f(x, g);
  const S: Float64Array[] = [], Y: Float64Array[] = [], rho: number[] = [];
  const dir = new Float64Array(P);
  const alpha = new Float64Array(memory);
  const xn = new Float64Array(P), gn = new Float64Array(P);
  let it = 0;
  for (; it < maxIter; it++) {
    // Two-loop recursion: dir = -H g.
    for (let k = 0; k < P; k++) dir[k] = -g[k]!;
    for (let i = S.length - 1; i >= 0; i--) {
      alpha[i] = rho[i]! * dot(S[i]!, dir);
      axpy(-alpha[i]!, Y[i]!, dir);
    }
    if (S.length) {
      const last = S.length - 1;
      const gamma = dot(S[last]!, Y[last]!) / dot(Y[last]!, Y[last]!);
      for (let k = 0; k < P; k++) dir[k] *= gamma;
    }
    for (let i = 0; i < S.length; i++) {
      const beta = rho[i]! * dot(Y[i]!, dir);
      axpy(alpha[i]! - beta, S[i]!, dir);
    }
    let slope = dot(g, dir);
    if (slope >= 0) {
      // Not a descent direction: restart from steepest descent.
      S.length = Y.length = rho.length = 0;
      for (let k = 0; k < P; k++) dir[k] = -g[k]!;
      slope = dot(g, dir);
    }
    let step = it === 0 ? Math.min(1, 1 / Math.sqrt(dot(g, g)) || 1) : 1;
    let fn = NaN;
    for (let ls = 0; ls < 40; ls++) {
      for (let k = 0; k < P; k++) xn[k] = x[k]! + step * dir[k]!;
      fn = f(xn, gn);
      if (fn <= fx + 1e-4 * step * slope) break;
      step *= 0.5;
    }
    if (!(fn <= fx)) break;
    const s = new Float64Array(P), yv = new Float64Array(P);
    for (let k = 0; k < P; k++) {
      s[k] = xn[k]! - x[k]!;
      yv[k] = gn[k]! - g[k]!;
    }
    const sy = dot(s, yv);
    if (sy > 1e-12) {
      S.push(s);
      Y.push(yv);
      rho.push(1 / sy);
      if (S.length > memory) {
        S.shift();
        Y.shift();
        rho.shift();
      }
    }
    const improvement = fx - fn;
    x = xn.slice();
    g = gn.slice();
    fx = fn;
    if (improvement < tol * Math.max(1, Math.abs(fx)) || Math.sqrt(dot(g, g)) < tol) {
      it++;
      break;
    }
  }
  return { x, value: fx, iterations: it };
}

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

function axpy(a: number, x: Float64Array, y: Float64Array): void {
  for (let i = 0; i < x.length; i++) y[i] += a * x[i]!;
}
