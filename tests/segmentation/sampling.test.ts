import { beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../../src/engine/tf.js';
import { switchBackend } from '../../src/engine/backend.js';
import { gridSample } from '../../src/engine/ops/bilinear-sample.js';
import { msDeformAttnCore } from '../../src/engine/ops/ms-deform-attn-core.js';
import { toTf } from '../../src/io/host-tensor.js';
import { get, maxAbsDiff, nchwToNhwc, torchRef, values } from '../helpers/fixtures.js';

beforeAll(async () => {
  await switchBackend('wasm');
});

describe('grid_sample (bilinear, zeros, align_corners=False)', () => {
  it('equals torch on the fixture', () => {
    const ref = torchRef('grid_sample.safetensors');
    const x = nchwToNhwc(get(ref, 'input'));
    const out = gridSample(tf.tensor(x.data, x.shape), toTf(get(ref, 'grid')));
    const expected = nchwToNhwc(get(ref, 'output'));
    expect(out.shape).toEqual(expected.shape);
    expect(maxAbsDiff(out.dataSync(), expected.data)).toBeLessThan(1e-5);
  });
});

describe('multi-scale deformable attention (pure tensor ops)', () => {
  const ref = torchRef('ms_deform_attn.safetensors');
  const shapes = Array.from(values(get(ref, 'value_spatial_shapes')));
  const levels: [number, number][] = [0, 1, 2].map((i) => [shapes[i * 2]!, shapes[i * 2 + 1]!]);

  it('equals ms_deform_attn_core_pytorch', () => {
    const value = toTf(get(ref, 'value'));
    const out = msDeformAttnCore(value, levels, toTf(get(ref, 'sampling_locations')), toTf(get(ref, 'attention_weights')));
    expect(out.shape).toEqual([1, 5, 32]);
    expect(maxAbsDiff(out.dataSync(), values(get(ref, 'output')))).toBeLessThan(1e-5);
  });

  it('has gradients for values, locations and weights that match finite differences', () => {
    const value = toTf(get(ref, 'value'));
    const loc = toTf(get(ref, 'sampling_locations'));
    const w = toTf(get(ref, 'attention_weights'));
    const probe = tf.randomNormal([1, 5, 32], 0, 1, 'float32', 9);
    const f = (v: tf.Tensor, l: tf.Tensor, a: tf.Tensor) => tf.sum(tf.mul(msDeformAttnCore(v, levels, l, a), probe));
    const grads = tf.grads(f)([value, loc, w]);
    const inputs = [value, loc, w];
    inputs.forEach((t, which) => {
      const base = t.dataSync();
      const g = grads[which]!.dataSync();
      const eps = 1e-3;
      for (const i of [3, 57, 211, 301].map((k) => k % base.length)) {
        const plus = Float32Array.from(base);
        plus[i]! += eps;
        const minus = Float32Array.from(base);
        minus[i]! -= eps;
        const args = (arr: Float32Array) => inputs.map((x, j) => (j === which ? tf.tensor(arr, t.shape) : x)) as [tf.Tensor, tf.Tensor, tf.Tensor];
        const fd = (f(...args(plus)).dataSync()[0]! - f(...args(minus)).dataSync()[0]!) / (2 * eps);
        expect(Math.abs(fd - g[i]!), `input ${which} element ${i}`).toBeLessThan(5e-2 * Math.max(1, Math.abs(fd)));
      }
    });
  });
});
