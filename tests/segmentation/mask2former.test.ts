import { beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../../src/engine/tf.js';
import { switchBackend } from '../../src/engine/backend.js';
import { loadConfig } from '../../src/config/index.js';
import { isSegmenterConfig, type SegmenterRunConfig } from '../../src/config/schema.js';
import { Mask2Former } from '../../src/segmentation/mask2former.js';
import { hostCropScores, slideScoresHost, wholeScoresHost } from '../../src/segmentation/sliding-window.js';
import { semanticTargets } from '../../src/tasks/semantic/train.js';
import { buildParamSpecs } from '../../src/train/param-groups.js';
import { AdamW } from '../../src/train/adamw.js';
import { lossAndGradients } from '../../src/train/step.js';
import { Rng } from '../../src/engine/random.js';
import { synthShapesImage } from '../../src/data/synthetic-shapes.js';
import { rleDecode } from '@densekit/eval';
import { fileURLToPath } from 'node:url';

const CONFIG = fileURLToPath(new URL('../../configs/demo/mask2former_adapter_tiny_synth.yaml', import.meta.url));

function tinyConfig(overrides: string[] = []): SegmenterRunConfig {
  const { stages: _s, ...run } = loadConfig(CONFIG, ['model.head.train_num_points=256', 'model.head.dec_layers=2', ...overrides]).config;
  if (!isSegmenterConfig(run)) throw new Error('expected a segmenter config');
  return run;
}

beforeAll(async () => {
  await switchBackend('wasm');
});

describe('ViT-Adapter + Mask2Former (tiny)', () => {
  it('the adapter makes a stride 4/8/16/32 pyramid for non-square inputs divisible by 32', () => {
    const cfg = tinyConfig();
    const model = new Mask2Former(cfg.model, cfg.input, 0).eval();
    const feats = tf.tidy(() => model.backbone.forward(tf.randomNormal([1, 64, 96, 3])).map((f) => f.shape));
    expect(feats).toEqual([
      [1, 16, 24, 64],
      [1, 8, 12, 64],
      [1, 4, 6, 64],
      [1, 2, 3, 64],
    ]);
    const preds = tf.tidy(() => model.predictions(tf.randomNormal([2, 64, 96, 3])).map((p) => [p.logits.shape, p.masks.shape]));
    expect(preds).toHaveLength(3);
    expect(preds[2]).toEqual([
      [2, 12, 6],
      [2, 12, 16, 24],
    ]);
    model.dispose();
  });

  it('sliding-window inference equals whole-image inference when one window covers the image', async () => {
    const cfg = tinyConfig();
    const model = new Mask2Former(cfg.model, cfg.input, 0).eval();
    const x = tf.randomNormal([1, 64, 96, 3], 0, 1, 'float32', 3);
    const fn = hostCropScores((crop) => model.semanticScores(crop));
    const a = await wholeScoresHost(fn, x);
    const b = await slideScoresHost(fn, x, 128, 96);
    expect([a.height, a.width, a.classes]).toEqual([64, 96, 5]);
    let m = 0;
    const [da, db] = [a.data, b.data];
    for (let i = 0; i < da.length; i++) m = Math.max(m, Math.abs(da[i]! - db[i]!));
    expect(m).toBeLessThan(1e-5);
    model.dispose();
  });

  it('a few AdamW steps on one batch lower the loss (wasm)', () => {
    const cfg = tinyConfig();
    const model = new Mask2Former(cfg.model, cfg.input, 1).train();
    const specs = buildParamSpecs(model, { ...cfg.train.optimizer, weight_decay: 0 });
    const opt = new AdamW(specs, { betas: [0.9, 0.999], eps: 1e-8 });
    const rng = new Rng(4);
    const size = 64;
    const imgs: number[] = [];
    const targets = [0, 1].map(() => {
      const s = synthShapesImage(rng, { width: size, height: size, minObjects: 2, maxObjects: 3, minSize: 0.3, maxSize: 0.5, colors: 'class' });
      imgs.push(...Array.from(s.rgb, (v) => (v - 120) / 60));
      const labels = new Uint8Array(size * size).fill(0);
      for (const o of s.objects) {
        const col = rleDecode(o.rle);
        for (let x = 0; x < size; x++) for (let y = 0; y < size; y++) if (col[x * size + y]) labels[y * size + x] = o.classIndex + 1;
      }
      return semanticTargets(labels, size, size, size, size);
    });
    const images = tf.tensor4d(imgs, [2, size, size, 3]);
    const totals: number[] = [];
    for (let i = 0; i < 6; i++) {
      const r = lossAndGradients(() => model.losses(images, targets), specs);
      totals.push(r.total);
      opt.apply(r.grads, 2e-3);
      for (const g of r.grads.values()) g.dispose();
    }
    expect(totals.every(Number.isFinite)).toBe(true);
    expect((totals[4]! + totals[5]!) / 2).toBeLessThan(totals[0]! * 0.9);
    opt.dispose();
    model.dispose();
  });
});
