import { beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
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
import { OnnxSegmenterEngine, tfjsSegmenterEngine } from '../../src/tasks/semantic/onnx-engine.js';
import { predictSemantic } from '../../src/tasks/semantic/predict.js';
import { Mask2Former } from '../../src/segmentation/mask2former.js';
import { loadConfig } from '../../src/config/index.js';
import { isSegmenterConfig } from '../../src/config/schema.js';
import { Rng } from '../../src/engine/random.js';
import { synthShapesImage } from '../../src/data/synthetic-shapes.js';
import { fileURLToPath } from 'node:url';
import { gridSample } from '../../src/engine/ops/bilinear-sample.js';
import { roiAlignBoxes } from '../../src/engine/ops/roi-align.js';
import { msDeformAttnCore } from '../../src/engine/ops/ms-deform-attn-core.js';
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

  it('ROIAlign in the graph (ONNX RoiAlign) equals torchvision for every fixture setting; boxes outside the map pool to zero', async () => {
    const ref = torchRef('roi_align.safetensors');
    const x = nchwToNhwc(get(ref, 'input'));
    const features = tf.tensor(x.data, x.shape);
    for (const scale of ['0.25', '1']) {
      const rows = values(get(ref, `boxes_for_scale${scale}`));
      const k = rows.length / 5;
      // Two boxes far outside the map appended: the rows a level does not own in the detector's head graphs.
      const boxes = new Float32Array((k + 2) * 4).fill(-1e4);
      const bi = new Int32Array(k + 2);
      for (let i = 0; i < k; i++) {
        bi[i] = rows[i * 5]!;
        boxes.set(rows.subarray(i * 5 + 1, i * 5 + 5), i * 4);
      }
      const b = tf.tensor2d(boxes, [k + 2, 4]);
      const index = tf.tensor1d(bi, 'int32');
      for (const os of [7, 14]) {
        for (const sr of [0, 2]) {
          for (const aligned of [true, false]) {
            const opts = { outputSize: os, spatialScale: Number(scale), samplingRatio: sr, aligned };
            const { ort, tfjs, graph } = await bothEngines(() => ({ out: roiAlignBoxes(features, b, index, opts) }), { features, boxes: b, batch_index: index });
            const key = `out_os${os}_scale${scale === '1' ? '1.0' : scale}_sr${sr}_aligned${aligned ? 1 : 0}`;
            const expected = nchwToNhwc(get(ref, key)).data;
            const per = os * os * 8;
            expect(graph.nodes.map((n) => n.opType)).toContain('RoiAlign');
            expect(maxAbsDiff((ort.out!.data as Float32Array).subarray(0, k * per), expected), key).toBeLessThan(1e-4);
            expect(maxAbsDiff((tfjs.out!.data as Float32Array).subarray(0, k * per), expected), key).toBeLessThan(1e-4);
            expect(Math.max(...Array.from((ort.out!.data as Float32Array).subarray(k * per), Math.abs)), key).toBe(0);
          }
        }
      }
      tf.dispose([b, index]);
    }
    features.dispose();
  });

  it('grid_sample and multi-scale deformable attention (row gathers of computed indices) equal torch', async () => {
    const gs = torchRef('grid_sample.safetensors');
    const x = nchwToNhwc(get(gs, 'input'));
    const input = tf.tensor(x.data, x.shape);
    const grid = toTf(get(gs, 'grid'));
    const a = await bothEngines(() => ({ out: gridSample(input, grid) }), { input, grid });
    expect(maxAbsDiff(a.ort.out!.data, nchwToNhwc(get(gs, 'output')).data)).toBeLessThan(1e-4);
    // The indices are computed from the grid inside the graph: Gather nodes, no host gather.
    expect(a.graph.nodes.some((n) => n.opType === 'Gather')).toBe(true);

    const ref = torchRef('ms_deform_attn.safetensors');
    const shapes = Array.from(values(get(ref, 'value_spatial_shapes')));
    const levels: [number, number][] = [0, 1, 2].map((i) => [shapes[i * 2]!, shapes[i * 2 + 1]!]);
    const [value, locations, weights] = [toTf(get(ref, 'value')), toTf(get(ref, 'sampling_locations')), toTf(get(ref, 'attention_weights'))];
    // Queries two at a time: the chunked sampling is traced as well.
    const [n, , m, L, P] = locations.shape;
    const perQuery = n! * m! * L! * P! * value.shape[3]!;
    const b = await bothEngines(() => ({ out: msDeformAttnCore(value, levels, locations, weights, 2 * perQuery) }), { value, locations, weights });
    expect(b.graph.nodes.filter((nd) => nd.opType === 'Concat').length).toBeGreaterThan(0);
    expect(maxAbsDiff(b.ort.out!.data, values(get(ref, 'output')))).toBeLessThan(1e-4);
    tf.dispose([input, grid, value, locations, weights]);
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

  it('a large weight (passed to wasm as a transient copy) is recorded under its own name', async () => {
    const fc = withInitSeed(2, () => new Linear(512, 512));
    const x = tf.randomNormal([3, 512], 0, 1, 'float32', 2);
    const { ort, tfjs, graph } = await bothEngines(() => ({ y: fc.forward(x) }), { x }, fc);
    expect(graph.initializers.map((t) => t.name)).toContain('weight');
    expect(graph.initializers.filter((t) => t.dims.join('x') === '512x512')).toHaveLength(1);
    expect(maxAbsDiff(ort.y!.data, tfjs.y!.data)).toBeLessThan(1e-4);
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
    expect(readdirSync(dir).filter((f) => f.endsWith('.onnx')).sort()).toEqual(['box_head_0_50_1x32x32x32.onnx', 'box_head_1_50_1x32x32x32.onnx', 'box_head_2_50_1x32x32x32.onnx', 'detector_dense_1x128x128x3.onnx', 'mask_head_20_1x32x32x32.onnx']);
    // The heads pool in their graphs: ROIAlign is an ONNX RoiAlign node there.
    for (const f of ['box_head_0_50_1x32x32x32.onnx', 'mask_head_20_1x32x32x32.onnx']) expect(readFileSync(join(dir, f)).includes('RoiAlign'), f).toBe(true);
    await engine.dispose();
    model.dispose();
  });
});

describe('the segmenter on the ONNX engine', () => {
  it('gives the label maps of tfjs through sliding windows, traces once per crop shape, leaks no tensors', async () => {
    const { stages: _s, ...run } = loadConfig(fileURLToPath(new URL('../../configs/demo/mask2former_adapter_tiny_synth.yaml', import.meta.url)), [
      'model.head.dec_layers=2',
      'model.test.mode=slide',
      'model.test.crop_size=64',
      'model.test.stride=48',
      'input.test_size=80',
    ]).config;
    if (!isSegmenterConfig(run)) throw new Error('expected a segmenter config');
    const model = new Mask2Former(run.model, run.input, 3).eval();
    const dir = mkdtempSync(join(tmpdir(), 'dk-onnx-seg-'));
    const onnx = new OnnxSegmenterEngine(model, dir, { threads: 1 });
    const tfjs = tfjsSegmenterEngine(model);
    // Crop scores agree.
    const crop = tf.randomNormal([1, 64, 64, 3], 0, 1, 'float32', 4);
    const [a, b] = [await tfjs.cropScores(crop), await onnx.cropScores(crop)];
    expect(b.shape).toEqual([1, 64, 64, 5]);
    expect(maxAbsDiff(b.data, a.data)).toBeLessThan(1e-4);
    crop.dispose();
    // Whole images (80x120 → three 64² windows at stride 48): the same label maps.
    const rng = new Rng(11);
    for (const [h, w] of [
      [80, 120],
      [100, 150],
    ] as const) {
      const image = { ...synthShapesImage(rng, { width: w, height: h, minObjects: 2, maxObjects: 3, minSize: 0.2, maxSize: 0.4 }), width: w, height: h };
      const host = { data: image.rgb, width: w, height: h };
      const ref = await predictSemantic(model, host, run.input, run.model.test);
      const before = tf.memory().numTensors;
      const got = await predictSemantic(model, host, run.input, run.model.test, onnx);
      expect(tf.memory().numTensors).toBe(before);
      let same = 0;
      for (let i = 0; i < ref.length; i++) same += ref[i] === got[i] ? 1 : 0;
      expect(got.length).toBe(h * w);
      expect(same / ref.length).toBeGreaterThanOrEqual(0.999);
    }
    // The exported form also gives the last decoder layer's class and mask logits.
    const q = tf.randomNormal([1, 64, 64, 3], 0, 1, 'float32', 5);
    const withQueries = await bothEngines(() => {
      const { scores, queries } = model.semanticOutputs(q, { keepQueries: true });
      return { scores, class_logits: queries!.logits, mask_logits: queries!.masks };
    }, { crop: q }, model);
    for (const k of ['scores', 'class_logits', 'mask_logits']) expect(maxAbsDiff(withQueries.ort[k]!.data, withQueries.tfjs[k]!.data), k).toBeLessThan(1e-4);
    expect(withQueries.ort.mask_logits!.shape).toEqual([1, 12, 16, 16]);
    q.dispose();
    // Both images are resized to a shorter side of 80: one crop shape, one graph.
    expect(readdirSync(dir).filter((f) => f.endsWith('.onnx'))).toEqual(['segmenter_scores_1x64x64x3.onnx']);
    await onnx.dispose();
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
