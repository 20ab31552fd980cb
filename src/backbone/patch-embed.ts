import { Module } from '../engine/module.js';
import { tf, type Tensor } from '../engine/tf.js';
import { Conv2d } from '../engine/layers/conv2d.js';
import { denseWeight } from '../engine/ops/dense.js';

/**
 * Patch embedding: a P x P / P conv (`proj`, with bias) over NHWC images.
 * The kernel tiles the image without overlap, so it runs as a reshape into
 * patches and one large matmul — the fastest path on every backend.
 */
export class PatchEmbed extends Module {
  readonly proj: Conv2d;
  constructor(
    readonly patchSize: number,
    readonly inChannels: number,
    readonly dim: number,
  ) {
    super();
    this.proj = this.module('proj', new Conv2d(inChannels, dim, patchSize, { stride: patchSize }));
  }

  /** [B, H, W, C] → [B, H/P, W/P, D]. */
  forward(images: Tensor): Tensor {
    const [b, h, w, c] = images.shape as [number, number, number, number];
    const P = this.patchSize;
    if (h % P !== 0 || w % P !== 0) throw new Error(`image size ${h}x${w} is not a multiple of the patch size ${P}`);
    const gh = h / P;
    const gw = w / P;
    const patches = images.reshape([b, gh, P, gw, P, c]).transpose([0, 1, 3, 2, 4, 5]).reshape([b, gh, gw, P * P * c]);
    return tf.add(denseWeight(patches, this.proj.weight.reshape([P * P * c, this.dim])), this.proj.bias!);
  }
}
