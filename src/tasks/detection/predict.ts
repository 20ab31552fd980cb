import type { InputConfig } from '../../config/schema.js';
import type { ImageInput } from '../inputs.js';
import type { HostImage } from '../../io/rgb-image.js';
import { DensekitError } from '../../util/errors.js';
import { skipReason } from '../results-log.js';
import { loadRgb } from '../../io/rgb-image.js';
import { applyToImage, testGeometry } from '../../data/transforms.js';
import type { GeneralizedRCNN } from '../../detection/rcnn.js';
import { toCocoResults, type CocoDetection } from '../../detection/postprocess.js';
import type { Detections } from '../../structures/instances.js';
import type { DetectorEngine } from './onnx-engine.js';


export interface PredictOptions {
  categoryIds: readonly number[];
  /** Drop results below this score (after NMS). */
  scoreThreshold?: number;
  batchSize?: number;
  onImage?: (done: number, total: number) => void;
  /** What runs the dense stages (default: the model itself, on tfjs). */
  engine?: DetectorEngine;
}

export interface PredictOutput {
  results: CocoDetection[];
  failed: { file: string; reason: string }[];
}

/** Run the detector on in-memory images; results in each image's own frame. */
export async function detectImages(model: GeneralizedRCNN, images: { image: HostImage; imageId: number }[], input: InputConfig, o: PredictOptions): Promise<CocoDetection[]> {
  const results: CocoDetection[] = [];
  const bs = o.batchSize ?? 1;
  for (let i = 0; i < images.length; i += bs) {
    const chunk = images.slice(i, i + bs);
    const resized = await Promise.all(chunk.map(({ image }) => applyToImage(image, testGeometry(image.height, image.width, input.test_size))));
    const list = model.preprocess(resized, 'test');
    let dets: Detections[];
    try {
      dets = o.engine ? await o.engine.detect(list) : await model.detect(list);
    } finally {
      list.tensor.dispose();
    }
    dets.forEach((d, k) => {
      const { image, imageId } = chunk[k]!;
      const coco = toCocoResults(d, {
        imageId,
        inputSize: [resized[k]!.height, resized[k]!.width],
        originalSize: [image.height, image.width],
        categoryIds: o.categoryIds,
        maskThreshold: model.cfg.test.mask_threshold,
        masknessRescore: model.cfg.test.maskness_rescore,
      });
      for (const r of coco) if (r.score >= (o.scoreThreshold ?? 0)) results.push(r);
    });
    o.onImage?.(Math.min(i + bs, images.length), images.length);
  }
  return results;
}

/** One image file's detections, or why it could not be read. */
export type FileOutcome = { results: CocoDetection[] } | { failed: string };

/**
 * Run the detector on one image file. A file that is missing or cannot be
 * decoded is reported (`failed`), not thrown.
 */
export async function predictFile(model: GeneralizedRCNN, item: ImageInput, input: InputConfig, o: PredictOptions): Promise<FileOutcome> {
  let image: HostImage;
  try {
    image = await loadRgb(item.file);
  } catch (err) {
    // The reason without the file in front: whoever reports it names the file beside it.
    return { failed: err instanceof DensekitError ? skipReason(item.file, err.message) : String(err) };
  }
  return { results: await detectImages(model, [{ image, imageId: item.imageId }], input, { ...o, onImage: undefined }) };
}

/**
 * Run the detector on image files. Files that are missing or cannot be
 * decoded are reported (by name) and skipped; the others are processed.
 */
export async function predictFiles(model: GeneralizedRCNN, inputs: ImageInput[], input: InputConfig, o: PredictOptions): Promise<PredictOutput> {
  const results: CocoDetection[] = [];
  const failed: { file: string; reason: string }[] = [];
  let done = 0;
  for (const item of inputs) {
    const r = await predictFile(model, item, input, o);
    if ('failed' in r) failed.push({ file: item.file, reason: r.failed });
    else results.push(...r.results);
    o.onImage?.(++done, inputs.length);
  }
  return { results, failed };
}
