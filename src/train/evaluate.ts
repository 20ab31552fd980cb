import { Coco, CocoEval, type IouType } from '@densekit/eval';
import type { InputConfig } from '../config/schema.js';
import type { DetectionDataset } from '../data/coco-dataset.js';
import type { GeneralizedRCNN } from '../detection/rcnn.js';
import { predictFiles } from '../detection/predict.js';
import type { CocoDetection } from '../detection/postprocess.js';

export interface DetectionMetrics {
  /** The 12 COCO numbers per iou type (all -1 / 0 when there were no detections). */
  bbox: number[];
  segm?: number[];
  summary: Record<string, string>;
  numDetections: number;
}

/** COCO evaluation of results against an annotation file; empty results score 0 instead of erroring. */
export function cocoMetrics(gtFile: string, results: CocoDetection[], iouTypes: IouType[]): { stats: Record<string, number[]>; summary: Record<string, string> } {
  const gt = Coco.fromFile(gtFile);
  const stats: Record<string, number[]> = {};
  const summary: Record<string, string> = {};
  for (const t of iouTypes) {
    if (results.length === 0) {
      stats[t] = new Array(12).fill(0);
      summary[t] = '(no detections)\n';
      continue;
    }
    const rows = t === 'segm' ? results.filter((r) => r.segmentation).map(({ bbox: _b, ...r }) => r) : results.map(({ segmentation: _s, ...r }) => r);
    const E = new CocoEval(gt, gt.loadRes(rows, 'predictions'), t);
    E.evaluate();
    E.accumulate();
    stats[t] = E.summarize();
    summary[t] = E.summaryText;
  }
  return { stats, summary };
}

/** Run the detector over a dataset's images and evaluate bbox (and segm when masks are predicted). */
export async function evaluateDetector(model: GeneralizedRCNN, dataset: DetectionDataset, input: InputConfig, onImage?: (d: number, t: number) => void): Promise<{ metrics: DetectionMetrics; results: CocoDetection[] }> {
  const wasTraining = model.training;
  model.eval();
  try {
    const { results, failed } = await predictFiles(model, dataset.records.map((r) => ({ file: r.file, imageId: r.imageId })), input, { categoryIds: dataset.categoryIds, onImage });
    if (failed.length > 0) throw new Error(`could not read ${failed.length} evaluation images, e.g. ${failed[0]!.file}: ${failed[0]!.reason}`);
    const types: IouType[] = model.cfg.roi_heads.mask_on ? ['bbox', 'segm'] : ['bbox'];
    const { stats, summary } = cocoMetrics(dataset.annotationFile, results, types);
    return { metrics: { bbox: stats.bbox!, segm: stats.segm, summary, numDetections: results.length }, results };
  } finally {
    model.train(wasTraining);
  }
}
