/**
 * Which ONNX Runtime execution providers actually run here: a session is created and run on a
 * one-node model (Y = X * X, float32 [4]) for each provider the onnxruntime-node build lists.
 * The model is encoded here, in memory, so the probe needs no model file.
 */
import { errorLine } from './backend.ts';
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

// Minimal protobuf writer: enough for an ONNX ModelProto.
type Field = [number, number | string | Uint8Array];

function varint(n: number): number[] {
  const out: number[] = [];
  while (n > 127) {
    out.push((n & 127) | 128);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}

function message(fields: Field[]): Uint8Array {
  const bytes: number[] = [];
  for (const [no, v] of fields) {
    if (typeof v === 'number') {
      bytes.push(...varint(no << 3), ...varint(v));
    } else {
      const b = typeof v === 'string' ? new TextEncoder().encode(v) : v;
      bytes.push(...varint((no << 3) | 2), ...varint(b.length), ...b);
    }
  }
  return Uint8Array.from(bytes);
}

function tensorValue(name: string): Uint8Array {
  const FLOAT = 1;
  const shape = message([[1, message([[1, 4]])]]);
  const tensorType = message([[1, FLOAT], [2, shape]]);
  return message([[1, name], [2, message([[1, tensorType]])]]);
}

/** ONNX model (IR 8, opset 13): Y = Mul(X, X) over float32 [4]. */
export function squareModel(): Uint8Array {
  const node = message([[1, 'X'], [1, 'X'], [2, 'Y'], [3, 'square'], [4, 'Mul']]);
  const graph = message([[1, node], [2, 'probe'], [11, tensorValue('X')], [12, tensorValue('Y')]]);
  return message([[1, 8], [2, 'flowcast'], [7, graph], [8, message([[1, ''], [2, 13]])]]);
}
