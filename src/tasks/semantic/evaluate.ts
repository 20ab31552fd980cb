import { readdirSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { SemanticEvaluator, type SemanticMetrics } from '@densekit/eval';
import type { SegmenterRunConfig } from '../../config/schema.js';
import type { SemanticDataset } from '../../data/semantic-dataset.js';
import { checkClassCount, className, NO_CLASS_NAMES, type ClassNames } from '../../data/class-names.js';
import { readLabelMap } from '../../io/image.js';
import { loadRgb } from '../../io/rgb-image.js';
import type { Mask2Former } from '../../segmentation/mask2former.js';
import type { TaskEvaluation } from '../../train/task.js';
import { DensekitError } from '../../util/errors.js';
import { progress } from '../../util/progress.js';
import { predictSemantic } from './predict.js';
import type { SegmenterEngine } from './onnx-engine.js';

export interface SemanticEvalReport {
  aAcc: number;
  mIoU: number;
  mAcc: number;
  images: number;
  perClass: { name: string; iou: number | null; acc: number | null }[];
}

/** Run the segmenter over a dataset: per-class and mean IoU / accuracy as mmseg. */
export async function evaluateSemantic(
  model: Mask2Former,
  ds: SemanticDataset,
  cfg: SegmenterRunConfig,
  onImage?: (done: number, total: number) => void,
  engine?: SegmenterEngine,
): Promise<SemanticMetrics & { images: number; classNames: ClassNames }> {
  // Names that do not fit the model's classes are refused before any image is run.
  checkClassCount(ds.classNames, cfg.model.head.num_classes, 'model.head.num_classes');
  const wasTraining = model.training;
  model.eval();
  try {
    const ev = new SemanticEvaluator({ numClasses: cfg.model.head.num_classes, reduceZeroLabel: ds.reduceZeroLabel });
    for (const r of ds.records) {
      const [img, lab] = await Promise.all([loadRgb(r.image), readLabelMap(r.annotation)]);
      ev.add(await predictSemantic(model, img, cfg.input, cfg.model.test, engine), lab.data);
      onImage?.(ev.images, ds.records.length);
    }
    return { ...ev.metrics(), images: ev.images, classNames: ds.classNames };
  } finally {
    model.train(wasTraining);
  }
}

/** Score a folder of predicted label PNGs against a folder of annotation PNGs (same names); rows named by `classNames`. */
export async function evaluateSemanticDirs(gtDir: string, predDir: string, numClasses: number, reduceZeroLabel: boolean, classNames: ClassNames = NO_CLASS_NAMES): Promise<SemanticEvalReport> {
  let names: string[];
  try {
    names = readdirSync(gtDir).filter((n) => n.toLowerCase().endsWith('.png')).sort();
  } catch (err) {
    throw new DensekitError(`cannot list annotations (${(err as NodeJS.ErrnoException).code})`, { file: gtDir });
  }
  if (names.length === 0) throw new DensekitError('no .png annotations found', { file: gtDir });
  for (const n of names) {
    try {
      statSync(join(predDir, n));
    } catch {
      throw new DensekitError(`no prediction for annotation ${n}`, { file: join(predDir, n) });
    }
  }
  const ev = new SemanticEvaluator({ numClasses, reduceZeroLabel, ignoreIndex: 255 });
  const bar = progress('eval ade20k', names.length);
  for (const n of names) {
    const [gt, pred] = await Promise.all([readLabelMap(join(gtDir, n)), readLabelMap(join(predDir, n))]);
    if (gt.width !== pred.width || gt.height !== pred.height) {
      throw new DensekitError(`prediction is ${pred.width}x${pred.height}, annotation ${basename(n)} is ${gt.width}x${gt.height}`, { file: join(predDir, n) });
    }
    ev.add(pred.data, gt.data);
    bar.tick();
  }
  bar.stop();
  return semanticReport({ ...ev.metrics(), images: ev.images, classNames }, numClasses);
}

/**
 * Metrics as a report: NaN becomes null; each class is named by the names
 * that came with the metrics (the data's, see data/class-names.ts), else `class <id>`.
 */
export function semanticReport(m: SemanticMetrics & { images: number; classNames?: ClassNames }, numClasses: number): SemanticEvalReport {
  const names = m.classNames ?? NO_CLASS_NAMES;
  const nn = (v: number) => (Number.isNaN(v) ? null : v);
  return {
    aAcc: m.aAcc,
    mIoU: m.mIoU,
    mAcc: m.mAcc,
    images: m.images,
    perClass: Array.from({ length: numClasses }, (_, c) => ({ name: className(names, c), iou: nn(m.iou[c]!), acc: nn(m.acc[c]!) })),
  };
}

/** The same report with its classes named by `names` (a `--classes` file given to a command). */
export function renameClasses(r: SemanticEvalReport, names: ClassNames): SemanticEvalReport {
  return { ...r, perClass: r.perClass.map((c, id) => ({ ...c, name: className(names, id) })) };
}

function pct(v: number | null): string {
  return v === null || Number.isNaN(v) ? 'nan' : (Math.round(v * 10000) / 100).toFixed(2);
}

/** mmseg-style per-class table and summary. */
export function formatSemanticReport(r: SemanticEvalReport): string {
  const w = Math.max(5, ...r.perClass.map((c) => c.name.length));
  const lines = [`| ${'Class'.padEnd(w)} |   IoU  |   Acc  |`, `|${'-'.repeat(w + 2)}|--------|--------|`];
  for (const c of r.perClass) lines.push(`| ${c.name.padEnd(w)} | ${pct(c.iou).padStart(6)} | ${pct(c.acc).padStart(6)} |`);
  lines.push('', `aAcc: ${pct(r.aAcc)}  mIoU: ${pct(r.mIoU)}  mAcc: ${pct(r.mAcc)}  (${r.images} images)`);
  return `${lines.join('\n')}\n`;
}

/** A segmenter's evaluation as the training loop and the CLI report it. */
export function semanticEvaluation(r: SemanticEvalReport): TaskEvaluation {
  const scalars = { mIoU: r.mIoU, mAcc: r.mAcc, aAcc: r.aAcc };
  return { scalars, record: scalars, files: {}, summary: formatSemanticReport(r), report: r };
}
