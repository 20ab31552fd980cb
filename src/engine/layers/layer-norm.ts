import { Module } from '../module.js';
import { tf, type Tensor } from '../tf.js';
import * as init from '../init.js';

/** Normalise `x` over its last axis (biased variance), then scale and shift. */
export function layerNorm(x: Tensor, weight: Tensor | undefined, bias: Tensor | undefined, eps: number): Tensor {
  return tf.tidy(() => {
    const axis = x.rank - 1;
    const mean = tf.mean(x, axis, true);
    const centered = tf.sub(x, mean);
    const variance = tf.mean(tf.square(centered), axis, true);
    let y = tf.mul(centered, tf.rsqrt(tf.add(variance, eps)));
    if (weight) y = tf.mul(y, weight);
    if (bias) y = tf.add(y, bias);
    return y;
  });
}

/** LayerNorm over the last axis (torch.nn.LayerNorm; eps 1e-5 by default). */
export class LayerNorm extends Module {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable;
  constructor(
    readonly dim: number,
    readonly eps = 1e-5,
  ) {
    super();
    this.weight = this.param('weight', init.ones([dim]));
    this.bias = this.param('bias', init.zeros([dim]));
  }

  forward(x: Tensor): Tensor {
    return layerNorm(x, this.weight, this.bias, this.eps);
  }
}

/**
 * detectron2's channels-first LayerNorm (per pixel, over channels; eps 1e-6).
 * In densekit's NHWC layout the channel axis is the last one, so this is the
 * same computation as `LayerNorm`; the separate name keeps the eps default and
 * the intent of the reference models visible.
 */
export class ChannelLayerNorm extends LayerNorm {
  constructor(channels: number, eps = 1e-6) {
    super(channels, eps);
  }
}
