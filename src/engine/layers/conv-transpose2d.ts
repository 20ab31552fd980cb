import { Module } from '../module.js';
import { tf, type Tensor } from '../tf.js';
import { conv2dTranspose } from '../ops/conv2d.js';
import { dense } from '../ops/dense.js';
import * as init from '../init.js';
import { freeUntaped } from '../ops/eager.js';

/**
 * NHWC transposed convolution with padding 0 (the only kind the models use).
 * Weight is stored [kh, kw, out, in], tfjs' conv2dTranspose layout.
 */
export class ConvTranspose2d extends Module {
  readonly weight: tf.Variable;
  readonly bias?: tf.Variable;
  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    readonly kernelSize: number,
    readonly stride: number,
    opts: { bias?: boolean } = {},
  ) {
    super();
    // PyTorch computes fan-in of ConvTranspose weights [in, out, k, k] from dim 1.
    const fanIn = outChannels * kernelSize * kernelSize;
    this.weight = this.param('weight', init.torchDefaultWeight([kernelSize, kernelSize, outChannels, inChannels], fanIn));
    if (opts.bias ?? true) this.bias = this.param('bias', init.torchDefaultWeight([outChannels], fanIn));
  }

  forward(x: Tensor): tf.Tensor4D {
    return tf.tidy(() => this.apply(x));
  }

  private apply(x: Tensor): tf.Tensor4D {
    const [b, h, w] = x.shape as [number, number, number, number];
    const k = this.kernelSize;
    let y: Tensor;
    if (k === this.stride) {
      // Non-overlapping kernel: one matmul to [b,h,w,kh,kw,out], then interleave
      // into the output grid. Exactly conv2dTranspose, ~8x faster on wasm.
      const wm = this.weight.transpose([3, 0, 1, 2]).reshape([this.inChannels, k * k * this.outChannels]);
      const flat = dense(x, wm);
      y = tf.tidy(() =>
        flat
          .reshape([b, h, w, k, k, this.outChannels])
          .transpose([0, 1, 3, 2, 4, 5])
          .reshape([b, h * k, w * k, this.outChannels]),
      );
      freeUntaped(flat);
    } else {
      const outShape: [number, number, number, number] = [b, (h - 1) * this.stride + k, (w - 1) * this.stride + k, this.outChannels];
      y = conv2dTranspose(x as tf.Tensor4D, this.weight as tf.Tensor4D, outShape, this.stride, [0, 0, 0, 0]);
    }
    if (!this.bias) return y as tf.Tensor4D;
    const out = tf.add(y, this.bias) as tf.Tensor4D;
    freeUntaped(y);
    return out;
  }
}
