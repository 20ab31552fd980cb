import { Module, ModuleList } from '../engine/module.js';
import { tf, type Tensor } from '../engine/tf.js';
import { Conv2d } from '../engine/layers/conv2d.js';
import { GroupNorm } from '../engine/layers/group-norm.js';
import { LayerNorm } from '../engine/layers/layer-norm.js';
import { Linear } from '../engine/layers/linear.js';
import { resize2d } from '../engine/ops/resize.js';
import * as init from '../engine/init.js';
import { MsDeformAttn, levelReferencePoints } from '../engine/layers/ms-deform-attn.js';
import { sinePositionEncoding } from './position-encoding.js';
import { memoryStage } from '../engine/wasm-memory.js';
import { freeUntaped } from '../engine/ops/eager.js';

/** Conv + GroupNorm (+ optional ReLU), Mask2Former's Conv2d(norm=GN). */
class ConvGn extends Module {
  readonly conv: Conv2d;
  readonly norm: GroupNorm;
  constructor(inCh: number, outCh: number, k: number, bias: boolean, readonly relu: boolean) {
    super();
    // c2_xavier_fill: kaiming-uniform(a=1).
    const bound = Math.sqrt(3 / (inCh * k * k));
    this.conv = this.module('conv', new Conv2d(inCh, outCh, k, { padding: (k - 1) / 2, bias, initWeight: (s) => init.uniform(s, -bound, bound), initBias: (s) => init.zeros(s) }));
    this.norm = this.module('norm', new GroupNorm(32 <= outCh ? 32 : 1, outCh));
  }
  forward(x: Tensor): Tensor {
    const y = this.norm.forward(this.conv.forward(x));
    return this.relu ? tf.relu(y) : y;
  }
}

/** One post-norm deformable encoder layer: self MSDeformAttn + FFN (ReLU). */
class DeformEncoderLayer extends Module {
  readonly self_attn: MsDeformAttn;
  readonly norm1: LayerNorm;
  readonly linear1: Linear;
  readonly linear2: Linear;
  readonly norm2: LayerNorm;
  constructor(dim: number, ffn: number, levels: number, heads: number, points: number) {
    super();
    this.self_attn = this.module('self_attn', new MsDeformAttn({ dim, levels, heads, points }));
    this.norm1 = this.module('norm1', new LayerNorm(dim));
    this.linear1 = this.module('linear1', new Linear(dim, ffn));
    this.linear2 = this.module('linear2', new Linear(ffn, dim));
    this.norm2 = this.module('norm2', new LayerNorm(dim));
  }
  forward(src: Tensor, pos: Tensor, ref: Tensor, shapes: [number, number][]): Tensor {
    const a = this.self_attn.forward(tf.add(src, pos), ref, src, shapes);
    const x = this.norm1.forward(tf.add(src, a));
    return this.norm2.forward(tf.add(x, this.linear2.forward(tf.relu(this.linear1.forward(x)))));
  }
}

export interface PixelDecoderOptions {
  /** Channels of the backbone levels, finest (stride 4) first: [c4, c8, c16, c32]. */
  inChannels: [number, number, number, number];
  dim: number;
  maskDim: number;
  encoderLayers: number;
  heads: number;
  points: number;
  ffn: number;
}

/**
 * Mask2Former's MSDeformAttnPixelDecoder: the stride 8/16/32 levels are
 * projected (1x1 conv + GN), given sine positions + a level embedding and
 * refined by post-norm deformable-attention encoder layers (coarsest level
 * first); an FPN step adds the stride-4 level (lateral 1x1 + bilinear
 * upsampled coarser output, then 3x3 conv + GN + ReLU), and a 1x1 conv
 * makes the per-pixel mask features.
 */
export class MsDeformAttnPixelDecoder extends Module {
  readonly input_proj: ModuleList<ConvGn>;
  readonly level_embed: tf.Variable;
  readonly layers: ModuleList<DeformEncoderLayer>;
  readonly lateral: ConvGn;
  readonly output: ConvGn;
  readonly mask_features: Conv2d;

  constructor(readonly opts: PixelDecoderOptions) {
    super();
    const { dim } = opts;
    // Transformer levels, coarsest first (res5, res4, res3).
    const coarseFirst = [opts.inChannels[3], opts.inChannels[2], opts.inChannels[1]];
    this.input_proj = this.module('input_proj', new ModuleList(coarseFirst.map((c) => new ConvGn(c, dim, 1, true, false))));
    this.level_embed = this.param('level_embed', init.normal([3, dim], 1));
    this.layers = this.module('encoder', new ModuleList(Array.from({ length: opts.encoderLayers }, () => new DeformEncoderLayer(dim, opts.ffn, 3, opts.heads, opts.points))));
    this.lateral = this.module('adapter_1', new ConvGn(opts.inChannels[0], dim, 1, false, false));
    this.output = this.module('layer_1', new ConvGn(dim, dim, 3, false, true));
    const bound = Math.sqrt(3 / dim);
    this.mask_features = this.module('mask_features', new Conv2d(dim, opts.maskDim, 1, { initWeight: (s) => init.uniform(s, -bound, bound), initBias: (s) => init.zeros(s) }));
  }

  /** features: NHWC maps at strides 4, 8, 16, 32. Returns mask features (stride 4) and the three refined maps, coarsest first. */
  forward(features: [Tensor, Tensor, Tensor, Tensor]): { maskFeatures: Tensor; multiScale: Tensor[] } {
    const { dim } = this.opts;
    const levels = [features[3], features[2], features[1]];
    const b = levels[0]!.shape[0]!;
    const shapes = levels.map((f) => [f.shape[1]!, f.shape[2]!] as [number, number]);
    const srcs: Tensor[] = [];
    const poss: Tensor[] = [];
    levels.forEach((f, i) => {
      const [h, w] = shapes[i]!;
      srcs.push(this.input_proj.items[i]!.forward(f).reshape([b, h * w, dim]));
      const pos = tf.add(sinePositionEncoding(h, w, dim / 2), this.level_embed.slice([i, 0], [1, dim]).reshape([1, 1, 1, dim]));
      poss.push(tf.tile(pos.reshape([1, h * w, dim]), [b, 1, 1]));
    });
    let src = tf.concat(srcs, 1);
    const pos = tf.concat(poss, 1);
    const refs = levelReferencePoints(shapes);
    const ref = tf.tile(tf.tensor(refs, [1, refs.length / 2, 1, 2]), [b, 1, 1, 1]);
    this.layers.items.forEach((layer, i) => {
      const prev = src;
      src = memoryStage(`encoder layer ${i + 1}`, () => tf.tidy(() => layer.forward(prev, pos, ref, shapes)));
      freeUntaped(prev);
    });
    // Split back into maps, coarsest first.
    const multiScale: Tensor[] = [];
    let o = 0;
    for (const [h, w] of shapes) {
      multiScale.push(src.slice([0, o, 0], [b, h * w, dim]).reshape([b, h, w, dim]));
      o += h * w;
    }
    const finest = multiScale[multiScale.length - 1]!;
    const [h4, w4] = [features[0].shape[1]!, features[0].shape[2]!];
    const up = resize2d(finest, h4, w4, 'linear');
    const fpn = this.output.forward(tf.add(this.lateral.forward(features[0]), up));
    return { maskFeatures: this.mask_features.forward(fpn), multiScale };
  }
}
