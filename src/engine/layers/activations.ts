import { tf, type Tensor } from '../tf.js';

const INV_SQRT2 = Math.SQRT1_2;

/** GELU with the exact erf form (PyTorch's default, used by BEiT-3 and ViTDet). */
export function gelu(x: Tensor): Tensor {
  return tf.tidy(() => tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, INV_SQRT2)), 1)));
}

export function relu(x: Tensor): Tensor {
  return tf.relu(x);
}
