import { Module } from '../engine/module.js';
import { tf, type Tensor } from '../engine/tf.js';
import { Linear } from '../engine/layers/linear.js';
import { LayerNorm } from '../engine/layers/layer-norm.js';
import { batchMatMul, dense } from '../engine/ops/dense.js';
import * as init from '../engine/init.js';
import { decomposedRelPos, relPosBias } from './rel-pos.js';

export interface AttentionOptions {
  dim: number;
  numHeads: number;
  layernormEps: number;
  /** Token grid (h, w) for decomposed relative positions; undefined disables them. */
  relPosSize?: [number, number];
  /** Sequences at least this long attend head by head (default 1024; see attendPerHead). */
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
      const o = l >= (this.opts.perHeadMinTokens ?? 1024) ? this.attendPerHead(q, kT, v, rel) : this.attendBatched(q, kT, v, rel);
      const merged = o.reshape([b, nh, l, d]).transpose([0, 2, 1, 3]).reshape([b, l, c]);
      return this.out_proj.forward(this.inner_attn_ln.forward(merged));
    });
  }

  /** Many short sequences (windows): one batched matmul for all (window, head) pairs. */
  private attendBatched(q: Tensor, kT: Tensor, v: Tensor, rel?: { relH: Tensor; relW: Tensor }): Tensor {
    let attn = batchMatMul(tf.mul(q, this.scale), kT);
    if (rel) attn = tf.add(attn, relPosBias(rel.relH, rel.relW));
    return batchMatMul(tf.softmax(attn, -1), v);
  }

  /**
   * Long sequences (global attention): one head at a time as 2-D matmuls.
   * wasm's batched matmul runs at ~1 GFLOP/s but its 2-D matmul at ~15–20,
   * and one head's [L, L] scores (64 MB at 4096 tokens) is all that is held.
   */
  private attendPerHead(q: Tensor, kT: Tensor, v: Tensor, rel?: { relH: Tensor; relW: Tensor }): Tensor {
    const [n, l, d] = q.shape as [number, number, number];
    const outs: Tensor[] = [];
    for (let i = 0; i < n; i++) {
      outs.push(
        tf.tidy(() => {
          const qi = q.slice([i, 0, 0], [1, l, d]).reshape([l, d]);
          const ki = kT.slice([i, 0, 0], [1, d, l]).reshape([d, l]);
          const vi = v.slice([i, 0, 0], [1, l, d]).reshape([l, d]);
          let s = dense(tf.mul(qi, this.scale), ki);
          if (rel) {
            const one = (t: Tensor) => t.slice([i, 0, 0, 0], [1, ...t.shape.slice(1)]);
            s = tf.add(s, relPosBias(one(rel.relH), one(rel.relW)).reshape([l, l]));
          }
          return dense(tf.softmax(s, -1), vi);
        }),
      );
    }
    return tf.stack(outs);
  }
}
