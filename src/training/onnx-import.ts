/**
 * `flowcast models import onnx`: serves an ONNX model trained elsewhere (PyTorch, Keras, sklearn
 * exports) by writing its manifest from what the user states (columns, window, classes, feature
 * parameters) and what the graph says (input and output names, shapes, element types), after
 * checking that ONNX Runtime runs it on the stated shape and that it outputs probabilities.
 *
 * A model that outputs logits is wrapped with `--softmax`: a Softmax node is appended to the graph
 * at the protobuf wire level (every other byte of the file is kept as it is: initializers, value
 * infos, functions, metadata), its output becoming the graph's output; the wrapped model is checked
 * against the original's logits put through a softmax here.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { ProtoWriter, WireType } from '../inference/onnx/wire.ts';
import { decodeModel, DATA_TYPE_NAMES, DataType } from '../inference/onnx/proto.ts';
import type { FeatureParams, ModelManifest } from '../inference/manifest.ts';
import { FEATURE_SPEC_VERSION } from '../features/columns.ts';
import { writeModelDir, type WrittenModel } from './model-dir.ts';
import { mulberry32 } from './random.ts';
import { InputError, InputErrorCode } from '../core/errors.ts';

export interface OnnxImportOptions {
  file: string;
  name: string;
  modelsDir: string;
  version: string;
  columns: string[];
  window: number;
  classes: string[];
  labelValues?: number[];
  horizon: number;
  alpha: number;
  softmax: boolean;
  features: FeatureParams;
  /** The graph output holding the scores (default: the first). */
  output?: string;
  command: string;
}

export interface OnnxImportResult extends WrittenModel {
  layout: 'NTF' | 'NF';
  inputName: string;
  outputName: string;
  /** Max |p - softmax(original logits)| (softmax wrap) or max |row sum - 1| (probabilities as they are). */
  check: { samples: number; maxAbsDiff: number; what: string };
}

/** Byte extents of a message's top-level fields, in order. */
interface Span { field: number; wire: number; start: number; end: number; payload: [number, number] }

function spans(buf: Uint8Array, where: string): Span[] {
  const out: Span[] = [];
  let p = 0;
  const varint = (): number => {
    let r = 0, mul = 1;
    for (let i = 0; i < 10; i++) {
      if (p >= buf.length) throw new RangeError(`${where}: truncated protobuf varint at byte ${p}`);
      const b = buf[p++]!;
      r += (b & 0x7f) * mul;
      if (b < 0x80) return r;
      mul *= 128;
    }
    throw new RangeError(`${where}: protobuf varint longer than 10 bytes at byte ${p}`);
  };
  while (p < buf.length) {
    const start = p;
    const key = varint();
    const field = Math.floor(key / 8), wire = key % 8;
    let a: number, b: number;
    if (wire === WireType.Varint) {
      a = p;
      varint();
      b = p;
    } else if (wire === WireType.Fixed64) {
      a = p;
      b = p += 8;
    } else if (wire === WireType.Fixed32) {
      a = p;
      b = p += 4;
    } else if (wire === WireType.Bytes) {
      const n = varint();
      a = p;
      b = p += n;
    } else throw new RangeError(`${where}: unsupported protobuf wire type ${wire} at byte ${start}`);
    if (p > buf.length) throw new RangeError(`${where}: protobuf field ${field} runs past the end at byte ${start}`);
    out.push({ field, wire, start, end: p, payload: [a, b] });
  }
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, x) => s + x.length, 0));
  let o = 0;
  for (const x of parts) {
    out.set(x, o);
    o += x.length;
  }
  return out;
}

/** A length-delimited field `field` holding `payload`. */
function lengthField(field: number, payload: Uint8Array): Uint8Array {
  const w = new ProtoWriter();
  w.bytes(field, payload);
  return w.finish();
}

/**
 * The model with Softmax(axis 1) over graph output `from`, named `to`, as its only output. The
 * output's value info is the original's under the new name (same element type and shape).
 */
