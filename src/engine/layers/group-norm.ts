import { Module } from '../module.js';
import { tf, type Tensor } from '../tf.js';
import * as init from '../init.js';

/** GroupNorm over NHWC maps: channels split into groups, normalised over (H, W, channels of the group). */
export class GroupNorm extends Module {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable;
  constructor(
    readonly groups: number,
    readonly channels: number,
    readonly eps = 1e-5,
  ) {
    super();
    if (channels % groups !== 0) throw new Error(`GroupNorm: ${channels} channels are not divisible into ${groups} groups`);
    this.weight = this.param('weight', init.ones([channels]));
    this.bias = this.param('bias', init.zeros([channels]));
  }

  forward(x: Tensor): Tensor {
    return tf.tidy(() => {
      const [b, h, w, c] = x.shape as [number, number, number, number];
      const g = x.reshape([b, h * w, this.groups, c / this.groups]);
      const { mean, variance } = tf.moments(g, [1, 3], true);
      const y = tf.div(tf.sub(g, mean), tf.sqrt(tf.add(variance, this.eps))).reshape([b, h, w, c]);
      return tf.add(tf.mul(y, this.weight), this.bias);
    });
  }
}
