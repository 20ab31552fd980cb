import type { Tensor } from '../../engine/tf.js';
import type { FeatureMaps } from '../../backbone/simple-feature-pyramid.js';
import type { GeneralizedRCNN } from '../../detection/rcnn.js';
import type { BoxArray } from '../../structures/boxes.js';

/**
 * A detector's dense stages as pure tensor functions: what an accelerator
 * runs and what an inference engine traces into graphs, one graph per
 * stage. Between them run the data-dependent host steps (anchor decoding,
 * top-k, NMS / Soft-NMS, level assignment, cascade refinement, mask
 * pasting), which both engines share. The model's own training and
 * inference call these same functions.
 */
export interface DetectorStages {
  /** Normalised, padded batch [B, H, W, 3] → the pyramid maps by level name (p2 … p6). */
  pyramid(images: Tensor): FeatureMaps;
  /** Pyramid → per RPN level, in level order: objectness logits [B, H*W*A] and anchor deltas [B, H*W*A, 4]. */
  rpn(pyramid: FeatureMaps): { logits: Tensor; deltas: Tensor }[];
  /** How many box heads run in turn: 1 for Mask R-CNN, the stage count for Cascade. */
  readonly boxStages: number;
  /**
   * Pyramid + boxes ([R * 4] x1 y1 x2 y2 in the padded input frame, each with
   * its image's index in the batch) → box head `k`'s class scores [R, K+1]
   * (background last) and deltas [R, 4K], or [R, 4] for a cascade stage.
   */
  boxHead(pyramid: FeatureMaps, k: number, boxes: BoxArray, batchIndex: Int32Array): { scores: Tensor; deltas: Tensor };
  /** Pyramid + boxes + each box's class → mask logits of that class [R, M, M]; undefined when the model has no mask head. */
  maskHead?: (pyramid: FeatureMaps, boxes: BoxArray, batchIndex: Int32Array, classes: Int32Array) => Tensor;
}

export function detectorStages(model: GeneralizedRCNN): DetectorStages {
  const roi = model.roi_heads;
  return {
    pyramid: (images) => model.backbone.features(images),
    rpn: (pyramid) => model.proposal_generator.headOutputs(pyramid),
    boxStages: roi.numBoxStages,
    boxHead: (pyramid, k, boxes, batchIndex) => roi.boxStage(k, pyramid, boxes, batchIndex),
    maskHead: roi.mask_head ? (pyramid, boxes, batchIndex, classes) => roi.maskLogits(pyramid, boxes, batchIndex, classes) : undefined,
  };
}
