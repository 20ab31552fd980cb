import type { Command } from 'commander';
import { readdirSync, statSync } from 'node:fs';
import { join, basename } from 'node:path';
import { Coco, CocoEval, SemanticEvaluator, type IouType, type SemanticMetrics } from '@densekit/eval';
import { DensekitError } from '../../util/errors.js';
import { writeFileAtomic } from '../../util/atomic-write.js';
import { readLabelMap } from '../../io/image.js';
import { progress } from '../../util/progress.js';
import { ADE20K_CLASSES } from '../../data/ade20k-classes.js';
import { action } from '../run-action.js';
import { collect } from './config.js';
import { loadConfig } from '../../config/index.js';
import { requireDetector } from '../require-arch.js';
import { initBackend, describeBackend } from '../../engine/backend.js';
import { loadDetector } from '../../detection/rcnn.js';
import { loadCocoDataset } from '../../data/coco-dataset.js';
import { evaluateDetector } from '../../train/evaluate.js';
import { isSegmenterConfig } from '../../config/schema.js';
import { loadSemanticDataset } from '../../data/semantic-dataset.js';
import { loadSegmenter } from '../../segmentation/mask2former.js';
import { evaluateSemantic } from '../../segmentation/train.js';

export interface CocoEvalReport {
  iouType: IouType;
  stats: number[];
  perCategory: { categoryId: number; ap: number | null; ap50: number | null; ap75: number | null }[];
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
  return { iouType, stats: E.stats, perCategory: E.perCategory(), summary: E.summaryText, unknownCategoryResults: dt.unknownCategoryResults };
}

export interface SemanticEvalReport {
  aAcc: number;
  mIoU: number;
  mAcc: number;
  images: number;
  perClass: { name: string; iou: number | null; acc: number | null }[];
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

/** The JSON form of a report (fractions, null for NaN). */
function semanticJson(r: SemanticEvalReport): string {
  return `${JSON.stringify({ aAcc: r.aAcc, mIoU: r.mIoU, mAcc: r.mAcc, images: r.images, perClass: r.perClass }, null, 2)}\n`;
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

export function registerEval(program: Command): void {
  const cmd = program.command('eval').description('evaluate results (COCO bbox/segm, ADE20K semantic) or a model');
  cmd
    .command('coco')
    .description('COCO evaluation identical to pycocotools (prints its summary)')
    .requiredOption('--gt <file>', 'ground-truth COCO instances JSON')
    .requiredOption('--dt <file>', 'results JSON (list of detections)')
    .option('--iou-type <type>', 'bbox or segm', 'bbox')
    .option('--json <file>', 'also write {stats, perCategory, ...} as JSON')
    .action(
      action((opts: { gt: string; dt: string; iouType: string; json?: string }) => {
        if (opts.iouType !== 'bbox' && opts.iouType !== 'segm') throw new DensekitError(`--iou-type must be bbox or segm, got ${opts.iouType}`);
        const report = evaluateCocoFiles(opts.gt, opts.dt, opts.iouType);
        if (report.unknownCategoryResults > 0) {
          process.stderr.write(`densekit: note: ${report.unknownCategoryResults} results name a category the GT lacks; they are ignored (as pycocotools does)\n`);
        }
        process.stdout.write(report.summary);
        if (opts.json) writeFileAtomic(opts.json, `${JSON.stringify(report, null, 2)}\n`);
      }),
    );
  cmd
    .command('ade20k')
    .description('semantic segmentation metrics as mmseg (aAcc, mIoU, mAcc, per class)')
    .requiredOption('--gt-dir <dir>', 'folder of annotation PNGs (raw ADE20K values)')
    .requiredOption('--pred-dir <dir>', 'folder of predicted label PNGs with the same names')
    .option('--num-classes <n>', 'number of classes', (v) => Number.parseInt(v, 10), 150)
    .option('--reduce-zero-label', 'raw 0 is ignored and k becomes k-1 (ADE20K)', false)
    .option('--json <file>', 'also write {aAcc, mIoU, mAcc, perClass} as JSON (fractions, null for NaN)')
    .action(
      action(async (opts: { gtDir: string; predDir: string; numClasses: number; reduceZeroLabel: boolean; json?: string }) => {
        if (!Number.isInteger(opts.numClasses) || opts.numClasses <= 0 || opts.numClasses > 255) throw new DensekitError('--num-classes must be an integer in 1..255');
        const report = await evaluateSemanticDirs(opts.gtDir, opts.predDir, opts.numClasses, opts.reduceZeroLabel);
        process.stdout.write(formatSemanticReport(report));
        if (opts.json) writeFileAtomic(opts.json, semanticJson(report));
      }),
    );
  cmd
    .command('model')
    .description('run a trained model on a dataset split of its config: COCO metrics for a detector, mIoU for a segmenter')
    .requiredOption('-c, --config <file>', 'model config (YAML)')
    .requiredOption('-w, --weights <file>', 'trained weights (.safetensors)')
    .option('--split <name>', 'data split of the config (val or train)', 'val')
    .option('--json <file>', 'also write the metrics as JSON')
    .option('--set <key=value...>', 'override a config key (repeatable)', collect, [])
    .action(
      action(async (opts: { config: string; weights: string; split: string; json?: string; set: string[] }) => {
        const { config: loaded } = loadConfig(opts.config, opts.set);
        const { stages: _stages, ...config } = loaded;
        if (opts.split !== 'val' && opts.split !== 'train') throw new DensekitError(`--split must be val or train, got ${opts.split}`);
        const d = config.data[opts.split];
        if (!d) throw new DensekitError(`the config has no data.${opts.split}`, { file: opts.config, key: `data.${opts.split}` });
        if (isSegmenterConfig(config)) {
          if (d.format !== 'ade20k') throw new DensekitError('a Mask2Former config needs data in the ade20k layout', { file: opts.config, key: `data.${opts.split}.format` });
          const dataset = loadSemanticDataset(d.images, d.annotations, d.reduce_zero_label);
          process.stderr.write(`${describeBackend(await initBackend())}\n`);
          const model = loadSegmenter(config.model, config.input, opts.weights);
          const bar = progress('eval', dataset.records.length);
          const report = semanticReport(await evaluateSemantic(model, dataset, config, () => bar.tick()), config.model.head.num_classes);
          bar.stop();
          process.stdout.write(formatSemanticReport(report));
          if (opts.json) writeFileAtomic(opts.json, semanticJson(report));
          return;
        }
        const detector = requireDetector(loaded, opts.config);
        process.stderr.write(`${describeBackend(await initBackend())}\n`);
        const dataset = loadCocoDataset(d.annotations, d.images);
        const model = loadDetector(detector.model, detector.input, opts.weights);
        const bar = progress('eval', dataset.records.length);
        const { metrics } = await evaluateDetector(model, dataset, detector.input, () => bar.tick());
        bar.stop();
        for (const [t, text] of Object.entries(metrics.summary)) process.stdout.write(`${t}:\n${text}`);
        if (opts.json) writeFileAtomic(opts.json, `${JSON.stringify(metrics, null, 2)}\n`);
      }),
    );
}
