import { Module } from '../engine/module.js';
import { tf, type Tensor } from '../engine/tf.js';
import { Linear } from '../engine/layers/linear.js';
import { batchMatMul } from '../engine/ops/dense.js';
import * as init from '../engine/init.js';

/**
 * torch.nn.MultiheadAttention (batch-first here): separate q/k/v
 * projections (PyTorch packs them as in_proj; the converter splits it),
 * scaled dot product, optional additive mask [N·heads, Lq, Lk] (0 or a
 * large negative), out_proj.
 */
export class MultiheadAttention extends Module {
  readonly q_proj: Linear;
  readonly k_proj: Linear;
  readonly v_proj: Linear;
  readonly out_proj: Linear;
  constructor(
    readonly dim: number,
    readonly heads: number,
  ) {
    super();
    const xav = (s: number[]) => init.xavierUniform(s, dim, dim);
    const z = (s: number[]) => init.zeros(s);
    this.q_proj = this.module('q_proj', new Linear(dim, dim, { initWeight: xav, initBias: z }));
    this.k_proj = this.module('k_proj', new Linear(dim, dim, { initWeight: xav, initBias: z }));
    this.v_proj = this.module('v_proj', new Linear(dim, dim, { initWeight: xav, initBias: z }));
    this.out_proj = this.module('out_proj', new Linear(dim, dim, { initWeight: xav, initBias: z }));
  }

  /** q [N, Lq, C], k/v [N, Lk, C]; mask additive [N·heads, Lq, Lk] or undefined. */
  forward(q: Tensor, k: Tensor, v: Tensor, mask?: Tensor): Tensor {
    return tf.tidy(() => {
      const [n, lq, c] = q.shape as [number, number, number];
      const lk = k.shape[1]!;
      const h = this.heads;
      const d = c / h;
      const split = (t: Tensor, l: number) => t.reshape([n, l, h, d]).transpose([0, 2, 1, 3]).reshape([n * h, l, d]);
      const qh = tf.mul(split(this.q_proj.forward(q), lq), d ** -0.5);
      const kh = split(this.k_proj.forward(k), lk);
      const vh = split(this.v_proj.forward(v), lk);
      let att = batchMatMul(qh, kh.transpose([0, 2, 1]));
      if (mask) att = tf.add(att, mask);
      const o = batchMatMul(tf.softmax(att, -1), vh).reshape([n, h, lq, d]).transpose([0, 2, 1, 3]).reshape([n, lq, c]);
      return this.out_proj.forward(o);
    });
  }
}
