import type { Tensor } from '../tf.js';
import { tf } from '../tf.js';
import { withGradient } from './custom-grad.js';

/** Identity forward, gradient multiplied by `scale` (Cascade R-CNN's 1/num_stages on box features). */
export function scaleGradient(x: Tensor, scale: number): Tensor {
  if (scale === 1) return x;
  return withGradient([x], ([xi]) => ({ value: tf.clone(xi!), gradFunc: (dy) => [tf.mul(dy, scale)] }));
}
