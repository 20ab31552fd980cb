import { tf, type Tensor } from '../tf.js';
import { withGradient } from './custom-grad.js';

/**
 * `x @ w` over the last axis of x (w is [in, out]), with a gradient that
 * transposes explicitly: the wasm matmul kernel is ~10x slower whenever a
 * transpose flag is set, and tfjs' default MatMul gradient sets them.
 */
export function dense(x: Tensor, w: Tensor): Tensor {
  const inDim = w.shape[0]!;
  const outDim = w.shape[1]!;
  if (x.shape[x.rank - 1] !== inDim) {
    throw new Error(`dense: input last dim ${x.shape[x.rank - 1]} != weight rows ${inDim}`);
  }
  const outShape = [...x.shape.slice(0, -1), outDim];
  return withGradient([x, w], ([xi, wi], save) => {
    const x2 = xi!.reshape([-1, inDim]) as tf.Tensor2D;
    save([x2, wi!]);
    return {
      value: tf.matMul(x2, wi as tf.Tensor2D).reshape(outShape),
      gradFunc: (dy, [xs, ws]) => {
        const dy2 = dy.reshape([-1, outDim]) as tf.Tensor2D;
        const dx = tf.matMul(dy2, (ws as tf.Tensor2D).transpose()).reshape(x.shape);
        const dw = tf.matMul((xs as tf.Tensor2D).transpose(), dy2);
        return [dx, dw];
      },
    };
  });
}

/**
 * Batched `a @ b` for rank-3 tensors [B, M, K] x [B, K, N] with explicit
 * transposes in the gradient (same reason as `dense`).
 */
export function batchMatMul(a: Tensor, b: Tensor): Tensor {
  return withGradient([a, b], ([ai, bi], save) => {
    save([ai!, bi!]);
    return {
      value: tf.matMul(ai as tf.Tensor3D, bi as tf.Tensor3D),
      gradFunc: (dy, [as, bs]) => [
        tf.matMul(dy as tf.Tensor3D, (bs as tf.Tensor3D).transpose([0, 2, 1])),
        tf.matMul((as as tf.Tensor3D).transpose([0, 2, 1]), dy as tf.Tensor3D),
      ],
    };
  });
}
