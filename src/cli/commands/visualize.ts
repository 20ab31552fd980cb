import type { Command } from 'commander';
import { Coco, readJson } from '@densekit/eval';
import { DensekitError } from '../../util/errors.js';
import { visualizeCoco } from '../../vis/visualize-coco.js';
import { visualizeSemantic } from '../../vis/visualize-semantic.js';
import { writeReport } from '../../vis/report.js';
import { noClassNamesNote, resolveClassNames } from '../../data/class-names.js';
import { progress } from '../../util/progress.js';
import { action, reportSkipped } from '../run-action.js';
import { parseCount, parseScore } from '../option-values.js';
import type { SkippedImage } from '../../tasks/task.js';

interface VisOpts {
  images: string;
  dt?: string;
  gt?: string;
  out: string;
  scoreThr: number;
  limit?: number;
  semantic: boolean;
  predDir?: string;
  gtDir?: string;
  reduceZeroLabel: boolean;
  classes?: string;
}

async function semantic(o: VisOpts): Promise<void> {
  if (!o.predDir) throw new DensekitError('--semantic needs --pred-dir');
  const dataDirs = [o.gtDir, o.images];
  const classNames = resolveClassNames({ file: o.classes, dataDirs, labelMaps: true });
  if (classNames.source === undefined) process.stderr.write(`densekit: note: ${noClassNamesNote(dataDirs)}\n`);
  let bar: ReturnType<typeof progress> | undefined;
  const { files, skipped, total } = await visualizeSemantic({
    imagesDir: o.images,
    predDir: o.predDir,
    gtDir: o.gtDir,
    reduceZeroLabel: o.reduceZeroLabel,
    classNames,
    outDir: o.out,
    limit: o.limit,
    onImage: (done, total) => (bar ??= progress('visualize', total)).tick(),
  });
  bar?.stop();
  process.stdout.write(`wrote ${files.length} overlays to ${o.out}\n`);
  reportSkipped(skipped, total);
}

async function instances(o: VisOpts): Promise<void> {
  if (!o.dt) throw new DensekitError('--dt is required (or --semantic)');
  const results = readJson(o.dt);
  const gt = o.gt ? Coco.fromFile(o.gt) : undefined;
  const classNames = resolveClassNames({ file: o.classes, categories: gt?.dataset.categories, categoriesSource: gt?.source, dataDirs: [o.images] });
  if (classNames.source === undefined) process.stderr.write(`densekit: note: ${noClassNamesNote([o.images])}\n`);
  let bar: ReturnType<typeof progress> | undefined;
  const { files, skipped, total } = await visualizeCoco({
    imagesDir: o.images,
    results,
    resultsFile: o.dt,
    gt,
    classNames,
    outDir: o.out,
    scoreThreshold: o.scoreThr,
    limit: o.limit,
    onImage: (done, total) => (bar ??= progress('visualize', total)).tick(),
  });
  bar?.stop();
  process.stdout.write(`wrote ${files.length} images to ${o.out}\n`);
  reportSkipped(skipped, total);
}

export function registerVisualize(program: Command): void {
  program
    .command('visualize')
    .description('draw predictions over images (instances from a COCO results file, or semantic label maps)')
    .requiredOption('--images <dir>', 'folder of the images')
    .option('--dt <file>', 'COCO results JSON (boxes and/or masks)')
    .option('--gt <file>', 'COCO GT file: names, image files, and GT vs prediction with misses / false positives; without it, image ids are matched to files as predict numbers them')
    .option('-o, --out <dir>', 'output folder', 'out/visualize')
    .option('--score-thr <x>', 'hide detections below this score (0 to 1)', parseScore, 0.3)
    .option('--limit <n>', 'at most this many images', parseCount)
    .option('--semantic', 'semantic mode: overlay label PNGs (--pred-dir, optional --gt-dir)', false)
    .option('--pred-dir <dir>', 'predicted label PNGs (semantic mode)')
    .option('--gt-dir <dir>', 'annotation PNGs (semantic mode)')
    .option('--reduce-zero-label', 'annotations use ADE20K raw values (0 = ignore)', false)
    .option('--classes <file>', "class names (JSON list, COCO categories, or .txt one per line); default: the GT's categories, else the data's classes.json")
    .action(action(async (o: VisOpts) => (o.semantic ? semantic(o) : instances(o))));
  program
    .command('report')
    .description('write a self-contained HTML report of a training run (metrics, curves, gallery)')
    .requiredOption('--run <dir>', 'the run folder (where config.yaml and metrics.jsonl are)')
    .option('--limit <n>', 'gallery size', parseCount, 12)
    .option('--classes <file>', "class names for the gallery (as visualize's --classes); default: the validation GT's categories")
    .action(
      action(async (o: { run: string; limit: number; classes?: string }) => {
        let gallerySkipped: { skipped: SkippedImage[]; total: number } = { skipped: [], total: 0 };
        const index = await writeReport(o.run, { limit: o.limit, classesFile: o.classes, onSkipped: (skipped, total) => (gallerySkipped = { skipped, total }) });
        process.stdout.write(`report: ${index}\n`);
        reportSkipped(gallerySkipped.skipped, gallerySkipped.total, 'gallery images');
      }),
    );
}
