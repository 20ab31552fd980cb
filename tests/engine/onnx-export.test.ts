import { beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tf, type Tensor } from '../../src/engine/tf.js';
import { switchBackend } from '../../src/engine/backend.js';
import type { Module } from '../../src/engine/module.js';
import { Linear } from '../../src/engine/layers/linear.js';
import { withInitSeed } from '../../src/engine/random.js';
import { traceGraph } from '../../src/engine/onnx/tracer.js';
import { writeOnnxModel } from '../../src/io/onnx-file.js';
import { OrtGraph } from '../../src/engine/onnx/session.js';
import { SimpleFeaturePyramid } from '../../src/backbone/simple-feature-pyramid.js';
import { Beit3Encoder } from '../../src/backbone/beit3.js';
import { BEIT3_SIZES } from '../../src/backbone/sizes.js';
import { loadBeit3Weights, readBeit3Weights } from '../../src/backbone/convert/load-beit3.js';
import { toTf, transposeHost } from '../../src/io/host-tensor.js';
import { GeneralizedRCNN } from '../../src/detection/rcnn.js';
import { OnnxDetectorEngine } from '../../src/tasks/detection/onnx-engine.js';
import { fixture, get, maxAbsDiff, nchwToNhwc, torchRef, values } from '../helpers/fixtures.js';
import { synthBatch, tinyDetectorConfig } from '../helpers/tiny-detector.js';

beforeAll(async () => {
  await switchBackend('wasm');
});

/** Trace `stage` on `inputs`, run the graph in onnxruntime, return both engines' outputs. */
async function bothEngines(stage: () => Record<string, Tensor>, inputs: Record<string, Tensor>, model?: Module) {
  const { graph, outputs } = traceGraph(stage, Object.entries(inputs).map(([name, tensor]) => ({ name, tensor })), { name: 'test', model });
  const file = join(mkdtempSync(join(tmpdir(), 'dk-onnx-')), 'g.onnx');
  writeOnnxModel(file, { graph, opset: 17, producerName: 'densekit-test', producerVersion: '0', metadata: {} });
  const g = await OrtGraph.load(file, { threads: 1 });
  const ort = await g.run(Object.fromEntries(Object.entries(inputs).map(([n, t]) => [n, { data: t.dataSync() as Float32Array, shape: t.shape }])));
  await g.release();
  const tfjs = Object.fromEntries(Object.entries(outputs).map(([k, t]) => [k, { data: t.dataSync(), shape: t.shape }]));
  for (const t of Object.values(outputs)) t.dispose();
  return { graph, ort, tfjs };
}

function beit3Options() {
  return { ...BEIT3_SIZES.tiny, patchSize: 16, pretrainImgSize: 64, layernormEps: 1e-5, dropPathRate: 0, windowSize: 0, useRelPos: false, relPosGlobalGrid: 4, clsToken: true, finalNorm: true };
}

describe('ONNX export: traced graphs run in onnxruntime as the model runs on tfjs (parity fixtures)', () => {
  it('Simple Feature Pyramid: p2..p6 equal the detectron2 fixture', async () => {
    const ref = torchRef('sfp.safetensors');
    const sfp = new SimpleFeaturePyramid({ dim: 64, outChannels: 32, scaleFactors: [4, 2, 1, 0.5], topBlock: true, normEps: 1e-6, inStride: 16 }).eval();
    const state = new Map<string, tf.Tensor>();
    for (const [k, t] of ref) if (k.startsWith('w.')) state.set(k.slice(2), toTf(t.shape.length === 4 ? transposeHost(t, [2, 3, 1, 0]) : t));
    sfp.loadStateDict(state);
    const x = nchwToNhwc(get(ref, 'input'));
    const input = tf.tensor(x.data, x.shape);
    const { ort } = await bothEngines(() => Object.fromEntries(sfp.forward(input)), { features: input }, sfp);
    for (const p of ['p2', 'p3', 'p4', 'p5', 'p6']) {
      const expected = nchwToNhwc(get(ref, p));
      expect(ort[p]!.shape, p).toEqual(expected.shape);
      expect(maxAbsDiff(ort[p]!.data, expected.data), p).toBeLessThan(1e-4);
    }
    input.dispose();
    sfp.dispose();
  });

  it('BEiT-3 tiny (non-square, interpolated positions): tokens equal torchscale', async () => {
    const { tensors } = readBeit3Weights(fixture('torch-ref', 'beit3_tiny.pth'));
    const enc = new Beit3Encoder(beit3Options()).eval();
    loadBeit3Weights(enc, tensors);
    const ref = torchRef('beit3_tiny_64x96.safetensors');
    const x = nchwToNhwc(get(ref, 'input'));
    const input = tf.tensor(x.data, x.shape);
    const { ort } = await bothEngines(() => ({ tokens: enc.forwardTokens(input).tokens }), { images: input }, enc);
    expect(maxAbsDiff(ort.tokens!.data, values(get(ref, 'final_out')))).toBeLessThan(1e-4);
    input.dispose();
    enc.dispose();
  });

  it('ViTDet mode (windows, global blocks, decomposed relative positions): the map equals detectron2', async () => {
    const ref = torchRef('vitdet_window.safetensors');
    const { tensors } = readBeit3Weights(fixture('torch-ref', 'beit3_tiny.pth'));
    const enc = new Beit3Encoder({ ...beit3Options(), windowSize: 3, globalBlocks: [1, 3], useRelPos: true, relPosGlobalGrid: 6, clsToken: false, finalNorm: false }).eval();
    loadBeit3Weights(enc, tensors);
    for (let i = 0; i < 4; i++) for (const hw of ['h', 'w']) enc.stateDict().get(`blocks.${i}.attn.rel_pos_${hw}`)!.assign(toTf(get(ref, `rel_pos.${i}.rel_pos_${hw}`)));
    const x = nchwToNhwc(get(ref, 'input'));
    const input = tf.tensor(x.data, x.shape);
    const { ort, graph } = await bothEngines(() => ({ map: enc.forward(input).map }), { images: input }, enc);
    expect(maxAbsDiff(ort.map!.data, nchwToNhwc(get(ref, 'final_feature_nchw')).data)).toBeLessThan(1e-4);
    // Parameters keep their names in the file.
    expect(graph.initializers.map((t) => t.name)).toContain('blocks.0.attn.q_proj.weight');
    input.dispose();
    enc.dispose();
  });
});

