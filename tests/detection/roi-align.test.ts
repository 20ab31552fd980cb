import { beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../../src/engine/tf.js';
import { switchBackend } from '../../src/engine/backend.js';
import { roiAlign } from '../../src/engine/ops/roi-align.js';
import { get, maxAbsDiff, nchwToNhwc, torchRef, values } from '../helpers/fixtures.js';

beforeAll(async () => {
  await switchBackend('wasm');
});

describe('ROIAlign (torchvision parity, all 16 settings)', () => {
  const ref = torchRef('roi_align.safetensors');
  const x = nchwToNhwc(get(ref, 'input'));
  const feats = tf.tensor(x.data, x.shape);
  for (const os of [7, 14])
    for (const scale of ['0.25', '1.0'])
      for (const sr of [0, 2])
        for (const aligned of [1, 0]) {
          const key = `out_os${os}_scale${scale}_sr${sr}_aligned${aligned}`;
          it(key, () => {
            const rows = values(get(ref, `boxes_for_scale${scale === '1.0' ? '1' : scale}`));
            const k = rows.length / 5;
            const boxes = new Float32Array(k * 4);
            const bi: number[] = [];
            for (let i = 0; i < k; i++) {
              bi.push(rows[i * 5]!);
              boxes.set(rows.subarray(i * 5 + 1, i * 5 + 5), i * 4);
            }
            const out = roiAlign(feats, boxes, bi, { outputSize: os, spatialScale: Number(scale), samplingRatio: sr, aligned: aligned === 1 });
            const expected = nchwToNhwc(get(ref, key));
            expect(out.shape).toEqual(expected.shape);
            expect(maxAbsDiff(out.dataSync(), expected.data)).toBeLessThan(1e-5);
          });
        }

  it('has a gradient with respect to the features that matches finite differences', () => {
    const f = tf.randomNormal([1, 6, 7, 2], 0, 1, 'float32', 3);
    const boxes = Float32Array.from([0.7, 1.2, 5.1, 4.3, -1, -1, 3.5, 2.2]);
    const weights = tf.randomNormal([2, 3, 3, 2], 0, 1, 'float32', 4);
    const loss = (t: tf.Tensor) => tf.sum(tf.mul(roiAlign(t, boxes, [0, 0], { outputSize: 3, spatialScale: 1, samplingRatio: 0, aligned: true }), weights));
    const g = tf.grad(loss)(f).dataSync();
    const base = f.dataSync();
    const eps = 1e-2;
    for (const idx of [0, 5, 17, 30, 55, 70, 83]) {
      const plus = Float32Array.from(base);
      plus[idx]! += eps;
      const minus = Float32Array.from(base);
      minus[idx]! -= eps;
      const fd = (loss(tf.tensor(plus, f.shape)).dataSync()[0]! - loss(tf.tensor(minus, f.shape)).dataSync()[0]!) / (2 * eps);
      expect(Math.abs(fd - g[idx]!)).toBeLessThan(2e-3);
    }
    expect(maxAbsDiff(g, new Float32Array(g.length))).toBeGreaterThan(0);
  });
});

describe('ROIAlign with many boxes (grouped by crop size)', () => {
  it('equals aligning each box alone, in the callers order, forward and gradient', () => {
    const h = 40;
    const w = 52;
    const c = 3;
    const feats = tf.randomNormal([2, h, w, c], 0, 1, 'float32', 3);
    // 150 boxes of very different sizes, some partly outside: several groups, unsorted.
    let seed = 11;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const k = 150;
    const boxes = new Float32Array(k * 4);
    const batch = new Int32Array(k);
    for (let i = 0; i < k; i++) {
      const x1 = rnd() * 4 * w - 8;
      const y1 = rnd() * 4 * h - 8;
      const s = 2 + rnd() * rnd() * 4 * w;
      boxes.set([x1, y1, x1 + s * (0.3 + rnd()), y1 + s * (0.3 + rnd())], i * 4);
      batch[i] = i % 2;
    }
    const opts = { outputSize: 7, spatialScale: 0.25, samplingRatio: 0, aligned: true };
    const all = roiAlign(feats, boxes, batch, opts);
    const one = tf.concat(Array.from({ length: k }, (_, i) => roiAlign(feats, boxes.subarray(i * 4, i * 4 + 4), [batch[i]!], opts)), 0);
    expect(maxAbsDiff(all.dataSync(), one.dataSync())).toBeLessThan(1e-5);
    const weight = tf.randomNormal(all.shape, 0, 1, 'float32', 5);
    const gAll = tf.grad((f: tf.Tensor) => roiAlign(f, boxes, batch, opts).mul(weight).sum())(feats);
    const gOne = tf.grad((f: tf.Tensor) =>
      tf.concat(Array.from({ length: k }, (_, i) => roiAlign(f, boxes.subarray(i * 4, i * 4 + 4), [batch[i]!], opts)), 0).mul(weight).sum(),
    )(feats);
    expect(maxAbsDiff(gAll.dataSync(), gOne.dataSync())).toBeLessThan(1e-4);
  });
});
