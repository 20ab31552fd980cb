import { beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../../src/engine/tf.js';
import { switchBackend } from '../../src/engine/backend.js';
import { layerNorm } from '../../src/engine/layers/layer-norm.js';
import { gelu } from '../../src/engine/layers/activations.js';
import { maxAbsDiff } from '../helpers/fixtures.js';
import { trackWasmHeap } from '../helpers/wasm-heap.js';

beforeAll(async () => {
  await switchBackend('wasm');
});

/** LayerNorm written with plain ops, differentiated by tfjs. */
function autodiffLayerNorm(x: tf.Tensor, w: tf.Tensor, b: tf.Tensor, eps: number): tf.Tensor {
  const axis = x.rank - 1;
  const mean = tf.mean(x, axis, true);
  const c = tf.sub(x, mean);
  return tf.add(tf.mul(tf.div(c, tf.sqrt(tf.add(tf.mean(tf.square(c), axis, true), eps))), w), b);
}

describe('layerNorm', () => {
  it('value and gradients (x, weight, bias) equal autodiff of the plain formula', () => {
    const x = tf.add(tf.mul(tf.randomNormal([2, 5, 7, 16], 0, 1, 'float32', 1), 3), 0.5);
    const w = tf.randomNormal([16], 1, 0.3, 'float32', 2);
    const b = tf.randomNormal([16], 0, 0.3, 'float32', 3);
    const r = tf.randomNormal([2, 5, 7, 16], 0, 1, 'float32', 4);
    for (const eps of [1e-5, 1e-6]) {
      const loss = (f: typeof layerNorm) => (xx: tf.Tensor, ww: tf.Tensor, bb: tf.Tensor) => tf.sum(tf.mul(f(xx, ww, bb, eps), r));
      const ours = tf.grads(loss(layerNorm))([x, w, b]);
      const ref = tf.grads(loss(autodiffLayerNorm))([x, w, b]);
      expect(maxAbsDiff(layerNorm(x, w, b, eps).dataSync(), autodiffLayerNorm(x, w, b, eps).dataSync())).toBeLessThan(1e-5);
      ours.forEach((g, i) => expect(maxAbsDiff(g.dataSync(), ref[i]!.dataSync())).toBeLessThan(1e-4));
    }
  });

  it('keeps only its output for the backward pass', () => {
    const x = tf.randomNormal([64, 64, 32], 0, 1, 'float32', 5);
    const w = tf.variable(tf.ones([32]));
    const b = tf.variable(tf.zeros([32]));
    const heap = trackWasmHeap();
    let held = 0;
    const { value, grads } = tf.variableGrads(() => {
      const y = layerNorm(x, w, b, 1e-6);
      held = heap.live();
      return tf.sum(tf.square(y)) as tf.Scalar;
    }, [w, b]);
    heap.stop();
    expect(held).toBeLessThan(1.5 * x.size * 4);
    value.dispose();
    tf.dispose(Object.values(grads));
  });
});

describe('gelu', () => {
  it('gradient equals autodiff of x·Φ(x) (erf form)', () => {
    const x = tf.mul(tf.randomNormal([4, 9, 13], 0, 1, 'float32', 6), 2.5);
    const r = tf.randomNormal([4, 9, 13], 0, 1, 'float32', 7);
    const plain = (t: tf.Tensor) => tf.mul(tf.mul(t, 0.5), tf.add(tf.erf(tf.mul(t, Math.SQRT1_2)), 1));
    const ours = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(gelu(t), r)))(x);
    const ref = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(plain(t), r)))(x);
    expect(maxAbsDiff(gelu(x).dataSync(), plain(x).dataSync())).toBe(0);
    expect(maxAbsDiff(ours.dataSync(), ref.dataSync())).toBeLessThan(1e-5);
  });
});
