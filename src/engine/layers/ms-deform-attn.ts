import { Module } from '../module.js';
import { tf, type Tensor } from '../tf.js';
import { Linear } from './linear.js';
import * as init from '../init.js';
import { msDeformAttnCore } from '../ops/ms-deform-attn-core.js';

export interface MsDeformAttnOptions {
  dim: number;
  levels: number;
  heads: number;
  points: number;
  /** Value/output projection width as a fraction of dim (ViT-Adapter's deform_ratio). */
  ratio?: number;
}

/**
 * The multi-scale deformable attention module (Deformable DETR, as
 * Mask2Former and ViT-Adapter use it): per query and head, sampling
 * offsets around a reference point on every level and attention weights
 * softmaxed over levels x points; the pure-tensor core does the sampling.
 * Initialised as the reference (offsets spread in a circle per head).
 */
export class MsDeformAttn extends Module {
  readonly sampling_offsets: Linear;
  readonly attention_weights: Linear;
  readonly value_proj: Linear;
  readonly output_proj: Linear;
  readonly valueDim: number;

  constructor(readonly opts: MsDeformAttnOptions) {
    super();
    const { dim, levels: L, heads: M, points: P } = opts;
    this.valueDim = Math.round(dim * (opts.ratio ?? 1));
    if (this.valueDim % M !== 0) throw new Error(`value width ${this.valueDim} is not divisible by ${M} heads`);
    const gridBias = (): Tensor => {
      const b = new Float32Array(M * L * P * 2);
      for (let h = 0; h < M; h++) {
        const t = (2 * Math.PI * h) / M;
        const [cx, cy] = [Math.cos(t), Math.sin(t)];
        const s = Math.max(Math.abs(cx), Math.abs(cy));
        for (let l = 0; l < L; l++)
          for (let p = 0; p < P; p++) {
            b[((h * L + l) * P + p) * 2] = (cx / s) * (p + 1);
            b[((h * L + l) * P + p) * 2 + 1] = (cy / s) * (p + 1);
          }
      }
      return tf.tensor1d(b);
    };
    this.sampling_offsets = this.module('sampling_offsets', new Linear(dim, M * L * P * 2, { initWeight: (s) => init.zeros(s), initBias: gridBias }));
    this.attention_weights = this.module('attention_weights', new Linear(dim, M * L * P, { initWeight: (s) => init.zeros(s), initBias: (s) => init.zeros(s) }));
    this.value_proj = this.module('value_proj', new Linear(dim, this.valueDim, { initWeight: (s) => init.xavierUniform(s, dim, this.valueDim), initBias: (s) => init.zeros(s) }));
    this.output_proj = this.module('output_proj', new Linear(this.valueDim, dim, { initWeight: (s) => init.xavierUniform(s, this.valueDim, dim), initBias: (s) => init.zeros(s) }));
  }

  /**
   * query [N, Lq, C]; reference [N, Lq, Lr, 2] normalised (x, y) with Lr = 1
   * (shared by all levels) or Lr = levels; input [N, S, C] the levels' tokens
   * (each level row-major); shapes [[H, W], …]. Returns [N, Lq, C].
   */
  forward(query: Tensor, reference: Tensor, input: Tensor, shapes: [number, number][]): Tensor {
    return tf.tidy(() => {
      const { levels: L, heads: M, points: P } = this.opts;
      const [n, lq] = query.shape as [number, number, number];
      const s = input.shape[1]!;
      const value = this.value_proj.forward(input).reshape([n, s, M, this.valueDim / M]);
      const offsets = this.sampling_offsets.forward(query).reshape([n, lq, M, L, P, 2]);
      const weights = tf.softmax(this.attention_weights.forward(query).reshape([n, lq, M, L * P]), -1).reshape([n, lq, M, L, P]);
      // location = reference + offset / (W_l, H_l)
      const norm = tf.tensor(shapes.flatMap(([h, w]) => [w, h]), [1, 1, 1, L, 1, 2]);
      const ref = reference.reshape([n, lq, 1, reference.shape[2]!, 1, 2]);
      const loc = tf.add(ref, tf.div(offsets, norm));
      return this.output_proj.forward(msDeformAttnCore(value, shapes, loc, weights));
    });
  }
}

/** Pixel-centre reference points of each level, normalised: [Σ H·W, 2] (x, y). */
export function levelReferencePoints(shapes: [number, number][]): Float32Array {
  const total = shapes.reduce((a, [h, w]) => a + h * w, 0);
  const out = new Float32Array(total * 2);
  let o = 0;
  for (const [h, w] of shapes)
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) {
        out[o++] = (x + 0.5) / w;
        out[o++] = (y + 0.5) / h;
      }
  return out;
}
