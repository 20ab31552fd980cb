import { beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../../src/engine/tf.js';
import { switchBackend } from '../../src/engine/backend.js';
import { Beit3Attention } from '../../src/backbone/attention.js';
import { windowPartition, windowUnpartition } from '../../src/backbone/windows.js';
import { maxAbsDiff } from '../helpers/fixtures.js';

beforeAll(async () => {
  await switchBackend('wasm');
});

describe('attention strategies', () => {
  it('head-by-head 2-D matmuls equal the batched path (with relative positions), forward and gradient', () => {
    const opts = { dim: 16, numHeads: 2, layernormEps: 1e-5, relPosSize: [8, 8] as [number, number] };
    const batched = new Beit3Attention({ ...opts, perHeadMinTokens: Infinity });
    const perHead = new Beit3Attention({ ...opts, perHeadMinTokens: 1 });
    for (const [name, v] of batched.namedParameters()) {
      // Non-zero rel-pos tables so that path is exercised.
      const t = name.includes('rel_pos') ? tf.randomNormal(v.shape, 0, 0.5, 'float32', 5) : tf.clone(v);
      batched.stateDict().get(name)!.assign(t);
      perHead.stateDict().get(name)!.assign(t);
    }
    const x = tf.randomNormal([2, 64, 16], 0, 1, 'float32', 3);
    const a = batched.forward(x, [8, 8]);
    const b = perHead.forward(x, [8, 8]);
    expect(maxAbsDiff(a.dataSync(), b.dataSync())).toBeLessThan(1e-5);
    const ga = tf.grads((t: tf.Tensor) => tf.sum(tf.square(batched.forward(t, [8, 8]))))([x])[0]!;
    const gb = tf.grads((t: tf.Tensor) => tf.sum(tf.square(perHead.forward(t, [8, 8]))))([x])[0]!;
    expect(maxAbsDiff(ga.dataSync(), gb.dataSync())).toBeLessThan(1e-4);
  });

  it('window partition pads, orders windows row-major, and unpartition inverts it', () => {
    const x = tf.range(0, 2 * 4 * 5 * 3).reshape([2, 4, 5, 3]);
    const { windows, padded } = windowPartition(x, 3);
    expect(padded).toEqual([6, 6]);
    expect(windows.shape).toEqual([8, 3, 3, 3]);
    // Window 1 of image 0 starts at column 3; its last column is padding.
    const w1 = windows.slice([1, 0, 0, 0], [1, 3, 3, 3]).arraySync() as number[][][][];
    expect(w1[0]![0]![0]).toEqual([9, 10, 11]);
    expect(w1[0]![0]![2]).toEqual([0, 0, 0]);
    const back = windowUnpartition(windows, 3, padded, [4, 5]);
    expect(Array.from(back.dataSync())).toEqual(Array.from(x.dataSync()));
  });
});