describe('ONNX export refuses what a graph cannot hold', () => {
  it('a read of a traced value back to the host names the kernel and the module', () => {
    const fc = withInitSeed(1, () => new Linear(4, 3));
    const x = tf.ones([2, 4]);
    const stage = () => {
      const y = fc.forward(x);
      const n = y.dataSync()[0]!; // data-dependent: would bake this input's value into the graph
      return { y: tf.mul(y, n) };
    };
    expect(() => traceGraph(stage, [{ name: 'x', tensor: x }], { name: 'host-read', model: fc })).toThrow(/read a value computed from its inputs back to the host \(the output of \w+ in \(model\)/);
    // Reading constants (parameters) stays allowed, and the kernels are restored afterwards.
    const ok = traceGraph(() => ({ y: tf.mul(fc.forward(x), fc.weight.dataSync()[0]!) }), [{ name: 'x', tensor: x }], { name: 'param-read', model: fc });
    expect(ok.graph.nodes.length).toBeGreaterThan(0);
    for (const t of Object.values(ok.outputs)) t.dispose();
    expect(fc.forward(x).dataSync().length).toBe(6);
    x.dispose();
    fc.dispose();
  });

  it('a kernel without a conversion names the kernel and the module path', () => {
    const fc = withInitSeed(1, () => new Linear(4, 3));
    const x = tf.ones([2, 4]);
    expect(() => traceGraph(() => ({ y: tf.cumsum(fc.forward(x), 1) }), [{ name: 'x', tensor: x }], { name: 'cumsum', model: fc })).toThrow(/kernel Cumsum \(in \(outside any module\)\) has no ONNX conversion/);
    x.dispose();
    fc.dispose();
  });
});

describe('the detector on the ONNX engine', () => {
  it('gives the same detections as on tfjs, traces once per input shape, leaks no tensors', async () => {
    const cfg = tinyDetectorConfig(true);
    const model = new GeneralizedRCNN({ ...cfg.model, test: { ...cfg.model.test, score_thresh: 0 } }, cfg.input, 4).eval();
    const dir = mkdtempSync(join(tmpdir(), 'dk-onnx-det-'));
    const engine = new OnnxDetectorEngine(model, dir, { threads: 1 });
    const { images } = synthBatch(2, 128, 9);
    for (const image of images) {
      const list = model.preprocess([image]);
      const a = (await model.detect(list))[0]!;
      const before = tf.memory().numTensors;
      const b = (await engine.detect(list))[0]!;
      expect(tf.memory().numTensors).toBe(before);
      list.tensor.dispose();
      expect(b.scores.length).toBe(a.scores.length);
      expect(maxAbsDiff(b.scores, a.scores)).toBeLessThan(1e-4);
      expect([...b.classes]).toEqual([...a.classes]);
      expect(maxAbsDiff(b.boxes, a.boxes)).toBeLessThan(1e-3);
      expect(maxAbsDiff(b.maskProbs!.flatMap((m) => [...m]), a.maskProbs!.flatMap((m) => [...m]))).toBeLessThan(1e-4);
    }
    // One graph per input shape and per head, traced on first use only.
    expect(readdirSync(dir).filter((f) => f.endsWith('.onnx')).sort()).toEqual(['box_head_0_50x7x7x32.onnx', 'box_head_1_50x7x7x32.onnx', 'box_head_2_50x7x7x32.onnx', 'detector_dense_1x128x128x3.onnx', 'mask_head_20x14x14x32.onnx']);
    await engine.dispose();
    model.dispose();
  });
});

describe('graph files', () => {
  it('a corrupt or foreign .onnx is one error naming the file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dk-onnx-bad-'));
    const file = join(dir, 'bad.onnx');
    writeFileSync(file, Buffer.from('PK\u0003\u0004 this is a zip, not a graph'));
    await expect(OrtGraph.load(file)).rejects.toThrow(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: not a graph onnxruntime can run on cpu`));
  });
});
