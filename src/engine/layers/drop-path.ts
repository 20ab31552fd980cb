import { Module } from '../module.js';
import { tf, type Tensor } from '../tf.js';
import { Rng } from '../random.js';

/**
 * Stochastic depth: in training, zero a residual branch per sample with
 * probability `rate` and rescale the survivors by 1/(1-rate). Identity in eval.
 */
export class DropPath extends Module {
  constructor(
    readonly rate: number,
    private readonly rng: Rng,
  ) {
    super();
  }

  forward(x: Tensor): Tensor {
    return DropPath.scale(x, this.draw(x.shape[0]!));
  }

  /** The per-sample scales of one forward (0 or 1/keep), or null when inactive. Draws from the generator. */
  draw(batch: number): Float32Array | null {
    if (!this.training || this.rate === 0) return null;
    const keep = 1 - this.rate;
    const mask = new Float32Array(batch);
    for (let i = 0; i < batch; i++) mask[i] = this.rng.uniform() < keep ? 1 / keep : 0;
    return mask;
  }

  /** x scaled per sample by a drawn mask (x itself for null). */
  static scale(x: Tensor, mask: Float32Array | null): Tensor {
    if (mask === null) return x;
    return tf.mul(x, tf.tensor(mask, [mask.length, ...new Array<number>(x.rank - 1).fill(1)]));
  }
}
