import { tf, type Tensor } from '../tf.js';
import { withGradient } from '../ops/custom-grad.js';

const INV_SQRT2 = Math.SQRT1_2;

const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);

/**
 * GELU with the exact erf form (PyTorch's default, used by BEiT-3 and
 * ViTDet): x·Φ(x). One op whose gradient, Φ(x) + x·φ(x), keeps only x —
 * autodiff through erf would keep five x-sized intermediates and their
 * gradients until the backward pass ends.
 */
export function gelu(x: Tensor): Tensor {
  return withGradient([x], ([xi], save) => {
    save([xi!]);
    return {
      value: tf.tidy(() => tf.mul(tf.mul(xi!, 0.5), tf.add(tf.erf(tf.mul(xi!, INV_SQRT2)), 1))),
      gradFunc: (dy, [xs]) =>
        tf.tidy(() => {
          const cdf = tf.mul(tf.add(tf.erf(tf.mul(xs!, INV_SQRT2)), 1), 0.5);
          const pdf = tf.mul(tf.exp(tf.mul(tf.square(xs!), -0.5)), INV_SQRT_2PI);
          return [tf.mul(dy, tf.add(cdf, tf.mul(xs!, pdf)))];
        }),
    };
  });
}

export function relu(x: Tensor): Tensor {
  return tf.relu(x);
}
