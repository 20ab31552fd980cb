import { Module } from '../engine/module.js';
import { tf, type Tensor } from '../engine/tf.js';
import { Linear } from '../engine/layers/linear.js';
import { LayerNorm } from '../engine/layers/layer-norm.js';
import * as init from '../engine/init.js';
import { decomposedRelPos } from '../engine/ops/rel-pos.js';
import { attentionCore, attentionChunk } from '../engine/ops/attention-core.js';

export interface AttentionOptions {
  dim: number;
  numHeads: number;
  layernormEps: number;
  /** Token grid (h, w) for decomposed relative positions; undefined disables them. */
  relPosSize?: [number, number];
  /** Sequences at least this long attend head by head (default 1024; see attentionCore). */
  perHeadMinTokens?: number;
}

/**
 * BEiT-3 multi-head self-attention (torchscale's MultiheadAttention, vision
 * expert): separate q/k/v projections with bias, q scaled after projection,
 * Sub-LN (`inner_attn_ln`) on the merged heads before `out_proj`. In ViTDet
 * mode it adds decomposed relative positions computed from the unscaled q.
 */
export class Beit3Attention extends Module {
  readonly q_proj: Linear;
  readonly k_proj: Linear;
  readonly v_proj: Linear;
  readonly inner_attn_ln: LayerNorm;
  readonly out_proj: Linear;
  readonly rel_pos_h?: tf.Variable;
  readonly rel_pos_w?: tf.Variable;
  readonly headDim: number;
  readonly scale: number;

  constructor(readonly opts: AttentionOptions) {
    super();
    const { dim } = opts;
    this.headDim = dim / opts.numHeads;
    if (!Number.isInteger(this.headDim)) throw new Error(`dim ${dim} is not divisible by ${opts.numHeads} heads`);
    this.scale = this.headDim ** -0.5;
    const w = (shape: number[]) => init.truncNormal(shape, 0.02);
    const z = (shape: number[]) => init.zeros(shape);
    this.q_proj = this.module('q_proj', new Linear(dim, dim, { initWeight: w, initBias: z }));
    this.k_proj = this.module('k_proj', new Linear(dim, dim, { initWeight: w, initBias: z }));
    this.v_proj = this.module('v_proj', new Linear(dim, dim, { initWeight: w, initBias: z }));
    this.inner_attn_ln = this.module('inner_attn_ln', new LayerNorm(dim, opts.layernormEps));
    this.out_proj = this.module('out_proj', new Linear(dim, dim, { initWeight: w, initBias: z }));
    if (opts.relPosSize) {
      // New parameters (no BEiT-3 checkpoint has them), zero-initialised as ViTDet.
      this.rel_pos_h = this.param('rel_pos_h', init.zeros([2 * opts.relPosSize[0] - 1, this.headDim]));
      this.rel_pos_w = this.param('rel_pos_w', init.zeros([2 * opts.relPosSize[1] - 1, this.headDim]));
    }
  }

  /**
   * x: [B, L, C] tokens. `hw` gives the (h, w) grid of the L tokens when
   * relative positions are used.
   */
  forward(x: Tensor, hw?: [number, number]): Tensor {
    return tf.tidy(() => {
      const [b, l, c] = x.shape as [number, number, number];
      const nh = this.opts.numHeads;
      const d = this.headDim;
      // Projections are large 2-D matmuls; heads are then split with one transpose each.
      const q = this.q_proj.forward(x).reshape([b, l, nh, d]).transpose([0, 2, 1, 3]).reshape([b * nh, l, d]);
      const kT = this.k_proj.forward(x).reshape([b, l, nh, d]).transpose([0, 2, 3, 1]).reshape([b * nh, d, l]);
      const v = this.v_proj.forward(x).reshape([b, l, nh, d]).transpose([0, 2, 1, 3]).reshape([b * nh, l, d]);
      let rel: { relH: Tensor; relW: Tensor } | undefined;
      if (this.rel_pos_h && this.rel_pos_w) {
        if (!hw) throw new Error('relative positions need the token grid size');
        rel = decomposedRelPos(q, this.rel_pos_h, this.rel_pos_w, hw, hw);
      }
      const chunk = attentionChunk(b * nh, l, this.opts.perHeadMinTokens ?? 1024);
      const o = attentionCore(tf.mul(q, this.scale), kT, v, rel, { chunk });
      const merged = o.reshape([b, nh, l, d]).transpose([0, 2, 1, 3]).reshape([b, l, c]);
      return this.out_proj.forward(this.inner_attn_ln.forward(merged));
    });
  }
}
