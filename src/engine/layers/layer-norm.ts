import { Module } from '../module.js';
import { tf, type Tensor } from '../tf.js';
import * as init from '../init.js';
import { withGradient } from '../ops/custom-grad.js';

/** x̂ = (x - mean) / sqrt(var + eps) over the last axis (biased variance), and that 1 / sqrt(var + eps). */
function normalize(x: Tensor, eps: number): { xhat: Tensor; rstd: Tensor } {
  const axis = x.rank - 1;
  const centered = tf.sub(x, tf.mean(x, axis, true));
  const rstd = tf.rsqrt(tf.add(tf.mean(tf.square(centered), axis, true), eps));
  return { xhat: tf.mul(centered, rstd), rstd };
}

/**
 * Normalise `x` over its last axis (biased variance), then scale and shift —
 * as one op with a hand-written gradient that keeps only x: autodiff would
 * keep the centred, normalised and scaled copies (and, in tfjs, their
 * gradients) until the backward pass ends, four tensors of x's size per
 * LayerNorm. With x̂ recomputed and g = dy·w:
 *   dx = (g - mean(g) - x̂·mean(g·x̂)) / sqrt(var + eps), dw = Σ dy·x̂, db = Σ dy.
 */
export function layerNorm(x: Tensor, weight: Tensor, bias: Tensor, eps: number): Tensor {
  return withGradient([x, weight, bias], ([xi, wi, bi], save) => {
    save([xi!, wi!]);
    return {
      value: tf.tidy(() => tf.add(tf.mul(normalize(xi!, eps).xhat, wi!), bi!)),
      gradFunc: (dy, [xs, ws]) =>
        tf.tidy(() => {
          const axis = xs!.rank - 1;
          const { xhat, rstd } = normalize(xs!, eps);
          const g = tf.mul(dy, ws!);
          const dx = tf.mul(tf.sub(tf.sub(g, tf.mean(g, axis, true)), tf.mul(xhat, tf.mean(tf.mul(g, xhat), axis, true))), rstd);
          const rows = dy.size / dy.shape[axis]!;
          const dw = tf.sum(tf.mul(dy, xhat).reshape([rows, -1]), 0);
          const db = tf.sum(dy.reshape([rows, -1]), 0);
          return [dx, dw, db];
        }),
    };
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
