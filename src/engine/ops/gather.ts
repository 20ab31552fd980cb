import { tf, type Tensor } from '../tf.js';
import { withGradient } from './custom-grad.js';

/**
 * `x[indices]` along axis 0, with a gradient that scatters with `scatterND`
 * (which sums duplicate indices) instead of tfjs' UnsortedSegmentSum, a kernel
 * wasm lacks.
 */
export function gatherRows(x: Tensor, indices: Tensor): Tensor {
  const idx = indices.dtype === 'int32' ? indices : tf.cast(indices, 'int32');
  return withGradient([x], ([xi], save) => {
    // The indices must be saved: tensors the forward merely closes over are
    // disposed before the backward pass runs.
    save([idx]);
    return {
      value: tf.gather(xi!, idx, 0),
      gradFunc: (dy, [ids]) => {
        const flat = ids!.reshape([-1, 1]);
        const g = dy.reshape([flat.shape[0]!, ...x.shape.slice(1)]);
        return [tf.scatterND(flat, g, x.shape)];
      },
    };
  });
}
