import type { Tensor } from '../../engine/tf.js';
import type { Mask2Former } from '../../segmentation/mask2former.js';

/**
 * A segmenter's dense stage as a pure tensor function: what an accelerator
 * runs and what an inference engine traces into a graph (one per crop
 * size). Resizing, sliding-window stitching and the arg-max stay on the
 * host, shared by both engines.
 */
export interface SegmenterStages {
  /**
   * A normalised crop [B, H, W, 3] (H, W multiples of 32) → per query the
   * class logits [B, Q, K+1] (no-object last) and mask logits [B, Q, H/4, W/4].
   */
  queries(crop: Tensor): { classLogits: Tensor; maskLogits: Tensor };
  /** A normalised crop → per-pixel class scores [B, H, W, K] (queries, mask upsampling, class-weighted sum). */
  scores(crop: Tensor): Tensor;
}

export function segmenterStages(model: Mask2Former): SegmenterStages {
  return {
    queries(crop) {
      const p = model.queryOutputs(crop);
      return { classLogits: p.logits, maskLogits: p.masks };
    },
    scores: (crop) => model.semanticScores(crop),
  };
}
