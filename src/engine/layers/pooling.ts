import { tf, type Tensor } from '../tf.js';
import { tapeIsRecording } from '../ops/eager.js';

/**
 * `x[:, y0 + s*i, x0 + s*j, :]` for i < ho, j < wo, written with slice +
 * reshape (which have gradients everywhere) instead of stridedSlice (which
 * has none). Pads at the bottom/right when the window runs past the edge.
 */
export function stridedTap(x: Tensor, y0: number, x0: number, stride: number, ho: number, wo: number): tf.Tensor4D {
  const [b, h, w, c] = x.shape as [number, number, number, number];
  const needH = y0 + stride * ho;
  const needW = x0 + stride * wo;
  const padded = needH > h || needW > w ? tf.pad(x, [[0, 0], [0, Math.max(0, needH - h)], [0, Math.max(0, needW - w)], [0, 0]]) : x;
  const win = tf.slice(padded, [0, y0, x0, 0], [b, stride * ho, stride * wo, c]);
  if (stride === 1) return win as tf.Tensor4D;
  return win
    .reshape([b, ho, stride, wo, stride, c])
    .slice([0, 0, 0, 0, 0, 0], [b, ho, 1, wo, 1, c])
    .reshape([b, ho, wo, c]) as tf.Tensor4D;
}

/**
 * NHWC max pooling (PyTorch semantics: padding cells never win, output size
 * floor((H + 2p - k) / s) + 1). When a gradient is being recorded it is built
 * from slices and a max, so that its gradient is the same on every backend
 * (wasm's MaxPoolGrad kernel gives wrong results for multi-channel inputs in
 * tfjs 4.22); otherwise the backend's max pool computes it (the same values:
 * its padding never wins either), without the nine shifted copies.
 */
export function maxPool2d(x: Tensor, kernel: number, stride: number, pad = 0): tf.Tensor4D {
  return tf.tidy(() => {
    const [b, h, w, c] = x.shape as [number, number, number, number];
    const ho = Math.floor((h + 2 * pad - kernel) / stride) + 1;
    const wo = Math.floor((w + 2 * pad - kernel) / stride) + 1;
    if (!tapeIsRecording() && pad <= kernel / 2) {
      const y = tf.maxPool(x as tf.Tensor4D, kernel, stride, pad, 'floor');
      if (y.shape[1] === ho && y.shape[2] === wo) return y;
      y.dispose();
    }
    if (kernel === stride && pad === 0) {
      const cropped = h === ho * kernel && w === wo * kernel ? x : tf.slice(x, [0, 0, 0, 0], [b, ho * kernel, wo * kernel, c]);
      return tf.max(cropped.reshape([b, ho, kernel, wo, kernel, c]), [2, 4]) as tf.Tensor4D;
    }
    const xp = pad > 0 ? tf.pad(x, [[0, 0], [pad, pad], [pad, pad], [0, 0]], -3.4e38) : x;
    const taps: Tensor[] = [];
    for (let i = 0; i < kernel; i++) for (let j = 0; j < kernel; j++) taps.push(stridedTap(xp, i, j, stride, ho, wo));
    return tf.max(tf.stack(taps, 0), 0) as tf.Tensor4D;
  });
}

/**
 * Max pool with kernel 1 and stride s: keeps every s-th pixel starting at 0
 * (detectron2's LastLevelMaxPool).
 */
export function subsample(x: Tensor, stride: number): tf.Tensor4D {
  const [, h, w] = x.shape as [number, number, number, number];
  return stridedTap(x, 0, 0, stride, Math.ceil(h / stride), Math.ceil(w / stride));
}
