import { beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../../src/engine/tf.js';
import { switchBackend } from '../../src/engine/backend.js';
import { initRng } from '../../src/engine/random.js';
import { buildEncoder } from '../../src/backbone/vitdet.js';
import { backboneSchema } from '../../src/config/schema.js';
import { maxAbsDiff } from '../helpers/fixtures.js';

beforeAll(async () => {
  await switchBackend('wasm');
});

describe('activation checkpointing', () => {
  it('gives the same loss and gradients as keeping activations (drop path on, windows + global + rel-pos), leaks nothing', () => {
    const cfg = (checkpoint: boolean) =>
      backboneSchema.parse({ size: 'tiny', pretrain_img_size: 64, window_size: 2, global_blocks: [1, 3], drop_path_rate: 0.5, activation_checkpoint: checkpoint });
    initRng.seed(3);
    const plain = buildEncoder(cfg(false), 64).train();
    initRng.seed(3);
    const ckpt = buildEncoder(cfg(true), 64).train();
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
});
