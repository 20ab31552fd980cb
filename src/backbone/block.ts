import { Module } from '../engine/module.js';
import { tf, type Tensor } from '../engine/tf.js';
import { LayerNorm } from '../engine/layers/layer-norm.js';
import { DropPath } from '../engine/layers/drop-path.js';
import type { Rng } from '../engine/random.js';
import { Beit3Attention } from './attention.js';
import { Beit3Ffn } from './ffn.js';
import { maybeCheckpoint } from '../engine/ops/activation-checkpoint.js';
import { windowPartition, windowUnpartition } from './windows.js';

/** Tokens per step of the checkpointed FFN's backward pass (see Beit3Block.ffnResidual). */
const FFN_CHUNK_TOKENS = 1024;

export interface BlockOptions {
  dim: number;
  numHeads: number;
  ffnDim: number;
  layernormEps: number;
  dropPath: number;
  /** ViTDet: window size in tokens (0 = global attention). */
  windowSize: number;
  /** ViTDet: grid the relative-position tables are sized for (window or full map); undefined = none. */
  relPosSize?: [number, number];
  rng: Rng;
  /** Recompute the block in the backward pass instead of keeping its intermediates (training only). */
  checkpoint?: boolean;
  /** With checkpointing, tokens per FFN recomputation step (default FFN_CHUNK_TOKENS). */
  ffnChunkTokens?: number;
}

/**
 * One BEiT-3 encoder layer (pre-LN, Sub-LN), vision expert:
 *   x = x + drop_path(attn(norm1(x)));  x = x + drop_path(ffn(norm2(x))).
 * `norm1` is torchscale's self_attn_layer_norm, `norm2` its final_layer_norm.
 * In ViTDet mode the attention runs inside windows (zero padding after the
 * norm, unmasked) unless windowSize is 0.
 */
export class Beit3Block extends Module {
  readonly norm1: LayerNorm;
  readonly attn: Beit3Attention;
  readonly norm2: LayerNorm;
  readonly ffn: Beit3Ffn;
  readonly dropPath: DropPath;

  constructor(readonly opts: BlockOptions) {
    super();
    this.norm1 = this.module('norm1', new LayerNorm(opts.dim, opts.layernormEps));
    this.attn = this.module('attn', new Beit3Attention({ dim: opts.dim, numHeads: opts.numHeads, layernormEps: opts.layernormEps, relPosSize: opts.relPosSize }));
    this.norm2 = this.module('norm2', new LayerNorm(opts.dim, opts.layernormEps));
    this.ffn = this.module('ffn', new Beit3Ffn(opts.dim, opts.ffnDim, opts.layernormEps));
    this.dropPath = this.module('drop_path', new DropPath(opts.dropPath, opts.rng));
  }

  /** Token form: x [B, L, C] (plain BEiT-3, cls token included). */
  forwardTokens(x: Tensor): Tensor {
    return this.ffnResidual(this.checkpointed([this.norm1, this.attn], x, (t) => this.tokens(t)));
  }

  /** Map form: x [B, H, W, C] (ViTDet). */
  forwardMap(x: Tensor): Tensor {
    return this.ffnResidual(this.checkpointed([this.norm1, this.attn], x, (t) => this.map(t)));
  }

  /**
   * Attention and FFN residuals are checkpointed separately, so a block's
   * backward pass recomputes (and holds) only half of it at a time: at 1024²
   * the FFN's 3072-wide activations alone are ~50 MB apiece.
   */
  private checkpointed(modules: Module[], x: Tensor, fn: (x: Tensor) => Tensor): Tensor {
    return maybeCheckpoint(this.opts.checkpoint ?? false, modules, x, fn, [this.opts.rng]);
  }

  /**
   * y + drop_path(ffn(norm2(y))), any layout with channels last. The FFN is
   * per token, so its checkpointed backward pass runs over slices of axis 1
   * of about `ffnChunkTokens` tokens: at 1024² the whole map's 4x-wide
   * activations are ~50 MB apiece, and the backward passes of LN and GELU
   * need several at once.
   */
  private ffnResidual(y: Tensor): Tensor {
    const tokensPerRow = y.size / (y.shape[0]! * y.shape[1]! * y.shape[y.rank - 1]!);
    const rowsPerStep = Math.max(1, Math.floor((this.opts.ffnChunkTokens ?? FFN_CHUNK_TOKENS) / tokensPerRow));
    // The drop-path mask is drawn once, outside: the step is then row-wise and
    // its recomputation needs no generator rewinding.
    const mask = this.dropPath.draw(y.shape[0]!);
    const step = (t: Tensor) => tf.add(t, DropPath.scale(this.ffn.forward(this.norm2.forward(t)), mask));
    return maybeCheckpoint(this.opts.checkpoint ?? false, [this.norm2, this.ffn], y, step, [], rowsPerStep);
  }

  /** x + drop_path(attn(norm1(x))) on tokens [B, L, C]. */
  private tokens(x: Tensor): Tensor {
    return tf.add(x, this.dropPath.forward(this.attn.forward(this.norm1.forward(x))));
  }

  /** x + drop_path(attn(norm1(x))) on a map [B, H, W, C], windowed or global. */
  private map(x: Tensor): Tensor {
    const [b, h, w, c] = x.shape as [number, number, number, number];
    let t = this.norm1.forward(x);
    const ws = this.opts.windowSize;
    if (ws > 0) {
      const { windows, padded } = windowPartition(t, ws);
      const nw = windows.shape[0]!;
      const a = this.attn.forward(windows.reshape([nw, ws * ws, c]), [ws, ws]);
      t = windowUnpartition(a.reshape([nw, ws, ws, c]), ws, padded, [h, w]);
    } else {
      t = this.attn.forward(t.reshape([b, h * w, c]), [h, w]).reshape([b, h, w, c]);
    }
    return tf.add(x, this.dropPath.forward(t));
  }
}
