/**
 * The ONNX messages flowcast writes and reads (onnx/onnx-ml.proto, proto2): ModelProto, GraphProto,
 * NodeProto, AttributeProto, TensorProto, ValueInfoProto/TypeProto/TensorShapeProto and
 * OperatorSetIdProto. Encoding writes fields in field-number order and follows proto2 packing
 * (only TensorProto's data fields are packed), which is exactly what the reference protobuf
 * serializer emits: tests compare our bytes with onnx.helper's, byte for byte.
 */
import { ProtoWriter, FieldReader, littleEndianBytes } from './wire.ts';

/** TensorProto.DataType. */
export const DataType = {
  FLOAT: 1, UINT8: 2, INT8: 3, UINT16: 4, INT16: 5, INT32: 6, INT64: 7, STRING: 8, BOOL: 9,
  FLOAT16: 10, DOUBLE: 11, UINT32: 12, UINT64: 13,
} as const;
export type DataType = (typeof DataType)[keyof typeof DataType];

export const DATA_TYPE_NAMES: Record<number, string> = Object.fromEntries(Object.entries(DataType).map(([k, v]) => [v, k.toLowerCase()]));

/** AttributeProto.AttributeType. */
export const AttrType = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, GRAPH: 5, FLOATS: 6, INTS: 7, STRINGS: 8, TENSORS: 9, GRAPHS: 10 } as const;
export type AttrType = (typeof AttrType)[keyof typeof AttrType];

/** ONNX IR version 8 (ONNX 1.10-1.12): read by onnxruntime >= 1.10 and onnx.checker 1.12. */
export const IR_VERSION = 8;

export interface TensorProto {
  name?: string;
  dataType: number;
  dims: number[];
  /** Little-endian element bytes (how flowcast writes weights). */
  raw?: Uint8Array;
  floatData?: number[];
  int32Data?: number[];
  int64Data?: number[];
  doubleData?: number[];
  stringData?: Uint8Array[];
  docString?: string;
}

/** A dimension: a fixed size or a symbolic name (e.g. "N" for the batch). */
export type Dim = number | string;

export interface ValueInfo {
  name: string;
  elemType: number;
  /** undefined: unknown rank (no shape written); [] a scalar. */
  shape?: Dim[];
  docString?: string;
}

export interface Attribute {
  name: string;
  type: AttrType;
  f?: number;
  i?: number;
  s?: Uint8Array;
  t?: TensorProto;
  g?: Graph;
  floats?: number[];
  ints?: number[];
  strings?: Uint8Array[];
  tensors?: TensorProto[];
  graphs?: Graph[];
  docString?: string;
}

export interface Node {
  opType: string;
  inputs: string[];
  outputs: string[];
  name?: string;
  domain?: string;
  attributes: Attribute[];
  docString?: string;
}

export interface Graph {
  name: string;
  nodes: Node[];
  initializers: TensorProto[];
  inputs: ValueInfo[];
  outputs: ValueInfo[];
  valueInfo?: ValueInfo[];
  docString?: string;
}

export interface OpsetId {
  domain: string;
  version: number;
}

export interface Model {
  irVersion: number;
  opsetImports: OpsetId[];
  producerName?: string;
  producerVersion?: string;
  domain?: string;
  modelVersion?: number;
  docString?: string;
  graph: Graph;
  metadataProps?: { key: string; value: string }[];
}

// ---- encoding ----

function optString(w: ProtoWriter, field: number, s: string | undefined): void {
  if (s) w.string(field, s);
}

export function writeTensor(w: ProtoWriter, t: TensorProto): void {
  for (const d of t.dims) w.varint(1, d);
  w.varint(2, t.dataType);
  if (t.floatData) w.packedFloats(4, t.floatData);
  if (t.int32Data) w.packedVarints(5, t.int32Data);
  if (t.stringData) for (const s of t.stringData) w.bytes(6, s);
  if (t.int64Data) w.packedVarints(7, t.int64Data);
  optString(w, 8, t.name);
  if (t.raw) w.bytes(9, t.raw);
  if (t.doubleData) w.packedDoubles(10, t.doubleData);
  optString(w, 12, t.docString);
}

function writeValueInfo(w: ProtoWriter, v: ValueInfo): void {
  w.string(1, v.name);
  w.message(2, (tp) => {
    tp.message(1, (tt) => {
      tt.varint(1, v.elemType);
      if (v.shape) {
        tt.message(2, (sh) => {
          for (const d of v.shape!) {
            sh.message(1, (dim) => {
              if (typeof d === 'number') dim.varint(1, d);
              else dim.string(2, d);
            });
          }
        });
      }
    });
  });
  optString(w, 3, v.docString);
}

