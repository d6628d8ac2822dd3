/**
 * Issue 17, item 5: `flowcast models import onnx` serves a model trained elsewhere. The model here
 * is built like a PyTorch export (a dynamic batch axis, Flatten + Gemm, logits out, producer
 * "pytorch"); without --softmax it is refused as not outputting probabilities, with --softmax the
 * served model equals softmax(x W + b) computed here, as the server's engine runs it.
 */
import { join } from 'node:path';
import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { flowcast } from '../cli/run-cli.ts';
import { tempDir } from '../helpers.ts';
import { GraphBuilder, makeModel, DataType, attr } from '../../src/inference/onnx/graph.ts';
import { encodeModel } from '../../src/inference/onnx/proto.ts';
import { parseManifest } from '../../src/inference/manifest.ts';
import { InferenceEngine } from '../../src/inference/engine.ts';
import { mulberry32 } from '../../src/training/random.ts';
import { logRegToOnnx } from '../../src/training/logreg.ts';

const t = tempDir('onnx-import');
afterAll(() => t.cleanup());
const models = join(t.dir, 'models');
const COLUMNS = ['imb_1', 'ofi_1', 'spread_bps', 'vpin'];
const T = 5, F = COLUMNS.length, C = 3;
const r = mulberry32(5);
const W = Float64Array.from({ length: T * F * C }, () => r() - 0.5);
const b = Float64Array.from([0.3, -0.1, 0.2]);

function torchLike(): string {
  const g = new GraphBuilder('torch_jit');
  g.input('input', DataType.FLOAT, ['batch_size', T, F]);
  const flat = g.node('Flatten', ['input'], { axis: attr.i(1) });
  g.node('Gemm', [flat, g.weight('fc.weight', [T * F, C], W), g.weight('fc.bias', [C], b)], {}, { outputs: ['logits'] });
  g.output('logits', DataType.FLOAT, ['batch_size', C]);
  const m = makeModel(g.build());
  m.producerName = 'pytorch';
  m.producerVersion = '2.3.0';
  const file = join(t.dir, 'net.onnx');
  writeFileSync(file, encodeModel(m));
  return file;
}

const expected = (x: ArrayLike<number>): number[] => {
  const z = Array.from({ length: C }, (_, k) => {
    let s = b[k]!;
    for (let i = 0; i < T * F; i++) s += Math.fround(x[i]!) * Math.fround(W[i * C + k]!);
    return s;
  });
  const m = Math.max(...z);
  const e = z.map((v) => Math.exp(v - m));
  const sum = e.reduce((a, v) => a + v, 0);
  return e.map((v) => v / sum);
};

describe('models import onnx', () => {
  it('refuses logits, wraps them with --softmax, and the engine serves the wrapped model', async () => {
    const file = torchLike();
    const base = ['models', 'import', 'onnx', file, '--models', models, '--columns', COLUMNS.join(','), '--window', String(T)];
    const bare = await flowcast(base);
    expect(bare.code).toBe(1);
    expect(bare.stderr).toMatch(/net\.onnx: output "logits" is not class probabilities \(a row sums to 1 ± [0-9.e+-]+, smallest value [0-9.e+-]+\); if the model outputs logits, import it with --softmax/);
    const wrongWindow = await flowcast([...base.slice(0, -1), '4', '--softmax']);
    expect(wrongWindow.code).toBe(1);
    expect(wrongWindow.stderr).toMatch(/input "input" has window 5, but --window is 4/);
    const ok = await flowcast([...base, '--softmax', '--vpin-bucket', 'GOOG=760', '--version', 'v1']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/net: 4 columns x 5 rows \(NTF, input "input"\) -> down\/flat\/up \(output "probs"\); ONNX Runtime check on 64 windows: softmax-wrapped output vs softmax of the original logits [0-9.e+-]+/);
    const m = parseManifest(JSON.parse(readFileSync(join(models, 'net', 'manifest.json'), 'utf8')), 'manifest');
    expect(m.input).toMatchObject({ name: 'input', columns: COLUMNS, window: T, layout: 'NTF', features: { levels: 10, vpinBucket: { GOOG: 760 }, vpinBuckets: 50 } });
    expect(m.output).toMatchObject({ name: 'probs', classes: ['down', 'flat', 'up'], labelValues: [-1, 0, 1], horizon: 50 });
    expect(m.normalization).toBeNull();
    expect((m.training as { imported: { softmaxAppended: boolean; producer: string } }).imported).toMatchObject({ softmaxAppended: true, producer: 'pytorch' });
    const engine = await InferenceEngine.open({ dir: models, runner: 'inline' });
    try {
      expect(engine.models()).toMatchObject([{ name: 'net', state: 'ready' }]);
      for (let k = 0; k < 5; k++) {
        const x = Float64Array.from({ length: T * F }, () => (r() - 0.5) * 6);
        const p = await engine.predict('net', 'GOOG', x);
        expected(x).forEach((v, c) => expect(p[c]).toBeCloseTo(v, 5));
      }
    } finally {
      await engine.close();
    }
  }, 120_000);

  it('takes a model that outputs probabilities as it is, and a [N, F] model with --window 1', async () => {
    const lr = { W: Float64Array.from({ length: F * C }, () => r() - 0.5), b: Float64Array.from([0, 0.1, -0.1]), d: F, C, iterations: 0, loss: 0 };
    const file = join(t.dir, 'rows.onnx');
    writeFileSync(file, logRegToOnnx(lr, [F], 'x'));
    const bad = await flowcast(['models', 'import', 'onnx', file, '--models', models, '--columns', COLUMNS.join(','), '--window', '3']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/input "x" is \[N, F\] \(one row per sample\), so --window must be 1, got 3/);
    const few = await flowcast(['models', 'import', 'onnx', file, '--models', models, '--columns', 'imb_1,ofi_1', '--window', '1']);
    expect(few.stderr).toMatch(/input "x" has features 4, but --columns names 2/);
    const ok = await flowcast(['models', 'import', 'onnx', file, '--models', models, '--columns', COLUMNS.join(','), '--window', '1']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/rows: 4 columns x 1 rows \(NF, input "x"\) -> down\/flat\/up \(output "probs"\); ONNX Runtime check on 64 windows: max \|row sum - 1\| of the output/);
  }, 120_000);
});
