import { beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../../src/engine/tf.js';
import { switchBackend } from '../../src/engine/backend.js';
import { withInitSeed } from '../../src/engine/random.js';
import { buildEncoder, buildViTDetBackbone } from '../../src/backbone/vitdet.js';
import { backboneSchema, pyramidSchema } from '../../src/config/schema.js';
import { maxAbsDiff } from '../helpers/fixtures.js';

beforeAll(async () => {
  await switchBackend('wasm');
});

describe('activation checkpointing', () => {
  it('gives the same loss and gradients as keeping activations (drop path on, windows + global + rel-pos), leaks nothing', () => {
    const cfg = (checkpoint: boolean) =>
      backboneSchema.parse({ size: 'tiny', pretrain_img_size: 64, window_size: 2, global_blocks: [1, 3], drop_path_rate: 0.5, activation_checkpoint: checkpoint });
    const plain = withInitSeed(3, () => buildEncoder(cfg(false), 64)).train();
    const ckpt = withInitSeed(3, () => buildEncoder(cfg(true), 64)).train();
    // Small FFN steps so the chunked path (several recomputed slices per block) runs here.
    for (const block of ckpt.blocks.items) block.opts.ffnChunkTokens = 7;
    // Non-zero rel-pos tables so their gradient path matters.
    for (const [name, v] of plain.namedParameters()) {
      if (name.includes('rel_pos')) {
        const t = tf.randomNormal(v.shape, 0, 0.3, 'float32', 9);
        v.assign(t);
        ckpt.stateDict().get(name)!.assign(t);
      }
    }
    const x = tf.randomNormal([2, 80, 48, 3], 0, 1, 'float32', 1);
    const w = tf.randomNormal([2, 5, 3, 64], 0, 1, 'float32', 2);
    const run = (enc: typeof plain) => {
      const vars = enc.namedParameters().map(([, v]) => v);
      const { value, grads } = tf.variableGrads(() => tf.sum(tf.mul(enc.forward(x).map, w)) as tf.Scalar, vars);
      const out = { loss: value.dataSync()[0]!, grads: enc.namedParameters().map(([n, v]) => [n, grads[v.name]!.dataSync()] as const), rng: enc.rng.getState() };
      value.dispose();
      tf.dispose(Object.values(grads));
      return out;
    };
    const a = run(plain);
    const before = tf.memory().numTensors;
    const b = run(ckpt);
    expect(tf.memory().numTensors).toBe(before);
    expect(b.loss).toBeCloseTo(a.loss, 4);
    // Drop path drew the same masks in the recomputation, and the generator ends where it would have.
    expect(b.rng).toEqual(a.rng);
    expect(b.grads.map(([n]) => n)).toEqual(a.grads.map(([n]) => n));
    b.grads.forEach(([n, g], i) => {
      const ref = a.grads[i]![1];
      expect(maxAbsDiff(g, ref), n).toBeLessThan(1e-4 * Math.max(1, Math.max(...Array.from(ref, Math.abs))));
    });
  });

  it('checkpoints the Simple Feature Pyramid stages with the same gradients', () => {
    const build = (checkpoint: boolean) => {
      const cfg = backboneSchema.parse({ size: 'tiny', pretrain_img_size: 64, window_size: 2, global_blocks: [1, 3], drop_path_rate: 0, activation_checkpoint: checkpoint });
      return withInitSeed(4, () => buildViTDetBackbone(cfg, pyramidSchema.parse({ out_channels: 16 }), 64)).backbone.train();
    };
    const plain = build(false);
    const ckpt = build(true);
    const x = tf.randomNormal([1, 64, 64, 3], 0, 1, 'float32', 5);
    const run = (b: typeof plain) => {
      const vars = b.namedParameters().map(([, v]) => v);
      const { value, grads } = tf.variableGrads(() => {
        const maps = [...b.features(x).values()];
        return tf.addN(maps.map((m, i) => tf.sum(tf.mul(tf.square(m), i + 1)))) as tf.Scalar;
      }, vars);
      const out = { loss: value.dataSync()[0]!, grads: vars.map((v) => grads[v.name]!.dataSync() as Float32Array) };
      value.dispose();
      tf.dispose(Object.values(grads));
      return out;
    };
    const a = run(plain);
    const b = run(ckpt);
    expect(b.loss).toBeCloseTo(a.loss, 2);
    b.grads.forEach((g, i) => expect(maxAbsDiff(g, a.grads[i]!)).toBeLessThan(1e-4 * Math.max(1, ...Array.from(a.grads[i]!, Math.abs))));
  });
});