function writeAttribute(w: ProtoWriter, a: Attribute): void {
  w.string(1, a.name);
  if (a.f !== undefined) w.float(2, a.f);
  if (a.i !== undefined) w.varint(3, a.i);
  if (a.s !== undefined) w.bytes(4, a.s);
  if (a.t) w.message(5, (x) => writeTensor(x, a.t!));
  if (a.g) w.message(6, (x) => writeGraph(x, a.g!));
  if (a.floats) for (const f of a.floats) w.float(7, f);
  if (a.ints) for (const i of a.ints) w.varint(8, i);
  if (a.strings) for (const s of a.strings) w.bytes(9, s);
  if (a.tensors) for (const t of a.tensors) w.message(10, (x) => writeTensor(x, t));
  if (a.graphs) for (const g of a.graphs) w.message(11, (x) => writeGraph(x, g));
  optString(w, 13, a.docString);
  w.varint(20, a.type);
}

function writeNode(w: ProtoWriter, n: Node): void {
  for (const i of n.inputs) w.string(1, i);
  for (const o of n.outputs) w.string(2, o);
  optString(w, 3, n.name);
  w.string(4, n.opType);
  for (const a of n.attributes) w.message(5, (x) => writeAttribute(x, a));
  optString(w, 6, n.docString);
  optString(w, 7, n.domain);
}

export function writeGraph(w: ProtoWriter, g: Graph): void {
  for (const n of g.nodes) w.message(1, (x) => writeNode(x, n));
  w.string(2, g.name);
  for (const t of g.initializers) w.message(5, (x) => writeTensor(x, t));
  optString(w, 10, g.docString);
  for (const v of g.inputs) w.message(11, (x) => writeValueInfo(x, v));
  for (const v of g.outputs) w.message(12, (x) => writeValueInfo(x, v));
  for (const v of g.valueInfo ?? []) w.message(13, (x) => writeValueInfo(x, v));
}

/** Serializes a model to the bytes of a `.onnx` file. */
export function encodeModel(m: Model): Uint8Array {
  const w = new ProtoWriter();
  w.varint(1, m.irVersion);
  optString(w, 2, m.producerName);
  optString(w, 3, m.producerVersion);
  optString(w, 4, m.domain);
  if (m.modelVersion !== undefined) w.varint(5, m.modelVersion);
  optString(w, 6, m.docString);
  w.message(7, (x) => writeGraph(x, m.graph));
  // The default domain is written as an explicit empty string, as onnx.helper.make_opsetid does.
  for (const o of m.opsetImports) w.message(8, (x) => { x.string(1, o.domain); x.varint(2, o.version); });
  for (const p of m.metadataProps ?? []) w.message(14, (x) => { x.string(1, p.key); x.string(2, p.value); });
  return w.finish();
}

// ---- tensors from typed arrays ----

export function floatTensor(name: string, dims: number[], data: ArrayLike<number>): TensorProto {
  checkSize(name, dims, data.length);
  const f = data instanceof Float32Array ? data : Float32Array.from(data);
  return { name, dataType: DataType.FLOAT, dims, raw: littleEndianBytes(f) };
}

export function int64Tensor(name: string, dims: number[], data: ArrayLike<number>): TensorProto {
  checkSize(name, dims, data.length);
  const b = new BigInt64Array(data.length);
  for (let i = 0; i < data.length; i++) b[i] = BigInt(data[i]!);
  return { name, dataType: DataType.INT64, dims, raw: littleEndianBytes(b) };
}

export function boolTensor(name: string, dims: number[], data: ArrayLike<boolean | number>): TensorProto {
  checkSize(name, dims, data.length);
  return { name, dataType: DataType.BOOL, dims, raw: Uint8Array.from(Array.from(data, (v) => (v ? 1 : 0))) };
}

function checkSize(name: string, dims: number[], n: number): void {
  const want = dims.reduce((a, b) => a * b, 1);
  if (want !== n) throw new RangeError(`tensor ${name}: dims [${dims.join(',')}] hold ${want} elements, got ${n}`);
}

/** Elements of a decoded tensor as numbers (float, double, int32 and int64 tensors). */
export function tensorValues(t: TensorProto): number[] {
  if (t.raw) {
    const b = t.raw;
    const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
    const out: number[] = [];
    switch (t.dataType) {
      case DataType.FLOAT: for (let i = 0; i < b.length; i += 4) out.push(dv.getFloat32(i, true)); break;
      case DataType.DOUBLE: for (let i = 0; i < b.length; i += 8) out.push(dv.getFloat64(i, true)); break;
      case DataType.INT32: for (let i = 0; i < b.length; i += 4) out.push(dv.getInt32(i, true)); break;
      case DataType.INT64: for (let i = 0; i < b.length; i += 8) out.push(Number(dv.getBigInt64(i, true))); break;
      default: throw new RangeError(`tensor ${t.name}: raw data of type ${DATA_TYPE_NAMES[t.dataType] ?? t.dataType} not supported`);
    }
    return out;
  }
  return t.floatData ?? t.doubleData ?? t.int64Data ?? t.int32Data ?? [];
}

