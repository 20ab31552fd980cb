import type { Tensor } from '../engine/tf.js';
import type { BackboneConfig, PyramidConfig } from '../config/schema.js';
import { Beit3Encoder } from './beit3.js';
import { BEIT3_SIZES } from './sizes.js';
import { SimpleFeaturePyramid, type FeatureMaps } from './simple-feature-pyramid.js';
import { initFromBeit3, type PretrainedReport } from './convert/load-beit3.js';

/**
 * The detection backbone: a BEiT-3 encoder in ViTDet mode (`net`) and the
 * Simple Feature Pyramid on its stride-16 output (`simfp_2` … `simfp_5`,
 * plus p6), named as detectron2's `backbone.*`.
 */
export class ViTDetBackbone extends SimpleFeaturePyramid {
  readonly net: Beit3Encoder;
  constructor(encoder: Beit3Encoder, pyramid: PyramidConfig) {
    super({
      dim: encoder.embedDim,
      outChannels: pyramid.out_channels,
      scaleFactors: pyramid.scale_factors,
      topBlock: pyramid.top_block,
      normEps: pyramid.norm_eps,
      inStride: encoder.opts.patchSize,
      checkpoint: encoder.opts.activationCheckpoint ?? false,
    });
    this.net = this.module('net', encoder);
  }

  /** Images [B, H, W, 3] (normalised, padded) → pyramid maps. */
  features(images: Tensor): FeatureMaps {
    return this.forward(this.net.forward(images).map);
  }

  /** lr-decay layer id of a parameter name relative to this backbone (pyramid convs: depth+1). */
  layerId(name: string): number {
    const depth = this.net.opts.depth;
    return name.startsWith('net.') ? Beit3Encoder.layerId(name.slice(4), depth) : depth + 1;
  }
}

/** The encoder a backbone config describes (in ViTDet mode when window_size > 0). */
export function buildEncoder(cfg: BackboneConfig, trainSize: number, opts: { clsToken?: boolean } = {}): Beit3Encoder {
  const preset = BEIT3_SIZES[cfg.size];
  const depth = cfg.depth ?? preset.depth;
  return new Beit3Encoder({
    embedDim: cfg.embed_dim ?? preset.embedDim,
    depth,
    numHeads: cfg.num_heads ?? preset.numHeads,
    ffnDim: cfg.ffn_dim ?? preset.ffnDim,
    globalBlocks: cfg.global_blocks ?? (cfg.depth === undefined ? preset.globalBlocks : evenlySpaced(depth, 4)),
    patchSize: cfg.patch_size,
    pretrainImgSize: cfg.pretrain_img_size,
    layernormEps: cfg.layernorm_eps,
    dropPathRate: cfg.drop_path_rate,
    windowSize: cfg.window_size,
    useRelPos: cfg.use_rel_pos,
    relPosGlobalGrid: Math.floor(trainSize / cfg.patch_size),
    clsToken: opts.clsToken ?? false,
    finalNorm: cfg.final_norm,
    activationCheckpoint: cfg.activation_checkpoint,
  });
}

/** n block indices spread over depth, ending at the last block (ViTDet's 2,5,8,11 pattern). */
export function evenlySpaced(depth: number, n: number): number[] {
  const step = depth / n;
  return Array.from({ length: n }, (_, i) => Math.round(step * (i + 1)) - 1);
}

export function buildViTDetBackbone(cfg: BackboneConfig, pyramid: PyramidConfig, trainSize: number): { backbone: ViTDetBackbone; pretrained?: PretrainedReport } {
  const encoder = buildEncoder(cfg, trainSize);
  const backbone = new ViTDetBackbone(encoder, pyramid);
  return { backbone, pretrained: cfg.pretrained ? initFromBeit3(encoder, cfg.pretrained) : undefined };
}
