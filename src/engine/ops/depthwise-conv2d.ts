import { tf, type Tensor } from '../tf.js';
import { withGradient, type ExplicitPadding } from './custom-grad.js';

/**
 * Depthwise 3x3-style conv (NHWC, filter [kh, kw, C, 1]), stride 1, symmetric
 * zero padding `pad`, with gradients built from ops every backend has (wasm
 * lacks both depthwise backprop kernels).
 */
export function depthwiseConv2d(x: tf.Tensor4D, w: tf.Tensor4D, pad: number): tf.Tensor4D {
  const [kh, kw] = [w.shape[0], w.shape[1]];
  if (2 * pad !== kh - 1 || 2 * pad !== kw - 1) {
    throw new Error(`depthwiseConv2d: only 'same' padding (pad=(k-1)/2) is supported, got k=${kh}x${kw} pad=${pad}`);
  }
  const pads: ExplicitPadding = [[0, 0], [pad, pad], [pad, pad], [0, 0]];
  return withGradient([x, w], ([xi, wi], save) => {
    save([xi!, wi!]);
    const value = tf.depthwiseConv2d(xi as tf.Tensor4D, wi as tf.Tensor4D, 1, pads);
    const gradFunc = (dy: Tensor, saved: Tensor[]): Tensor[] => {
      const [xs, ws] = saved as [tf.Tensor4D, tf.Tensor4D];
      const g = dy as tf.Tensor4D;
      // dx is the correlation of dy with the spatially flipped filter.
      const flipped = tf.reverse(ws, [0, 1]) as tf.Tensor4D;
      const dx = tf.depthwiseConv2d(g, flipped, 1, pads);
      // dw[i,j,c] = sum over batch and pixels of xpad[., y+i, x+j, c] * dy[., y, x, c].
      const [b, h, wd, c] = xs.shape;
      const xp = tf.pad(xs, pads);
      const taps: Tensor[] = [];
      for (let i = 0; i < kh; i++) {
        for (let j = 0; j < kw; j++) {
          taps.push(tf.sum(tf.mul(tf.slice(xp, [0, i, j, 0], [b, h, wd, c]), g), [0, 1, 2]));
        }
      }
      const dw = tf.stack(taps).reshape([kh, kw, c, 1]);
      return [dx, dw];
    };
    return { value, gradFunc };
  }) as tf.Tensor4D;
}
