/**
 * The ONNX protobuf encoder against the reference serializer: onnx.helper built the same models
 * (scripts/fixtures/onnx_reference.py, onnx 1.12, checked by onnx.checker) and our bytes must be
 * identical; the decoder must read them back; onnxruntime-node must run them with the expected output.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import { GraphBuilder, attr, makeModel, ONNX_ML_OPSET, DataType } from '../../src/inference/onnx/graph.ts';
import { encodeModel, decodeModel, attributeValue, tensorValues, floatTensor, type Model } from '../../src/inference/onnx/proto.ts';
import { ProtoWriter, readFields } from '../../src/inference/onnx/wire.ts';

const ref = JSON.parse(readFileSync('tests/inference/fixtures/onnx-reference.json', 'utf8')) as Record<string, { base64: string; io: Record<string, unknown> }>;
const refBytes = (name: string) => new Uint8Array(Buffer.from(ref[name]!.base64, 'base64'));

function denseModel(): Model {
  const g = new GraphBuilder('dense');
  const x = g.input('x', DataType.FLOAT, ['N', 3]);
  g.output('probs', DataType.FLOAT, ['N', 2]);
  const W = g.weight('W', [3, 2], [0.5, -1.0, 0.25, 2.0, -0.75, 0.125]);
  const b = g.weight('b', [2], [0.1, -0.2]);
  const shape = g.int64s('shape', [-1, 2]);
  const xw = g.node('MatMul', [x, W], {}, { outputs: ['xw'], name: 'n/MatMul' });
  const h = g.node('Add', [xw, b], {}, { outputs: ['h'], name: 'n/Add' });
  const r = g.node('Relu', [h], {}, { outputs: ['r'], name: 'n/Relu' });
  const r2 = g.node('Reshape', [r, shape], {}, { outputs: ['r2'], name: 'n/Reshape' });
  g.node('Softmax', [r2], { axis: attr.i(-1) }, { outputs: ['probs'], name: 'n/Softmax' });
  return makeModel(g.build(), { metadata: { 'flowcast.kind': 'test', note: 'ünïcode' } });
}

function attributesModel(): Model {
  const g = new GraphBuilder('stump');
  g.input('x', DataType.FLOAT, ['N', 2]);
  g.output('y', DataType.FLOAT, ['N', 1]);
  g.node('TreeEnsembleRegressor', ['x'], {
    n_targets: attr.i(1),
    nodes_treeids: attr.ints([0, 0, 0]), nodes_nodeids: attr.ints([0, 1, 2]), nodes_featureids: attr.ints([1, 0, 0]),
    nodes_values: attr.floats([0.5, 0, 0]), nodes_hitrates: attr.floats([1, 1, 1]),
    nodes_modes: attr.strings(['BRANCH_LT', 'LEAF', 'LEAF']),
    nodes_truenodeids: attr.ints([1, 0, 0]), nodes_falsenodeids: attr.ints([2, 0, 0]),
    nodes_missing_value_tracks_true: attr.ints([1, 0, 0]),
    target_treeids: attr.ints([0, 0]), target_nodeids: attr.ints([1, 2]), target_ids: attr.ints([0, 0]),
    target_weights: attr.floats([-1.5, 2.25]),
    base_values: attr.floats([0.5]), post_transform: attr.s('NONE'), aggregate_function: attr.s('SUM'),
  }, { outputs: ['y'], name: 'n/TreeEnsembleRegressor', domain: 'ai.onnx.ml' });
  return makeModel(g.build(), { opsets: [{ domain: '', version: 17 }, ONNX_ML_OPSET] });
}

function scalarsModel(): Model {
  const g = new GraphBuilder('scalars');
  g.input('x', DataType.FLOAT, ['N', 4]);
  g.output('y', DataType.FLOAT, ['N']);
  const cv = { ...floatTensor('cv', [1], [2.5]), raw: undefined, floatData: [2.5] };
  g.node('Constant', [], { value: attr.t(cv) }, { outputs: ['c'], name: 'n/Constant' });
  g.node('Mul', ['x', 'c'], {}, { outputs: ['m'], name: 'n/Mul' });
  g.node('ReduceSum', ['m'], { axes: attr.ints([-1]), keepdims: attr.i(0) }, { outputs: ['s'], name: 'n/ReduceSum' });
  g.node('LeakyRelu', ['s'], { alpha: attr.f(0.01) }, { outputs: ['y'], name: 'n/LeakyRelu' });
  const graph = g.build();
  graph.nodes[3]!.docString = 'why: negative slope';
  graph.docString = 'graph doc';
  return makeModel(graph, { opsets: [{ domain: '', version: 12 }] });
}

const cases: [string, () => Model][] = [['dense', denseModel], ['attributes', attributesModel], ['scalars', scalarsModel]];

describe('ONNX encoder', () => {
  for (const [name, build] of cases) {
    it(`writes the same bytes as onnx.helper: ${name}`, () => {
      const ours = encodeModel(build());
      expect(Buffer.from(ours).toString('base64')).toBe(ref[name]!.base64);
    });

    it(`decodes the reference bytes back to the model: ${name}`, () => {
      const decoded = decodeModel(refBytes(name));
      // Re-encoding what we decoded gives the reference bytes again.
      expect(Buffer.from(encodeModel(decoded)).equals(Buffer.from(refBytes(name)))).toBe(true);
    });
  }

  it('decodes attribute values, tensors and metadata', () => {
    const m = decodeModel(refBytes('attributes'));
    expect(m.opsetImports).toEqual([{ domain: '', version: 17 }, { domain: 'ai.onnx.ml', version: 3 }]);
    const node = m.graph.nodes[0]!;
    expect(node.domain).toBe('ai.onnx.ml');
    const byName = Object.fromEntries(node.attributes.map((a) => [a.name, attributeValue(a)]));
    expect(byName.nodes_modes).toEqual(['BRANCH_LT', 'LEAF', 'LEAF']);
    expect(byName.target_weights).toEqual([-1.5, 2.25]);
    expect(byName.post_transform).toBe('NONE');
    const dense = decodeModel(refBytes('dense'));
    expect(dense.metadataProps).toEqual([{ key: 'flowcast.kind', value: 'test' }, { key: 'note', value: 'ünïcode' }]);
    expect(tensorValues(dense.graph.initializers.find((t) => t.name === 'shape')!)).toEqual([-1, 2]);
    expect(dense.graph.inputs[0]!.shape).toEqual(['N', 3]);
  });

  it('runs in onnxruntime-node with the expected outputs', async () => {
    for (const [name, build] of cases) {
      const io = ref[name]!.io as { x: (number | null)[][] } & Record<string, unknown>;
      const s = await ort.InferenceSession.create(encodeModel(build()));
      const rows = io.x.length, cols = io.x[0]!.length;
      const x = new Float32Array(io.x.flat().map((v) => (v === null ? NaN : v)));
      const out = await s.run({ x: new ort.Tensor('float32', x, [rows, cols]) });
      const key = s.outputNames[0]!;
      const want = (io[key] as number[] | number[][]).flat();
      const got = Array.from(out[key]!.data as Float32Array);
      expect(got.length).toBe(want.length);
      for (let i = 0; i < want.length; i++) expect(got[i]).toBeCloseTo(want[i]!, 6);
      await s.release();
    }
  });

  it('varints: negative int64 as 10 bytes, large values exact, malformed input named', () => {
    const w = new ProtoWriter();
    w.varint(1, -1);
    w.varint(2, 2 ** 53 - 1);
    w.varint(3, 300);
    const b = w.finish();
    expect(b.length).toBe(1 + 10 + 1 + 8 + 1 + 2);
    const f = readFields(b);
    expect(f.get(1)![0]!.v).toBe(2n ** 64n - 1n);
    expect(f.get(2)![0]!.v).toBe(2 ** 53 - 1);
    expect(f.get(3)![0]!.v).toBe(300);
    expect(() => readFields(b.subarray(0, 5))).toThrow(/truncated varint at byte/);
    expect(() => readFields(new Uint8Array([0x0a, 0x05, 1]))).toThrow(/runs past the end/);
    expect(() => floatTensor('w', [2, 2], [1, 2, 3])).toThrow(/dims \[2,2\] hold 4 elements, got 3/);
  });
});
