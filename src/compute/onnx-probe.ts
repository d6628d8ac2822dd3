/**
 * Which ONNX Runtime execution providers actually run here: a session is created and run on a
 * one-node model (Y = X * X, float32 [4]) for each provider the onnxruntime-node build lists.
 * The model is encoded here, in memory, so the probe needs no model file.
 */
import { errorLine } from './backend.ts';
import { DataType, GraphBuilder, modelBytes } from '../inference/onnx/graph.ts';
export interface ProviderStatus {
  name: string;
  /** Shipped inside the npm package (false: needs the separately installed CUDA/TensorRT libraries). */
  bundled: boolean;
  live: boolean;
  detail: string;
}

/**
 * Probes every provider onnxruntime-node reports (or only `only`); never throws. A provider that
 * fails to load makes ONNX Runtime print its own error lines on stderr.
 */
export async function probeExecutionProviders(only?: readonly string[]): Promise<{ version: string; providers: ProviderStatus[] } | { error: string }> {
  let ort: typeof import('onnxruntime-node');
  try {
    ort = await import('onnxruntime-node');
  } catch (e) {
    return { error: `onnxruntime-node failed to load: ${(e as Error).message.split('\n')[0]}` };
  }
  const model = squareModel();
  const providers: ProviderStatus[] = [];
  for (const { name, bundled } of ort.listSupportedBackends()) {
    if (only && !only.includes(name)) {
      providers.push({ name, bundled, live: false, detail: 'not probed' });
      continue;
    }
    try {
      const s = await ort.InferenceSession.create(model, { executionProviders: [name], logSeverityLevel: 3 });
      const x = new ort.Tensor('float32', Float32Array.from([1, 2, 3, 4]), [4]);
      const y = (await s.run({ X: x })).Y!.data as Float32Array;
      await s.release();
      const ok = y[3] === 16;
      providers.push({ name, bundled, live: ok, detail: ok ? 'session created and ran' : `wrong result ${Array.from(y)}` });
    } catch (e) {
      providers.push({ name, bundled, live: false, detail: errorLine(e).slice(0, 300) });
    }
  }
  return { version: ort.env.versions?.node ?? ort.env.versions?.common ?? 'unknown', providers };
}

/** ONNX model (opset 13): Y = Mul(X, X) over float32 [4], written by the project's own ONNX encoder. */
export function squareModel(): Uint8Array {
  const g = new GraphBuilder('probe');
  const x = g.input('X', DataType.FLOAT, [4]);
  g.node('Mul', [x, x], {}, { outputs: ['Y'], name: 'square' });
  g.output('Y', DataType.FLOAT, [4]);
  return modelBytes(g.build(), { opsets: [{ domain: '', version: 13 }] });
}
