import { describe, expect, it } from 'vitest';
import { tf } from '../../src/engine/tf.js';
import { lrFactor } from '../../src/train/schedule.js';
import { buildParamSpecs } from '../../src/train/param-groups.js';
import { AdamW } from '../../src/train/adamw.js';
import { scheduleSchema, optimizerSchema } from '../../src/config/schema.js';
import { GeneralizedRCNN } from '../../src/detection/rcnn.js';
import { tinyDetectorConfig } from '../helpers/tiny-detector.js';

describe('lr schedules', () => {
  it('warmup then step decay at the milestones (detectron2 semantics)', () => {
    const s = scheduleSchema.parse({ kind: 'step', milestones: [100, 150], gamma: 0.1, warmup_iters: 10, warmup_factor: 0.001 });
    expect(lrFactor(s, 0, 200)).toBeCloseTo(0.001, 9);
    expect(lrFactor(s, 5, 200)).toBeCloseTo(0.001 * 0.5 + 0.5, 9);
    expect(lrFactor(s, 10, 200)).toBe(1);
    expect(lrFactor(s, 99, 200)).toBe(1);
    expect(lrFactor(s, 100, 200)).toBeCloseTo(0.1, 12);
    expect(lrFactor(s, 150, 200)).toBeCloseTo(0.01, 12);
  });
  it('cosine and poly decay to the floor', () => {
    const c = scheduleSchema.parse({ kind: 'cosine', warmup_iters: 0 });
    expect(lrFactor(c, 0, 100)).toBeCloseTo(1);
    expect(lrFactor(c, 50, 100)).toBeCloseTo(0.5);
    expect(lrFactor(c, 100, 100)).toBeCloseTo(0);
    const p = scheduleSchema.parse({ kind: 'poly', power: 1, warmup_iters: 0 });
    expect(lrFactor(p, 25, 100)).toBeCloseTo(0.75);
  });
});

describe('parameter groups', () => {
  it('layer decay: embeddings smallest, block i by depth, heads 1; no decay for 1-D and pos/rel-pos', () => {
    const cfg = tinyDetectorConfig();
    const model = new GeneralizedRCNN(cfg.model, cfg.input, 0);
    const specs = buildParamSpecs(model, optimizerSchema.parse({ layer_decay: 0.5, weight_decay: 0.1 }));
    const by = new Map(specs.map((s) => [s.name, s]));
    const depth = model.depth; // 4
    expect(by.get('backbone.net.pos_embed')!.layerId).toBe(0);
    expect(by.get('backbone.net.pos_embed')!.lrScale).toBeCloseTo(0.5 ** (depth + 1));
    expect(by.get('backbone.net.pos_embed')!.weightDecay).toBe(0);
    expect(by.get('backbone.net.blocks.0.attn.q_proj.weight')!.lrScale).toBeCloseTo(0.5 ** depth);
    expect(by.get('backbone.net.blocks.3.ffn.fc1.weight')!.lrScale).toBeCloseTo(0.5);
    expect(by.get('backbone.net.blocks.3.attn.rel_pos_h')!.weightDecay).toBe(0);
    expect(by.get('backbone.net.blocks.3.ffn.fc1.bias')!.weightDecay).toBe(0);
    expect(by.get('backbone.simfp_2.4.weight')!.lrScale).toBe(1);
    expect(by.get('roi_heads.box_predictor.cls_score.weight')!.lrScale).toBe(1);
    expect(by.get('roi_heads.box_predictor.cls_score.weight')!.weightDecay).toBe(0.1);
    expect(by.has('backbone.net.patch_embed.proj.weight')).toBe(true);
    model.dispose();
  });

  it('backbone.freeze_patch_embed leaves the patch embedding out of the optimizer, and only it', () => {
    const cfg = tinyDetectorConfig();
    const model = new GeneralizedRCNN({ ...cfg.model, backbone: { ...cfg.model.backbone, freeze_patch_embed: true } }, cfg.input, 0);
    const names = buildParamSpecs(model, optimizerSchema.parse({})).map((s) => s.name);
    const all = model.namedParameters().map(([n]) => n);
    expect(all.filter((n) => !names.includes(n))).toEqual(['backbone.net.patch_embed.proj.weight', 'backbone.net.patch_embed.proj.bias']);
    model.dispose();
  });
});

describe('AdamW', () => {
  it('matches torch.optim.AdamW on a hand-computed step (decoupled decay, bias correction)', () => {
    const v = tf.variable(tf.tensor1d([1, -2]));
    const opt = new AdamW([{ name: 'p', variable: v, lrScale: 1, weightDecay: 0.1, layerId: 0 }], { betas: [0.9, 0.999], eps: 1e-8 });
    opt.apply(new Map([['p', tf.tensor1d([0.5, 0.25])]]), 0.01);
    // step 1: p *= 1 - lr*wd; m̂ = g, v̂ = g², update = lr * g / (|g| + eps)
    const expected = [1 * (1 - 0.001) - 0.01 * (0.5 / (0.5 + 1e-8)), -2 * (1 - 0.001) - 0.01 * (0.25 / (0.25 + 1e-8))];
    const got = v.dataSync();
    expect(got[0]).toBeCloseTo(expected[0]!, 6);
    expect(got[1]).toBeCloseTo(expected[1]!, 6);
    opt.dispose();
  });
});
