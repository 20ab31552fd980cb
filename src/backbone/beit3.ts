import { Module, ModuleList } from '../engine/module.js';
import { tf, type Tensor } from '../engine/tf.js';
import { LayerNorm } from '../engine/layers/layer-norm.js';
import { resize2d } from '../engine/ops/resize.js';
import { Rng } from '../engine/random.js';
import * as init from '../engine/init.js';
import { Beit3Block } from './block.js';
import { PatchEmbed } from './patch-embed.js';
import type { Beit3Dims } from './sizes.js';

export interface Beit3Options extends Beit3Dims {
  patchSize: number;
  /** Image size of pretraining; the position table covers (this / patch)² patches. */
  pretrainImgSize: number;
  layernormEps: number;
  dropPathRate: number;
  /** ViTDet: window size in tokens for non-global blocks; 0 = every block global. */
  windowSize: number;
  useRelPos: boolean;
  /** ViTDet sizes the global blocks' relative-position tables from the (square) training size / patch. */
  relPosGlobalGrid: number;
  /** Keep the cls token and its position row (plain BEiT-3); ViTDet drops both. */
  clsToken: boolean;
  /** Keep BEiT-3's final encoder LayerNorm. */
  finalNorm: boolean;
  /** Recompute blocks in the backward pass (see engine/ops/checkpoint). */
  activationCheckpoint?: boolean;
  /** Seed of the drop-path generator. */
  seed?: number;
}

/**
 * The BEiT-3 vision encoder (torchscale's Multiway Transformer with image
 * input, i.e. the vision expert "A" everywhere) and its ViTDet form.
 *
 * Parameters (densekit names; `convert/beit3-keys.ts` maps the official ones):
 *   patch_embed.proj.{weight,bias}   conv 16x16/16, HWIO
 *   cls_token [1,1,D]                (clsToken only)
 *   pos_embed [1+N0, D]              row 0 = cls, rows 1.. = the pretraining grid, row-major
 *   blocks.{i}.{norm1,attn.{q,k,v,out}_proj,attn.inner_attn_ln,attn.rel_pos_{h,w},norm2,ffn.{fc1,ffn_layernorm,fc2}}
 *   norm                             (finalNorm only)
 */
export class Beit3Encoder extends Module {
  readonly patch_embed: PatchEmbed;
  readonly cls_token?: tf.Variable;
  readonly pos_embed: tf.Variable;
  readonly blocks: ModuleList<Beit3Block>;
  readonly norm?: LayerNorm;
  readonly pretrainGrid: number;
  /** Drives drop path; its state is checkpointed for exact resume. */
  readonly rng: Rng;

  constructor(readonly opts: Beit3Options) {
    super();
    const { embedDim: D, patchSize: P } = opts;
    // ViTDet and BEiT-3 both initialise new models with trunc-normal(0.02) tokens.
    this.pretrainGrid = Math.floor(opts.pretrainImgSize / P);
    this.patch_embed = this.module('patch_embed', new PatchEmbed(P, 3, D));
    if (opts.clsToken) this.cls_token = this.param('cls_token', init.truncNormal([1, 1, D], 0.02));
    this.pos_embed = this.param('pos_embed', init.truncNormal([1 + this.pretrainGrid ** 2, D], 0.02));
    const rng = (this.rng = new Rng(opts.seed ?? 0));
    const global = new Set(opts.globalBlocks);
    const blocks: Beit3Block[] = [];
    for (let i = 0; i < opts.depth; i++) {
      const windowed = opts.windowSize > 0 && !global.has(i);
      const grid = windowed ? opts.windowSize : opts.relPosGlobalGrid;
      blocks.push(
        new Beit3Block({
          dim: D,
          numHeads: opts.numHeads,
          ffnDim: opts.ffnDim,
          layernormEps: opts.layernormEps,
          dropPath: opts.depth > 1 ? (opts.dropPathRate * i) / (opts.depth - 1) : 0,
          windowSize: windowed ? opts.windowSize : 0,
          relPosSize: opts.useRelPos ? [grid, grid] : undefined,
          rng,
          checkpoint: opts.activationCheckpoint ?? false,
        }),
      );
    }
    this.blocks = this.module('blocks', new ModuleList(blocks));
    if (opts.finalNorm) this.norm = this.module('norm', new LayerNorm(D, opts.layernormEps));
  }

  get embedDim(): number {
    return this.opts.embedDim;
  }

  /** The position table's grid rows resized (bicubic, as torch) to (gh, gw): [gh, gw, D]. */
  gridPositions(gh: number, gw: number): Tensor {
    const g = this.pretrainGrid;
    const grid = this.pos_embed.slice([1, 0], [g * g, this.opts.embedDim]).reshape([g, g, this.opts.embedDim]);
    return resize2d(grid, gh, gw, 'cubic');
  }

  /**
   * Plain BEiT-3 forward: [cls; patches] + positions, every block global.
   * Returns the token sequence [B, 1+N, D] after the final norm (when kept)
   * and each block's output.
   */
  forwardTokens(images: Tensor): { tokens: Tensor; hidden: Tensor[]; embed: Tensor } {
    if (!this.cls_token) throw new Error('forwardTokens needs the cls token (clsToken: true)');
    const x0 = this.patch_embed.forward(images);
    const [b, gh, gw, d] = x0.shape as [number, number, number, number];
    const pos = tf.concat([this.pos_embed.slice([0, 0], [1, d]), this.gridPositions(gh, gw).reshape([gh * gw, d])], 0);
    let x = tf.concat([tf.tile(this.cls_token, [b, 1, 1]), x0.reshape([b, gh * gw, d])], 1);
    x = tf.add(x, pos);
    const embed = x;
    const hidden: Tensor[] = [];
    for (const blk of this.blocks.items) {
      // One scope per block bounds memory to a block's intermediates (tensors
      // a gradient needs are kept by the tape regardless).
      const prev = x;
      x = tf.tidy(() => blk.forwardTokens(prev));
      hidden.push(x);
    }
    return { tokens: this.norm ? this.norm.forward(x) : x, hidden, embed };
  }

  /**
   * ViTDet forward: patches + resized positions (no cls), windowed/global
   * blocks with relative positions. Returns the stride-P map [B, H/P, W/P, D]
   * (after the final norm only when it is kept), and optionally every block's output.
   */
  forward(images: Tensor, opts: { keepHidden?: boolean } = {}): { map: Tensor; hidden: Tensor[]; embed: Tensor } {
    const x0 = this.patch_embed.forward(images);
    const [, gh, gw] = x0.shape as [number, number, number, number];
    let x = tf.add(x0, this.gridPositions(gh, gw));
    const embed = x;
    const hidden: Tensor[] = [];
    for (const blk of this.blocks.items) {
      // One scope per block bounds memory to a block's intermediates (tensors
      // a gradient needs are kept by the tape regardless).
      const prev = x;
      x = tf.tidy(() => blk.forwardMap(prev));
      if (opts.keepHidden) hidden.push(x);
      else if (prev !== embed) prev.dispose();
    }
    return { map: this.norm ? this.norm.forward(x) : x, hidden, embed };
  }

  /** Layer-wise lr-decay id of a parameter name (relative to this encoder): embeddings 0, block i → i+1, rest depth+1. */
  static layerId(name: string, depth: number): number {
    if (/^(patch_embed|cls_token|pos_embed)/.test(name)) return 0;
    const m = /^blocks\.(\d+)\./.exec(name);
    if (m) return Number(m[1]) + 1;
    return depth + 1;
  }
}

