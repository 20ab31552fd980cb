import { tf, type Tensor } from '../tf.js';
import { dense } from './dense.js';
import { freeUntaped } from './eager.js';

/**
 * PyTorch-exact resampling as matrices. Bilinear/bicubic resizes with
 * align_corners=False are separable: out = Mh · X · Mwᵀ. Building the small
 * interpolation matrices on the host and applying them as matmuls gives
 * PyTorch's numbers, a gradient on every backend, and fast kernels.
 */

export type InterpMode = 'linear' | 'cubic';

/** PyTorch's cubic convolution coefficients (A = -0.75). */
function cubicWeights(t: number): [number, number, number, number] {
  const A = -0.75;
  const c1 = (x: number) => ((A + 2) * x - (A + 3)) * x * x + 1;
  const c2 = (x: number) => ((A * x - 5 * A) * x + 8 * A) * x - 4 * A;
  return [c2(t + 1), c1(t), c1(1 - t), c2(2 - t)];
}

/**
 * The [outSize, inSize] matrix of a 1-D resize (align_corners=False), as
 * PyTorch's upsample kernels compute it: source = (dst + 0.5) * in/out - 0.5;
 * linear clamps the source at 0 and the upper neighbour at the edge; cubic
 * clamps each of its four taps into range.
 */
export function interpMatrix(inSize: number, outSize: number, mode: InterpMode): Float32Array {
  const m = new Float32Array(outSize * inSize);
  const scale = Math.fround(inSize / outSize);
  for (let o = 0; o < outSize; o++) {
    const src = Math.fround(Math.fround(scale * (o + 0.5)) - 0.5);
    if (mode === 'linear') {
      const s = src < 0 ? 0 : src;
      const i0 = Math.floor(s);
      const i1 = i0 + (i0 < inSize - 1 ? 1 : 0);
      const l1 = Math.fround(s - i0);
      const l0 = Math.fround(1 - l1);
      m[o * inSize + i0]! += l0;
      m[o * inSize + i1]! += l1;
    } else {
      const i = Math.floor(src);
      const w = cubicWeights(Math.fround(src - i));
      for (let k = 0; k < 4; k++) {
        const idx = Math.min(Math.max(i - 1 + k, 0), inSize - 1);
        m[o * inSize + idx]! += w[k]!;
      }
    }
  }
  return m;
}

/**
 * Resize a [H, W, C] (or [B, H, W, C]) tensor to (outH, outW). Identity
 * sizes return the input. Differentiable (two matmuls).
 */
export function resize2d(x: Tensor, outH: number, outW: number, mode: InterpMode): Tensor {
  const batched = x.rank === 4;
  const [b, h, w, c] = batched ? (x.shape as number[]) : [1, ...(x.shape as number[])];
  if (h === outH && w === outW) return x;
  return tf.tidy(() => {
    // Each step in its own scope, its input freed once used when no gradient
    // is recorded (at 224² x 768 channels the steps are 38-154 MB apiece).
    const step = (y: Tensor, f: (t: Tensor) => Tensor) => {
      const z = tf.tidy(() => f(y));
      if (y !== x) freeUntaped(y);
      return z;
    };
    // Rows: [H, B*W*C] → Mh [outH, H] · → [outH, B*W*C]
    const mh = tf.tensor2d(interpMatrix(h!, outH, mode), [outH, h!]);
    const mw = tf.tensor2d(interpMatrix(w!, outW, mode), [outW, w!]);
    let y = step(x, (t) => t.reshape([b!, h!, w!, c!]).transpose([1, 0, 2, 3]).reshape([h!, b! * w! * c!]));
    y = step(y, (t) => tf.matMul(mh, t as tf.Tensor2D)); // [outH, B*W*C]
    // Columns: bring W to the last axis: [outH, B, W, C] → [outH*B*C, W]
    y = step(y, (t) => t.reshape([outH, b!, w!, c!]).transpose([0, 1, 3, 2]).reshape([outH * b! * c!, w!]));
    y = step(y, (t) => dense(t, mw.transpose())); // [outH*B*C, outW]
    y = step(y, (t) => t.reshape([outH, b!, c!, outW]).transpose([1, 0, 3, 2]));
    return batched ? y : y.reshape([outH, outW, c!]);
  });
}

/** Resize a [L, C] table along L (1-D interpolation). */
export function resize1d(x: Tensor, outLen: number, mode: InterpMode): Tensor {
  const [l] = x.shape as [number, number];
  if (l === outLen) return x;
  return tf.tidy(() => tf.matMul(tf.tensor2d(interpMatrix(l, outLen, mode), [outLen, l]), x as tf.Tensor2D));
}