export function appendSoftmax(model: Uint8Array, from: string, to: string, where: string): Uint8Array {
  const top = spans(model, where);
  const graphs = top.filter((s) => s.field === 7);
  if (graphs.length !== 1) throw new Error(`${where}: expected one graph in the model, found ${graphs.length}`);
  const g = graphs[0]!;
  const graph = model.subarray(g.payload[0], g.payload[1]);
  const gs = spans(graph, `${where} (graph)`);
  const decoder = new TextDecoder();
  const kept: Uint8Array[] = [];
  let outInfo: Uint8Array | undefined;
  for (const s of gs) {
    if (s.field !== 12) {
      kept.push(graph.subarray(s.start, s.end));
      continue;
    }
    const vi = graph.subarray(s.payload[0], s.payload[1]);
    const vs = spans(vi, `${where} (graph output)`);
    const nameSpan = vs.find((x) => x.field === 1);
    const name = nameSpan ? decoder.decode(vi.subarray(nameSpan.payload[0], nameSpan.payload[1])) : '';
    if (name !== from) continue;
    const w = new ProtoWriter();
    w.string(1, to);
    outInfo = concat([w.finish(), ...vs.filter((x) => x.field !== 1).map((x) => vi.subarray(x.start, x.end))]);
  }
  if (!outInfo) throw new Error(`${where}: the graph has no output "${from}"`);
  const node = new ProtoWriter();
  node.string(1, from);
  node.string(2, to);
  node.string(3, 'flowcast/import/softmax');
  node.string(4, 'Softmax');
  node.message(5, (a) => {
    a.string(1, 'axis');
    a.varint(3, 1);
    a.varint(20, 2); // AttributeProto.INT
  });
  const newGraph = concat([...kept, lengthField(1, node.finish()), lengthField(12, outInfo)]);
  const parts: Uint8Array[] = [];
  for (const s of top) parts.push(s === g ? lengthField(7, newGraph) : model.subarray(s.start, s.end));
  return concat(parts);
}

function softmaxRows(x: Float32Array, C: number): Float64Array {
  const out = new Float64Array(x.length);
  for (let r = 0; r < x.length / C; r++) {
    let mx = -Infinity;
    for (let k = 0; k < C; k++) mx = Math.max(mx, x[r * C + k]!);
    let s = 0;
    for (let k = 0; k < C; k++) s += out[r * C + k] = Math.exp(x[r * C + k]! - mx);
    for (let k = 0; k < C; k++) out[r * C + k]! /= s;
  }
  return out;
}

/** Imports; what is wrong with the file or the flags comes back as an InputError naming the file. */
export async function importOnnx(o: OnnxImportOptions): Promise<OnnxImportResult> {
  const original = new Uint8Array(readFileSync(o.file));
  try {
    return await importBytes(o, original);
  } catch (e) {
    const msg = (e as Error).message;
    if (e instanceof InputError || !msg.startsWith(`${o.file}: `)) throw e;
    throw new InputError(InputErrorCode.Format, o.file, undefined, msg.slice(o.file.length + 2));
  }
}

