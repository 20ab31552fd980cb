import { beforeAll, describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { tf } from '../../src/engine/tf.js';
import { switchBackend } from '../../src/engine/backend.js';
import { GeneralizedRCNN } from '../../src/detection/rcnn.js';
import { Mask2Former } from '../../src/segmentation/mask2former.js';
import { loadConfig } from '../../src/config/load.js';
import { isSegmenterConfig } from '../../src/config/schema.js';
import { detectorStages } from '../../src/tasks/detection/stages.js';
import { segmenterStages } from '../../src/tasks/semantic/stages.js';
import { synthBatch, tinyDetectorConfig } from '../helpers/tiny-detector.js';

beforeAll(async () => {
  await switchBackend('wasm');
});

/** Boxes of several sizes (so they pool from different levels), over two images. */
function someBoxes(): { boxes: Float32Array; batchIndex: Int32Array } {
  const boxes = Float32Array.from([4, 4, 20, 18, 10, 30, 90, 120, 0, 0, 127, 127, 50, 60, 58, 70, 30, 10, 70, 40, 2, 90, 110, 126]);
  return { boxes, batchIndex: Int32Array.from([0, 1, 0, 1, 1, 0]) };
}

for (const cascade of [false, true]) {
  describe(`detector stages (${cascade ? 'Cascade ' : ''}Mask R-CNN)`, () => {
    it('the RPN stage gives one output per level, shaped by that level; box heads are per row and order-independent; the mask head picks each box class', () => {
      const cfg = tinyDetectorConfig(cascade);
      const model = new GeneralizedRCNN(cfg.model, cfg.input, 0).eval();
      const stages = detectorStages(model);
      const K = cfg.model.roi_heads.num_classes;
      const { images } = synthBatch(2);
      const batch = model.preprocess(images);
      const before = tf.memory().numTensors;
      tf.tidy(() => {
        const pyramid = stages.pyramid(batch.tensor);
        expect([...pyramid.keys()]).toEqual(['p2', 'p3', 'p4', 'p5', 'p6']);
        const rpn = stages.rpn(pyramid);
        expect(rpn).toHaveLength(5);
        const anchorsPerCell = cfg.model.rpn.aspect_ratios.length;
        [...pyramid.values()].forEach((f, l) => {
          const [b, h, w] = f.shape as number[];
          expect(rpn[l]!.logits.shape).toEqual([b, h! * w! * anchorsPerCell]);
          expect(rpn[l]!.deltas.shape).toEqual([b, h! * w! * anchorsPerCell, 4]);
        });
        expect(stages.boxStages).toBe(cascade ? 3 : 1);
        const { boxes, batchIndex } = someBoxes();
        const n = batchIndex.length;
        const order = [5, 2, 0, 4, 1, 3];
        const permBoxes = new Float32Array(n * 4);
        order.forEach((src, dst) => permBoxes.set(boxes.subarray(src * 4, src * 4 + 4), dst * 4));
        const permIndex = Int32Array.from(order, (i) => batchIndex[i]!);
        for (let k = 0; k < stages.boxStages; k++) {
          const out = stages.boxHead(pyramid, k, boxes, batchIndex);
          expect(out.scores.shape).toEqual([n, K + 1]);
          expect(out.deltas.shape).toEqual([n, cascade ? 4 : 4 * K]);
          const perm = stages.boxHead(pyramid, k, permBoxes, permIndex);
          const a = out.scores.arraySync() as number[][];
          const p = perm.scores.arraySync() as number[][];
          order.forEach((src, dst) => p[dst]!.forEach((v, j) => expect(v).toBeCloseTo(a[src]![j]!, 5)));
        }
        const classes = Int32Array.from([0, 3, 1, 2, 0, 3]);
        const masks = stages.maskHead!(pyramid, boxes, batchIndex, classes);
        const all = model.roi_heads.mask_head!.forward(model.roi_heads.maskPooler.forward(pyramid, boxes, batchIndex));
        const M = cfg.model.roi_heads.mask_pooler_resolution * 2;
        expect(masks.shape).toEqual([n, M, M]);
        const picked = masks.arraySync() as number[][][];
        const full = all.arraySync() as number[][][][];
        classes.forEach((c, i) => expect(picked[i]![3]![5]!).toBeCloseTo(full[i]![3]![5]![c]!, 5));
      });
      expect(tf.memory().numTensors).toBe(before);
      batch.tensor.dispose();
      model.dispose();
    });
  });
}

describe('segmenter stages (Mask2Former)', () => {
  it('queries and per-pixel scores of a crop, shaped as documented', () => {
    const file = fileURLToPath(new URL('../../configs/demo/mask2former_adapter_tiny_synth.yaml', import.meta.url));
    const { stages: _s, ...run } = loadConfig(file, ['model.head.dec_layers=2']).config;
    if (!isSegmenterConfig(run)) throw new Error('expected a segmenter config');
    const model = new Mask2Former(run.model, run.input, 0).eval();
    const stages = segmenterStages(model);
    const K = run.model.head.num_classes;
    const Q = run.model.head.queries;
    tf.tidy(() => {
      const crop = tf.randomNormal([1, 64, 96, 3], 0, 1, 'float32', 3);
      const q = stages.queries(crop);
      expect(q.classLogits.shape).toEqual([1, Q, K + 1]);
      expect(q.maskLogits.shape).toEqual([1, Q, 16, 24]);
      const scores = stages.scores(crop);
      expect(scores.shape).toEqual([1, 64, 96, K]);
    });
    model.dispose();
  });
});
