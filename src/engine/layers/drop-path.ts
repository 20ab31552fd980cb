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
    if (!this.training || this.rate === 0) return x;
    const keep = 1 - this.rate;
    const b = x.shape[0]!;
    const mask = new Float32Array(b);
    for (let i = 0; i < b; i++) mask[i] = this.rng.uniform() < keep ? 1 / keep : 0;
    const shape = [b, ...new Array<number>(x.rank - 1).fill(1)];
    return tf.mul(x, tf.tensor(mask, shape));
  }
}
