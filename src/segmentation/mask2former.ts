import { Module } from '../engine/module.js';
import { tf, type Tensor } from '../engine/tf.js';
import { Rng, withInitSeed } from '../engine/random.js';
import { resize2d } from '../engine/ops/resize.js';
import type { InputConfig, Mask2FormerConfig } from '../config/schema.js';
import { buildEncoder } from '../backbone/vitdet.js';
import { VitAdapter, interactionIndexes } from '../backbone/vit-adapter.js';
import { initFromBeit3, type PretrainedReport } from '../backbone/convert/load-beit3.js';
import { Beit3Model } from '../backbone/beit3-model.js';
import { MsDeformAttnPixelDecoder } from './pixel-decoder.js';
import { MaskedAttentionDecoder, type Prediction } from './masked-decoder.js';
import { loadTrainedWeights } from '../io/load-weights.js';
import { toImageList, type ImageList } from '../structures/image-list.js';
import type { HostImage } from '../io/rgb-image.js';
import { SetCriterion, semanticInference, type SemanticTarget } from './criterion.js';

/** The segmentation head: pixel decoder + masked-attention decoder. */
class SemSegHead extends Module {
  readonly pixel_decoder: MsDeformAttnPixelDecoder;
  readonly predictor: MaskedAttentionDecoder;
  constructor(cfg: Mask2FormerConfig, dim: number) {
    super();
    const h = cfg.head;
    this.pixel_decoder = this.module(
      'pixel_decoder',
      new MsDeformAttnPixelDecoder({ inChannels: [dim, dim, dim, dim], dim: h.hidden_dim, maskDim: h.mask_dim, encoderLayers: h.enc_layers, heads: h.enc_heads, points: h.enc_points, ffn: h.enc_feedforward }),
    );
    this.predictor = this.module(
      'predictor',
      new MaskedAttentionDecoder({ dim: h.hidden_dim, heads: h.heads, ffn: h.dim_feedforward, layers: h.dec_layers, queries: h.queries, numClasses: h.num_classes, maskDim: h.mask_dim }),
    );
  }
}

/**
 * Mask2Former for semantic segmentation on a BEiT-3 + ViT-Adapter backbone
 * (the BEiT-3 paper's ADE20K setup): images → adapter pyramid (strides
 * 4-32) → deformable pixel decoder → masked-attention decoder → per-query
 * classes and masks → per-pixel class scores.
 */
export class Mask2Former extends Beit3Model {
  readonly backbone: VitAdapter;
  readonly sem_seg_head: SemSegHead;
  readonly criterion: SetCriterion;
  readonly pretrained?: PretrainedReport;
  readonly samplingRng: Rng;

  constructor(
    readonly cfg: Mask2FormerConfig,
    readonly input: InputConfig,
    seed = 0,
  ) {
    super();
    // Every parameter is drawn from `seed`, whatever was built before.
    const parts = withInitSeed(seed, () => {
      const encoder = buildEncoder({ ...cfg.backbone, window_size: 0, use_rel_pos: false }, input.train_size, { clsToken: true });
      const a = cfg.adapter;
      const backbone = new VitAdapter(encoder, {
        inplanes: a.inplanes,
        heads: a.heads,
        points: a.points,
        deformRatio: a.deform_ratio,
        cffnRatio: a.cffn_ratio,
        initValues: a.init_values,
        interactions: a.interactions ?? interactionIndexes(encoder.opts.depth),
        addVitFeature: a.add_vit_feature,
      });
      const pretrained = cfg.backbone.pretrained ? initFromBeit3(encoder, cfg.backbone.pretrained) : undefined;
      return { backbone, pretrained, head: new SemSegHead(cfg, encoder.embedDim) };
    });
    this.backbone = this.module('backbone', parts.backbone);
    this.pretrained = parts.pretrained;
    this.sem_seg_head = this.module('sem_seg_head', parts.head);
    const h = cfg.head;
    this.samplingRng = new Rng(seed + 1);
    this.criterion = new SetCriterion(
      {
        numClasses: h.num_classes,
        classWeight: h.class_weight,
        maskWeight: h.mask_weight,
        diceWeight: h.dice_weight,
        eosCoef: h.no_object_weight,
        numPoints: h.train_num_points,
        oversampleRatio: h.oversample_ratio,
        importanceSampleRatio: h.importance_sample_ratio,
      },
      this.samplingRng,
    );
  }

  /**
   * How images become the model's input (mmseg's data preprocessor):
   * normalised by the pixel mean and std, zero-padded at the bottom/right —
   * training crops to the square `input.train_size`; at test time nothing is
   * padded here (whole and sliding-window inference pad each window to a
   * multiple of 32 themselves).
   */
  preprocess(images: HostImage[], mode: 'train' | 'test' = this.training ? 'train' : 'test'): ImageList {
    const squarePad = mode === 'train' ? this.input.train_size : 0;
    return toImageList(images, { pixelMean: this.input.pixel_mean, pixelStd: this.input.pixel_std, squarePad, sizeDivisibility: mode === 'train' ? 32 : 1 });
  }

  /** Every prediction set (initial + after each decoder layer) for a normalised, padded batch. */
  predictions(images: Tensor): Prediction[] {
    const feats = this.backbone.forward(images);
    const { maskFeatures, multiScale } = this.sem_seg_head.pixel_decoder.forward(feats);
    return this.sem_seg_head.predictor.forward(multiScale, maskFeatures);
  }

  /**
   * The inference output of the last decoder layer: class logits [B, Q, K+1]
   * (no-object last) and mask logits [B, Q, H/4, W/4].
   */
  queryOutputs(images: Tensor): Prediction {
    const preds = this.predictions(images);
    return preds[preds.length - 1]!;
  }

  losses(images: Tensor, targets: SemanticTarget[]): Map<string, Tensor> {
    return this.criterion.losses(this.predictions(images), targets);
  }

  /**
   * Per-pixel class scores [B, H, W, K] at the input resolution: mask logits
   * upsampled (bilinear) from stride 4, then the class-weighted combination.
   */
  semanticScores(images: Tensor): Tensor {
    const [b, H, W] = images.shape as [number, number, number, number];
    const last = this.queryOutputs(images);
    const [, q, , ] = last.masks.shape as [number, number, number, number];
    const up = resize2d(last.masks.transpose([0, 2, 3, 1]), H, W, 'linear').transpose([0, 3, 1, 2]); // [B, Q, H, W]
    const out: Tensor[] = [];
    for (let i = 0; i < b; i++) {
      const logits = last.logits.slice([i, 0, 0], [1, q, -1]).reshape([q, -1]);
      out.push(semanticInference(logits, up.slice([i, 0, 0, 0], [1, q, H, W]).reshape([q, H, W])).expandDims(0));
    }
    return out.length === 1 ? out[0]! : tf.concat(out, 0);
  }

}

/** A segmenter with trained weights (a densekit checkpoint or weights file), in eval mode. */
export function loadSegmenter(cfg: Mask2FormerConfig, input: InputConfig, weightsPath: string): Mask2Former {
  // Full weights replace the backbone's pretrained initialisation: do not read it.
  const model = new Mask2Former({ ...cfg, backbone: { ...cfg.backbone, pretrained: null } }, input, 0);
  return loadTrainedWeights(model, weightsPath).eval();
}
