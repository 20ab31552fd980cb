import { describe, expect, it } from 'vitest';
import { tf, type Tensor } from '../../src/engine/tf.js';
import { switchBackend, type BackendName } from '../../src/engine/backend.js';
import { Conv2d } from '../../src/engine/layers/conv2d.js';
import { ConvTranspose2d } from '../../src/engine/layers/conv-transpose2d.js';
import { Linear } from '../../src/engine/layers/linear.js';
import { LayerNorm } from '../../src/engine/layers/layer-norm.js';
import { gelu } from '../../src/engine/layers/activations.js';
import { gatherRows } from '../../src/engine/ops/gather.js';
import { depthwiseConv2d } from '../../src/engine/ops/depthwise-conv2d.js';
import { withInitSeed } from '../../src/engine/random.js';
import { maxPool2d } from '../../src/engine/layers/pooling.js';
import { maxAbsDiff } from '../helpers/fixtures.js';

/**
 * A small network using every gradient path densekit supplies (strided and
 * padded conv, 1x1 conv, 2x2 deconv, 3x3 deconv, depthwise conv, linear,
 * gather, layer norm, GELU, max pool): its gradients must be computable on
 * wasm (which lacks several backprop kernels) and equal cpu's.
 */
async function gradientsOn(backend: BackendName): Promise<Map<string, Float32Array>> {
  await switchBackend(backend);
  const { conv, pw, up, up3, norm, fc } = withInitSeed(7, () => ({
    conv: new Conv2d(3, 8, 3, { stride: 2, padding: 1 }),
    pw: new Conv2d(8, 8, 1),
    up: new ConvTranspose2d(8, 4, 2, 2),
    up3: new ConvTranspose2d(4, 4, 3, 2),
    norm: new LayerNorm(4),
    fc: new Linear(4, 5),
  }));
  const dw = tf.variable(tf.randomNormal([3, 3, 4, 1], 0, 0.3, 'float32', 3));
  const table = tf.variable(tf.randomNormal([10, 5], 0, 1, 'float32', 4));
  const x = tf.randomNormal([2, 9, 11, 3], 0, 1, 'float32', 5);
  const idx = tf.tensor1d([3, 3, 0, 9, 1], 'int32');
  const vars: tf.Variable[] = [
    ...conv.namedParameters().map(([, v]) => v),
    ...pw.namedParameters().map(([, v]) => v),
    ...up.namedParameters().map(([, v]) => v),
    ...up3.namedParameters().map(([, v]) => v),
    dw,
    ...norm.namedParameters().map(([, v]) => v),
    ...fc.namedParameters().map(([, v]) => v),
    table,
  ];
  const names = ['conv.w', 'conv.b', 'pw.w', 'pw.b', 'up.w', 'up.b', 'up3.w', 'up3.b', 'dw', 'ln.w', 'ln.b', 'fc.w', 'fc.b', 'table'];
  const { grads } = tf.variableGrads(() => {
    let h: Tensor = gelu(conv.forward(x));
    h = tf.relu(pw.forward(h));
    h = up.forward(h);
    h = up3.forward(h);
    h = depthwiseConv2d(h as tf.Tensor4D, dw as unknown as tf.Tensor4D, 1);
    h = maxPool2d(h, 2, 2);
    h = norm.forward(h);
    const pooled = tf.mean(fc.forward(h), [1, 2]); // [2, 5]
    const emb = gatherRows(table, idx); // [5, 5]
    return tf.sum(tf.square(tf.matMul(pooled, emb)));
  }, vars);
  const out = new Map<string, Float32Array>();
  vars.forEach((v, i) => out.set(names[i]!, grads[v.name]!.dataSync() as Float32Array));
  for (const v of vars) v.dispose();
  return out;
}

describe('gradients on every backend', () => {
  it('wasm and cpu give the same gradients for conv + deconv + depthwise + linear + gather', async () => {
    const cpu = await gradientsOn('cpu');
    const wasm = await gradientsOn('wasm');
    for (const [name, g] of cpu) {
      const scale = Math.max(1, ...Array.from(g).map(Math.abs));
      expect(maxAbsDiff(g, wasm.get(name)!) / scale, name).toBeLessThan(1e-4);
      expect(Array.from(g).some((v) => v !== 0), `${name} has a nonzero gradient`).toBe(true);
    }
  });

  it('conv filter gradient equals tfjs cpu reference on strided, padded convs', async () => {
    await switchBackend('cpu');
    const x = tf.randomNormal([2, 10, 7, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
    const w = tf.randomNormal([3, 3, 3, 4], 0, 1, 'float32', 2) as tf.Tensor4D;
    const { conv2d } = await import('../../src/engine/ops/conv2d.js');
    for (const stride of [1, 2]) {
      const ours = tf.grads((a: Tensor, b: Tensor) => tf.sum(tf.square(conv2d(a as tf.Tensor4D, b as tf.Tensor4D, stride, [1, 1, 1, 1]))))([x, w]);
      const ref = tf.grads((a: Tensor, b: Tensor) =>
        tf.sum(tf.square(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, stride, [[0, 0], [1, 1], [1, 1], [0, 0]]))),
      )([x, w]);
      expect(maxAbsDiff(ours[0]!.dataSync(), ref[0]!.dataSync())).toBeLessThan(1e-3);
      expect(maxAbsDiff(ours[1]!.dataSync(), ref[1]!.dataSync())).toBeLessThan(1e-3);
    }
  });

  it('the 2x2 stride-2 transposed conv fast path equals conv2dTranspose', async () => {
    await switchBackend('wasm');
    const up = new ConvTranspose2d(6, 5, 2, 2);
    const x = tf.randomNormal([1, 4, 3, 6], 0, 1, 'float32', 9) as tf.Tensor4D;
    const ref = tf.add(tf.conv2dTranspose(x, up.weight as unknown as tf.Tensor4D, [1, 8, 6, 5], 2, 'valid'), up.bias!);
    expect(maxAbsDiff(up.forward(x).dataSync(), ref.dataSync())).toBeLessThan(1e-5);
    up.dispose();
  });
});

describe('maxPool2d', () => {
  it('matches tfjs maxPool forward (k2 s2, k3 s2 p1) and gives equal gradients on wasm and cpu', async () => {
    const results: Record<string, Float32Array[]> = {};
    for (const be of ['cpu', 'wasm'] as const) {
      await switchBackend(be);
      const x = tf.randomNormal([2, 7, 9, 3], 0, 1, 'float32', 11);
      const a = maxPool2d(x, 2, 2);
      expect(maxAbsDiff(a.dataSync(), tf.maxPool(x as tf.Tensor4D, 2, 2, 'valid').dataSync())).toBe(0);
      const b = maxPool2d(x, 3, 2, 1);
      expect(b.shape).toEqual([2, 4, 5, 3]);
      expect(maxAbsDiff(b.dataSync(), tf.maxPool(x as tf.Tensor4D, 3, 2, [[0, 0], [1, 1], [1, 1], [0, 0]]).dataSync())).toBe(0);
      const [g] = tf.grads((t: Tensor) => tf.sum(tf.square(maxPool2d(t, 3, 2, 1))))([x]);
      results[be] = [g!.dataSync() as Float32Array];
    }
    expect(maxAbsDiff(results.cpu![0]!, results.wasm![0]!)).toBeLessThan(1e-5);
  });
});
