import { tf } from '../tf.js';
import { withGradient, type ExplicitPadding } from './custom-grad.js';

/** [top, bottom, left, right] zero padding in pixels. */
export type Pads = [number, number, number, number];

export function symmetricPads(p: number): Pads {
  return [p, p, p, p];
}

function explicit(p: Pads): ExplicitPadding {
  return [[0, 0], [p[0], p[1]], [p[2], p[3]], [0, 0]];
}

/** Largest number of scalars one tap slice may hold (bounds gradient memory: ~32 MB, plus its transpose). */
const TAP_CHUNK_ELEMS = 1 << 23;

/**
 * Gradient of a conv2d (NHWC input x, HWIO filter) with respect to its filter:
 * for each kernel tap (i, j), dW[i, j] = X_ijᵀ · dY, where X_ij is the input
 * window that tap sees at every output position — one large 2-D matmul per
 * tap and chunk of output rows. wasm has no `Conv2DBackpropFilter` kernel,
 * and large 2-D matmuls are its fast path. Working tap by tap (rather than
 * on a stacked im2col matrix) keeps the transient memory to one tap's slice
 * and its transpose: a stride-4 pyramid conv at 1024² otherwise needed
 * ~400 MB per chunk, enough to exhaust wasm's 4 GB heap mid-backward.
 */
export function conv2dFilterGrad(
  x: tf.Tensor4D,
  dy: tf.Tensor4D,
  filterShape: [number, number, number, number],
  stride: number,
  pads: Pads,
): tf.Tensor4D {
  return tf.tidy(() => {
    const [kh, kw, ci, co] = filterShape;
    const [b, ho, wo] = [dy.shape[0], dy.shape[1], dy.shape[2]];
    const xp = pads.some((p) => p !== 0) ? tf.pad(x, explicit(pads)) : x;
    const rowsPerChunk = Math.max(1, Math.min(ho, Math.floor(TAP_CHUNK_ELEMS / Math.max(b * wo * ci, 1))));
    const taps: (tf.Tensor2D | undefined)[] = new Array(kh * kw);
    for (let r0 = 0; r0 < ho; r0 += rowsPerChunk) {
      const rows = Math.min(rowsPerChunk, ho - r0);
      const n = b * rows * wo;
      const g = tf.slice(dy, [0, r0, 0, 0], [b, rows, wo, co]).reshape([n, co]) as tf.Tensor2D;
      for (let i = 0; i < kh; i++) {
        for (let j = 0; j < kw; j++) {
          const part: tf.Tensor2D = tf.tidy(() => {
            const y0 = r0 * stride + i;
            const window =
              stride === 1
                ? tf.slice(xp, [0, y0, j, 0], [b, rows, wo, ci])
                : tf.stridedSlice(xp, [0, y0, j, 0], [b, y0 + (rows - 1) * stride + 1, j + (wo - 1) * stride + 1, ci], [1, stride, stride, 1]);
            return tf.matMul(window.reshape([n, ci]).transpose() as tf.Tensor2D, g);
          });
          const k = i * kw + j;
          const prev = taps[k];
          if (prev === undefined) taps[k] = part;
          else {
            taps[k] = tf.add(prev, part) as tf.Tensor2D;
            prev.dispose();
            part.dispose();
          }
        }
      }
      g.dispose();
    }
    return tf.stack(taps as tf.Tensor2D[]).reshape([kh, kw, ci, co]) as tf.Tensor4D;
  });
}

/**
 * Gradient of a conv2d with respect to its input. For stride 1 it is itself
 * a (fast, forward) convolution of dy with the spatially flipped filter,
 * in/out channels swapped, padded k-1-p: wasm's Conv2DBackpropInput kernel
 * is ~10x slower than its Conv2D. Other strides use conv2dTranspose.
 */
export function conv2dInputGrad(dy: tf.Tensor4D, w: tf.Tensor4D, inShape: [number, number, number, number], stride: number, pads: Pads): tf.Tensor4D {
  const [kh, kw] = w.shape;
  const back: Pads = [kh - 1 - pads[0], kh - 1 - pads[1], kw - 1 - pads[2], kw - 1 - pads[3]];
  if (stride !== 1 || back.some((p) => p < 0)) {
    return tf.conv2dTranspose(dy, w, inShape, stride, explicit(pads) as unknown as number);
  }
  return tf.tidy(() => {
    const flipped = tf.reverse(w, [0, 1]).transpose([0, 1, 3, 2]) as tf.Tensor4D;
    return tf.conv2d(dy, flipped, 1, explicit(back));
  });
}

/**
 * NHWC conv2d with an HWIO filter, explicit zero padding and a gradient that
 * works on every backend (the filter gradient goes through `conv2dFilterGrad`,
 * the input gradient through `conv2dInputGrad`).
 */
export function conv2d(x: tf.Tensor4D, w: tf.Tensor4D, stride = 1, pads: Pads = [0, 0, 0, 0]): tf.Tensor4D {
  return withGradient([x, w], ([xi, wi], save) => {
    save([xi!, wi!]);
    return {
      value: tf.conv2d(xi as tf.Tensor4D, wi as tf.Tensor4D, stride, explicit(pads)),
      gradFunc: (dy, saved) => {
        const [xs, ws] = saved as [tf.Tensor4D, tf.Tensor4D];
        const g = dy as tf.Tensor4D;
        const dx = conv2dInputGrad(g, ws, xs.shape, stride, pads);
        const dw = conv2dFilterGrad(xs, g, ws.shape, stride, pads);
        return [dx, dw];
      },
    };
  }) as tf.Tensor4D;
}

/**
 * Transposed conv2d (NHWC input, filter [kh, kw, out, in] as tfjs'
 * conv2dTranspose) for the general case, with a backend-independent
 * gradient: it is the adjoint of a conv2d, so dx is that conv and the filter
 * gradient is the conv's filter gradient with the roles of x and dy swapped.
 */
export function conv2dTranspose(
  x: tf.Tensor4D,
  w: tf.Tensor4D,
  outShape: [number, number, number, number],
  stride: number,
  pads: Pads,
): tf.Tensor4D {
  return withGradient([x, w], ([xi, wi], save) => {
    save([xi!, wi!]);
    return {
      value: tf.conv2dTranspose(xi as tf.Tensor4D, wi as tf.Tensor4D, outShape, stride, explicit(pads) as unknown as number),
      gradFunc: (dy, saved) => {
        const [xs, ws] = saved as [tf.Tensor4D, tf.Tensor4D];
        const g = dy as tf.Tensor4D;
        const dx = tf.conv2d(g, ws, stride, explicit(pads));
        const dw = conv2dFilterGrad(g, xs, ws.shape, stride, pads);
        return [dx, dw];
      },
    };
  }) as tf.Tensor4D;
}
