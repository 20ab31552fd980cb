import { readdirSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { SemanticEvaluator, type SemanticMetrics } from '@densekit/eval';
import type { SegmenterRunConfig } from '../../config/schema.js';
import type { SemanticDataset } from '../../data/semantic-dataset.js';
import { ADE20K_CLASSES } from '../../data/ade20k-classes.js';
import { readLabelMap } from '../../io/image.js';
import { loadRgb } from '../../io/rgb-image.js';
import type { Mask2Former } from '../../segmentation/mask2former.js';
import type { TaskEvaluation } from '../../train/task.js';
import { DensekitError } from '../../util/errors.js';
import { progress } from '../../util/progress.js';
import { predictSemantic } from './predict.js';

export interface SemanticEvalReport {
  aAcc: number;
  mIoU: number;
  mAcc: number;
  images: number;
  perClass: { name: string; iou: number | null; acc: number | null }[];
}

/** Run the segmenter over a dataset: per-class and mean IoU / accuracy as mmseg. */
export async function evaluateSemantic(model: Mask2Former, ds: SemanticDataset, cfg: SegmenterRunConfig, onImage?: (done: number, total: number) => void): Promise<SemanticMetrics & { images: number }> {
  const wasTraining = model.training;
  model.eval();
  try {
    const ev = new SemanticEvaluator({ numClasses: cfg.model.head.num_classes, reduceZeroLabel: ds.reduceZeroLabel });
    for (const r of ds.records) {
      const [img, lab] = await Promise.all([loadRgb(r.image), readLabelMap(r.annotation)]);
      ev.add(predictSemantic(model, img, cfg.input, cfg.model.test), lab.data);
      onImage?.(ev.images, ds.records.length);
    }
    return { ...ev.metrics(), images: ev.images };
  } finally {
    model.train(wasTraining);
  }
}

/** Score a folder of predicted label PNGs against a folder of annotation PNGs (same names). */
export async function evaluateSemanticDirs(gtDir: string, predDir: string, numClasses: number, reduceZeroLabel: boolean): Promise<SemanticEvalReport> {
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
  return semanticReport({ ...ev.metrics(), images: ev.images }, numClasses);
}

/** Metrics as a report: NaN becomes null, classes get ADE20K names when there are 150. */
export function semanticReport(m: SemanticMetrics & { images: number }, numClasses: number): SemanticEvalReport {
  const nn = (v: number) => (Number.isNaN(v) ? null : v);
  return {
    aAcc: m.aAcc,
    mIoU: m.mIoU,
    mAcc: m.mAcc,
    images: m.images,
    perClass: Array.from(m.iou, (v, c) => ({ name: numClasses === 150 ? ADE20K_CLASSES[c]! : `class ${c}`, iou: nn(v), acc: nn(m.acc[c]!) })),
  };
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
