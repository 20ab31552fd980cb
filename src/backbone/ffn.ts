import { Module } from '../engine/module.js';
import type { Tensor } from '../engine/tf.js';
import { Linear } from '../engine/layers/linear.js';
import { LayerNorm } from '../engine/layers/layer-norm.js';
import { gelu } from '../engine/layers/activations.js';
import * as init from '../engine/init.js';

/** BEiT-3's Sub-LN feed-forward: fc1 → GELU (erf) → LayerNorm(ffn) → fc2. */
export class Beit3Ffn extends Module {
  readonly fc1: Linear;
  readonly ffn_layernorm: LayerNorm;
  readonly fc2: Linear;
  constructor(dim: number, ffnDim: number, eps: number) {
    super();
    const w = (shape: number[]) => init.truncNormal(shape, 0.02);
    const z = (shape: number[]) => init.zeros(shape);
    this.fc1 = this.module('fc1', new Linear(dim, ffnDim, { initWeight: w, initBias: z }));
    this.ffn_layernorm = this.module('ffn_layernorm', new LayerNorm(ffnDim, eps));
    this.fc2 = this.module('fc2', new Linear(ffnDim, dim, { initWeight: w, initBias: z }));
  }

  forward(x: Tensor): Tensor {
    return this.fc2.forward(this.ffn_layernorm.forward(gelu(this.fc1.forward(x))));
  }
}
