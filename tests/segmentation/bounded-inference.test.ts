import { beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../../src/engine/tf.js';
import { switchBackend } from '../../src/engine/backend.js';
import { resize2d } from '../../src/engine/ops/resize.js';
import { msDeformAttnCore } from '../../src/engine/ops/ms-deform-attn-core.js';
import { loadConfig } from '../../src/config/index.js';
import { isSegmenterConfig, type SegmenterRunConfig } from '../../src/config/schema.js';
import { Mask2Former, classScores } from '../../src/segmentation/mask2former.js';
import { semanticInference } from '../../src/segmentation/criterion.js';
import { fileURLToPath } from 'node:url';

/**
 * The memory-bounded forms of semantic inference compute what the plain
 * forms compute: class scores by bands of rows, deformable sampling by
 * chunks of queries, the decoder keeping only its last prediction.
 */

const CONFIG = fileURLToPath(new URL('../../configs/demo/mask2former_adapter_tiny_synth.yaml', import.meta.url));

function tinyConfig(): SegmenterRunConfig {
  const { stages: _s, ...run } = loadConfig(CONFIG, ['model.head.dec_layers=3']).config;
  if (!isSegmenterConfig(run)) throw new Error('expected a segmenter config');
  return run;
}

const maxDiff = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);

beforeAll(async () => {
  await switchBackend('wasm');
});

describe('bounded semantic inference', () => {
  it('class scores by bands of rows equal upsampling every mask first', () => {
    const logits = tf.randomNormal([7, 6], 0, 1, 'float32', 1);
    const masks = tf.randomNormal([7, 20, 24], 0, 2, 'float32', 2);
    const [H, W] = [150, 90]; // three bands of rows
    const up = resize2d(masks.transpose([1, 2, 0]), H, W, 'linear').transpose([2, 0, 1]);
    const ref = semanticInference(logits, up);
    const got = classScores(logits, masks, H, W);
    expect(got.shape).toEqual([H, W, 5]);
    expect(maxDiff(got, ref)).toBeLessThan(1e-5);
  });

  it('deformable sampling by chunks of queries equals one pass, values and gradients', () => {
    const shapes: [number, number][] = [
      [8, 8],
      [4, 4],
    ];
    const value = tf.randomNormal([2, 80, 2, 4], 0, 1, 'float32', 3);
    const loc = tf.randomUniform([2, 30, 2, 2, 3, 2], -0.1, 1.1, 'float32', 4);
    const w = tf.softmax(tf.randomNormal([2, 30, 2, 6], 0, 1, 'float32', 5)).reshape([2, 30, 2, 2, 3]);
    const whole = msDeformAttnCore(value, shapes, loc, w);
    const chunked = msDeformAttnCore(value, shapes, loc, w, 100); // 2 queries per chunk
    expect(maxDiff(whole, chunked)).toBeLessThan(1e-6);
    const g = (chunk?: number) => tf.grads((v: tf.Tensor, l: tf.Tensor, ww: tf.Tensor) => tf.sum(tf.square(msDeformAttnCore(v, shapes, l, ww, chunk))))([value, loc, w]);
    const [a, b] = [g(), g(100)];
    for (let i = 0; i < 3; i++) expect(maxDiff(a[i]!, b[i]!)).toBeLessThan(1e-4);
  });

  it('inference keeps only the last decoder prediction and frees every stage', () => {
    const cfg = tinyConfig();
    const model = new Mask2Former(cfg.model, cfg.input, 0).eval();
    const x = tf.randomNormal([1, 64, 96, 3], 0, 1, 'float32', 6);
    const all = tf.tidy(() => {
      const p = model.predictions(x).at(-1)!;
      return [p.logits, p.masks];
    });
    const before = tf.memory().numTensors;
    const last = model.queryOutputs(x);
    expect(tf.memory().numTensors).toBe(before + 2);
    expect(maxDiff(last.logits, all[0]!)).toBeLessThan(1e-5);
    expect(maxDiff(last.masks, all[1]!)).toBeLessThan(1e-5);
    last.logits.dispose();
    last.masks.dispose();
    const scores = model.semanticScores(x);
    expect(tf.memory().numTensors).toBe(before + 1);
    expect(scores.shape).toEqual([1, 64, 96, 5]);
    scores.dispose();
    model.dispose();
  });
});

describe('sliding-window inference on the host', () => {
  it('gives the scores and labels of stitching whole tensors, with and without resizing', async () => {
    const { referenceSlideScores, referenceWholeScores } = await import('../helpers/semantic-reference.js');
    const { slideScoresHost, wholeScoresHost, labelMap, hostCropScores } = await import('../../src/segmentation/sliding-window.js');
    const cfg = tinyConfig();
    const model = new Mask2Former(cfg.model, cfg.input, 0).eval();
    const x = tf.randomNormal([1, 70, 100, 3], 0, 1, 'float32', 7); // not multiples of 32: windows are padded
    const fn = hostCropScores((crop: tf.Tensor) => model.semanticScores(crop));
    for (const [ref, got] of [
      [referenceSlideScores(model, x, 64, 32), await slideScoresHost(fn, x, 64, 32)],
      [referenceWholeScores(model, x), await wholeScoresHost(fn, x)],
    ] as const) {
      expect([got.height, got.width, got.classes]).toEqual(ref.shape);
      expect(maxDiff(tf.tensor3d(got.data, ref.shape as [number, number, number]), ref)).toBeLessThan(1e-5);
      for (const [H, W] of [
        [70, 100],
        [150, 45],
      ]) {
        const expected = tf.tidy(() => tf.argMax(resize2d(ref.expandDims(0), H, W, 'linear').squeeze([0]), -1).dataSync());
        expect(Array.from(labelMap(got, H, W))).toEqual(Array.from(expected));
      }
    }
    model.dispose();
  });
});
