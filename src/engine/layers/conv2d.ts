import { Module } from '../module.js';
import { tf, type Tensor } from '../tf.js';
import { conv2d, symmetricPads } from '../ops/conv2d.js';
import { denseWeight } from '../ops/dense.js';
import * as init from '../init.js';

export interface Conv2dOptions {
  stride?: number;
  padding?: number;
  bias?: boolean;
  initWeight?: (shape: number[]) => Tensor;
  initBias?: (shape: number[]) => Tensor;
}

/** NHWC 2-D convolution. Weight is stored HWIO ([kh, kw, in, out]). */
export class Conv2d extends Module {
  readonly weight: tf.Variable;
  readonly bias?: tf.Variable;
  readonly stride: number;
  readonly padding: number;
  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    readonly kernelSize: number,
    opts: Conv2dOptions = {},
  ) {
    super();
    this.stride = opts.stride ?? 1;
    this.padding = opts.padding ?? 0;
    const shape = [kernelSize, kernelSize, inChannels, outChannels];
    const fanIn = inChannels * kernelSize * kernelSize;
    this.weight = this.param('weight', opts.initWeight ? opts.initWeight(shape) : init.torchDefaultWeight(shape, fanIn));
    if (opts.bias ?? true) {
      this.bias = this.param('bias', opts.initBias ? opts.initBias([outChannels]) : init.torchDefaultWeight([outChannels], fanIn));
    }
  }

  forward(x: Tensor): tf.Tensor4D {
    const y = convolve(x, this.weight, this.stride, this.padding);
    return (this.bias ? tf.add(y, this.bias) : y) as tf.Tensor4D;
  }
}

/**
 * NHWC convolution with an HWIO weight, symmetric zero padding, no bias.
 * A 1x1 stride-1 conv is a matmul over channels — the fastest path.
 */
export function convolve(x: Tensor, weight: Tensor, stride: number, padding: number): tf.Tensor4D {
  const [k, , ci, co] = weight.shape as [number, number, number, number];
  if (k === 1 && stride === 1 && padding === 0) return denseWeight(x, weight.reshape([ci, co])) as tf.Tensor4D;
  return conv2d(x as tf.Tensor4D, weight as tf.Tensor4D, stride, symmetricPads(padding));
}
