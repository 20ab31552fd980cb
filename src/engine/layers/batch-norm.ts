import { Module } from '../module.js';
import { tf, type Tensor } from '../tf.js';
import * as init from '../init.js';
import { freeUntaped } from '../ops/eager.js';

/**
 * BatchNorm over NHWC maps (PyTorch semantics): in training, batch
 * statistics normalise and update the running ones (momentum 0.1, unbiased
 * variance for the running estimate); in eval, the running statistics.
 */
export class BatchNorm2d extends Module {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable;
  readonly running_mean: tf.Variable;
  readonly running_var: tf.Variable;
  constructor(
    readonly channels: number,
    readonly eps = 1e-5,
    readonly momentum = 0.1,
  ) {
    super();
    this.weight = this.param('weight', init.ones([channels]));
    this.bias = this.param('bias', init.zeros([channels]));
    this.running_mean = this.buffer('running_mean', init.zeros([channels]));
    this.running_var = this.buffer('running_var', init.ones([channels]));
  }

  forward(x: Tensor): Tensor {
    if (!this.training) {
      // Each full-size step freed once used (at 224² x 768 channels, 154 MB apiece).
      return tf.tidy(() => {
        const centred = tf.sub(x, this.running_mean);
        const scaled = tf.div(centred, tf.sqrt(tf.add(this.running_var, this.eps)));
        freeUntaped(centred);
        const weighted = tf.mul(scaled, this.weight);
        freeUntaped(scaled);
        return tf.add(weighted, this.bias);
      });
    }
    const { mean, variance } = tf.moments(x, [0, 1, 2]);
    const n = x.size / this.channels;
    // Running statistics are plain state, updated outside the gradient.
    tf.tidy(() => {
      const m = this.momentum;
      this.running_mean.assign(tf.add(tf.mul(this.running_mean, 1 - m), tf.mul(tf.clone(mean), m)));
      this.running_var.assign(tf.add(tf.mul(this.running_var, 1 - m), tf.mul(tf.clone(variance), (m * n) / Math.max(n - 1, 1))));
    });
    return tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, this.eps))), this.weight), this.bias);
  }
}
