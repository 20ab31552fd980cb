import { beforeAll, describe, expect, it } from 'vitest';
import { tf, type Tensor } from '../../src/engine/tf.js';
import { switchBackend } from '../../src/engine/backend.js';
import { attentionCore, attentionChunk } from '../../src/engine/ops/attention-core.js';
import { relPosBias } from '../../src/engine/ops/rel-pos.js';
import { maxAbsDiff } from '../helpers/fixtures.js';

beforeAll(async () => {
  await switchBackend('wasm');
});

/** The textbook formula, differentiated by tfjs' own autodiff. */
function reference(qs: Tensor, kT: Tensor, v: Tensor, relH?: Tensor, relW?: Tensor): Tensor {
  let s = tf.matMul(qs as tf.Tensor3D, kT as tf.Tensor3D);
  if (relH && relW) s = tf.add(s, relPosBias(relH, relW));
  return tf.matMul(tf.softmax(s, -1) as tf.Tensor3D, v as tf.Tensor3D);
}

describe('attentionCore (chunked, recomputing gradient)', () => {
  const n = 5;
  const [qh, qw] = [3, 4];
  const l = qh * qw;
  const d = 6;
  const qs = tf.randomNormal([n, l, d], 0, 1, 'float32', 1);
  const kT = tf.randomNormal([n, d, l], 0, 1, 'float32', 2);
  const v = tf.randomNormal([n, l, d], 0, 1, 'float32', 3);
  const relH = tf.randomNormal([n, qh, qw, qh], 0, 1, 'float32', 4);
  const relW = tf.randomNormal([n, qh, qw, qw], 0, 1, 'float32', 5);
  const w = tf.randomNormal([n, l, d], 0, 1, 'float32', 6);

  for (const chunk of [1, 2, 5]) {
    for (const withRel of [true, false]) {
      it(`chunk ${chunk}, ${withRel ? 'with' : 'without'} relative positions: output and every input gradient equal autodiff`, () => {
        const inputs = withRel ? [qs, kT, v, relH, relW] : [qs, kT, v];
        const ours = (...xs: Tensor[]) => attentionCore(xs[0]!, xs[1]!, xs[2]!, withRel ? { relH: xs[3]!, relW: xs[4]! } : undefined, { chunk });
        const ref = (...xs: Tensor[]) => reference(xs[0]!, xs[1]!, xs[2]!, xs[3], xs[4]);
        expect(maxAbsDiff(ours(...inputs).dataSync(), ref(...inputs).dataSync())).toBeLessThan(1e-5);
        const gOurs = tf.grads((...xs: Tensor[]) => tf.sum(tf.mul(ours(...xs), w)))(inputs);
        const gRef = tf.grads((...xs: Tensor[]) => tf.sum(tf.mul(ref(...xs), w)))(inputs);
        expect(gOurs).toHaveLength(inputs.length);
        gOurs.forEach((g, i) => {
          expect(g.shape).toEqual(inputs[i]!.shape);
          expect(maxAbsDiff(g.dataSync(), gRef[i]!.dataSync())).toBeLessThan(1e-4);
        });
      });
    }
  }

  it('chunks one head at a time for long sequences and by a memory budget otherwise', () => {
    expect(attentionChunk(12, 4096, 1024)).toBe(1);
    expect(attentionChunk(300, 196, 1024)).toBe(300);
    expect(attentionChunk(10_000, 196, 1024)).toBe(Math.floor((16 * 2 ** 20) / 196 ** 2));
  });
});
