import { Module, ModuleList } from '../engine/module.js';
import { tf, type Tensor } from '../engine/tf.js';
import { Conv2d } from '../engine/layers/conv2d.js';
import { ConvTranspose2d } from '../engine/layers/conv-transpose2d.js';
import { ConvNorm, convNormReluStack } from '../backbone/simple-feature-pyramid.js';
import * as init from '../engine/init.js';
import { maybeCheckpoint } from '../engine/ops/activation-checkpoint.js';

/**
 * detectron2's MaskRCNNConvUpsampleHead with LayerNorm: four 3x3 conv + LN +
 * ReLU, a 2x2/2 deconvolution + ReLU, and a 1x1 predictor with one channel
 * per class. Input [R, 14, 14, C] → logits [R, 28, 28, K].
 */
export class MaskHead extends Module {
  readonly convs: ModuleList<ConvNorm>;
  readonly deconv: ConvTranspose2d;
  readonly predictor: Conv2d;
  constructor(
    inChannels: number,
    convDim: number,
    numConvs: number,
    readonly numClasses: number,
    /** Recompute the convs and the upsampling tail in the backward pass (see `roi_heads.activation_checkpoint`). */
    readonly checkpoint = false,
    eps = 1e-6,
  ) {
    super();
    const convs: ConvNorm[] = [];
    for (let i = 0; i < numConvs; i++) convs.push(new ConvNorm(i === 0 ? inChannels : convDim, convDim, 3, eps));
    this.convs = this.module('mask_fcn', new ModuleList(convs));
    this.deconv = this.module('deconv', new ConvTranspose2d(numConvs > 0 ? convDim : inChannels, convDim, 2, 2));
    this.predictor = this.module('predictor', new Conv2d(convDim, numClasses, 1, { initWeight: (s) => init.normal(s, 0.001), initBias: (s) => init.zeros(s) }));
  }

  /** Logits of every class: [R, M, M, K]. */
  forward(x: Tensor): Tensor {
    return this.upsample(this.features(x));
  }

  /**
   * Logits of one class per instance, [R, M, M] — what the loss and the
   * inference need. With checkpointing the [R, 2S, 2S, C] deconvolution
   * output and the [R, M, M, K] logits of all classes (the largest tensors
   * of the head) live only inside one recomputed step.
   */
  classLogits(x: Tensor, classes: Int32Array): Tensor {
    return maybeCheckpoint(this.checkpoint, [this.deconv, this.predictor], this.features(x), (t) => MaskHead.selectClass(this.upsample(t), classes));
  }

  private features(x: Tensor): Tensor {
    return convNormReluStack(this.convs.items, x, this.checkpoint);
  }

  private upsample(t: Tensor): Tensor {
    return this.predictor.forward(tf.relu(this.deconv.forward(t)));
  }

  /** The logits of one class per instance: [R, M, M]. */
  static selectClass(logits: Tensor, classes: Int32Array): Tensor {
    const [r, m, , k] = logits.shape as [number, number, number, number];
    if (r === 0) return tf.zeros([0, m, m]);
    const oneHot = tf.oneHot(tf.tensor1d(classes, 'int32'), k).reshape([r, 1, 1, k]);
    return tf.sum(tf.mul(logits, oneHot), 3);
  }
}
