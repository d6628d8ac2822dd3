/**
 * A small builder for ONNX graphs: unique value names, initializers from typed arrays, nodes with
 * typed attributes, and the model wrapper with opset imports. The transformer exporter and the
 * tree-ensemble converters both build on it.
 */
import {
  AttrType, DataType, IR_VERSION, boolTensor, encodeModel, floatTensor, int64Tensor,
  type Attribute, type Dim, type Graph, type Model, type Node, type OpsetId, type TensorProto, type ValueInfo,
} from './proto.ts';

/** Attribute values with their ONNX type made explicit (1 as an INT and 1 as a FLOAT differ). */
export const attr = {
  f: (v: number): Omit<Attribute, 'name'> => ({ type: AttrType.FLOAT, f: v }),
  i: (v: number): Omit<Attribute, 'name'> => ({ type: AttrType.INT, i: v }),
  s: (v: string): Omit<Attribute, 'name'> => ({ type: AttrType.STRING, s: new TextEncoder().encode(v) }),
  t: (v: TensorProto): Omit<Attribute, 'name'> => ({ type: AttrType.TENSOR, t: v }),
  floats: (v: ArrayLike<number>): Omit<Attribute, 'name'> => ({ type: AttrType.FLOATS, floats: Array.from(v) }),
  ints: (v: ArrayLike<number>): Omit<Attribute, 'name'> => ({ type: AttrType.INTS, ints: Array.from(v) }),
  strings: (v: string[]): Omit<Attribute, 'name'> => ({ type: AttrType.STRINGS, strings: v.map((s) => new TextEncoder().encode(s)) }),
};

export type Attrs = Record<string, Omit<Attribute, 'name'>>;

export interface NodeOptions {
  domain?: string;
  /** Output names; by default one fresh name derived from the op type. */
  outputs?: string[];
  name?: string;
}

/** The standard domains and the opset versions flowcast targets (ORT >= 1.14, onnx.checker 1.12). */
export const ONNX_OPSET: OpsetId = { domain: '', version: 17 };
export const ONNX_ML_OPSET: OpsetId = { domain: 'ai.onnx.ml', version: 3 };

export class GraphBuilder {
  private readonly nodes: Node[] = [];
  private readonly inits: TensorProto[] = [];
  private readonly ins: ValueInfo[] = [];
  private readonly outs: ValueInfo[] = [];
  private readonly used = new Set<string>();
  private readonly counters = new Map<string, number>();

  constructor(readonly name: string) {}

  /** A name not used yet, from a readable hint (`enc0/attn/q` -> `enc0/attn/q`, then `..._1`). */
  fresh(hint: string): string {
    let name = hint;
    let k = this.counters.get(hint) ?? 0;
    while (this.used.has(name)) name = `${hint}_${++k}`;
    this.counters.set(hint, k);
    this.used.add(name);
    return name;
  }

  input(name: string, elemType: number, shape: Dim[]): string {
    if (this.used.has(name)) throw new Error(`graph ${this.name}: input name ${name} already used`);
    this.used.add(name);
    this.ins.push({ name, elemType, shape });
    return name;
  }

  /** Declares a graph output; `value` must be produced by a node with that exact name. */
  output(name: string, elemType: number, shape: Dim[]): void {
    this.outs.push({ name, elemType, shape });
  }

  /** A float32 initializer; returns its (unique) name. */
  weight(hint: string, dims: number[], data: ArrayLike<number>): string {
    const name = this.fresh(hint);
    this.inits.push(floatTensor(name, dims, data));
    return name;
  }

  /** A 1-D int64 initializer (shapes, axes, indices). */
  int64s(hint: string, values: number[]): string {
    const name = this.fresh(hint);
    this.inits.push(int64Tensor(name, [values.length], values));
    return name;
  }

  /** A bool initializer (masks). */
  bools(hint: string, dims: number[], values: ArrayLike<boolean | number>): string {
    const name = this.fresh(hint);
    this.inits.push(boolTensor(name, dims, values));
    return name;
  }

  /** A float scalar initializer (rank 0). */
  scalar(hint: string, v: number): string {
    const name = this.fresh(hint);
    this.inits.push(floatTensor(name, [], [v]));
    return name;
  }

  /** Adds a node with one output and returns the output's name. */
  node(opType: string, inputs: string[], attrs: Attrs = {}, opts: NodeOptions = {}): string {
    return this.nodeN(opType, inputs, 1, attrs, opts)[0]!;
  }

  nodeN(opType: string, inputs: string[], nOutputs: number, attrs: Attrs = {}, opts: NodeOptions = {}): string[] {
    const outputs = opts.outputs ?? Array.from({ length: nOutputs }, (_, i) => this.fresh(`${opType}${nOutputs > 1 ? `_o${i}` : ''}`));
    for (const o of opts.outputs ?? []) this.used.add(o);
    const node: Node = {
      opType,
      inputs,
      outputs,
      name: opts.name ?? this.fresh(`n/${opType}`),
      // Sorted by name, as onnx.helper.make_node does, so equal graphs serialize to equal bytes.
      attributes: Object.entries(attrs).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([name, a]) => ({ name, ...a })),
    };
    if (opts.domain) node.domain = opts.domain;
    this.nodes.push(node);
    return outputs;
  }

  build(): Graph {
    return { name: this.name, nodes: this.nodes, initializers: this.inits, inputs: this.ins, outputs: this.outs };
  }
}

export interface ModelOptions {
  opsets?: OpsetId[];
  producerVersion?: string;
  docString?: string;
  metadata?: Record<string, string>;
}

/** Wraps a graph into a model written by "flowcast". */
export function makeModel(graph: Graph, opts: ModelOptions = {}): Model {
  return {
    irVersion: IR_VERSION,
    opsetImports: opts.opsets ?? [ONNX_OPSET],
    producerName: 'flowcast',
    producerVersion: opts.producerVersion ?? '0.1.0',
    docString: opts.docString,
    graph,
    metadataProps: Object.entries(opts.metadata ?? {}).map(([key, value]) => ({ key, value })),
  };
}

export function modelBytes(graph: Graph, opts: ModelOptions = {}): Uint8Array {
  return encodeModel(makeModel(graph, opts));
}

export { DataType };
