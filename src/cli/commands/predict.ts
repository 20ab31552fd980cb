import type { Command } from 'commander';
import { mkdirSync, readdirSync, statSync } from 'node:fs';
import { basename, join, extname } from 'node:path';
import { Coco } from '@densekit/eval';
import { loadConfig } from '../../config/index.js';
import { requireDetector } from '../require-arch.js';
import { initBackend, describeBackend } from '../../engine/backend.js';
import { loadDetector } from '../../detection/rcnn.js';
import { isSegmenterConfig, type SegmenterRunConfig } from '../../config/schema.js';
import { loadSegmenter } from '../../segmentation/mask2former.js';
import { predictSemantic } from '../../segmentation/semantic-predict.js';
import { loadRgb } from '../../data/image-io.js';
import { encodeLabelPng } from '../../io/image.js';
import { predictFiles, type PredictInput } from '../../detection/predict.js';
import { DensekitError } from '../../util/errors.js';
import { writeFileAtomic } from '../../util/atomic-write.js';
import { progress } from '../../util/progress.js';
import { action } from '../run-action.js';
import { collect } from './config.js';

const IMAGE_EXT = new Set(['.jpg', '.jpeg', '.png', '.webp', '.tif', '.tiff', '.bmp', '.gif']);

/** Image files named on the command line (folders are listed, non-images skipped). */
export function listImages(paths: string[]): string[] {
  const out: string[] = [];
  for (const p of paths) {
    let st;
    try {
      st = statSync(p);
    } catch {
      out.push(p); // reported as missing when read
      continue;
    }
    if (st.isDirectory()) {
      for (const f of readdirSync(p).sort()) if (IMAGE_EXT.has(extname(f).toLowerCase())) out.push(join(p, f));
    } else out.push(p);
  }
  return out;
}

/** image_id per file: from a GT file's file_name when given, else a number in the name, else the position. */
export function imageIds(files: string[], gt?: Coco): PredictInput[] {
  const byName = new Map<string, number>();
  if (gt) for (const im of gt.dataset.images) if (typeof im.file_name === 'string') byName.set(basename(im.file_name), im.id);
  return files.map((file, i) => {
    const name = basename(file);
    if (gt) {
      const id = byName.get(name);
      if (id === undefined) throw new DensekitError(`image ${name} is not listed in the GT file's images`, { file: gt.source });
      return { file, imageId: id };
    }
    const m = /(\d+)/.exec(name.replace(extname(name), ''));
    return { file, imageId: m ? Number(m[1]) : i + 1 };
  });
}

/** Predict label maps for images and write one `<name>.png` (class ids) per image into a folder. */
async function predictLabelMaps(config: SegmenterRunConfig, weights: string, files: string[], outDir: string): Promise<{ written: number; failed: { file: string; reason: string }[] }> {
  const model = loadSegmenter(config.model, config.input, weights);
  mkdirSync(outDir, { recursive: true });
  const failed: { file: string; reason: string }[] = [];
  const bar = progress('predict', files.length);
  let written = 0;
  for (const file of files) {
    try {
      const img = await loadRgb(file);
      const labels = predictSemantic(model, img, config.input, config.model.test);
      const name = `${basename(file, extname(file))}.png`;
      writeFileAtomic(join(outDir, name), await encodeLabelPng(labels, img.width, img.height));
      written++;
    } catch (err) {
      if (!(err instanceof DensekitError)) throw err;
      failed.push({ file, reason: err.message });
    }
    bar.tick();
  }
  bar.stop();
  model.dispose();
  return { written, failed };
}

function reportFailures(failed: { file: string; reason: string }[]): void {
  if (failed.length === 0) return;
  for (const f of failed) process.stderr.write(`densekit: skipped ${f.file}: ${f.reason}\n`);
  process.exitCode = 1;
}

export function registerPredict(program: Command): void {
  program
    .command('predict')
    .description('run a trained model on images: COCO results JSON (boxes + RLE masks) for a detector, label-map PNGs for a segmenter')
    .requiredOption('-c, --config <file>', 'model config (YAML)')
    .requiredOption('-w, --weights <file>', 'trained weights (.safetensors)')
    .requiredOption('-i, --images <paths...>', 'image files or folders')
    .requiredOption('-o, --out <path>', 'results JSON to write (detector) or folder for label PNGs (segmenter)')
    .option('--task <task>', 'detection or semantic (default: what the config\'s model does); checked against the config')
    .option('--gt <file>', 'detector: COCO file whose image ids and category ids the results should use')
    .option('--score-thr <x>', 'detector: drop detections scoring below this', Number.parseFloat, 0)
    .option('--set <key=value...>', 'override a config key (repeatable)', collect, [])
    .action(
      action(async (opts: { config: string; weights: string; images: string[]; out: string; task?: string; gt?: string; scoreThr: number; set: string[] }) => {
        const { config: loaded } = loadConfig(opts.config, opts.set);
        const { stages: _stages, ...run } = loaded;
        const task = isSegmenterConfig(run) ? 'semantic' : 'detection';
        if (opts.task !== undefined && opts.task !== task) {
          if (opts.task !== 'semantic' && opts.task !== 'detection') throw new DensekitError(`--task must be detection or semantic, got ${opts.task}`);
          throw new DensekitError(`--task ${opts.task} needs a ${opts.task === 'semantic' ? 'mask2former' : 'rcnn'} model; the config has model.arch ${run.model.arch}`, { file: opts.config, key: 'model.arch' });
        }
        const files = listImages(opts.images);
        if (files.length === 0) throw new DensekitError('no images found', { file: opts.images.join(' ') });
        if (isSegmenterConfig(run)) {
          process.stderr.write(`${describeBackend(await initBackend())}\n`);
          const { written, failed } = await predictLabelMaps(run, opts.weights, files, opts.out);
          process.stdout.write(`${written} label maps → ${opts.out}\n`);
          reportFailures(failed);
          return;
        }
        const config = requireDetector(loaded, opts.config);
        const gt = opts.gt ? Coco.fromFile(opts.gt) : undefined;
        const inputs = imageIds(files, gt);
        const K = config.model.roi_heads.num_classes;
        const categoryIds = gt ? [...gt.cats.keys()].sort((a, b) => a - b) : Array.from({ length: K }, (_, i) => i + 1);
        if (categoryIds.length !== K) throw new DensekitError(`the GT file has ${categoryIds.length} categories, the model ${K}`, { file: opts.gt });
        process.stderr.write(`${describeBackend(await initBackend())}\n`);
        const model = loadDetector(config.model, config.input, opts.weights);
        const bar = progress('predict', inputs.length);
        const { results, failed } = await predictFiles(model, inputs, config.input, { categoryIds, scoreThreshold: opts.scoreThr, onImage: () => bar.tick() });
        bar.stop();
        writeFileAtomic(opts.out, JSON.stringify(results));
        process.stdout.write(`${results.length} detections on ${inputs.length - failed.length} images → ${opts.out}\n`);
        reportFailures(failed);
      }),
    );
}
