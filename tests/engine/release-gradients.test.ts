import { beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../../src/engine/tf.js';
import { switchBackend } from '../../src/engine/backend.js';
import { releasingGradients } from '../../src/engine/release-gradients.js';
import { trackWasmHeap } from '../helpers/wasm-heap.js';

beforeAll(async () => {
  await switchBackend('wasm');
});

/** A deep chain with residual branches and a weight used twice: every backprop case of the map. */
function loss(ws: tf.Variable[], x: tf.Tensor): tf.Scalar {
  let h = x;
  for (const w of ws) {
    const a = tf.relu(tf.matMul(h, w));
    h = tf.add(h, tf.mul(a, tf.sigmoid(tf.matMul(a, w))));
  }
  return tf.sum(tf.mul(h, h)) as tf.Scalar;
}

function run(release: boolean) {
  const ws = Array.from({ length: 12 }, (_, i) => tf.variable(tf.randomNormal([64, 64], 0, 0.1, 'float32', i + 1), true, `w${release}${i}`));
  const x = tf.randomNormal([256, 64], 0, 1, 'float32', 99);
  const heap = trackWasmHeap();
  const before = tf.memory().numTensors;
  const step = () => tf.variableGrads(() => loss(ws, x), ws);
  const { value, grads } = release ? releasingGradients(step) : step();
  heap.stop();
  const out = { value: value.dataSync()[0]!, grads: ws.map((w) => grads[w.name]!.dataSync() as Float32Array), peak: heap.peak() };
  value.dispose();
  tf.dispose(Object.values(grads));
  const leaked = tf.memory().numTensors - before;
  x.dispose();
  ws.forEach((w) => w.dispose());
  return { ...out, leaked };
}

describe('releasingGradients', () => {
  it('gives the same gradients, leaks nothing, and frees intermediate gradients as it goes', () => {
    const plain = run(false);
    const released = run(true);
    expect(released.value).toBe(plain.value);
    released.grads.forEach((g, i) => expect(Array.from(g)).toEqual(Array.from(plain.grads[i]!)));
    expect(released.leaked).toBe(0);
    expect(plain.leaked).toBe(0);
    expect(released.peak).toBeLessThan(plain.peak * 0.8);
  });

  it('restores tfjs afterwards, also when the step throws', () => {
    const engine = tf.engine() as unknown as { addTapeNode: unknown };
    const original = engine.addTapeNode;
    expect(() => releasingGradients(() => { throw new Error('boom'); })).toThrow('boom');
    expect(engine.addTapeNode).toBe(original);
  });
});
