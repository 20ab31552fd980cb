import { beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../../src/engine/tf.js';
import { switchBackend } from '../../src/engine/backend.js';
import { SimpleFeaturePyramid } from '../../src/backbone/simple-feature-pyramid.js';
import { toTf, transposeHost } from '../../src/io/host-tensor.js';
import { maxAbsDiff, nchwToNhwc, torchRef, get } from '../helpers/fixtures.js';

beforeAll(async () => {
  await switchBackend('wasm');
});

describe('Simple Feature Pyramid (detectron2 parity)', () => {
  it('p2..p6 equal the fixture', () => {
    const ref = torchRef('sfp.safetensors');
    const sfp = new SimpleFeaturePyramid({ dim: 64, outChannels: 32, scaleFactors: [4, 2, 1, 0.5], topBlock: true, normEps: 1e-6, inStride: 16 }).eval();
    const state = new Map<string, tf.Tensor>();
    for (const [k, t] of ref) {
      if (!k.startsWith('w.')) continue;
      const name = k.slice(2);
      // detectron2 layouts: ConvTranspose IOHW → [kh,kw,out,in] and Conv OIHW → HWIO are the same permutation.
      const host = t.shape.length === 4 ? transposeHost(t, [2, 3, 1, 0]) : t;
      state.set(name, toTf(host));
    }
    sfp.loadStateDict(state);
    const x = nchwToNhwc(get(ref, 'input'));
    const out = sfp.forward(tf.tensor(x.data, x.shape));
    expect([...out.keys()]).toEqual(['p2', 'p3', 'p4', 'p5', 'p6']);
    expect(sfp.strides.map((s) => s.stride)).toEqual([4, 8, 16, 32, 64]);
    for (const p of ['p2', 'p3', 'p4', 'p5', 'p6']) {
      const expected = nchwToNhwc(get(ref, p));
      expect(out.get(p)!.shape, p).toEqual(expected.shape);
      expect(maxAbsDiff(out.get(p)!.dataSync(), expected.data), p).toBeLessThan(1e-4);
    }
  });
});
