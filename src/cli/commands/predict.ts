import type { Command } from 'commander';
import { loadConfig } from '../../config/index.js';
import { initBackend, describeBackend } from '../../engine/backend.js';
import { taskFor } from '../../tasks/index.js';
import { chooseEngine, describeEngine } from '../../tasks/engine.js';
import type { EngineOptions } from './engine-options.js';
import { parseCount, parseCountOrZero, parseScore } from '../option-values.js';
import { listImages } from '../../tasks/inputs.js';
import { resolveShard } from '../../tasks/shards.js';
import type { SkippedImage } from '../../tasks/task.js';
import { DensekitError } from '../../util/errors.js';
import { progressOf } from '../../util/progress.js';
import { action } from '../run-action.js';
import { collect } from './config.js';

function reportSkipped(skipped: SkippedImage[]): void {
  if (skipped.length === 0) return;
  for (const f of skipped) process.stderr.write(`densekit: skipped ${f.file}: ${f.reason}\n`);
  process.exitCode = 1;
}

interface PredictCliOptions extends EngineOptions {
  config: string;
  weights: string;
  images: string[];
  out: string;
  task?: string;
  gt?: string;
  gtDir?: string;
  scoreThr: number;
  set: string[];
  shard?: string;
  shards?: number;
  resume: boolean;
  progressEvery: number;
}

/** A non-negative integer option value. */

export function registerPredict(program: Command): void {
  program
    .command('predict')
    .description('run a trained model on images: COCO results JSON (boxes + RLE masks) for a detector, label-map PNGs for a segmenter')
    .requiredOption('-c, --config <file>', 'model config (YAML)')
    .requiredOption('-w, --weights <file>', 'trained weights (.safetensors)')
    .requiredOption('-i, --images <paths...>', 'image files or folders')
    .requiredOption('-o, --out <path>', 'results JSON to write (detector; a shard writes <stem>.shard-I-of-N.jsonl beside it) or folder for label PNGs (segmenter)')
    .option('--task <task>', 'detection or semantic (default: what the config\'s model does); checked against the config')
    .option('--gt <file>', 'detector: COCO file whose image ids and category ids the results should use')
    .option('--score-thr <x>', 'detector: drop detections scoring below this (0 to 1)', parseScore, 0)
    .option('--gt-dir <dir>', 'segmenter: annotation PNGs; each image\'s class areas are recorded, so shards merge to the exact mIoU')
    .option('--shard <I/N>', 'predict only shard I of N (0-based) of the sorted image list: image k goes to shard k mod N')
    .option('--shards <n>', 'shard count for a Kubernetes Indexed Job (the index comes from JOB_COMPLETION_INDEX; or set DENSEKIT_SHARDS)', parseCount)
    .option('--resume', 'continue the log an interrupted run left: images it holds are not predicted again', false)
    .option('--progress-every <n>', 'when stderr is not a terminal, print a progress line every n images (0: never)', parseCountOrZero, 100)
    .option('--engine <name>', 'onnx or tfjs (default: onnx when onnxruntime-node loads)')
    .option('--device <name>', 'onnx engine: cpu, webgpu or cuda', 'cpu')
    .option('--threads <n>', 'onnx engine: CPU threads (default: all cores)', parseCount)
    .option('--set <key=value...>', 'override a config key (repeatable)', collect, [])
    .action(
      action(async (opts: PredictCliOptions) => {
        const { config: loaded } = loadConfig(opts.config, opts.set);
        const { stages: _stages, ...run } = loaded;
        const task = taskFor(run);
        if (opts.task !== undefined && opts.task !== task.kind) {
          if (opts.task !== 'semantic' && opts.task !== 'detection') throw new DensekitError(`--task must be detection or semantic, got ${opts.task}`);
          throw new DensekitError(`--task ${opts.task} needs a ${opts.task === 'semantic' ? 'mask2former' : 'rcnn'} model; the config has model.arch ${run.model.arch}`, { file: opts.config, key: 'model.arch' });
        }
        if (opts.gtDir !== undefined && task.kind !== 'semantic') throw new DensekitError('--gt-dir is for segmenters (a detector takes --gt)');
        if (opts.gt !== undefined && task.kind !== 'detection') throw new DensekitError('--gt is for detectors (a segmenter takes --gt-dir)');
        const shard = resolveShard({ shard: opts.shard, shards: opts.shards });
        const files = listImages(opts.images);
        if (files.length === 0) throw new DensekitError('no images found', { file: opts.images.join(' ') });
        const engine = await chooseEngine(opts.engine, { device: opts.device, threads: opts.threads, onnxSupported: task.onnx });
        process.stderr.write(`${describeBackend(await initBackend())}\n${describeEngine(engine)}\n`);
        const label = shard ? `predict shard ${shard.index}/${shard.count}` : 'predict';
        const bar = progressOf(label, { every: opts.progressEvery });
        const onStart = (done: number, total: number) => {
          const parts = [shard ? `shard ${shard.index}/${shard.count} (${shard.source}): ${total} images` : `${total} images`];
          if (done > 0) parts.push(`${done} done by an earlier run`);
          process.stderr.write(`${parts.join(', ')}\n`);
          bar.start(done, total);
        };
        const { summary, skipped, notes } = await task.predict(opts.weights, files, opts.out, {
          gt: opts.gt,
          gtDir: opts.gtDir,
          scoreThreshold: opts.scoreThr,
          onStart,
          onImage: bar.update,
          engine,
          shard,
          resume: opts.resume,
          configFile: opts.config,
        });
        bar.stop();
        for (const n of notes ?? []) process.stderr.write(`densekit: note: ${n}\n`);
        process.stdout.write(`${summary}\n`);
        reportSkipped(skipped);
      }),
    );
}