async function importBytes(o: OnnxImportOptions, original: Uint8Array): Promise<OnnxImportResult> {
  const where = o.file;
  let model;
  try {
    model = decodeModel(original);
  } catch (e) {
    throw new Error(`${where}: not an ONNX model: ${(e as Error).message}`);
  }
  const inits = new Set(model.graph.initializers.map((t) => t.name));
  const inputs = model.graph.inputs.filter((v) => !inits.has(v.name));
  if (inputs.length !== 1) throw new Error(`${where}: the graph takes ${inputs.length} inputs (${inputs.map((v) => v.name).join(', ')}); a served model takes one tensor of feature windows`);
  const input = inputs[0]!;
  if (input.elemType !== DataType.FLOAT) throw new Error(`${where}: input "${input.name}" is ${DATA_TYPE_NAMES[input.elemType] ?? input.elemType}, not float32`);
  const shape = input.shape ?? [];
  const F = o.columns.length;
  let layout: 'NTF' | 'NF';
  const fixed = (d: unknown, want: number, what: string) => {
    if (typeof d === 'number' && d > 0 && d !== want) throw new Error(`${where}: input "${input.name}" has ${what} ${d}, but ${what === 'features' ? `--columns names ${want}` : `--window is ${want}`}`);
  };
  if (shape.length === 3) {
    layout = 'NTF';
    fixed(shape[1], o.window, 'window');
    fixed(shape[2], F, 'features');
  } else if (shape.length === 2) {
    layout = 'NF';
    if (o.window !== 1) throw new Error(`${where}: input "${input.name}" is [N, F] (one row per sample), so --window must be 1, got ${o.window}`);
    fixed(shape[1], F, 'features');
  } else throw new Error(`${where}: input "${input.name}" has rank ${shape.length} ([${shape.join(', ')}]); expected [N, T, F] windows or [N, F] rows`);
  const outputName = o.output ?? model.graph.outputs[0]?.name;
  const out = model.graph.outputs.find((v) => v.name === outputName);
  if (!out) throw new Error(`${where}: no graph output ${JSON.stringify(outputName)} (outputs: ${model.graph.outputs.map((v) => v.name).join(', ')})`);
  if (out.elemType !== DataType.FLOAT) throw new Error(`${where}: output "${out.name}" is ${DATA_TYPE_NAMES[out.elemType] ?? out.elemType}, not float32`);
  const C = o.classes.length;
  const oshape = out.shape ?? [];
  if (oshape.length && (oshape.length !== 2 || (typeof oshape[1] === 'number' && oshape[1] !== C))) throw new Error(`${where}: output "${out.name}" is [${oshape.join(', ')}]; expected [N, ${C}] (one score per class: ${o.classes.join(', ')})`);

  let served: Uint8Array = original;
  let servedOutput = out.name;
  if (o.softmax) {
    servedOutput = model.graph.outputs.some((v) => v.name === 'probs') || model.graph.nodes.some((n) => n.outputs.includes('probs')) ? `${out.name}_probs` : 'probs';
    served = appendSoftmax(original, out.name, servedOutput, where);
  }

  // The check: a batch of windows on the stated shape through ONNX Runtime.
  const N = 64;
  const r = mulberry32(17);
  const x = Float32Array.from({ length: N * o.window * F }, () => (r() - 0.5) * 4);
  const dims = layout === 'NTF' ? [N, o.window, F] : [N, F];
  const run = async (bytes: Uint8Array, output: string): Promise<Float32Array> => {
    const s = await ort.InferenceSession.create(bytes);
    try {
      const res = await s.run({ [input.name]: new ort.Tensor('float32', x, dims) }, [output]);
      const t = res[output]!;
      if (t.dims.length !== 2 || t.dims[0] !== N || t.dims[1] !== C) throw new Error(`${where}: output "${output}" came back [${t.dims.join(', ')}] for ${N} samples; expected [${N}, ${C}]`);
      return t.data as Float32Array;
    } catch (e) {
      throw new Error(`${where}: ONNX Runtime could not run it on [${dims.join(', ')}]: ${(e as Error).message}`);
    } finally {
      await s.release();
    }
  };
  const got = await run(served, servedOutput);
  let check: OnnxImportResult['check'];
  if (o.softmax) {
    const want = softmaxRows(await run(original, out.name), C);
    let d = 0;
    for (let i = 0; i < got.length; i++) d = Math.max(d, Math.abs(got[i]! - want[i]!));
    if (!(d <= 1e-5)) throw new Error(`${where}: the softmax-wrapped model differs from softmax(original logits) by ${d}`);
    check = { samples: N, maxAbsDiff: d, what: 'softmax-wrapped output vs softmax of the original logits' };
  } else {
    let worst = 0, min = Infinity;
    for (let i = 0; i < N; i++) {
      let s = 0;
      for (let k = 0; k < C; k++) {
        s += got[i * C + k]!;
        min = Math.min(min, got[i * C + k]!);
      }
      worst = Math.max(worst, Math.abs(s - 1));
    }
    if (!(worst <= 1e-4) || min < 0) throw new Error(`${where}: output "${out.name}" is not class probabilities (a row sums to 1 ± ${worst.toPrecision(3)}, smallest value ${min.toPrecision(3)}); if the model outputs logits, import it with --softmax`);
    check = { samples: N, maxAbsDiff: worst, what: 'max |row sum - 1| of the output' };
  }

  const manifest: Omit<ModelManifest, 'schema' | 'onnx'> = {
    name: o.name,
    version: o.version,
    kind: 'other',
    description: `imported ONNX model (${model.producerName ?? 'unknown producer'}${model.producerVersion ? ` ${model.producerVersion}` : ''})${o.softmax ? ', softmax appended to its logits' : ''}`,
    input: { name: input.name, columns: o.columns, window: o.window, layout, featureSpecVersion: FEATURE_SPEC_VERSION, features: o.features },
    // The graph is given raw feature values: any scaling it needs must be inside it.
    normalization: null,
    output: { name: servedOutput, kind: 'probabilities', classes: o.classes, ...(o.labelValues ? { labelValues: o.labelValues } : {}), horizon: o.horizon, alpha: o.alpha },
    training: {
      command: o.command,
      imported: { file: o.file, sha256: createHash('sha256').update(original).digest('hex'), producer: model.producerName ?? null, softmaxAppended: o.softmax, output: out.name },
    },
  };
  const written = writeModelDir(o.modelsDir, { ...manifest, onnx: { producer: model.producerName ?? 'unknown' } }, served);
  return { ...written, layout, inputName: input.name, outputName: servedOutput, check };
}
