import { Module } from '../engine/module.js';
import { tf, type Tensor } from '../engine/tf.js';
import { Rng, withInitSeed, withoutInitDraws } from '../engine/random.js';
import { interpMatrix } from '../engine/ops/resize.js';
import { dense } from '../engine/ops/dense.js';
import { RowAssembler } from '../engine/ops/assemble.js';
import { memoryStage } from '../engine/wasm-memory.js';
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
import { SetCriterion, type SemanticTarget } from './criterion.js';

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
   * (no-object last) and mask logits [B, Q, H/4, W/4]. Each stage runs in
   * its own scope and only its outputs outlive it.
   */
  queryOutputs(images: Tensor): Prediction {
    const feats = memoryStage('backbone', () => tf.tidy(() => this.backbone.forward(images)));
    const decoded = memoryStage('pixel decoder', () =>
      tf.tidy(() => {
        const { maskFeatures, multiScale } = this.sem_seg_head.pixel_decoder.forward(feats);
        return [maskFeatures, ...multiScale];
      }),
    );
    for (const f of feats) f.dispose();
    const [maskFeatures, ...multiScale] = decoded;
    const [logits, masks] = memoryStage('transformer decoder', () =>
      tf.tidy(() => {
        const p = this.sem_seg_head.predictor.forward(multiScale, maskFeatures!, { lastOnly: true })[0]!;
        return [p.logits, p.masks];
      }),
    );
    for (const t of decoded) t.dispose();
    return { logits: logits!, masks: masks! };
  }

  losses(images: Tensor, targets: SemanticTarget[]): Map<string, Tensor> {
    return this.criterion.losses(this.predictions(images), targets);
  }

  /**
   * Per-pixel class scores [B, H, W, K] at the input resolution: mask logits
   * upsampled (bilinear) from stride 4, then the class-weighted combination
   * (see `classScores`).
   */
  semanticScores(images: Tensor): Tensor {
    return this.semanticOutputs(images).scores;
  }

  /**
   * `semanticScores`, and with `keepQueries` the last decoder layer's class
   * and mask logits it was computed from (what an exported graph also gives,
   * for callers that combine them their own way).
   */
  semanticOutputs(images: Tensor, opts: { keepQueries?: boolean } = {}): { scores: Tensor; queries?: Prediction } {
    const [b, H, W] = images.shape as [number, number, number, number];
    // The scores' block (459 MB for 150 classes at 896²) is taken first, before
    // the backbone's work can fragment the heap; the bands are written into it.
    const out = new RowAssembler([b * H, W, this.cfg.head.num_classes]);
    try {
      const last = this.queryOutputs(images);
      memoryStage('class scores', () =>
        tf.tidy(() => {
          const [, q] = last.masks.shape as [number, number, number, number];
          for (let i = 0; i < b; i++) {
            const logits = last.logits.slice([i, 0, 0], [1, q, -1]).reshape([q, -1]);
            writeClassScores(logits, last.masks.slice([i, 0, 0, 0], [1, q, -1, -1]).reshape(last.masks.shape.slice(1)), H, W, out);
          }
        }),
      );
      if (!opts.keepQueries) {
        last.logits.dispose();
        last.masks.dispose();
      }
      const flat = out.result();
      const scores = flat.reshape([b, H, W, -1]);
      flat.dispose();
      return opts.keepQueries ? { scores, queries: last } : { scores };
    } catch (err) {
      out.dispose();
      throw err;
    }
  }
}

/** Output rows per step of `classScores` (with 200 queries at 896 wide, 37 MB of upsampled masks). */
const SCORE_ROWS = 64;

/**
 * Mask2Former's semantic inference for one image at (H, W): each query's
 * mask logits [Q, h, w] upsampled bilinearly (align_corners=False) to
 * (H, W), sigmoid, then summed with its class probabilities (softmax
 * without the no-object class): scores[y, x, k] = Σ_q p[q, k]·σ(m[q, y, x]).
 * Returns [H, W, K].
 */
export function classScores(logits: Tensor, masks: Tensor, H: number, W: number): Tensor {
  const out = new RowAssembler([H, W, logits.shape[1]! - 1]);
  try {
    writeClassScores(logits, masks, H, W, out);
    return out.result();
  } catch (err) {
    out.dispose();
    throw err;
  }
}

/**
 * `classScores` written into the next H rows of `out`, in bands of output
 * rows: the two interpolation matmuls of `resize2d` restricted to the band's
 * rows. The full [Q, H, W] upsampled masks (642 MB for 200 queries at 896²)
 * and their sigmoid never exist, and the class sum is a plain matmul (the
 * transposed form ran through wasm's slow kernel).
 */
export function writeClassScores(logits: Tensor, masks: Tensor, H: number, W: number, out: RowAssembler): void {
  tf.tidy(() => {
    const [q, k1] = logits.shape as [number, number];
    const [, h, w] = masks.shape as [number, number, number];
    const probs = tf.softmax(logits).slice([0, 0], [q, k1 - 1]); // [Q, K]
    const rowsIn = masks.reshape([q, h * w]).transpose().reshape([h, w * q]); // [h, (w, Q)]
    const mh = interpMatrix(h, H, 'linear');
    const mwT = tf.tensor2d(interpMatrix(w, W, 'linear'), [W, w]).transpose(); // [w, W]
    for (let r0 = 0; r0 < H; r0 += SCORE_ROWS) {
      const rows = Math.min(SCORE_ROWS, H - r0);
      tf.tidy(() => {
        const band = tf.tensor2d(mh.subarray(r0 * h, (r0 + rows) * h), [rows, h]);
        const y = tf.matMul(band, rowsIn as tf.Tensor2D).reshape([rows, w, q]).transpose([0, 2, 1]).reshape([rows * q, w]);
        const up = dense(y, mwT).reshape([rows, q, W]).transpose([0, 2, 1]).reshape([rows * W, q]);
        out.write(tf.matMul(tf.sigmoid(up) as tf.Tensor2D, probs as tf.Tensor2D).reshape([rows, W, k1 - 1]));
      });
    }
  });
}

/** A segmenter with trained weights (a densekit checkpoint or weights file), in eval mode. */
export function loadSegmenter(cfg: Mask2FormerConfig, input: InputConfig, weightsPath: string): Mask2Former {
  // Full weights replace every parameter: neither read the backbone's pretrained weights nor draw random ones.
  const model = withoutInitDraws(() => new Mask2Former({ ...cfg, backbone: { ...cfg.backbone, pretrained: null } }, input, 0));
  return loadTrainedWeights(model, weightsPath).eval();
}
