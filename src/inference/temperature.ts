/**
 * Serving a model's fitted temperature (manifest output.temperature): the probabilities a client
 * gets are softmax(log p / T) of the graph's probabilities p. log p is the logit vector up to a
 * per-row constant, which the softmax ignores, so this is temperature scaling of the logits
 * exactly as `flowcast evaluate` and `flowcast models calibrate` fit it (src/training/calibration.ts,
 * with the same floor under p before the log). It never changes a row's most likely class.
 */
import type { BatchRunner } from './batcher.ts';

/** p is clamped here before the log (the floor T is fitted with: src/training/calibration.ts uses it too). */
export const TEMPERATURE_PROB_FLOOR = 1e-15;

/**
 * softmax(log p / T) of n rows of C probabilities into `out` (which may be `p` itself), in float64
 * per row. Returns `out`. The one implementation for serving and for the calibration report.
 */
export function temperatureInto<A extends Float32Array | Float64Array>(p: ArrayLike<number>, n: number, C: number, T: number, out: A): A {
  const z = new Float64Array(C);
  for (let i = 0; i < n; i++) {
    const o = i * C;
    let mx = -Infinity;
    for (let c = 0; c < C; c++) {
      z[c] = Math.log(Math.max(p[o + c]!, TEMPERATURE_PROB_FLOOR)) / T;
      if (z[c]! > mx) mx = z[c]!;
    }
    let s = 0;
    for (let c = 0; c < C; c++) s += z[c] = Math.exp(z[c]! - mx);
    for (let c = 0; c < C; c++) out[o + c] = z[c]! / s;
  }
  return out;
}

/** Rescales n rows of C served probabilities in place to softmax(log p / T) (stored back as float32). Returns `p`. */
export function scaleByTemperature(p: Float32Array, n: number, C: number, T: number): Float32Array {
  return temperatureInto(p, n, C, T, p);
}

/** A runner whose outputs are rescaled by T: what the batcher runs for a model with a temperature. */
export function withTemperature(runner: BatchRunner, C: number, T: number): BatchRunner {
  return {
    run: async (input, n) => scaleByTemperature(await runner.run(input, n), n, C, T),
    ...(runner.batchBuffer ? { batchBuffer: (floats: number) => runner.batchBuffer!(floats) } : {}),
  };
}