// ---- decoding ----

const utf8 = new TextDecoder();

function readTensor(r: FieldReader): TensorProto {
  const t: TensorProto = { dataType: r.int(2), dims: r.ints(1) };
  if (r.has(8)) t.name = r.string(8);
  if (r.has(9)) t.raw = r.bytes(9)!.slice();
  if (r.has(4)) t.floatData = r.floats(4);
  if (r.has(5)) t.int32Data = r.ints(5);
  if (r.has(7)) t.int64Data = r.ints(7);
  if (r.has(10)) t.doubleData = r.doubles(10);
  if (r.has(6)) t.stringData = r.rawBytesList(6).map((b) => b.slice());
  if (r.has(12)) t.docString = r.string(12);
  return t;
}

function readValueInfo(r: FieldReader): ValueInfo {
  const v: ValueInfo = { name: r.string(1), elemType: 0 };
  const tt = r.message(2)?.message(1);
  if (tt) {
    v.elemType = tt.int(1);
    const sh = tt.message(2);
    if (sh) v.shape = sh.messages(1).map((d) => (d.has(2) ? d.string(2) : d.has(1) ? d.int(1) : '?'));
  }
  if (r.has(3)) v.docString = r.string(3);
  return v;
}

function readAttribute(r: FieldReader): Attribute {
  const a: Attribute = { name: r.string(1), type: r.int(20) as AttrType };
  if (r.has(2)) a.f = r.float(2);
  if (r.has(3)) a.i = r.int(3);
  if (r.has(4)) a.s = r.bytes(4)!.slice();
  if (r.has(5)) a.t = readTensor(r.message(5)!);
  if (r.has(6)) a.g = readGraph(r.message(6)!);
  if (r.has(7)) a.floats = r.floats(7);
  if (r.has(8)) a.ints = r.ints(8);
  if (r.has(9)) a.strings = r.rawBytesList(9).map((b) => b.slice());
  if (r.has(10)) a.tensors = r.messages(10).map(readTensor);
  if (r.has(11)) a.graphs = r.messages(11).map(readGraph);
  if (r.has(13)) a.docString = r.string(13);
  return a;
}

function readNode(r: FieldReader): Node {
  const n: Node = { opType: r.string(4), inputs: r.strings(1), outputs: r.strings(2), attributes: r.messages(5).map(readAttribute) };
  if (r.has(3)) n.name = r.string(3);
  if (r.has(7)) n.domain = r.string(7);
  if (r.has(6)) n.docString = r.string(6);
  return n;
}

function readGraph(r: FieldReader): Graph {
  const g: Graph = {
    name: r.string(2),
    nodes: r.messages(1).map(readNode),
    initializers: r.messages(5).map(readTensor),
    inputs: r.messages(11).map(readValueInfo),
    outputs: r.messages(12).map(readValueInfo),
  };
  if (r.has(13)) g.valueInfo = r.messages(13).map(readValueInfo);
  if (r.has(10)) g.docString = r.string(10);
  return g;
}

/** Parses `.onnx` bytes. Throws RangeError on malformed protobuf or a model without a graph. */
export function decodeModel(bytes: Uint8Array): Model {
  const r = FieldReader.of(bytes);
  const g = r.message(7);
  if (!g) throw new RangeError('onnx: the model has no graph (field 7)');
  const m: Model = {
    irVersion: r.int(1),
    opsetImports: r.messages(8).map((o) => ({ domain: o.string(1), version: o.int(2) })),
    graph: readGraph(g),
  };
  if (r.has(2)) m.producerName = r.string(2);
  if (r.has(3)) m.producerVersion = r.string(3);
  if (r.has(4)) m.domain = r.string(4);
  if (r.has(5)) m.modelVersion = r.int(5);
  if (r.has(6)) m.docString = r.string(6);
  if (r.has(14)) m.metadataProps = r.messages(14).map((p) => ({ key: p.string(1), value: p.string(2) }));
  return m;
}

/** Attribute value as a plain JS value (strings decoded), for inspection and tests. */
export function attributeValue(a: Attribute): unknown {
  switch (a.type) {
    case AttrType.FLOAT: return a.f;
    case AttrType.INT: return a.i;
    case AttrType.STRING: return a.s ? utf8.decode(a.s) : '';
    case AttrType.FLOATS: return a.floats ?? [];
    case AttrType.INTS: return a.ints ?? [];
    case AttrType.STRINGS: return (a.strings ?? []).map((s) => utf8.decode(s));
    case AttrType.TENSOR: return a.t;
    case AttrType.GRAPH: return a.g;
    default: return undefined;
  }
}
