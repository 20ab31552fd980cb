import { statSync } from 'node:fs';
import { Coco, CocoEval, type IouType } from '@densekit/eval';
import type { InputConfig } from '../../config/schema.js';
import type { DetectionDataset } from '../../data/coco-dataset.js';
import type { GeneralizedRCNN } from '../../detection/rcnn.js';
import type { CocoDetection } from '../../detection/postprocess.js';
import type { TaskEvaluation } from '../../train/task.js';
import { RUN_FILES, type EvalRecord } from '../../train/run-folder.js';
import { DensekitError } from '../../util/errors.js';
import { className, resolveClassNames, type ClassNames } from '../../data/class-names.js';
import { predictFile } from './predict.js';
import type { DetectorEngine } from './onnx-engine.js';

export interface DetectionMetrics {
  /** The 12 COCO numbers per iou type (all 0 when there were no detections). */
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

/** One category's APs, named as the data names it (see data/class-names.ts). */
export interface CategoryAp {
  categoryId: number;
  name: string;
  ap: number | null;
  ap50: number | null;
  ap75: number | null;
}

export interface CocoEvalReport {
  iouType: IouType;
  stats: number[];
  perCategory: CategoryAp[];
  summary: string;
  unknownCategoryResults: number;
}

/** Evaluate a results file against a GT file, pycocotools-identically. */
export function evaluateCocoFiles(gtPath: string, dtPath: string, iouType: IouType): CocoEvalReport {
  const gt = Coco.fromFile(gtPath);
  const dt = gt.loadResFile(dtPath);
  const E = new CocoEval(gt, dt, iouType);
  E.evaluate();
  E.accumulate();
  E.summarize();
  return { iouType, stats: E.stats, perCategory: namePerCategory(E.perCategory(), resolveClassNames({ categories: gt.dataset.categories, categoriesSource: gt.source })), summary: E.summaryText, unknownCategoryResults: dt.unknownCategoryResults };
}

/** Per-category APs with each category's name. */
export function namePerCategory(rows: readonly Omit<CategoryAp, 'name'>[], names: ClassNames): CategoryAp[] {
  return rows.map((r) => ({ categoryId: r.categoryId, name: className(names, r.categoryId), ap: r.ap, ap50: r.ap50, ap75: r.ap75 }));
}

/**
 * Every image a data set lists is a file that is there: a missing one is
 * named before any image is predicted (it would otherwise be found only
 * after the rest of the split has run).
 */
export function checkEvaluationImages(dataset: DetectionDataset): void {
  for (const r of dataset.records) {
    let isFile: boolean;
    try {
      isFile = statSync(r.file).isFile();
    } catch (err) {
      throw new DensekitError(`evaluation image listed in ${dataset.annotationFile} is not there (${(err as NodeJS.ErrnoException).code})`, { file: r.file });
    }
    if (!isFile) throw new DensekitError(`evaluation image listed in ${dataset.annotationFile} is not a file`, { file: r.file });
  }
}

/**
 * Run the detector over a dataset's images and evaluate bbox (and segm when
 * masks are predicted). A metric over part of a split is not the split's:
 * a missing image is refused before any is predicted, and the evaluation
 * stops at the first image that does not decode.
 */
export async function evaluateDetector(
  model: GeneralizedRCNN,
  dataset: DetectionDataset,
  input: InputConfig,
  onImage?: (d: number, t: number) => void,
  engine?: DetectorEngine,
): Promise<{ metrics: DetectionMetrics; results: CocoDetection[] }> {
  checkEvaluationImages(dataset);
  const wasTraining = model.training;
  model.eval();
  try {
    const results: CocoDetection[] = [];
    const total = dataset.records.length;
    let done = 0;
    for (const r of dataset.records) {
      const out = await predictFile(model, { file: r.file, imageId: r.imageId }, input, { categoryIds: dataset.categoryIds, engine });
      if ('failed' in out) throw new DensekitError(`could not read evaluation image ${r.file}: ${out.failed}`, { file: dataset.annotationFile });
      results.push(...out.results);
      onImage?.(++done, total);
    }
    const types: IouType[] = model.cfg.roi_heads.mask_on ? ['bbox', 'segm'] : ['bbox'];
    const { stats, summary } = cocoMetrics(dataset.annotationFile, results, types);
    return { metrics: { bbox: stats.bbox!, segm: stats.segm, summary, numDetections: results.length }, results };
  } finally {
    model.train(wasTraining);
  }
}

/** A detector's evaluation as the training loop and the CLI report it. */
export function detectionEvaluation(r: { metrics: DetectionMetrics; results: CocoDetection[] }): TaskEvaluation {
  const m = r.metrics;
  const record: EvalRecord = { bbox: m.bbox, ...(m.segm ? { segm: m.segm } : {}) };
  return {
    scalars: { bbox_AP: m.bbox[0]!, ...(m.segm ? { segm_AP: m.segm[0]! } : {}) },
    record,
    files: { [RUN_FILES.valPredictions]: JSON.stringify(r.results) },
    summary: Object.entries(m.summary).map(([k, v]) => `${k}:\n${v}`).join(''),
    report: m,
  };
}
