import { tf, type Tensor } from '../tf.js';
import { withGradient } from './custom-grad.js';
import { compositeOp } from '../tracing.js';

/**
 * `x @ w` over the last axis of x (w is [in, out]), with a gradient that
 * transposes explicitly: the wasm matmul kernel is ~10x slower whenever a
 * transpose flag is set, and tfjs' default MatMul gradient sets them.
 * With `transientOperand` the forward matmul gets a copy of `w`, freed
 * right after it (see denseWeight); the gradient still uses `w`.
 */
export function dense(x: Tensor, w: Tensor, opts: { transientOperand?: boolean } = {}): Tensor {
  const inDim = w.shape[0]!;
  const outDim = w.shape[1]!;
  if (x.shape[x.rank - 1] !== inDim) {
    throw new Error(`dense: input last dim ${x.shape[x.rank - 1]} != weight rows ${inDim}`);
  }
  const outShape = [...x.shape.slice(0, -1), outDim];
  return withGradient([x, w], ([xi, wi], save) => {
    const x2 = xi!.reshape([-1, inDim]) as tf.Tensor2D;
    save([x2, wi!]);
    // Inside a custom gradient's forward nothing is recorded: the copy can go at
    // once. A traced graph records the product with the weight itself (named).
    const y = opts.transientOperand
      ? compositeOp(
          'MatMul',
          [x2, wi!],
          {},
          () => {
            const operand = tf.mul(wi!, 1);
            const out = tf.matMul(x2, operand as tf.Tensor2D);
            operand.dispose();
            return out;
          },
          (e) => void e.node('MatMul', [e.input(0), e.input(1)], {}, [e.output()]),
        )
      : tf.matMul(x2, wi as tf.Tensor2D);
    return {
      value: y.reshape(outShape),
      gradFunc: (dy, [xs, ws]) => {
        const dy2 = dy.reshape([-1, outDim]) as tf.Tensor2D;
        const dx = tf.matMul(dy2, (ws as tf.Tensor2D).transpose()).reshape(x.shape);
        const dw = tf.matMul((xs as tf.Tensor2D).transpose(), dy2);
        return [dx, dw];
      },
    };
  });
}

/** Weights from this many elements (1 MB of float32) up are passed to wasm's matmul as a fresh copy. */
const TRANSIENT_PACK_ELEMS = 256 * 1024;

/**
 * `x @ w` for a layer's own weight `w` (kept for the model's lifetime).
 *
 * wasm's matmul hands its right operand to XNNPACK, which packs it into a
 * copy of its own and keeps it, cached by the operand's buffer, until that
 * buffer is freed: for a weight, for as long as the model lives. Every
 * weight then occupies the heap twice (BEiT-3 large's linear layers: 1.2 GB
 * of weights, 1.2 GB more of packed copies, measured as heap growth beyond
 * the tensors). On wasm a weight of 1 MB or more is therefore passed to the
 * forward matmul as a copy freed after the call, which frees its packed form
 * with it: a copy and a repack per call, about 1% of the matmul at 4096
 * tokens. (In training the backward pass's operands are fresh transposes,
 * packed and freed per call already.)
 */
export function denseWeight(x: Tensor, w: Tensor): Tensor {
  return dense(x, w, { transientOperand: tf.getBackend() === 'wasm' && w.size >= TRANSIENT_PACK_ELEMS });
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
