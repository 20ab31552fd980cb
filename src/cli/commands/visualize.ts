import type { Command } from 'commander';
import { readdirSync } from 'node:fs';
import { join, extname, basename } from 'node:path';
import { Coco, readJson } from '@densekit/eval';
import { DensekitError } from '../../util/errors.js';
import { writeFileAtomic } from '../../util/atomic-write.js';
import { loadRgb } from '../../io/rgb-image.js';
import { readLabelMap } from '../../io/image.js';
import { reduceZeroLabel } from '@densekit/eval';
import { visualizeCoco } from '../../vis/visualize-coco.js';
import { drawSemanticOverlay } from '../../vis/semantic-overlay.js';
import { writeReport } from '../../vis/report.js';
import { ADE20K_CLASSES } from '../../data/ade20k-classes.js';
import type { CocoDetection } from '../../detection/postprocess.js';
import { progress } from '../../util/progress.js';
import { action } from '../run-action.js';
import { parseCount, parseScore } from '../option-values.js';

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
}

async function semantic(o: VisOpts): Promise<void> {
  if (!o.predDir) throw new DensekitError('--semantic needs --pred-dir');
  const names = readdirSync(o.predDir)
    .filter((n) => n.toLowerCase().endsWith('.png'))
    .sort()
    .slice(0, o.limit);
  if (names.length === 0) throw new DensekitError('no .png label maps found', { file: o.predDir });
  const imageFiles = new Map(readdirSync(o.images).map((f) => [basename(f, extname(f)), f]));
  const bar = progress('visualize', names.length);
  for (const n of names) {
    const stem = basename(n, '.png');
    const imgFile = imageFiles.get(stem);
    if (!imgFile) throw new DensekitError(`no image for label map ${n}`, { file: o.images });
    const img = await loadRgb(join(o.images, imgFile));
    const pred = await readLabelMap(join(o.predDir, n));
    if (pred.width !== img.width || pred.height !== img.height) throw new DensekitError(`label map is ${pred.width}x${pred.height}, image ${img.width}x${img.height}`, { file: join(o.predDir, n) });
    const png = drawSemanticOverlay(img, pred.data, { classNames: ADE20K_CLASSES });
    if (o.gtDir) {
      const gt = await readLabelMap(join(o.gtDir, n));
      const labels = o.reduceZeroLabel ? gt.data.map(reduceZeroLabel) : gt.data;
      const gtPng = drawSemanticOverlay(img, labels, { classNames: ADE20K_CLASSES });
      writeFileAtomic(join(o.out, `${stem}_gt.png`), gtPng);
    }
    writeFileAtomic(join(o.out, `${stem}.png`), png);
    bar.tick();
  }
  bar.stop();
  process.stdout.write(`wrote ${names.length} overlays to ${o.out}\n`);
}

export function registerVisualize(program: Command): void {
  program
    .command('visualize')
    .description('draw predictions over images (instances from a COCO results file, or semantic label maps)')
    .requiredOption('--images <dir>', 'folder of the images')
    .option('--dt <file>', 'COCO results JSON')
    .option('--gt <file>', 'COCO GT file: names, image files, and GT vs prediction with misses / false positives')
    .option('-o, --out <dir>', 'output folder', 'out/visualize')
    .option('--score-thr <x>', 'hide detections below this score (0 to 1)', parseScore, 0.3)
    .option('--limit <n>', 'at most this many images', parseCount)
    .option('--semantic', 'semantic mode: overlay label PNGs (--pred-dir, optional --gt-dir)', false)
    .option('--pred-dir <dir>', 'predicted label PNGs (semantic mode)')
    .option('--gt-dir <dir>', 'annotation PNGs (semantic mode)')
    .option('--reduce-zero-label', 'annotations use ADE20K raw values (0 = ignore)', false)
    .action(
      action(async (o: VisOpts) => {
        if (o.semantic) return semantic(o);
        if (!o.dt) throw new DensekitError('--dt is required (or --semantic)');
        const results = readJson(o.dt);
        if (!Array.isArray(results)) throw new DensekitError('not a COCO results list', { file: o.dt });
        const gt = o.gt ? Coco.fromFile(o.gt) : undefined;
        // Validate the results against the GT (unknown image ids are errors naming the entry).
        if (gt && results.length > 0) gt.loadRes(results, o.dt);
        const files = await visualizeCoco({ imagesDir: o.images, results: results as CocoDetection[], gt, outDir: o.out, scoreThreshold: o.scoreThr, limit: o.limit });
        process.stdout.write(`wrote ${files.length} images to ${o.out}\n`);
      }),
    );
  program
    .command('report')
    .description('write a self-contained HTML report of a training run (metrics, curves, gallery)')
    .requiredOption('--run <dir>', 'the run folder (where config.yaml and metrics.jsonl are)')
    .option('--limit <n>', 'gallery size', parseCount, 12)
    .action(
      action(async (o: { run: string; limit: number }) => {
        const index = await writeReport(o.run, { limit: o.limit });
        process.stdout.write(`report: ${index}\n`);
      }),
    );
}
