import { beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../../src/engine/tf.js';
import { switchBackend } from '../../src/engine/backend.js';
import { GeneralizedRCNN } from '../../src/detection/rcnn.js';
import { synthBatch, tinyDetectorConfig } from '../helpers/tiny-detector.js';

beforeAll(async () => {
  await switchBackend('wasm');
});

for (const cascade of [false, true]) {
  describe(cascade ? 'tiny Cascade Mask R-CNN' : 'tiny Mask R-CNN', () => {
    it('returns finite named losses in training mode', () => {
      const cfg = tinyDetectorConfig(cascade);
      const model = new GeneralizedRCNN(cfg.model, cfg.input, 0).train();
      const { images, gt } = synthBatch(2);
      const losses = tf.tidy(() => {
        const l = model.losses(model.preprocess(images), gt);
        return Object.fromEntries([...l].map(([k, v]) => [k, v.dataSync()[0]!]));
      });
      const expectedKeys = cascade
        ? ['loss_rpn_cls', 'loss_rpn_loc', 'loss_cls_stage0', 'loss_box_reg_stage0', 'loss_cls_stage1', 'loss_box_reg_stage1', 'loss_cls_stage2', 'loss_box_reg_stage2', 'loss_mask']
        : ['loss_rpn_cls', 'loss_rpn_loc', 'loss_cls', 'loss_box_reg', 'loss_mask'];
      expect(Object.keys(losses).sort()).toEqual(expectedKeys.sort());
      for (const [k, v] of Object.entries(losses)) expect(Number.isFinite(v), k).toBe(true);
      model.dispose();
    });

    it('inference returns valid detections and leaks no tensors', async () => {
      const cfg = tinyDetectorConfig(cascade);
      const model = new GeneralizedRCNN(cfg.model, cfg.input, 0).eval();
      const { images } = synthBatch(2, 128, 5);
      const list = model.preprocess(images);
      await model.detect(list);
      const before = tf.memory().numTensors;
      const dets = await model.detect(list);
      expect(tf.memory().numTensors).toBe(before);
      expect(dets).toHaveLength(2);
      for (const d of dets) {
        const n = d.scores.length;
        expect(d.boxes.length).toBe(n * 4);
        expect(d.classes.every((c) => c >= 0 && c < 4)).toBe(true);
        expect(d.maskProbs!.length).toBe(n);
        for (let i = 0; i < n; i++) {
          expect(d.boxes[i * 4]).toBeLessThanOrEqual(d.boxes[i * 4 + 2]!);
          expect(d.boxes[i * 4 + 2]).toBeLessThanOrEqual(128);
        }
      }
      list.tensor.dispose();
      model.dispose();
    });
  });
}

describe('training steps', () => {
  for (const cascade of [false, true]) {
    it(`${cascade ? 'Cascade ' : ''}Mask R-CNN: a few AdamW steps on one fixed batch lower the total loss (wasm)`, async () => {
      const { buildParamSpecs } = await import('../../src/train/param-groups.js');
      const { AdamW } = await import('../../src/train/adamw.js');
      const { lossAndGradients } = await import('../../src/train/step.js');
      const cfg = tinyDetectorConfig(cascade);
      const model = new GeneralizedRCNN(cfg.model, cfg.input, 3).train();
      const specs = buildParamSpecs(model, { ...cfg.train.optimizer, weight_decay: 0 });
      const opt = new AdamW(specs, { betas: [0.9, 0.999], eps: 1e-8 });
      const { images, gt } = synthBatch(2, 128, 7);
      const list = model.preprocess(images);
      const totals: number[] = [];
      for (let i = 0; i < 8; i++) {
        const r = lossAndGradients(() => model.losses(list, gt), specs);
        totals.push(r.total);
        opt.apply(r.grads, 2e-3);
        for (const g of r.grads.values()) g.dispose();
      }
      expect(totals.every(Number.isFinite)).toBe(true);
      expect((totals[6]! + totals[7]!) / 2).toBeLessThan(totals[0]! * 0.85);
      opt.dispose();
      model.dispose();
    });
  }
});
