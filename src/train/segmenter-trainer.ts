import type { SegmenterRunConfig } from '../config/schema.js';
import { DensekitError } from '../util/errors.js';
import type { TrainOptions, TrainResult } from './trainer.js';

/** Train a Mask2Former semantic segmenter (wired in segmentation/train). */
export async function trainSegmenter(cfg: SegmenterRunConfig, opts: TrainOptions): Promise<TrainResult> {
  const { trainSemantic } = await import('../segmentation/train.js').catch(() => {
    throw new DensekitError('semantic segmentation training is not available yet', { key: 'model.arch' });
  });
  return trainSemantic(cfg, opts);
}
