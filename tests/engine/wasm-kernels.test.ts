import { beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../../src/engine/tf.js';
import { switchBackend } from '../../src/engine/backend.js';
import { maxPool2d } from '../../src/engine/layers/pooling.js';
import { sliceInto } from '../../src/engine/wasm-kernels.js';

beforeAll(async () => {
  await switchBackend('wasm');
});

/** Row-major slice on the host, element by element. */
function hostSlice(src: Float32Array, shape: number[], begin: number[], size: number[]): number[] {
  const out: number[] = [];
  const idx = size.map(() => 0);
  const total = size.reduce((a, b) => a * b, 1);
  for (let k = 0; k < total; k++) {
    let off = 0;
    for (let d = 0; d < shape.length; d++) off = off * shape[d]! + begin[d]! + idx[d]!;
    out.push(src[off]!);
    for (let d = size.length - 1; d >= 0; d--) {
      if (++idx[d]! < size[d]!) break;
      idx[d] = 0;
    }
  }
  return out;
}

describe('wasm kernel replacements', () => {
  it('Slice reads every rank in place and gives the elements of the box', () => {
    const cases: [number[], number[], number[]][] = [
      [[2, 37, 41, 5], [1, 3, 4, 1], [1, 20, 30, 3]],
      [[2, 37, 41, 5], [0, 0, 0, 2], [2, 37, 41, 1]],
      [[2, 37, 41, 5], [0, 5, 0, 0], [2, 10, 41, 5]],
      [[1, 6, 3, 4, 2, 2], [0, 1, 0, 1, 0, 1], [1, 4, 3, 2, 2, 1]],
      [[3, 4, 5, 6, 7], [1, 0, 2, 0, 3], [2, 4, 2, 6, 4]],
      [[50], [7], [30]],
    ];
    for (const [shape, begin, size] of cases) {
      const x = tf.randomNormal(shape, 0, 1, 'float32', 3);
      const got = Array.from(tf.slice(x, begin, size).dataSync());
      expect(got).toEqual(hostSlice(x.dataSync() as Float32Array, shape, begin, size));
      const ints = tf.cast(tf.mul(x, 100), 'int32');
      expect(Array.from(tf.slice(ints, begin, size).dataSync())).toEqual(hostSlice(Float32Array.from(ints.dataSync()), shape, begin, size));
    }
    const dst = new Float32Array(4);
    sliceInto(Float32Array.from([0, 1, 2, 3, 4, 5, 6, 7]), dst, [2, 4], [0, 1], [2, 2]);
    expect(Array.from(dst)).toEqual([1, 2, 5, 6]);
  });

  it('max pooling without a gradient tape equals the slice-built version (padding never wins)', () => {
    for (const [shape, k, s, p] of [
      [[1, 33, 30, 7], 3, 2, 1],
      [[2, 16, 16, 3], 2, 2, 0],
      [[1, 9, 11, 4], 3, 1, 1],
    ] as [number[], number, number, number][]) {
      const x = tf.sub(tf.randomUniform(shape, 0, 1, 'float32', 5), 2); // all negative: a padded zero would win
      const fast = maxPool2d(x, k, s, p);
      let taped: number[] = [];
      tf.grad((t: tf.Tensor) => {
        const r = maxPool2d(t, k, s, p);
        taped = Array.from(r.dataSync());
        return r.sum();
      })(x);
      expect(Array.from(fast.dataSync())).toEqual(taped);
    }
  });
});
