import { Beit3Model } from '../backbone/beit3-model.js';
import { tf, type Tensor } from '../engine/tf.js';
import { Rng, withInitSeed, withoutInitDraws } from '../engine/random.js';
import type { DetectorConfig, InputConfig } from '../config/schema.js';
import { buildViTDetBackbone, type ViTDetBackbone } from '../backbone/vitdet.js';
import type { FeatureMaps, LevelShapes } from '../backbone/simple-feature-pyramid.js';
import type { PretrainedReport } from '../backbone/convert/load-beit3.js';
import { toImageList, type ImageList, type PadOptions } from '../structures/image-list.js';
import type { HostImage } from '../io/rgb-image.js';
import type { Detections, GtInstances } from '../structures/instances.js';
import { Rpn, type Proposals } from './rpn.js';
import { StandardRoiHeads, type RoiHeadRunner, type RoiHeadsBase } from './roi-heads.js';
import { CascadeRoiHeads } from './cascade-roi-heads.js';
import { loadTrainedWeights } from '../io/load-weights.js';
import { memoryStage, memoryStageAsync } from '../engine/wasm-memory.js';

/**
 * The detector (detectron2's GeneralizedRCNN), read top-down:
 *   padded image batch → BEiT-3 ViTDet backbone → Simple Feature Pyramid
 *   → RPN proposals → ROI heads (Mask R-CNN or Cascade Mask R-CNN)
 *   → detections (boxes, scores, classes, mask probabilities).
 * Parameter names follow detectron2: backbone.*, proposal_generator.*, roi_heads.*.
 */
export class GeneralizedRCNN extends Beit3Model {
  readonly backbone: ViTDetBackbone;
  readonly proposal_generator: Rpn;
  readonly roi_heads: RoiHeadsBase;
  readonly pretrained?: PretrainedReport;
  /** Drives proposal/anchor sampling; checkpointed with the drop-path generator for exact resume. */
  readonly samplingRng: Rng;

  constructor(
    readonly cfg: DetectorConfig,
    readonly input: InputConfig,
    seed = 0,
  ) {
    super();
    const rng = (this.samplingRng = new Rng(seed + 1));
    // Every parameter is drawn from `seed`, whatever was built before.
    const parts = withInitSeed(seed, () => {
      const { backbone, pretrained } = buildViTDetBackbone(cfg.backbone, cfg.pyramid, input.train_size);
      const levels = backbone.strides;
      const ch = cfg.pyramid.out_channels;
      // The ROI heads pool from the pyramid's own levels, not the extra top level (p6).
      const roiLevels = levels.slice(0, cfg.pyramid.scale_factors.length);
      return {
        backbone,
        pretrained,
        rpn: new Rpn(cfg.rpn, levels, ch, rng),
        roiHeads: cfg.roi_heads.cascade
          ? new CascadeRoiHeads(cfg.roi_heads, cfg.roi_heads.cascade, cfg.test, roiLevels, ch, rng)
          : new StandardRoiHeads(cfg.roi_heads, cfg.test, roiLevels, ch, rng),
      };
    });
    this.backbone = this.module('backbone', parts.backbone);
    this.pretrained = parts.pretrained;
    this.proposal_generator = this.module('proposal_generator', parts.rpn);
    this.roi_heads = this.module('roi_heads', parts.roiHeads);
  }

  /**
   * How images become the model's input, in training and at test time alike
   * (detectron2's preprocess_image): normalised by the pixel mean and std,
   * zero-padded at the bottom/right. Training batches are padded to
   * `input.square_pad`; test batches to it as well when it holds the test
   * size (ViTDet's fixed square), else to the batch's size rounded up to
   * `input.size_divisibility`. Images arrive resized (see data/transforms).
   */
  preprocess(images: HostImage[], mode: 'train' | 'test' = this.training ? 'train' : 'test'): ImageList {
    return toImageList(images, detectorPadding(this.input, mode));
  }

  get numClasses(): number {
    return this.cfg.roi_heads.num_classes;
  }

  /** Training: the named losses of one batch (call inside tf.variableGrads). */
  losses(images: ImageList, gt: GtInstances[]): Map<string, Tensor> {
    const features = this.backbone.features(images.tensor);
    const { proposals, losses } = this.proposal_generator.forward(features, images.sizes, gt);
    for (const [k, v] of this.roi_heads.forward(features, proposals, images.sizes, gt)) losses.set(k, v);
    return losses;
  }

  /**
   * Inference: detections per image in the (unpadded) input frame. Each
   * stage runs in its own scope, so only the pyramid outlives its stage: at
   * 1024² with a base backbone one scope around everything held ~3 GB.
   * `onStageDone` is told as each stage ends (for timing). The ROI heads'
   * dense steps run on `runner` (default: tfjs).
   */
  async detect(images: ImageList, onStageDone?: (stage: 'backbone' | 'rpn' | 'roi_heads') => void, runner?: RoiHeadRunner): Promise<Detections[]> {
    const features = memoryStage('backbone', () => this.features(images));
    try {
      onStageDone?.('backbone');
      let proposals: Proposals[] = [];
      memoryStage('rpn', () =>
        tf.tidy(() => {
          proposals = this.proposal_generator.forward(features, images.sizes).proposals;
        }),
      );
      onStageDone?.('rpn');
      const out = await memoryStageAsync('roi heads', () => this.roi_heads.infer(proposals, images.sizes, runner ?? this.roi_heads.tfjsRunner(features)));
      onStageDone?.('roi_heads');
      return out;
    } finally {
      for (const f of features.values()) f.dispose();
    }
  }

  /**
   * Inference from the dense stages' outputs when another engine computed
   * them (the pyramid and the RPN head's outputs per level; see
   * tasks/detection/stages.ts): proposals, ROI heads, detections. The
   * caller owns (and disposes) the tensors it passes.
   */
  detectFromDense(levels: LevelShapes, rpnHeads: { logits: Tensor; deltas: Tensor }[], imageSizes: [number, number][], runner: RoiHeadRunner): Promise<Detections[]> {
    const proposals = this.proposal_generator.proposalsFrom(levels, rpnHeads, imageSizes);
    return this.roi_heads.infer(proposals, imageSizes, runner);
  }

  /** The feature pyramid of a batch; the backbone's intermediates are freed (the caller disposes the maps). */
  features(images: ImageList): FeatureMaps {
    const maps = tf.tidy(() => Object.fromEntries(this.backbone.features(images.tensor)));
    return new Map(Object.entries(maps));
  }

}

/** The padding of a detector's batches (see `GeneralizedRCNN.preprocess`). */
export function detectorPadding(input: InputConfig, mode: 'train' | 'test'): PadOptions {
  const squarePad = mode === 'train' || input.square_pad >= input.test_size ? input.square_pad : 0;
  return { pixelMean: input.pixel_mean, pixelStd: input.pixel_std, squarePad, sizeDivisibility: input.size_divisibility };
}

/** A detector with trained weights (a densekit checkpoint or weights file), in eval mode. */
export function loadDetector(cfg: DetectorConfig, input: InputConfig, weightsPath: string): GeneralizedRCNN {
  // Full weights replace every parameter: neither read the backbone's pretrained weights nor draw random ones.
  const model = withoutInitDraws(() => new GeneralizedRCNN({ ...cfg, backbone: { ...cfg.backbone, pretrained: null } }, input, 0));
  return loadTrainedWeights(model, weightsPath).eval();
}
