import { Module } from '../module.js';
import { tf, type Tensor } from '../tf.js';
import { denseWeight } from '../ops/dense.js';
import * as init from '../init.js';

export interface LinearOptions {
  bias?: boolean;
  /** Weight initialiser; PyTorch's default when omitted. */
  initWeight?: (shape: number[]) => Tensor;
  initBias?: (shape: number[]) => Tensor;
}

/** y = x W + b over the last axis. Weight is stored [in, out] (PyTorch's transposed). */
export class Linear extends Module {
  readonly weight: tf.Variable;
  readonly bias?: tf.Variable;
  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    opts: LinearOptions = {},
  ) {
    super();
    const shape = [inFeatures, outFeatures];
    this.weight = this.param('weight', opts.initWeight ? opts.initWeight(shape) : init.torchDefaultWeight(shape, inFeatures));
    if (opts.bias ?? true) {
      this.bias = this.param('bias', opts.initBias ? opts.initBias([outFeatures]) : init.torchDefaultWeight([outFeatures], inFeatures));
    }
  }

  forward(x: Tensor): Tensor {
    const y = denseWeight(x, this.weight);
    return this.bias ? tf.add(y, this.bias) : y;
  }
}
